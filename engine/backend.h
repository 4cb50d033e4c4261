// backend.h — the kernels an engine backend provides, and the bytes it needs.
//
// A Backend is a planner::CostModel (element size, alignment, per-op
// workspace) plus one method per op and pass. The Executor (executor.h) calls
// them with pointers into the one activation arena and the parameter region;
// a backend allocates no activation memory of its own. Backends: the readable
// reference (engine/cpu/reference_backend.h, float32 or float64, the truth for
// tests), the fast CPU backend (engine/cpu/fast_backend.h: oneDNN and our
// vectorised kernels) and, later, CUDA.
//
// Layouts (N = batch):
//   activations, gradients  (N,H,W,C) for images ("NHWC", channels innermost),
//                           (N,F) for features; element type = dtype()
//   conv2d weight           (K, C/groups, R, R) ("OIHW", PyTorch's), bias (K)
//   linear weight           (out, in), in ordered as PyTorch flattens (C,H,W)
//                           when the input is an image; bias (out)
//   batch_norm              gamma, beta, running_mean, running_var: (C)
//   stats                   (2, C): batch mean, then 1/sqrt(var + eps)
//   labels                  (N) int32 in [0, classes)
//   indices (max_pool)      (N,Ho,Wo,C) int32: argmax's flat index h*W + w
//                           in the input plane
//   codes                   packed K-bit codes in NHWC element order: element
//                           i in byte i*K/8, at bit (i*K) % 8 (low bits first);
//                           pass-through (K = 64): dtype values, one per element
// Every method takes the planner's Node (shapes and attributes) and the batch:
// always the batch given to Prepare (the executor runs only its planned batch;
// evaluation pads a last partial batch). Methods are called one at a time
// from one thread; a backend may reuse its handles and scratch between calls.
// Bias pointers (b, db) are null exactly when node.bias is false. A step's
// workspace is shared by its calls, which run one after the other (a
// backward's data and weight gradients), so its size is their maximum.
// `accumulate` means add into the destination gradient instead of overwriting
// it. In place means y == x in a forward and dx == dy in a backward (for add,
// y may be any one input). The input gradient dx is never needed for the
// model input: the executor
// then skips the data-gradient calls, except BatchNormBackward and
// BatchNormBackwardFromCode, which get dx == nullptr and compute only dgamma
// and dbeta. A destination may be the same pointer as a source exactly where the plan
// runs the op in place (relu, sigmoid, tanh, dropout, batch_norm, add, the
// pointwise activations, softmax, log_softmax; forward and backward); kernels
// must allow it there.
#ifndef SLIMTRAIN_ENGINE_BACKEND_H_
#define SLIMTRAIN_ENGINE_BACKEND_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/norm_math.h"
#include "engine/pointwise_math.h"
#include "engine/pool_math.h"
#include "engine/quant.h"
#include "engine/tensor_view.h"
#include "planner/cost_model.h"
#include "planner/graph.h"

namespace slimtrain::engine {

enum class DType { kF32, kF64 };

inline int64_t SizeOf(DType t) { return t == DType::kF32 ? 4 : 8; }

// One allocation in the memory a backend's kernels address (host memory for
// the CPU backends, device memory for CUDA), released with it.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(void* data, int64_t bytes, std::function<void(void*)> release)
      : data_(data), bytes_(bytes), release_(std::move(release)) {}
  ~DeviceBuffer() {
    if (data_ != nullptr && release_) release_(data_);
  }
  DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    std::swap(release_, other.release_);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  uint8_t* data() const { return static_cast<uint8_t*>(data_); }
  int64_t size() const { return bytes_; }

 private:
  void* data_ = nullptr;
  int64_t bytes_ = 0;
  std::function<void(void*)> release_;
};

// Scratch memory of one step, planned in the arena (may be empty).
struct Workspace {
  void* data = nullptr;
  int64_t bytes = 0;
};

enum class BatchNormMode {
  kTrain,           // batch statistics; update the running statistics
  kTrainNoUpdate,   // batch statistics; leave the running ones (recompute)
  kInference,       // running statistics; stats output untouched
};

// Dropout's random state for one step: the mask of element i of node n is
// a pure function of (seed, step, n, i), so backward and recomputation
// regenerate it without storing it.
struct DropoutKey {
  uint64_t seed = 0;
  int64_t step = 0;
};

