// See reference_backend.h. Each method casts its pointers to the dtype and
// calls the matching kernel of reference_kernels.h.
#include "engine/cpu/reference_backend.h"

#include "base/status_macros.h"
#include "engine/cpu/reference_kernels.h"

namespace slimtrain::engine {
namespace {

// The typed view of a backend pointer (null stays null).
template <typename T>
const T* As(const void* p) {
  return static_cast<const T*>(p);
}
template <typename T>
T* As(void* p) {
  return static_cast<T*>(p);
}

// Calls f(T{}) with T = double for kF64, float for kF32.
template <typename F>
void ForDType(DType dtype, F&& f) {
  if (dtype == DType::kF64) {
    f(double{});
  } else {
    f(float{});
  }
}

}  // namespace

ReferenceBackend::ReferenceBackend(DType dtype, int64_t alignment_bytes)
    : dtype_(dtype), alignment_bytes_(alignment_bytes) {
  SLIM_CHECK(alignment_bytes > 0 && (alignment_bytes & (alignment_bytes - 1)) == 0);
}

// ---------------------------------------------------------------- conv2d, linear

void ReferenceBackend::Conv2dForward(const planner::Node& n, int64_t batch, const void* x, const void* w,
                                     const void* b, void* y, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::Conv2dForward(n, batch, As<T>(x), As<T>(w), As<T>(b), As<T>(y));
  });
}

void ReferenceBackend::Conv2dBackwardData(const planner::Node& n, int64_t batch, const void* dy, const void* w,
                                          void* dx, bool accumulate, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::Conv2dBackwardData(n, batch, As<T>(dy), As<T>(w), As<T>(dx), accumulate);
  });
}

void ReferenceBackend::Conv2dBackwardWeights(const planner::Node& n, int64_t batch, const void* x, const void* dy,
                                             void* dw, void* db, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::Conv2dBackwardWeights(n, batch, As<T>(x), As<T>(dy), As<T>(dw), As<T>(db));
  });
}

void ReferenceBackend::LinearForward(const planner::Node& n, int64_t batch, const void* x, const void* w,
                                     const void* b, void* y, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::LinearForward(n, batch, As<T>(x), As<T>(w), As<T>(b), As<T>(y));
  });
}

void ReferenceBackend::LinearBackwardData(const planner::Node& n, int64_t batch, const void* dy, const void* w,
                                          void* dx, bool accumulate, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::LinearBackwardData(n, batch, As<T>(dy), As<T>(w), As<T>(dx), accumulate);
  });
}

void ReferenceBackend::LinearBackwardWeights(const planner::Node& n, int64_t batch, const void* x, const void* dy,
                                             void* dw, void* db, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::LinearBackwardWeights(n, batch, As<T>(x), As<T>(dy), As<T>(dw), As<T>(db));
  });
}

// ---------------------------------------------------------------- batch_norm and codes

void ReferenceBackend::BatchNormForward(const planner::Node& n, int64_t batch, BatchNormMode mode, const void* x,
                                        const void* gamma, const void* beta, void* running_mean,
                                        void* running_var, void* y, void* stats) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::BatchNormForward(n, batch, mode, As<T>(x), As<T>(gamma), As<T>(beta), As<T>(running_mean),
                                As<T>(running_var), As<T>(y), As<T>(stats));
  });
}

void ReferenceBackend::BatchNormBackward(const planner::Node& n, int64_t batch, const void* dy, const void* x,
                                         const void* gamma, const void* stats, void* dx, bool accumulate,
                                         void* dgamma, void* dbeta) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::BatchNormBackward(n, batch, As<T>(dy), As<T>(x), As<T>(gamma), As<T>(stats), As<T>(dx),
                                 accumulate, As<T>(dgamma), As<T>(dbeta));
  });
}

void ReferenceBackend::QuantizeBnRelu(const planner::Node& bn, int64_t batch, int bits, const void* x,
                                      const void* y, const void* gamma, const void* beta, const void* stats,
                                      void* code) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::QuantizeBnRelu(bn, batch, bits, As<T>(x), As<T>(y), As<T>(gamma), As<T>(beta), As<T>(stats),
                              code);
  });
}

void ReferenceBackend::RestoreRelu(const planner::Node& bn, int64_t batch, int bits, const void* code,
                                   const void* gamma, const void* beta, void* z) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::RestoreRelu(bn, batch, bits, code, As<T>(gamma), As<T>(beta), As<T>(z));
  });
}

