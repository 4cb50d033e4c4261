// See fast_backend.h. Each method casts its pointers to float and calls the
// oneDNN op or our kernel; oneDNN calls run under the backend's OpenMP
// thread count.
#include "engine/cpu/fast_backend.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "dnnl.hpp"
#include "engine/cpu/activation_kernels.h"
#include "engine/cpu/attention_kernels.h"
#include "engine/cpu/bn_kernels.h"
#include "engine/cpu/code_kernels.h"
#include "engine/cpu/dnnl_ops.h"
#include "engine/cpu/norm_kernels.h"
#include "engine/cpu/parallel.h"
#include "engine/cpu/quant_kernels.h"
#include "engine/cpu/vector_kernels.h"
#include "engine/cpu/view_kernels.h"
#include "planner/schedule.h"

namespace slimtrain::engine {
namespace {

using planner::Node;
using planner::OpKind;

const float* F(const void* p) { return static_cast<const float*>(p); }
float* F(void* p) { return static_cast<float*>(p); }

// Sets OpenMP's thread count for oneDNN (it creates and runs primitives
// with omp_get_max_threads() threads) and restores the caller's.
class ThreadScope {
 public:
  explicit ThreadScope(int threads) : threads_(threads), saved_(omp_get_max_threads()) {
    if (saved_ != threads_) omp_set_num_threads(threads_);
  }
  ~ThreadScope() {
    if (saved_ != threads_) omp_set_num_threads(saved_);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int threads_, saved_;
};

bool IsWeighted(const Node& n) { return n.kind == OpKind::kConv2d || n.kind == OpKind::kLinear; }

}  // namespace

struct FastBackend::State {
  explicit State(bool runnable) : engine(dnnl::engine::kind::cpu, 0), stream(engine), ops(engine, runnable) {}
  dnnl::engine engine;
  dnnl::stream stream;
  cpu::WeightedOpCache ops;
  cpu::Scratch scratch;