// Whether element i of the dropout node `node` is kept (scaled by 1/(1-p)).
bool DropoutKeep(const DropoutKey& key, int node, int64_t i, double p);

// The pointwise op of node `n` (planner::IsPointwise(n.kind)) with its
// attributes, for the kernels (engine/pointwise_math.h).
PointwiseFn PointwiseFnOf(const planner::Node& n);

// adaptive_avg_pool's geometry of node n (engine/pool_math.h).
pool::Adaptive AdaptiveOf(const planner::Node& n);
// upsample's geometry of node n (engine/pool_math.h).
pool::Upsample UpsampleOf(const planner::Node& n);

// group_norm's geometry of node n (engine/norm_math.h).
norm::Groups GroupsOf(const planner::Node& n);

// layer_norm's parameter index of element `i` of a normalised row (see
// Backend::LayerNormForward): i itself, except for an image, whose rows are
// stored (H,W,C) and whose γ is (C,H,W).
inline int64_t LayerNormParamIndex(const planner::Node& n, int64_t i) {
  if (n.out.size() != 3) return i;
  const int64_t c = n.out[0], hw = n.out[1] * n.out[2];
  return (i % c) * hw + i / c;
}

// Where axis `axis` of a per-example tensor `dims` lies in memory at `batch`
// (the layouts above): the batched tensor is `outer` blocks of `size` lines
// of `inner` contiguous elements, so element j of line (o, i) is at
// (o·size + j)·inner + i. For an image (C,H,W), stored (N,H,W,C), the
// channel axis 0 has inner 1.
struct AxisSpan {
  int64_t outer = 1, size = 1, inner = 1;
};
AxisSpan PhysicalAxis(const planner::Dims& dims, int64_t axis, int64_t batch);

class Backend : public planner::CostModel {
 public:
  virtual DType dtype() const = 0;
  int64_t element_bytes() const override { return SizeOf(dtype()); }

  // --- memory. The executor allocates the arena and the parameter region
  // through these; host code reaches kernel memory only through the copies
  // when host_addressable() is false. The defaults are host memory.
  virtual bool host_addressable() const { return true; }
  // `bytes` zeroed bytes: on the host a HostBuffer (memory.h: 4 KiB aligned,
  // pages touched; a process out of memory aborts, as a worker should), on a
  // device 256 B aligned, RESOURCE_EXHAUSTED when the memory is not there.
  virtual absl::StatusOr<DeviceBuffer> Allocate(int64_t bytes);
  // Host -> kernel memory and back; CopyToHost returns when the bytes are
  // there (after every kernel issued before it).
  virtual void CopyToDevice(void* dst, const void* src, int64_t bytes);
  virtual void CopyToHost(void* dst, const void* src, int64_t bytes);
  // Sets `bytes` bytes of kernel memory to `byte`.
  virtual void Fill(void* dst, uint8_t byte, int64_t bytes);
  // Whether every one of `count` elements of dtype() at x is finite.
  virtual bool AllFinite(int64_t count, const void* x);
  // Waits for every kernel issued so far (for timing).
  virtual void Synchronize() {}
  // The queue the kernels run in, for a communicator that must order its
  // collectives after them (NcclCommunicator::Create's `stream`): the CUDA
  // backend's cudaStream_t; null on the CPU backends, whose kernels have
  // returned when their calls do.
  virtual void* stream() const { return nullptr; }
  // Bytes the device reports in use (CUDA: cudaMemGetInfo's total - free,
  // the context included); -1 for host memory, whose measure is the
  // process's peak resident set.
  virtual int64_t DeviceBytesInUse() const { return -1; }
  // The first error a kernel call met since the last call (kernels return
  // nothing; a CUDA backend records its first failed status with file and
  // line), and clears it. The executor checks it after every step.
  virtual absl::Status ConsumeError() { return absl::OkStatus(); }

  // Called once before the first step with the graph and batch the executor
  // runs (e.g. to create oneDNN primitives); the default does nothing.
  virtual absl::Status Prepare(const planner::Graph& graph, int64_t batch);