void ReferenceBackend::ReluBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const void* dz,
                                            const void* code, const void* gamma, const void* beta, void* dy,
                                            bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::ReluBackwardFromCode(bn, batch, bits, As<T>(dz), code, As<T>(gamma), As<T>(beta), As<T>(dy),
                                    accumulate);
  });
}

void ReferenceBackend::BatchNormBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const void* dy,
                                                 const void* code, const void* gamma, const void* beta,
                                                 const void* stats, void* dx, bool accumulate, void* dgamma,
                                                 void* dbeta) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::BatchNormBackwardFromCode(bn, batch, bits, As<T>(dy), code, As<T>(gamma), As<T>(beta),
                                         As<T>(stats), As<T>(dx), accumulate, As<T>(dgamma), As<T>(dbeta));
  });
}

void ReferenceBackend::EncodeSaved(const quant::CodeSpec& spec, const void* x, const void* stats, void* code) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::EncodeSaved(spec, As<T>(x), As<T>(stats), code);
  });
}

void ReferenceBackend::DecodeSaved(const quant::CodeSpec& spec, const void* code, const void* stats, void* x) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::DecodeSaved(spec, code, As<T>(stats), As<T>(x));
  });
}

// ---------------------------------------------------------------- elementwise

void ReferenceBackend::ReluForward(int64_t count, const void* x, void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::ReluForward(count, As<T>(x), As<T>(y));
  });
}

void ReferenceBackend::ReluBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::ReluBackward(count, As<T>(y), As<T>(dy), As<T>(dx), accumulate);
  });
}

void ReferenceBackend::SigmoidForward(int64_t count, const void* x, void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::SigmoidForward(count, As<T>(x), As<T>(y));
  });
}

void ReferenceBackend::SigmoidBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::SigmoidBackward(count, As<T>(y), As<T>(dy), As<T>(dx), accumulate);
  });
}

void ReferenceBackend::TanhForward(int64_t count, const void* x, void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::TanhForward(count, As<T>(x), As<T>(y));
  });
}

void ReferenceBackend::TanhBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::TanhBackward(count, As<T>(y), As<T>(dy), As<T>(dx), accumulate);
  });
}

void ReferenceBackend::PointwiseForward(const planner::Node& n, int64_t count, const void* x, void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::PointwiseForward(n, count, As<T>(x), As<T>(y));
  });
}

void ReferenceBackend::PointwiseBackward(const planner::Node& n, int64_t count, const void* saved, const void* dy,
                                         void* dx, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::PointwiseBackward(n, count, As<T>(saved), As<T>(dy), As<T>(dx), accumulate);
  });
}

void ReferenceBackend::SoftmaxForward(const planner::Node& n, int64_t batch, const void* x, void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::SoftmaxForward(n, batch, As<T>(x), As<T>(y));
  });
}

void ReferenceBackend::SoftmaxBackward(const planner::Node& n, int64_t batch, const void* y, const void* dy,
                                       void* dx, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::SoftmaxBackward(n, batch, As<T>(y), As<T>(dy), As<T>(dx), accumulate);
  });
}

void ReferenceBackend::GroupNormForward(const planner::Node& n, int64_t batch, const void* x, const void* gamma,
                                        const void* beta, void* y, void* stats) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::GroupNormForward(n, batch, As<T>(x), As<T>(gamma), As<T>(beta), As<T>(y), As<T>(stats));
  });
}

void ReferenceBackend::GroupNormBackward(const planner::Node& n, int64_t batch, const void* dy, const void* x,
                                         const void* gamma, const void* stats, void* dx, bool accumulate,
                                         void* dgamma, void* dbeta) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::GroupNormBackward(n, batch, As<T>(dy), As<T>(x), As<T>(gamma), As<T>(stats), As<T>(dx), accumulate,
                                 As<T>(dgamma), As<T>(dbeta));
  });
}

void ReferenceBackend::LayerNormForward(const planner::Node& n, int64_t batch, const void* x, const void* gamma,
                                        const void* beta, void* y, void* stats) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::LayerNormForward(n, batch, As<T>(x), As<T>(gamma), As<T>(beta), As<T>(y), As<T>(stats));
  });
}