  // The op of a conv2d/linear node; aborts naming the layer when oneDNN
  // cannot create it (Prepare reports that error as a Status first).
  cpu::WeightedOp* Op(const Node& n, int64_t batch) {
    absl::StatusOr<cpu::WeightedOp*> op = ops.Get(n, batch);
    if (!op.ok()) {
      std::fprintf(stderr, "fast backend: %s\n", op.status().ToString().c_str());
      std::abort();
    }
    return *op;
  }
};

FastBackend::FastBackend(int threads, bool plan_only)
    : threads_(threads > 0 ? threads : std::max(1, omp_get_num_procs())),
      state_(std::make_unique<State>(!plan_only)) {}

FastBackend::~FastBackend() = default;

std::string FastBackend::DescribeOp(const Node& n, int64_t batch) const {
  ThreadScope scope(threads_);
  absl::StatusOr<cpu::WeightedOp*> op = state_->ops.Get(n, batch);
  return op.ok() ? (*op)->Describe() : op.status().ToString();
}

int64_t FastBackend::WorkspaceBytes(const planner::Graph& graph, const Node& node, int64_t batch,
                                    planner::Pass pass) const {
  if (node.kind == OpKind::kAttention) return cpu::AttentionWorkspaceFloats(node, pass, threads_) * 4;
  if (!IsWeighted(node)) return 0;
  ThreadScope scope(threads_);
  absl::StatusOr<cpu::WeightedOp*> got = state_->ops.Get(node, batch);
  if (!got.ok()) return 0;  // Prepare reports the error
  const cpu::WeightedOp& op = **got;
  if (pass == planner::Pass::kForward) return op.forward_workspace_bytes();
  // The backward step runs backward-data (none for the model input) and then
  // backward-weights in the same workspace.
  const int u = node.inputs[0];
  int64_t data = 0;
  if (u != 0) {
    data = op.backward_data_workspace_bytes(planner::InputGradAccumulates(graph, node, 0));
  }
  return std::max(data, op.backward_weights_workspace_bytes());
}

absl::Status FastBackend::Prepare(const planner::Graph& graph, int64_t batch) {
  ThreadScope scope(threads_);
  int64_t channels = 1;
  for (const Node& n : graph.nodes()) {
    if (IsWeighted(n)) {
      const planner::KernelView k = planner::KernelShape(n, batch);  // (L,D) tokens: N·L rows
      absl::StatusOr<cpu::WeightedOp*> op = state_->ops.Get(k.node, k.rows);
      if (!op.ok()) return op.status();
    } else if (n.kind == OpKind::kBatchNorm && !n.out.empty()) {
      channels = std::max(channels, n.out[0]);
    }
  }
  state_->scratch.Reserve(cpu::Scratch::BytesFor(channels, threads_));
  return absl::OkStatus();
}

// ---------------------------------------------------------------- conv2d, linear

void FastBackend::Conv2dForward(const Node& n, int64_t batch, const void* x, const void* w, const void* b, void* y,
                                Workspace ws) {
  ThreadScope scope(threads_);
  state_->Op(n, batch)->Forward(state_->stream, F(x), F(w), F(b), F(y), ws);
}

void FastBackend::Conv2dBackwardData(const Node& n, int64_t batch, const void* dy, const void* w, void* dx,
                                     bool accumulate, Workspace ws) {
  ThreadScope scope(threads_);
  state_->Op(n, batch)->BackwardData(state_->stream, F(dy), F(w), F(dx), accumulate, ws, threads_);
}

void FastBackend::Conv2dBackwardWeights(const Node& n, int64_t batch, const void* x, const void* dy, void* dw,
                                        void* db, Workspace ws) {
  ThreadScope scope(threads_);
  state_->Op(n, batch)->BackwardWeights(state_->stream, F(x), F(dy), F(dw), F(db), ws);
}

void FastBackend::LinearForward(const Node& n, int64_t batch, const void* x, const void* w, const void* b, void* y,
                                Workspace ws) {
  Conv2dForward(n, batch, x, w, b, y, ws);
}

void FastBackend::LinearBackwardData(const Node& n, int64_t batch, const void* dy, const void* w, void* dx,
                                     bool accumulate, Workspace ws) {
  Conv2dBackwardData(n, batch, dy, w, dx, accumulate, ws);
}

void FastBackend::LinearBackwardWeights(const Node& n, int64_t batch, const void* x, const void* dy, void* dw,
                                        void* db, Workspace ws) {
  Conv2dBackwardWeights(n, batch, x, dy, dw, db, ws);
}

// ---------------------------------------------------------------- batch_norm and codes

void FastBackend::BatchNormForward(const Node& n, int64_t batch, BatchNormMode mode, const void* x,
                                   const void* gamma, const void* beta, void* running_mean, void* running_var,
                                   void* y, void* stats) {
  cpu::BatchNormForward(n, batch, mode, F(x), F(gamma), F(beta), F(running_mean), F(running_var), F(y), F(stats),
                        threads_, &state_->scratch);
}

void FastBackend::BatchNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                                    const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) {
  cpu::BatchNormBackward(n, batch, F(dy), F(x), F(gamma), F(stats), F(dx), accumulate, F(dgamma), F(dbeta),
                         threads_, &state_->scratch);
}

void FastBackend::QuantizeBnRelu(const Node& bn, int64_t batch, int bits, const void* x, const void* y,
                                 const void* gamma, const void* beta, const void* stats, void* code) {
  cpu::QuantizeBnRelu(bn, batch, bits, F(x), F(y), F(gamma), F(beta), F(stats), code, threads_, &state_->scratch);
}

void FastBackend::RestoreRelu(const Node& bn, int64_t batch, int bits, const void* code, const void* gamma,
                              const void* beta, void* z) {
  cpu::RestoreRelu(bn, batch, bits, code, F(gamma), F(beta), F(z), threads_, &state_->scratch);
}

void FastBackend::ReluBackwardFromCode(const Node& bn, int64_t batch, int bits, const void* dz, const void* code,
                                       const void* gamma, const void* beta, void* dy, bool accumulate) {
  cpu::ReluBackwardFromCode(bn, batch, bits, F(dz), code, F(gamma), F(beta), F(dy), accumulate, threads_,
                            &state_->scratch);
}

void FastBackend::BatchNormBackwardFromCode(const Node& bn, int64_t batch, int bits, const void* dy,
                                            const void* code, const void* gamma, const void* beta,
                                            const void* stats, void* dx, bool accumulate, void* dgamma,
                                            void* dbeta) {
  cpu::BatchNormBackwardFromCode(bn, batch, bits, F(dy), code, F(gamma), F(beta), F(stats), F(dx), accumulate,
                                 F(dgamma), F(dbeta), threads_, &state_->scratch);
}

void FastBackend::EncodeSaved(const quant::CodeSpec& spec, const void* x, const void* stats, void* code) {
  cpu::EncodeSaved(spec, F(x), F(stats), code, threads_, &state_->scratch);
}

void FastBackend::DecodeSaved(const quant::CodeSpec& spec, const void* code, const void* stats, void* x) {
  cpu::DecodeSaved(spec, code, F(stats), F(x), threads_, &state_->scratch);
}

// ---------------------------------------------------------------- elementwise

void FastBackend::ReluForward(int64_t count, const void* x, void* y) { cpu::ReluForward(count, F(x), F(y), threads_); }

void FastBackend::ReluBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  cpu::ReluBackward(count, F(y), F(dy), F(dx), accumulate, threads_);
}

