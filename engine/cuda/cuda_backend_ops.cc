// The CUDA backend's kernels for every op but conv2d, linear, batch norm,
// the loss and the optimizers (those are in cuda_backend.cc): elementwise,
// activations, norms, attention, views, embedding, layout and pooling.
#include "engine/cuda/cuda_backend_impl.h"

namespace slimtrain::engine::cuda_impl {

// ---------------------------------------------------------------- elementwise

void CudaBackend::ReluForward(int64_t count, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::ReluForward(count, F(x), F(y), stream_));
}

void CudaBackend::ReluBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::ReluBackward(count, F(y), F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::SigmoidForward(int64_t count, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::SigmoidForward(count, F(x), F(y), stream_));
}

void CudaBackend::SigmoidBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::SigmoidBackward(count, F(y), F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::TanhForward(int64_t count, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::TanhForward(count, F(x), F(y), stream_));
}

void CudaBackend::TanhBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::TanhBackward(count, F(y), F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::PointwiseForward(const Node& n, int64_t count, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::PointwiseForward(count, PointwiseFnOf(n), F(x), F(y), stream_));
}

void CudaBackend::PointwiseBackward(const Node& n, int64_t count, const void* saved, const void* dy, void* dx,
                                    bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::PointwiseBackward(count, PointwiseFnOf(n), F(saved), F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::GroupNormForward(const Node& n, int64_t batch, const void* x, const void* gamma, const void* beta,
                                   void* y, void* stats) {
  Use();
  SLIM_CUDA_RECORD(cuda::GroupNormForward(GroupsOf(n), batch, n.eps, F(x), F(gamma), F(beta), F(y), F(stats), stream_));
}

void CudaBackend::GroupNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                                    const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) {
  Use();
  SLIM_CUDA_RECORD(cuda::GroupNormBackward(GroupsOf(n), batch, F(dy), F(x), F(gamma), F(stats), F(dx), accumulate,
                                           F(dgamma), F(dbeta), stream_));
}

void CudaBackend::LayerNormForward(const Node& n, int64_t batch, const void* x, const void* gamma, const void* beta,
                                   void* y, void* stats) {
  Use();
  SLIM_CUDA_RECORD(cuda::LayerNormForward(batch * n.norm_rows, n.norm_row_size, n.out.size() == 3 ? n.out[0] : 0,
                                          n.eps, F(x), F(gamma), F(beta), F(y), F(stats), stream_));
}

void CudaBackend::LayerNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                                    const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) {
  Use();
  SLIM_CUDA_RECORD(cuda::LayerNormBackward(batch * n.norm_rows, n.norm_row_size, n.out.size() == 3 ? n.out[0] : 0,
                                           F(dy), F(x), F(gamma), F(stats), F(dx), accumulate, F(dgamma), F(dbeta),
                                           stream_));
}

void CudaBackend::AttentionForward(const Node& n, int64_t batch, const void* q, const void* k, const void* v,
                                   void* out, void* lse, Workspace) {
  Use();
  SLIM_CUDA_RECORD(cuda::AttentionForward(batch, n.input_dims[0][0], n.input_dims[1][0], n.input_dims[0][1], n.heads,
                                          n.attention_scale, n.causal, F(q), F(k), F(v), F(out), F(lse), stream_));
}

void CudaBackend::AttentionBackward(const Node& n, int64_t batch, const void* q, const void* k, const void* v,
                                    const void* out, const void* lse, const void* dout, void* dq, void* dk, void* dv,
                                    const bool* accumulate, Workspace) {
  Use();
  SLIM_CUDA_RECORD(cuda::AttentionBackward(batch, n.input_dims[0][0], n.input_dims[1][0], n.input_dims[0][1],
                                           n.heads, n.attention_scale, n.causal, F(q), F(k), F(v), F(out), F(lse),
                                           F(dout), F(dq), F(dk), F(dv), accumulate, stream_));
}