void ReferenceBackend::LayerNormBackward(const planner::Node& n, int64_t batch, const void* dy, const void* x,
                                         const void* gamma, const void* stats, void* dx, bool accumulate,
                                         void* dgamma, void* dbeta) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::LayerNormBackward(n, batch, As<T>(dy), As<T>(x), As<T>(gamma), As<T>(stats), As<T>(dx), accumulate,
                                 As<T>(dgamma), As<T>(dbeta));
  });
}

void ReferenceBackend::AttentionForward(const planner::Node& n, int64_t batch, const void* q, const void* k,
                                        const void* v, void* out, void* lse, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::AttentionForward(n, batch, As<T>(q), As<T>(k), As<T>(v), As<T>(out), As<T>(lse));
  });
}

void ReferenceBackend::AttentionBackward(const planner::Node& n, int64_t batch, const void* q, const void* k,
                                         const void* v, const void* out, const void* lse, const void* dout, void* dq,
                                         void* dk, void* dv, const bool* accumulate, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::AttentionBackward(n, batch, As<T>(q), As<T>(k), As<T>(v), As<T>(out), As<T>(lse), As<T>(dout),
                                 As<T>(dq), As<T>(dk), As<T>(dv), accumulate);
  });
}

void ReferenceBackend::StridedCopy(const TensorView& src, const void* x, const TensorView& dst, void* y,
                                   double scale, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::StridedCopy(src, As<T>(x), dst, As<T>(y), scale, accumulate);
  });
}

void ReferenceBackend::Reduce(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
                              bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::Reduce(src, As<T>(x), dst, As<T>(y), scale, accumulate);
  });
}

void ReferenceBackend::BinaryForward(BinaryOp op, const TensorView& a, const void* a_data, const TensorView& b,
                                     const void* b_data, const TensorView& y, void* y_data) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::BinaryForward(op, a, As<T>(a_data), b, As<T>(b_data), y, As<T>(y_data));
  });
}

void ReferenceBackend::MatMul(const TensorView& a, const void* a_data, const TensorView& b, const void* b_data,
                              const TensorView& y, void* y_data, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::MatMul(a, As<T>(a_data), b, As<T>(b_data), y, As<T>(y_data), accumulate);
  });
}

void ReferenceBackend::AdaptiveAvgPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::AdaptiveAvgPoolForward(n, batch, As<T>(x), As<T>(y));
  });
}

void ReferenceBackend::AdaptiveAvgPoolBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx,
                                               bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::AdaptiveAvgPoolBackward(n, batch, As<T>(dy), As<T>(dx), accumulate);
  });
}

void ReferenceBackend::UpsampleForward(const planner::Node& n, int64_t batch, const void* x, void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::UpsampleForward(n, batch, As<T>(x), As<T>(y));
  });
}

void ReferenceBackend::UpsampleBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx,
                                        bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::UpsampleBackward(n, batch, As<T>(dy), As<T>(dx), accumulate);
  });
}

void ReferenceBackend::EmbeddingForward(const planner::Node& n, int64_t batch, const void* ids, const void* table,
                                        void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::EmbeddingForward(n, batch, As<T>(ids), As<T>(table), As<T>(y));
  });
}

void ReferenceBackend::EmbeddingBackward(const planner::Node& n, int64_t batch, const void* ids, const void* dy,
                                         void* dtable, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::EmbeddingBackward(n, batch, As<T>(ids), As<T>(dy), As<T>(dtable), accumulate);
  });
}

void ReferenceBackend::BinaryBackward(BinaryOp op, int index, const TensorView& a, const void* a_data,
                                      const TensorView& b, const void* b_data, const TensorView& dy,
                                      const void* dy_data, const TensorView& d, void* d_data, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::BinaryBackward(op, index, a, As<T>(a_data), b, As<T>(b_data), dy, As<T>(dy_data), d, As<T>(d_data),
                              accumulate);
  });
}

void ReferenceBackend::AddForward(int64_t count, absl::Span<const void* const> inputs, void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::AddForward(count, inputs, As<T>(y));
  });
}

void ReferenceBackend::Copy(int64_t count, const void* src, void* dst, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::Copy(count, As<T>(src), As<T>(dst), accumulate);
  });
}

void ReferenceBackend::DropoutForward(const planner::Node& n, int64_t batch, const DropoutKey& key, const void* x,
                                      void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::DropoutForward(n, batch, key, As<T>(x), As<T>(y));
  });
}