void FastBackend::SigmoidForward(int64_t count, const void* x, void* y) {
  cpu::SigmoidForward(count, F(x), F(y), threads_);
}

void FastBackend::SigmoidBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  cpu::SigmoidBackward(count, F(y), F(dy), F(dx), accumulate, threads_);
}

void FastBackend::TanhForward(int64_t count, const void* x, void* y) { cpu::TanhForward(count, F(x), F(y), threads_); }

void FastBackend::TanhBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  cpu::TanhBackward(count, F(y), F(dy), F(dx), accumulate, threads_);
}

void FastBackend::PointwiseForward(const Node& n, int64_t count, const void* x, void* y) {
  cpu::PointwiseForward(n, count, F(x), F(y), threads_);
}

void FastBackend::PointwiseBackward(const Node& n, int64_t count, const void* saved, const void* dy, void* dx,
                                    bool accumulate) {
  cpu::PointwiseBackward(n, count, F(saved), F(dy), F(dx), accumulate, threads_);
}

void FastBackend::GroupNormForward(const Node& n, int64_t batch, const void* x, const void* gamma, const void* beta,
                                   void* y, void* stats) {
  cpu::GroupNormForward(n, batch, F(x), F(gamma), F(beta), F(y), F(stats), threads_);
}

void FastBackend::GroupNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                                    const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) {
  cpu::GroupNormBackward(n, batch, F(dy), F(x), F(gamma), F(stats), F(dx), accumulate, F(dgamma), F(dbeta),
                         threads_);
}

void FastBackend::LayerNormForward(const Node& n, int64_t batch, const void* x, const void* gamma, const void* beta,
                                   void* y, void* stats) {
  cpu::LayerNormForward(n, batch, F(x), F(gamma), F(beta), F(y), F(stats), threads_);
}

void FastBackend::LayerNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                                    const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) {
  cpu::LayerNormBackward(n, batch, F(dy), F(x), F(gamma), F(stats), F(dx), accumulate, F(dgamma), F(dbeta),
                         threads_);
}

void FastBackend::AttentionForward(const Node& n, int64_t batch, const void* q, const void* k, const void* v,
                                   void* out, void* lse, Workspace ws) {
  SLIM_CHECK(ws.bytes >= cpu::AttentionWorkspaceFloats(n, planner::Pass::kForward, threads_) * 4);
  cpu::AttentionForward(n, batch, F(q), F(k), F(v), F(out), F(lse), static_cast<float*>(ws.data), threads_);
}

void FastBackend::AttentionBackward(const Node& n, int64_t batch, const void* q, const void* k, const void* v,
                                    const void* out, const void* lse, const void* dout, void* dq, void* dk, void* dv,
                                    const bool* accumulate, Workspace ws) {
  SLIM_CHECK(ws.bytes >= cpu::AttentionWorkspaceFloats(n, planner::Pass::kBackward, threads_) * 4);
  cpu::AttentionBackward(n, batch, F(q), F(k), F(v), F(out), F(lse), F(dout), F(dq), F(dk), F(dv), accumulate,
                         static_cast<float*>(ws.data), threads_);
}

