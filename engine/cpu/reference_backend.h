// reference_backend.h — the readable reference Backend, float32 or float64.
//
// ReferenceBackend implements every Backend method (engine/backend.h) with the
// plain single-threaded loops of engine/cpu/reference_kernels.h: sums in
// double, backward-data passes as gathers, no scratch memory. It is the truth
// the fast CPU and CUDA kernels are tested against, and in float64 the backend
// whose gradients are checked against finite differences. It is slow: use it
// for tests and tiny models.
//
//   ReferenceBackend ref(DType::kF64);            // or kF32; alignment 256
//   ref.Conv2dForward(conv_node, batch, x, w, b, y, Workspace{});
//   // As a planner::CostModel: element size of the dtype, workspace 0.
//   PlanMemory(graph, planner::Strategy::kApprox4, options, ref);
//
// Contract notes beyond backend.h (see reference_kernels.h for each op):
//   - SgdUpdate's momentum_buffer must start at zero: the first step then
//     sets buf = g, exactly as torch.optim.SGD initialises it. With momentum 0
//     the buffer is not touched (it may be null).
//   - BatchNormForward in the training modes normalises with the stats it
//     writes (rounded to the dtype), so its backward sees the same x̂.
//   - Workspaces passed in are ignored; pointers are not retained.
//   - Attributes and shapes come from the Node and are trusted (the Graph
//     validated them); a label outside [0, classes) aborts with file:line.
#ifndef SLIMTRAIN_ENGINE_CPU_REFERENCE_BACKEND_H_
#define SLIMTRAIN_ENGINE_CPU_REFERENCE_BACKEND_H_

#include <cstdint>
#include <string>

#include "absl/types/span.h"
#include "engine/backend.h"
#include "planner/cost_model.h"
#include "planner/graph.h"

namespace slimtrain::engine {

class ReferenceBackend : public Backend {
 public:
  // `alignment_bytes` is what the cost model reports (every arena offset is a
  // multiple of it); a positive power of two.
  explicit ReferenceBackend(DType dtype, int64_t alignment_bytes = 256);

  // --- planner::CostModel: name "reference", no workspace for any op.
  std::string name() const override { return "reference"; }
  int64_t alignment_bytes() const override { return alignment_bytes_; }
  int64_t WorkspaceBytes(const planner::Graph&, const planner::Node&, int64_t, planner::Pass) const override {
    return 0;
  }

  DType dtype() const override { return dtype_; }

  void Conv2dForward(const planner::Node& n, int64_t batch, const void* x, const void* w, const void* b, void* y,
                     Workspace ws) override;
  void Conv2dBackwardData(const planner::Node& n, int64_t batch, const void* dy, const void* w, void* dx,
                          bool accumulate, Workspace ws) override;
  void Conv2dBackwardWeights(const planner::Node& n, int64_t batch, const void* x, const void* dy, void* dw,
                             void* db, Workspace ws) override;

  void LinearForward(const planner::Node& n, int64_t batch, const void* x, const void* w, const void* b, void* y,
                     Workspace ws) override;
  void LinearBackwardData(const planner::Node& n, int64_t batch, const void* dy, const void* w, void* dx,
                          bool accumulate, Workspace ws) override;
  void LinearBackwardWeights(const planner::Node& n, int64_t batch, const void* x, const void* dy, void* dw,
                             void* db, Workspace ws) override;

  void BatchNormForward(const planner::Node& n, int64_t batch, BatchNormMode mode, const void* x,
                        const void* gamma, const void* beta, void* running_mean, void* running_var, void* y,
                        void* stats) override;
  void BatchNormBackward(const planner::Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                         const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) override;