void ReferenceBackend::DropoutBackward(const planner::Node& n, int64_t batch, const DropoutKey& key,
                                       const void* dy, void* dx, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::DropoutBackward(n, batch, key, As<T>(dy), As<T>(dx), accumulate);
  });
}

// ---------------------------------------------------------------- layout

void ReferenceBackend::ConcatForward(const planner::Node& n, int64_t batch, absl::Span<const void* const> inputs,
                                     void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::ConcatForward(n, batch, inputs, As<T>(y));
  });
}

void ReferenceBackend::ConcatBackward(const planner::Node& n, int64_t batch, int index, const void* dy, void* dx,
                                      bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::ConcatBackward(n, batch, index, As<T>(dy), As<T>(dx), accumulate);
  });
}

void ReferenceBackend::FlattenForward(const planner::Node& n, int64_t batch, const void* x, void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::FlattenForward(n, batch, As<T>(x), As<T>(y));
  });
}

void ReferenceBackend::FlattenBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx,
                                       bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::FlattenBackward(n, batch, As<T>(dy), As<T>(dx), accumulate);
  });
}

// ---------------------------------------------------------------- pooling

void ReferenceBackend::MaxPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y,
                                      int32_t* indices, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::MaxPoolForward(n, batch, As<T>(x), As<T>(y), indices);
  });
}

void ReferenceBackend::MaxPoolBackward(const planner::Node& n, int64_t batch, const void* dy,
                                       const int32_t* indices, void* dx, bool accumulate, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::MaxPoolBackward(n, batch, As<T>(dy), indices, As<T>(dx), accumulate);
  });
}

void ReferenceBackend::AvgPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::AvgPoolForward(n, batch, As<T>(x), As<T>(y));
  });
}

void ReferenceBackend::AvgPoolBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx,
                                       bool accumulate, Workspace) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::AvgPoolBackward(n, batch, As<T>(dy), As<T>(dx), accumulate);
  });
}

void ReferenceBackend::GlobalAvgPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::GlobalAvgPoolForward(n, batch, As<T>(x), As<T>(y));
  });
}

void ReferenceBackend::GlobalAvgPoolBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx,
                                             bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::GlobalAvgPoolBackward(n, batch, As<T>(dy), As<T>(dx), accumulate);
  });
}

// ---------------------------------------------------------------- loss, optimizer

void ReferenceBackend::SoftmaxCrossEntropyForward(const planner::Node& n, int64_t batch, const void* logits,
                                                  const int32_t* labels, void* probs, void* loss) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::SoftmaxCrossEntropyForward(n, batch, As<T>(logits), labels, As<T>(probs), As<T>(loss));
  });
}

void ReferenceBackend::MseLossForward(int64_t count, const void* x, const void* targets, void* loss) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    const T* a = As<T>(x);
    const T* b = As<T>(targets);
    double sum = 0;
    for (int64_t i = 0; i < count; ++i) {
      const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
      sum += d * d;
    }
    *As<T>(loss) = static_cast<T>(sum / static_cast<double>(count));
  });
}

void ReferenceBackend::MseLossBackward(int64_t count, const void* x, const void* targets, void* dx,
                                       bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    const T* a = As<T>(x);
    const T* b = As<T>(targets);
    T* d = As<T>(dx);
    for (int64_t i = 0; i < count; ++i) {
      const double v = 2.0 * (static_cast<double>(a[i]) - static_cast<double>(b[i])) / static_cast<double>(count);
      d[i] = static_cast<T>(accumulate ? static_cast<double>(d[i]) + v : v);
    }
  });
}

void ReferenceBackend::SoftmaxCrossEntropyBackward(const planner::Node& n, int64_t batch, const void* probs,
                                                   const int32_t* labels, void* dlogits, bool accumulate) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::SoftmaxCrossEntropyBackward(n, batch, As<T>(probs), labels, As<T>(dlogits), accumulate);
  });
}

void ReferenceBackend::SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov,
                                 void* param, const void* grad, void* momentum_buffer) {
  ForDType(dtype_, [&](auto t) {
    using T = decltype(t);
    reference::SgdUpdate(count, lr, momentum, weight_decay, nesterov, As<T>(param), As<T>(grad),
                         As<T>(momentum_buffer));
  });
}

}  // namespace slimtrain::engine