void FastBackend::StridedCopy(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
                              bool accumulate) {
  cpu::StridedCopy(src, F(x), dst, F(y), scale, accumulate, threads_);
}

void FastBackend::Reduce(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
                         bool accumulate) {
  cpu::Reduce(src, F(x), dst, F(y), scale, accumulate, threads_);
}

void FastBackend::BinaryForward(BinaryOp op, const TensorView& a, const void* a_data, const TensorView& b,
                                const void* b_data, const TensorView& y, void* y_data) {
  cpu::BinaryForward(op, a, F(a_data), b, F(b_data), y, F(y_data), threads_);
}

void FastBackend::MatMul(const TensorView& a, const void* a_data, const TensorView& b, const void* b_data,
                         const TensorView& y, void* y_data, bool accumulate) {
  cpu::MatMul(a, F(a_data), b, F(b_data), y, F(y_data), accumulate, threads_);
}

void FastBackend::AdaptiveAvgPoolForward(const Node& n, int64_t batch, const void* x, void* y) {
  cpu::AdaptiveAvgPoolForward(AdaptiveOf(n), batch, F(x), F(y), threads_);
}

void FastBackend::AdaptiveAvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) {
  cpu::AdaptiveAvgPoolBackward(AdaptiveOf(n), batch, F(dy), F(dx), accumulate, threads_);
}

void FastBackend::UpsampleForward(const Node& n, int64_t batch, const void* x, void* y) {
  cpu::UpsampleForward(UpsampleOf(n), batch, F(x), F(y), threads_);
}

void FastBackend::UpsampleBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) {
  cpu::UpsampleBackward(UpsampleOf(n), batch, F(dy), F(dx), accumulate, threads_);
}

void FastBackend::EmbeddingForward(const Node& n, int64_t batch, const void* ids, const void* table, void* y) {
  cpu::EmbeddingForward(batch * n.out[0], n.out_features, F(ids), F(table), F(y), threads_);
}

void FastBackend::EmbeddingBackward(const Node& n, int64_t batch, const void* ids, const void* dy, void* dtable,
                                    bool accumulate) {
  cpu::EmbeddingBackward(batch * n.out[0], n.out_features, n.vocabulary, F(ids), F(dy), F(dtable), accumulate,
                         threads_);
}

void FastBackend::BinaryBackward(BinaryOp op, int index, const TensorView& a, const void* a_data,
                                 const TensorView& b, const void* b_data, const TensorView& dy, const void* dy_data,
                                 const TensorView& d, void* d_data, bool accumulate) {
  cpu::BinaryBackward(op, index, a, F(a_data), b, F(b_data), dy, F(dy_data), d, F(d_data), accumulate, threads_);
}

void FastBackend::SoftmaxForward(const Node& n, int64_t batch, const void* x, void* y) {
  cpu::SoftmaxForward(n, batch, F(x), F(y), threads_);
}

void FastBackend::SoftmaxBackward(const Node& n, int64_t batch, const void* y, const void* dy, void* dx,
                                  bool accumulate) {
  cpu::SoftmaxBackward(n, batch, F(y), F(dy), F(dx), accumulate, threads_);
}

void FastBackend::AddForward(int64_t count, absl::Span<const void* const> inputs, void* y) {
  cpu::AddForward(count, inputs, F(y), threads_);
}

void FastBackend::Copy(int64_t count, const void* src, void* dst, bool accumulate) {
  cpu::Copy(count, F(src), F(dst), accumulate, threads_);
}

void FastBackend::DropoutForward(const Node& n, int64_t batch, const DropoutKey& key, const void* x, void* y) {
  cpu::DropoutForward(n, batch, key, F(x), F(y), threads_);
}

void FastBackend::DropoutBackward(const Node& n, int64_t batch, const DropoutKey& key, const void* dy, void* dx,
                                  bool accumulate) {
  cpu::DropoutBackward(n, batch, key, F(dy), F(dx), accumulate, threads_);
}