  // --- conv2d: x (N,H,W,C), w (K,C/g,R,R), b (K) or null, y (N,Ho,Wo,K).
  virtual void Conv2dForward(const planner::Node& n, int64_t batch, const void* x, const void* w,
                             const void* b, void* y, Workspace ws) = 0;
  // dx (N,H,W,C) from dy (N,Ho,Wo,K).
  virtual void Conv2dBackwardData(const planner::Node& n, int64_t batch, const void* dy, const void* w, void* dx,
                                  bool accumulate, Workspace ws) = 0;
  // dw (K,C/g,R,R) and db (K) or null, overwritten.
  virtual void Conv2dBackwardWeights(const planner::Node& n, int64_t batch, const void* x, const void* dy,
                                     void* dw, void* db, Workspace ws) = 0;

  // --- linear: x (N,F) or (N,H,W,C) with F = C*H*W, w (O,F), b (O) or null,
  // y (N,O).
  virtual void LinearForward(const planner::Node& n, int64_t batch, const void* x, const void* w, const void* b,
                             void* y, Workspace ws) = 0;
  virtual void LinearBackwardData(const planner::Node& n, int64_t batch, const void* dy, const void* w, void* dx,
                                  bool accumulate, Workspace ws) = 0;
  virtual void LinearBackwardWeights(const planner::Node& n, int64_t batch, const void* x, const void* dy,
                                     void* dw, void* db, Workspace ws) = 0;

  // --- batch_norm: x, y (N,H,W,C) or (N,C); stats (2,C) written in the
  // training modes, rounded to the element type, and the forward normalises
  // with the rounded values (so backward sees exactly the forward's x̂).
  // running_var is updated with the unbiased batch variance (PyTorch).
  virtual void BatchNormForward(const planner::Node& n, int64_t batch, BatchNormMode mode, const void* x,
                                const void* gamma, const void* beta, void* running_mean, void* running_var,
                                void* y, void* stats) = 0;
  // Training-mode backward: dx, dgamma, dbeta (the latter two overwritten).
  virtual void BatchNormBackward(const planner::Node& n, int64_t batch, const void* dy, const void* x,
                                 const void* gamma, const void* stats, void* dx, bool accumulate, void* dgamma,
                                 void* dbeta) = 0;

  // --- layer_norm: x, y (N, rows, size) in memory order (n.norm_rows rows of
  // n.norm_row_size elements per example); gamma, beta of the normalised
  // shape in PyTorch's order (an image's (C,H,W), while its row is stored
  // (H,W,C): element (h,w,c) of the row takes γ[c·H·W + h·W + w]), or null
  // without n.affine; stats (N·rows, 2): mean, then 1/sqrt(var + eps),
  // rounded to the element type, and y is normalised with the rounded values
  // (so backward sees exactly the forward's x̂).
  virtual void LayerNormForward(const planner::Node& n, int64_t batch, const void* x, const void* gamma,
                                const void* beta, void* y, void* stats) = 0;
  // dx (null for the model input), dgamma and dbeta (overwritten; null
  // without n.affine).
  virtual void LayerNormBackward(const planner::Node& n, int64_t batch, const void* dy, const void* x,
                                 const void* gamma, const void* stats, void* dx, bool accumulate, void* dgamma,
                                 void* dbeta) = 0;

  // --- group_norm (engine/norm_math.h's GroupForward, GroupParamGrad,
  // GroupDataGrad): x, y in the activation layout; gamma, beta (C) or null;
  // stats (N·groups, 2), rounded to the element type.
  virtual void GroupNormForward(const planner::Node& n, int64_t batch, const void* x, const void* gamma,
                                const void* beta, void* y, void* stats) = 0;
  // dgamma, dbeta (overwritten; null without affine) before dx (null for
  // the model input; may be dy).
  virtual void GroupNormBackward(const planner::Node& n, int64_t batch, const void* dy, const void* x,
                                 const void* gamma, const void* stats, void* dx, bool accumulate, void* dgamma,
                                 void* dbeta) = 0;

