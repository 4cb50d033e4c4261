// fast_backend.h — the fast CPU Backend: oneDNN for conv2d and linear, our
// own vectorised multi-threaded kernels for everything else. float32 only.
//
//   FastBackend fast;                       // threads = the machine's cores
//   absl::StatusOr<Plan> plan = PlanMemory(graph, strategy, options, fast);
//   SLIM_RETURN_IF_ERROR(fast.Prepare(graph, batch));   // JIT, once
//   fast.Conv2dForward(conv, batch, x, w, b, y, Workspace{arena + off, bytes});
//
// Which kernel runs where (engine/backend.h gives the layouts):
//   conv2d, linear    oneDNN 2.6 (dnnl_ops.h): forward, backward-data,
//                     backward-weights with the bias gradient; activations
//                     NHWC as they are, weights reordered per call into the
//                     format each primitive picked, inside the workspace.
//   batch_norm        bn_kernels.h (3 forward modes, backward).
//   BN→ReLU codes     quant_kernels.h: AVX-512 quantize/restore, codes
//                     bit-identical to engine/quant.h.
//   saved codes       code_kernels.h: the other saved tensors' codes
//                     (planner/coding.h), bit-identical to the reference.
//   the rest          vector_kernels.h: relu/sigmoid/tanh, add, copy,
//                     dropout, concat, flatten, max/avg/global-avg pooling
//                     (own NHWC kernels: indices are backend.h's h·W + w,
//                     which oneDNN's pooling workspace is not), softmax
//                     cross-entropy, SGD.
//
// Memory. Activations: none besides what the executor passes. Workspaces
// (WorkspaceBytes, the planner's per-step scratch; independent of the
// strategy): conv2d and linear only, see dnnl_ops.h:
//   forward   = weights in the primitive's format + oneDNN scratchpad
//               (user-managed mode: no hidden oneDNN allocation)
//   backward  = max(backward-data, backward-weights), where backward-data
//               adds room for a chunk of dx (1 MiB of examples, at least
//               one) when it accumulates into a gradient another consumer of
//               the input wrote first (a consumer with a larger node id),
//               and is 0 for the first layer (no input gradient);
//   every other op: 0 (pool backwards gather, so they need no scratch).
// Backend-owned, not activation-sized: the oneDNN primitives (JIT code),
// two (K) float vectors per layer with a bias (zero bias / unused bias
// gradient for null pointers), and the per-channel scratch of the BN and
// quantizer kernels, O(lcm(C,16)·threads), reserved by Prepare.
//
// Threads: `threads` OpenMP threads for every op (oneDNN's primitives are
// created and run with that many; their scratchpad sizes depend on it, so
// plan and run with the same backend). Kernel results are deterministic for a
// fixed thread count.
//
// Errors: Prepare returns oneDNN's failure to create a primitive. Calling an
// op with a workspace smaller than WorkspaceBytes reported, or pointers that
// contradict the node (a bias for a layer without one), aborts with the
// layer's name. Not thread-safe: one op at a time (as the executor runs).
#ifndef SLIMTRAIN_ENGINE_CPU_FAST_BACKEND_H_
#define SLIMTRAIN_ENGINE_CPU_FAST_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/backend.h"
#include "planner/cost_model.h"
#include "planner/graph.h"

namespace slimtrain::engine {

class FastBackend : public Backend {
 public:
  // threads <= 0: the machine's cores (omp_get_num_procs()). `plan_only`:
  // oneDNN's primitives are described, not compiled, so WorkspaceBytes
  // answers as a running backend's would at a fraction of the time and
  // memory (planning asks about many batches: `slimtrain plan --max-batch`
  // on DenseNet-BC-100, 2.4 s and 422 MB with compiled primitives, 0.56 s
  // and 70 MB without), and every conv2d or linear kernel call aborts.
  // `slimtrain plan` and the server's plan worker count CPU workspaces with
  // one.
  explicit FastBackend(int threads = 0, bool plan_only = false);
  ~FastBackend() override;
  FastBackend(const FastBackend&) = delete;
  FastBackend& operator=(const FastBackend&) = delete;

  int threads() const { return threads_; }
  // The oneDNN implementations chosen for conv2d/linear node `n` at `batch`
  // ("fwd brgconv:avx512_core (weights reordered); bwd_data ..."), or the
  // error creating them.
  std::string DescribeOp(const planner::Node& n, int64_t batch) const;

  // --- planner::CostModel.
  std::string name() const override { return "onednn"; }
  int64_t alignment_bytes() const override { return 64; }
  int64_t WorkspaceBytes(const planner::Graph& graph, const planner::Node& node, int64_t batch,
                         planner::Pass pass) const override;

  DType dtype() const override { return DType::kF32; }
  // Creates every conv2d/linear primitive of `graph` at `batch` and reserves
  // the kernels' scratch. INTERNAL when oneDNN cannot create one.
  absl::Status Prepare(const planner::Graph& graph, int64_t batch) override;

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
  struct State;  // oneDNN engine, stream, primitive cache, kernel scratch
  int threads_;
  std::unique_ptr<State> state_;
};

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_CPU_FAST_BACKEND_H_