// ---------------------------------------------------------------- layout

void FastBackend::ConcatForward(const Node& n, int64_t batch, absl::Span<const void* const> inputs, void* y) {
  cpu::ConcatForward(n, batch, inputs, F(y), threads_);
}

void FastBackend::ConcatBackward(const Node& n, int64_t batch, int index, const void* dy, void* dx,
                                 bool accumulate) {
  cpu::ConcatBackward(n, batch, index, F(dy), F(dx), accumulate, threads_);
}

void FastBackend::FlattenForward(const Node& n, int64_t batch, const void* x, void* y) {
  cpu::FlattenForward(n, batch, F(x), F(y), threads_);
}

void FastBackend::FlattenBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) {
  cpu::FlattenBackward(n, batch, F(dy), F(dx), accumulate, threads_);
}

// ---------------------------------------------------------------- pooling

void FastBackend::MaxPoolForward(const Node& n, int64_t batch, const void* x, void* y, int32_t* indices,
                                 Workspace) {
  cpu::MaxPoolForward(n, batch, F(x), F(y), indices, threads_);
}

void FastBackend::MaxPoolBackward(const Node& n, int64_t batch, const void* dy, const int32_t* indices, void* dx,
                                  bool accumulate, Workspace) {
  cpu::MaxPoolBackward(n, batch, F(dy), indices, F(dx), accumulate, threads_);
}

void FastBackend::AvgPoolForward(const Node& n, int64_t batch, const void* x, void* y, Workspace) {
  cpu::AvgPoolForward(n, batch, F(x), F(y), threads_);
}

void FastBackend::AvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate,
                                  Workspace) {
  cpu::AvgPoolBackward(n, batch, F(dy), F(dx), accumulate, threads_);
}

void FastBackend::GlobalAvgPoolForward(const Node& n, int64_t batch, const void* x, void* y) {
  cpu::GlobalAvgPoolForward(n, batch, F(x), F(y), threads_);
}

void FastBackend::GlobalAvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) {
  cpu::GlobalAvgPoolBackward(n, batch, F(dy), F(dx), accumulate, threads_);
}

// ---------------------------------------------------------------- loss, optimizer

void FastBackend::SoftmaxCrossEntropyForward(const Node& n, int64_t batch, const void* logits,
                                             const int32_t* labels, void* probs, void* loss) {
  cpu::SoftmaxCrossEntropyForward(n, batch, F(logits), labels, F(probs), F(loss), threads_);
}

void FastBackend::MseLossForward(int64_t count, const void* x, const void* targets, void* loss) {
  // One pass in element order, the reference's sum bit for bit (the loss is
  // a small part of a step).
  const float* a = F(x);
  const float* b = F(targets);
  double sum = 0;
  for (int64_t i = 0; i < count; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    sum += d * d;
  }
  *F(loss) = static_cast<float>(sum / static_cast<double>(count));
}

void FastBackend::MseLossBackward(int64_t count, const void* x, const void* targets, void* dx, bool accumulate) {
  const float* a = F(x);
  const float* b = F(targets);
  float* d = F(dx);
  const double scale = 2.0 / static_cast<double>(count);
  cpu::ParallelFor(count, cpu::kElementGrain, threads_, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const double v = scale * (static_cast<double>(a[i]) - static_cast<double>(b[i]));
      d[i] = static_cast<float>(accumulate ? static_cast<double>(d[i]) + v : v);
    }
  });
}

void FastBackend::SoftmaxCrossEntropyBackward(const Node& n, int64_t batch, const void* probs,
                                              const int32_t* labels, void* dlogits, bool accumulate) {
  cpu::SoftmaxCrossEntropyBackward(n, batch, F(probs), labels, F(dlogits), accumulate, threads_);
}

void FastBackend::SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov,
                            void* param, const void* grad, void* momentum_buffer) {
  cpu::SgdUpdate(count, lr, momentum, weight_decay, nesterov, F(param), F(grad), F(momentum_buffer), threads_);
}

}  // namespace slimtrain::engine