void CudaBackend::StridedCopy(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
                              bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::StridedCopy(src, F(x), dst, F(y), scale, accumulate, stream_));
}

void CudaBackend::Reduce(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
                         bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::Reduce(src, F(x), dst, F(y), scale, accumulate, stream_));
}

void CudaBackend::BinaryForward(BinaryOp op, const TensorView& a, const void* a_data, const TensorView& b,
                                const void* b_data, const TensorView& y, void* y_data) {
  Use();
  SLIM_CUDA_RECORD(cuda::BinaryForward(op, a, F(a_data), b, F(b_data), y, F(y_data), stream_));
}

void CudaBackend::MatMul(const TensorView& a, const void* a_data, const TensorView& b, const void* b_data,
                         const TensorView& y, void* y_data, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::MatMul(a, F(a_data), b, F(b_data), y, F(y_data), accumulate, stream_));
}

void CudaBackend::AdaptiveAvgPoolForward(const Node& n, int64_t batch, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::AdaptiveAvgPoolForward(AdaptiveOf(n), batch, F(x), F(y), stream_));
}

void CudaBackend::AdaptiveAvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::AdaptiveAvgPoolBackward(AdaptiveOf(n), batch, F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::UpsampleForward(const Node& n, int64_t batch, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::UpsampleForward(UpsampleOf(n), batch, F(x), F(y), stream_));
}

void CudaBackend::UpsampleBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::UpsampleBackward(UpsampleOf(n), batch, F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::EmbeddingForward(const Node& n, int64_t batch, const void* ids, const void* table, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::EmbeddingForward(batch * n.out[0], n.out_features, F(ids), F(table), F(y), stream_));
}

void CudaBackend::EmbeddingBackward(const Node& n, int64_t batch, const void* ids, const void* dy, void* dtable,
                                    bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::EmbeddingBackward(batch * n.out[0], n.out_features, n.vocabulary, F(ids), F(dy), F(dtable),
                                           accumulate, stream_));
}

void CudaBackend::BinaryBackward(BinaryOp op, int index, const TensorView& a, const void* a_data,
                                 const TensorView& b, const void* b_data, const TensorView& dy, const void* dy_data,
                                 const TensorView& d, void* d_data, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::BinaryBackward(op, index, a, F(a_data), b, F(b_data), dy, F(dy_data), d, F(d_data),
                                        accumulate, stream_));
}

void CudaBackend::SoftmaxForward(const Node& n, int64_t batch, const void* x, void* y) {
  Use();
  const AxisSpan s = PhysicalAxis(n.out, n.axis, batch);
  SLIM_CUDA_RECORD(cuda::SoftmaxForward(s.outer, s.size, s.inner, n.kind == planner::OpKind::kLogSoftmax,
                                        n.kind == planner::OpKind::kSoftmax && n.causal, F(x), F(y), stream_));
}

void CudaBackend::SoftmaxBackward(const Node& n, int64_t batch, const void* y, const void* dy, void* dx,
                                  bool accumulate) {
  Use();
  const AxisSpan s = PhysicalAxis(n.out, n.axis, batch);
  SLIM_CUDA_RECORD(cuda::SoftmaxBackward(s.outer, s.size, s.inner, n.kind == planner::OpKind::kLogSoftmax, F(y),
                                         F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::AddForward(int64_t count, absl::Span<const void* const> inputs, void* y) {
  Use();
  absl::InlinedVector<const float*, 8> in;
  for (const void* p : inputs) in.push_back(F(p));
  SLIM_CUDA_RECORD(cuda::AddForward(count, in.data(), static_cast<int>(in.size()), F(y), stream_));
}

void CudaBackend::Copy(int64_t count, const void* src, void* dst, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::Copy(count, F(src), F(dst), accumulate, stream_));
}

void CudaBackend::DropoutForward(const Node& n, int64_t batch, const DropoutKey& key, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::DropoutForward(batch * planner::NumElements(n.out), key.seed, key.step, n.id, n.dropout_p,
                                        F(x), F(y), stream_));
}

void CudaBackend::DropoutBackward(const Node& n, int64_t batch, const DropoutKey& key, const void* dy, void* dx,
                                  bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::DropoutBackward(batch * planner::NumElements(n.out), key.seed, key.step, n.id,
                                         n.dropout_p, F(dy), F(dx), accumulate, stream_));
}