  // --- embedding: ids (N,L) of dtype(), whole numbers in [0, n.vocabulary)
  // (the executor checks them first); table (V,D); y (N,L,D).
  virtual void EmbeddingForward(const planner::Node& n, int64_t batch, const void* ids, const void* table,
                                void* y) = 0;
  // dtable (V,D) = Σ over the positions holding each id of dy's row,
  // summed in position order; overwritten (zero for ids that do not occur),
  // or with `accumulate` added to what is there (a table tied to a linear
  // whose backward wrote its gradient first).
  virtual void EmbeddingBackward(const planner::Node& n, int64_t batch, const void* ids, const void* dy,
                                 void* dtable, bool accumulate) = 0;

  // --- attention (proto/model.proto's Attention): q (N,Lq,D), k, v
  // (N,Lk,D), out (N,Lq,D) row-major; lse (N,heads,Lq): the log-sum-exp of
  // each query's scaled, masked scores, rounded to the element type (the
  // backward recomputes the probabilities from it).
  virtual void AttentionForward(const planner::Node& n, int64_t batch, const void* q, const void* k, const void* v,
                                void* out, void* lse, Workspace ws) = 0;
  // dq, dk, dv: each null (no gradient wanted) or written (`accumulate[i]`:
  // added into) for input i; three different buffers.
  virtual void AttentionBackward(const planner::Node& n, int64_t batch, const void* q, const void* k, const void* v,
                                 const void* out, const void* lse, const void* dout, void* dq, void* dk, void* dv,
                                 const bool* accumulate, Workspace ws) = 0;