  void QuantizeBnRelu(const planner::Node& bn, int64_t batch, int bits, const void* x, const void* y,
                      const void* gamma, const void* beta, const void* stats, void* code) override;
  void RestoreRelu(const planner::Node& bn, int64_t batch, int bits, const void* code, const void* gamma,
                   const void* beta, void* z) override;
  void ReluBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const void* dz, const void* code,
                            const void* gamma, const void* beta, void* dy, bool accumulate) override;
  void BatchNormBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const void* dy,
                                 const void* code, const void* gamma, const void* beta, const void* stats,
                                 void* dx, bool accumulate, void* dgamma, void* dbeta) override;
  void EncodeSaved(const quant::CodeSpec& spec, const void* x, const void* stats, void* code) override;
  void DecodeSaved(const quant::CodeSpec& spec, const void* code, const void* stats, void* x) override;

  void ReluForward(int64_t count, const void* x, void* y) override;
  void ReluBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) override;
  void SigmoidForward(int64_t count, const void* x, void* y) override;
  void SigmoidBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) override;
  void TanhForward(int64_t count, const void* x, void* y) override;
  void TanhBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) override;
  void PointwiseForward(const planner::Node& n, int64_t count, const void* x, void* y) override;
  void PointwiseBackward(const planner::Node& n, int64_t count, const void* saved, const void* dy, void* dx,
                         bool accumulate) override;
  void GroupNormForward(const planner::Node& n, int64_t batch, const void* x, const void* gamma, const void* beta,
                        void* y, void* stats) override;
  void GroupNormBackward(const planner::Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                         const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) override;
  void LayerNormForward(const planner::Node& n, int64_t batch, const void* x, const void* gamma, const void* beta,
                        void* y, void* stats) override;
  void LayerNormBackward(const planner::Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                         const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) override;
  void AttentionForward(const planner::Node& n, int64_t batch, const void* q, const void* k, const void* v,
                        void* out, void* lse, Workspace ws) override;
  void AttentionBackward(const planner::Node& n, int64_t batch, const void* q, const void* k, const void* v,
                         const void* out, const void* lse, const void* dout, void* dq, void* dk, void* dv,
                         const bool* accumulate, Workspace ws) override;
  void StridedCopy(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
                   bool accumulate) override;
  void Reduce(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
              bool accumulate) override;
  void BinaryForward(BinaryOp op, const TensorView& a, const void* a_data, const TensorView& b, const void* b_data,
                     const TensorView& y, void* y_data) override;
  void MatMul(const TensorView& a, const void* a_data, const TensorView& b, const void* b_data, const TensorView& y,
              void* y_data, bool accumulate) override;
  void AdaptiveAvgPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y) override;
  void AdaptiveAvgPoolBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx,
                               bool accumulate) override;
  void UpsampleForward(const planner::Node& n, int64_t batch, const void* x, void* y) override;
  void UpsampleBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) override;
  void EmbeddingForward(const planner::Node& n, int64_t batch, const void* ids, const void* table,
                        void* y) override;
  void EmbeddingBackward(const planner::Node& n, int64_t batch, const void* ids, const void* dy,
                         void* dtable, bool accumulate) override;
  void BinaryBackward(BinaryOp op, int index, const TensorView& a, const void* a_data, const TensorView& b,
                      const void* b_data, const TensorView& dy, const void* dy_data, const TensorView& d,
                      void* d_data, bool accumulate) override;
  void SoftmaxForward(const planner::Node& n, int64_t batch, const void* x, void* y) override;
  void SoftmaxBackward(const planner::Node& n, int64_t batch, const void* y, const void* dy, void* dx,
                       bool accumulate) override;
  void AddForward(int64_t count, absl::Span<const void* const> inputs, void* y) override;
  void Copy(int64_t count, const void* src, void* dst, bool accumulate) override;
  void DropoutForward(const planner::Node& n, int64_t batch, const DropoutKey& key, const void* x,
                      void* y) override;
  void DropoutBackward(const planner::Node& n, int64_t batch, const DropoutKey& key, const void* dy, void* dx,
                       bool accumulate) override;

  void ConcatForward(const planner::Node& n, int64_t batch, absl::Span<const void* const> inputs,
                     void* y) override;
  void ConcatBackward(const planner::Node& n, int64_t batch, int index, const void* dy, void* dx,
                      bool accumulate) override;
  void FlattenForward(const planner::Node& n, int64_t batch, const void* x, void* y) override;
  void FlattenBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) override;

  void MaxPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y, int32_t* indices,
                      Workspace ws) override;
  void MaxPoolBackward(const planner::Node& n, int64_t batch, const void* dy, const int32_t* indices, void* dx,
                       bool accumulate, Workspace ws) override;
  void AvgPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y, Workspace ws) override;
  void AvgPoolBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx, bool accumulate,
                       Workspace ws) override;
  void GlobalAvgPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y) override;
  void GlobalAvgPoolBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx,
                             bool accumulate) override;

  void SoftmaxCrossEntropyForward(const planner::Node& n, int64_t batch, const void* logits,
                                  const int32_t* labels, void* probs, void* loss) override;
  void SoftmaxCrossEntropyBackward(const planner::Node& n, int64_t batch, const void* probs,
                                   const int32_t* labels, void* dlogits, bool accumulate) override;
  void MseLossForward(int64_t count, const void* x, const void* targets, void* loss) override;
  void MseLossBackward(int64_t count, const void* x, const void* targets, void* dx, bool accumulate) override;

  void SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov, void* param,
                 const void* grad, void* momentum_buffer) override;

 private:
  DType dtype_;
  int64_t alignment_bytes_;
};

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_CPU_REFERENCE_BACKEND_H_