// ---------------------------------------------------------------- layout

void CudaBackend::ConcatForward(const Node& n, int64_t batch, absl::Span<const void* const> inputs, void* y) {
  Use();
  const cuda::Nhwc shape = ShapeOf(n.out, batch);
  int64_t offset = 0;
  for (size_t i = 0; i < inputs.size() && i < n.input_dims.size(); ++i) {
    const int64_t c_in = ChannelsOf(n.input_dims[i]);
    SLIM_CUDA_RECORD(cuda::ConcatForwardOne(shape, c_in, offset, shape.c, F(inputs[i]), F(y), stream_));
    offset += c_in;
  }
}

void CudaBackend::ConcatBackward(const Node& n, int64_t batch, int index, const void* dy, void* dx,
                                 bool accumulate) {
  Use();
  const cuda::Nhwc shape = ShapeOf(n.out, batch);
  int64_t offset = 0;
  for (int i = 0; i < index; ++i) offset += ChannelsOf(n.input_dims[i]);
  SLIM_CUDA_RECORD(cuda::ConcatBackwardOne(shape, ChannelsOf(n.input_dims[index]), offset, shape.c, F(dy), F(dx),
                                           accumulate, stream_));
}

void CudaBackend::FlattenForward(const Node& n, int64_t batch, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::FlattenForward(ShapeOf(n.input_dims[0], batch), F(x), F(y), stream_));
}

void CudaBackend::FlattenBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::FlattenBackward(ShapeOf(n.input_dims[0], batch), F(dy), F(dx), accumulate, stream_));
}

// ---------------------------------------------------------------- pooling

void CudaBackend::MaxPoolForward(const Node& n, int64_t batch, const void* x, void* y, int32_t* indices,
                                 Workspace) {
  Use();
  SLIM_CUDA_RECORD(cuda::MaxPoolForward(ShapeOf(n.input_dims[0], batch), PoolOf(n), F(x), F(y), indices, stream_));
}

void CudaBackend::MaxPoolBackward(const Node& n, int64_t batch, const void* dy, const int32_t* indices, void* dx,
                                  bool accumulate, Workspace) {
  Use();
  SLIM_CUDA_RECORD(cuda::MaxPoolBackward(ShapeOf(n.input_dims[0], batch), PoolOf(n), F(dy), indices, F(dx),
                                         accumulate, stream_));
}

void CudaBackend::AvgPoolForward(const Node& n, int64_t batch, const void* x, void* y, Workspace) {
  Use();
  SLIM_CUDA_RECORD(cuda::AvgPoolForward(ShapeOf(n.input_dims[0], batch), PoolOf(n), F(x), F(y), stream_));
}

void CudaBackend::AvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate,
                                  Workspace) {
  Use();
  SLIM_CUDA_RECORD(
      cuda::AvgPoolBackward(ShapeOf(n.input_dims[0], batch), PoolOf(n), F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::GlobalAvgPoolForward(const Node& n, int64_t batch, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::GlobalAvgPoolForward(ShapeOf(n.input_dims[0], batch), F(x), F(y), stream_));
}

void CudaBackend::GlobalAvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(
      cuda::GlobalAvgPoolBackward(ShapeOf(n.input_dims[0], batch), F(dy), F(dx), accumulate, stream_));
}

#undef SLIM_CUDA_RECORD

}  // namespace slimtrain::engine::cuda_impl