  // --- approximate activations (docs/DESIGN.md, "The BN→ReLU code") for the BN→ReLU whose
  // batch_norm is `bn`; `bits` is 8, 4, 2 or planner::kPassThroughBits.
  // SAVE: codes of y = BN(x) per channel from gamma, beta; x and stats are
  // read only for channels with gamma == 0.
  virtual void QuantizeBnRelu(const planner::Node& bn, int64_t batch, int bits, const void* x, const void* y,
                              const void* gamma, const void* beta, const void* stats, void* code) = 0;
  // z' (the relu's output restored from the codes), shaped as y.
  virtual void RestoreRelu(const planner::Node& bn, int64_t batch, int bits, const void* code, const void* gamma,
                           const void* beta, void* z) = 0;
  // ReLU backward with the exact mask from the codes: dy = dz * mask.
  virtual void ReluBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const void* dz,
                                    const void* code, const void* gamma, const void* beta, void* dy,
                                    bool accumulate) = 0;
  // BN backward with x̂' restored from the codes: dx, dgamma, dbeta.
  virtual void BatchNormBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const void* dy,
                                         const void* code, const void* gamma, const void* beta,
                                         const void* stats, void* dx, bool accumulate, void* dgamma,
                                         void* dbeta) = 0;

  // --- codes of the other saved tensors (planner/coding.h: kBnInput,
  // kLnInput, kRelu, kBounded, kRange, kGroup), element by element as
  // engine/quant.h specifies. x and the decoded tensor hold spec.count
  // elements; stats is a kBnInput code's (2, C) batch mean and 1/std, a
  // kLnInput code's (rows, 2) mean and 1/std of each row (null otherwise).
  // SAVE: the code of x.
  virtual void EncodeSaved(const quant::CodeSpec& spec, const void* x, const void* stats, void* code) = 0;
  // The tensor decoded from its code, into x (backward reads it in place of
  // the exact tensor).
  virtual void DecodeSaved(const quant::CodeSpec& spec, const void* code, const void* stats, void* x) = 0;

  // --- elementwise over `count` elements.
  virtual void ReluForward(int64_t count, const void* x, void* y) = 0;
  // From the relu's output y: dx = dy * (y > 0).
  virtual void ReluBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) = 0;
  virtual void SigmoidForward(int64_t count, const void* x, void* y) = 0;
  virtual void SigmoidBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) = 0;
  virtual void TanhForward(int64_t count, const void* x, void* y) = 0;
  virtual void TanhBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) = 0;
  // --- pointwise activations (planner::IsPointwise: relu6, clip,
  // leaky_relu, elu, gelu, silu, hardswish, hardsigmoid, softplus) over
  // `count` elements, with n's attributes (proto/model.proto says each op).
  virtual void PointwiseForward(const planner::Node& n, int64_t count, const void* x, void* y) = 0;
  // dx = dy * f'(x). `saved` is the op's output y when
  // planner::BackwardReadsOutput(n), else its input x. scale (PointwiseFnOf
  // maps it here too) reads nothing: the executor passes dy.
  virtual void PointwiseBackward(const planner::Node& n, int64_t count, const void* saved, const void* dy,
                                 void* dx, bool accumulate) = 0;

  // --- softmax and log_softmax along n.axis of x (layout above; the axis
  // is an index into n.out, so for an image the channel axis is innermost).
  virtual void SoftmaxForward(const planner::Node& n, int64_t batch, const void* x, void* y) = 0;
  // From the output y: softmax dx = y ⊙ (dy − Σ dy⊙y), log_softmax
  // dx = dy − exp(y) Σ dy, sums along the axis.
  virtual void SoftmaxBackward(const planner::Node& n, int64_t batch, const void* y, const void* dy, void* dx,
                               bool accumulate) = 0;

  // --- views (engine/tensor_view.h; engine/shape_views.h makes them from a
  // node). Element k of view `src` of x, times `scale`, goes to element k of
  // view `dst` of y (equal counts; a stride of 0 in src broadcasts): the
  // layout ops (reshape, squeeze, unsqueeze, transpose, slice, concat on any
  // axis) forward and backward, and reduce_* backward. y is never x.
  virtual void StridedCopy(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
                           bool accumulate) = 0;
  // y[dst.At(j)] = scale · Σ x over the elements of `src` that project onto
  // element j of `dst` (dst's dims are src's, or 1 on the reduced axes):
  // reduce_sum and reduce_mean.
  virtual void Reduce(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
                      bool accumulate) = 0;
  // y = op(a, b), element k of each view (all of the output's dims; a
  // broadcast input has stride 0 on its broadcast axes). y may be a or b
  // where that input is not broadcast.
  virtual void BinaryForward(BinaryOp op, const TensorView& a, const void* a_data, const TensorView& b,
                             const void* b_data, const TensorView& y, void* y_data) = 0;
  // y (+)= a · b over the last two axes of rank-4 views (N,H,M,K) x
  // (N,H,K,P) -> (N,H,M,P): matmul and, with transposed views (strides
  // swapped), its gradients. y is neither a nor b.
  virtual void MatMul(const TensorView& a, const void* a_data, const TensorView& b, const void* b_data,
                      const TensorView& y, void* y_data, bool accumulate) = 0;
  // The gradient of input `index`: d[j] = Σ dy · ∂op/∂input over the output
  // elements that read element j (a, b and dy are views of the output's
  // dims, d of the input's dims aligned to the output's rank, 1 where
  // broadcast). Reads a only for the gradient of mul's b and of div's b,
  // b only for the gradient of mul's a and of div's a and b (the others may
  // be null). d may be dy when the input is not broadcast.
  virtual void BinaryBackward(BinaryOp op, int index, const TensorView& a, const void* a_data, const TensorView& b,
                              const void* b_data, const TensorView& dy, const void* dy_data, const TensorView& d,
                              void* d_data, bool accumulate) = 0;

  // y = sum of the inputs.
  virtual void AddForward(int64_t count, absl::Span<const void* const> inputs, void* y) = 0;
  // dst = src (or dst += src): the add's backward, and copies.
  virtual void Copy(int64_t count, const void* src, void* dst, bool accumulate) = 0;
  // Training only: in inference the executor copies instead.
  virtual void DropoutForward(const planner::Node& n, int64_t batch, const DropoutKey& key, const void* x,
                              void* y) = 0;
  virtual void DropoutBackward(const planner::Node& n, int64_t batch, const DropoutKey& key, const void* dy,
                               void* dx, bool accumulate) = 0;

  // --- layout ops.
  // Concatenation along channels: inputs (N,H,W,C_i) -> y (N,H,W,ΣC_i).
  virtual void ConcatForward(const planner::Node& n, int64_t batch, absl::Span<const void* const> inputs,
                             void* y) = 0;
  // The slice of dy for input `index`, into dx.
  virtual void ConcatBackward(const planner::Node& n, int64_t batch, int index, const void* dy, void* dx,
                              bool accumulate) = 0;
  // (N,H,W,C) -> (N,C*H*W) in (C,H,W) order, as PyTorch flattens; and back.
  virtual void FlattenForward(const planner::Node& n, int64_t batch, const void* x, void* y) = 0;
  virtual void FlattenBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx,
                               bool accumulate) = 0;

  // --- pooling: x (N,H,W,C), y (N,Ho,Wo,C).
  virtual void MaxPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y, int32_t* indices,
                              Workspace ws) = 0;
  virtual void MaxPoolBackward(const planner::Node& n, int64_t batch, const void* dy, const int32_t* indices,
                               void* dx, bool accumulate, Workspace ws) = 0;
  virtual void AvgPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y, Workspace ws) = 0;
  virtual void AvgPoolBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx, bool accumulate,
                               Workspace ws) = 0;
  // Adaptive average pooling (engine/pool_math.h): x (N,H,W,C) ->
  // y (N,oh,ow,C); backward gathers.
  virtual void AdaptiveAvgPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y) = 0;
  virtual void AdaptiveAvgPoolBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx,
                                       bool accumulate) = 0;
  // --- upsample (engine/pool_math.h's UpsampleAt, UpsampleGrad): x
  // (N,H,W,C) -> y (N,oh,ow,C); dx overwritten or accumulated.
  virtual void UpsampleForward(const planner::Node& n, int64_t batch, const void* x, void* y) = 0;
  virtual void UpsampleBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx,
                                bool accumulate) = 0;
  // (N,H,W,C) -> (N,C).
  virtual void GlobalAvgPoolForward(const planner::Node& n, int64_t batch, const void* x, void* y) = 0;
  virtual void GlobalAvgPoolBackward(const planner::Node& n, int64_t batch, const void* dy, void* dx,
                                     bool accumulate) = 0;

  // --- softmax cross-entropy: logits (N,classes), labels (N), probs
  // (N,classes); loss = mean over the batch, a scalar of dtype().
  virtual void SoftmaxCrossEntropyForward(const planner::Node& n, int64_t batch, const void* logits,
                                          const int32_t* labels, void* probs, void* loss) = 0;
  // dlogits = (probs - target) / N: the loss's own gradient is 1.
  virtual void SoftmaxCrossEntropyBackward(const planner::Node& n, int64_t batch, const void* probs,
                                           const int32_t* labels, void* dlogits, bool accumulate) = 0;

  // --- mse_loss over `count` elements (the batch's): loss = mean of
  // (x − t)², a scalar of dtype(), summed in double in element order.
  virtual void MseLossForward(int64_t count, const void* x, const void* targets, void* loss) = 0;
  // dx = 2 (x − t) / count: the loss's own gradient is 1.
  virtual void MseLossBackward(int64_t count, const void* x, const void* targets, void* dx, bool accumulate) = 0;

  // --- optimizer: SGD with momentum over `count` parameters: with
  // g = grad + weight_decay * param, buf = momentum * buf + g, and
  // step = nesterov ? g + momentum * buf : buf, param -= lr * step
  // (PyTorch's torch.optim.SGD, no dampening). momentum_buffer starts at
  // zero, which gives buf = g on the first step as PyTorch does; it may be
  // null when momentum is 0.
  virtual void SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov,
                         void* param, const void* grad, void* momentum_buffer) = 0;

  // Adam (torch.optim.Adam, coupled weight decay): g = grad + wd * param;
  // m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²; param -= lr · (m / (1-β1^t)) /
  // (sqrt(v / (1-β2^t)) + eps), t the 1-based step. m and v start at zero.
  // The default is a plain loop; backends may override it.
  virtual void AdamUpdate(int64_t count, double lr, double beta1, double beta2, double eps, double weight_decay,
                          int64_t t, void* param, const void* grad, void* m, void* v);

  // RMSprop (torch.optim.RMSprop): g = grad + wd * param; sq = α sq + (1-α) g²;
  // d = g / (sqrt(sq) + eps); with momentum: buf = momentum buf + d, param -=
  // lr buf; without: param -= lr d. sq and buf start at zero. The default is
  // a plain loop; backends may override it.
  virtual void RmspropUpdate(int64_t count, double lr, double alpha, double eps, double weight_decay,
                             double momentum, void* param, const void* grad, void* square_avg, void* buf);
};

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_BACKEND_H_
