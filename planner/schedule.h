// schedule.h — the steps of one training step under a strategy, and every
// transient buffer they read and write.
//
// BuildSchedule turns a Graph into steps (FORWARD, SAVE, RECOMPUTE, BACKWARD,
// OPTIMIZER) and buffers (activations, K-bit codes, statistics, argmax
// indices, gradients, workspaces), each step naming the buffer ids it reads
// and writes. Lifetimes are not stated, they follow from the steps:
// ComputeLifetimes (lifetimes.h) then sets first_step, last_step, saved and
// the in-place chains.
//
//   absl::StatusOr<Schedule> s = BuildSchedule(graph, Strategy::kApprox4,
//                                              /*batch=*/128, DefaultCostModel());
//   ComputeLifetimes(graph, *s);
//
// What each backward keeps (exact): conv2d and linear their input;
// batch_norm its input and per-channel statistics; relu, sigmoid, tanh their
// output; max_pool its argmax indices; the loss its softmax probabilities and
// the labels; the other activations their output or input as
// BackwardReadsOutput says (graph.h); mul and matmul each input whose partner's
// gradient is needed, div its divisor and (for the divisor's gradient) its
// dividend; add, sub, scale, concat, pools, flatten, reshape, squeeze,
// unsqueeze, transpose, slice, reduce_* and dropout nothing (dropout's mask
// is regenerated from its random state). A tensor several backwards need is
// kept once.
//
// approx-K: every other tensor a backward reads is coded too (coding.h),
// except the model input, token ids and the mse_loss input: a relu's output
// kRelu (exact mask); relu6, clip and hardsigmoid outputs kBounded; sigmoid
// and tanh outputs kRange; a tensor only a batch_norm's backward reads
// kBnInput (coded after that batch_norm's forward, with its statistics);
// anything else kGroup. A SAVE step after the producing forward (for
// kBnInput the batch_norm's) reads the tensor and writes its code; the first
// backward that reads the tensor decodes it (a kDecode read of the code) into
// a ".decoded" buffer alive until the last such backward, which the
// backwards read in the tensor's place. naive-K codes BN→ReLUs only. mixed
// codes as approx-K, each tensor with its own bits (TensorBits; a tensor not
// named, or a BN→ReLU whose batch_norm is not named, is kept exact); with
// checkpoints, the segments up to the last checkpoint are recomputed as
// under checkpointing (exact, whatever TensorBits says of them) and only the
// last segment carries codes.
//
// approx-K / naive-K: each batch_norm whose only consumer is a relu (a BN→ReLU)
// keeps a K-bit code of its output and its statistics instead. The SAVE step
// right after the batch_norm's forward reads its input and output (the input
// codes channels whose γ is 0) and writes the code; the relu and batch_norm
// backwards read the code, and conv2d/linear consumers of the relu restore its
// output from the code during backward (a RESTORED activation alive from the
// first to the last such backward). naive-K's relu forward also reads the code
// (it outputs the restored values). Each buffer says why it is kept as it
// is. approx_passthrough keeps the coded value v
// itself (element_bytes per element): the approx path with no quantization
// error, for tests.
//
// checkpoint / checkpoint_optimal: `checkpoints` (cut points, see
// CutPoints) split the graph into segments. Outputs of checkpoint nodes (and
// the input) are kept; other tensors of every segment but the last die at
// their last forward use; in backward each earlier segment is recomputed from
// its checkpoint (RECOMPUTE steps) right before its backward steps.
#ifndef SLIMTRAIN_PLANNER_SCHEDULE_H_
#define SLIMTRAIN_PLANNER_SCHEDULE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "planner/coding.h"
#include "planner/cost_model.h"
#include "planner/graph.h"
#include "planner/strategy.h"
#include "proto/plan.pb.h"

namespace slimtrain::planner {

struct ScheduleBuffer {
  std::string name;  // "<layer>.<what>": "conv1.out", "bn1.code", "relu1.grad"
  v1::Buffer::Kind kind = v1::Buffer::ACTIVATION;
  int64_t size_bytes = 0;
  int node = 0;                 // producing node's id
  std::vector<int64_t> shape;   // with the batch dimension; empty for raw bytes
  v1::Buffer::Representation representation = v1::Buffer::FULL;
  std::string reason;           // why it is kept for backward (if it is)
  // A CODE buffer: how it codes which tensor (coding.h). code_of is the
  // coded ACTIVATION buffer; aux the statistics a kBnInput code is decoded
  // with; lo, hi the known range of kBounded and kRange; channels kBnInput's
  // C. A decoded ACTIVATION buffer (written by the first backward that reads
  // it, from its code) names its code in decoded_from.
  Coding coding = Coding::kExact;
  int bits = 0;
  int code_of = -1;
  int aux = -1;
  double lo = 0, hi = 0;
  int64_t channels = 1;
  int decoded_from = -1;

  // Set by ComputeLifetimes (lifetimes.h):
  int first_step = -1;  // first step reading or writing it
  int last_step = -1;   // last such step (inclusive)
  bool saved = false;   // alive across the end of the forward pass
  int in_place_of = -1; // id of the buffer whose storage it reuses, or -1
};

// What a buffer is to the step that touches it: how the engine knows which
// pointer goes where.
enum class Role {
  kInput,       // activation of the node's input `index` (FORWARD, RECOMPUTE,
                // SAVE: the BN's input; BACKWARD: what the backward keeps)
  kOutput,      // the node's output activation
  kStats,       // per-channel mean and inverse std of a batch_norm
  kIndices,     // argmax indices of a max_pool
  kLabels,      // the batch's labels (int32)
  kTargets,     // the batch's regression targets (the element type)
  kProbs,       // softmax probabilities of the loss
  kCode,        // K-bit codes of a BN→ReLU (its batch_norm's)
  kRestored,    // a relu output restored from its code (input `index` of the
                // backward's node)
  kDecode,      // a code read to decode a tensor the step reads: the decoded
                // buffer, written by this step, names it in decoded_from
  kOutputGrad,  // gradient of the node's output
  kInputGrad,   // gradient of the node's input `index`; accumulated into when
                // also read
  kWorkspace,   // the op's scratch memory
  kAllReduce,   // a data-parallel gradient bucket (data_parallel.h), `index`
                // its place in Schedule::buckets: written by the BACKWARD
                // step that completes it (packed after the step's kernels),
                // read by OPTIMIZER (its sum waited for and unpacked first)
};

// "input", "output", ... for messages.
const char* RoleName(Role role);

struct Operand {
  int buffer = 0;   // id in Schedule::buffers
  Role role = Role::kInput;
  int index = 0;    // which input (kInput, kInputGrad, kRestored)
  bool read = false;
  bool write = false;
};

struct ScheduleStep {
  v1::Step::Kind kind = v1::Step::FORWARD;
  int node = -1;                  // -1 for OPTIMIZER
  std::vector<Operand> operands;  // every buffer the step touches, once each
  int64_t flops = 0;

  std::vector<int> reads() const;   // buffer ids read, in operand order
  std::vector<int> writes() const;  // buffer ids written
  // The operand with `role` (and `index`), or nullptr.
  const Operand* Find(Role role, int index = 0) const;
};

// A data-parallel job's gradient bucket (data_parallel.h): gradients of
// several trainable tensors, summed across the ranks together from an
// ALLREDUCE buffer of the arena.
struct GradientBucket {
  int buffer = -1;     // its ALLREDUCE buffer in Schedule::buffers
  int ready_step = 0;  // the BACKWARD step after which it is packed and its sum started
  // [begin, end) element ranges of the gradient region (parameter_layout.h),
  // ascending and merged; the buffer holds them one after another.
  std::vector<std::pair<int64_t, int64_t>> ranges;
  int64_t elements = 0;  // the ranges' lengths together
};

struct Schedule {
  Strategy strategy = Strategy::kExact;
  int64_t batch = 0;
  int64_t element_bytes = 4;
  std::vector<ScheduleStep> steps;
  std::vector<ScheduleBuffer> buffers;
  int backward_begin = 0;        // index of the first step after the forward pass
  std::vector<int> checkpoints;  // node ids of segment boundaries (checkpointing)
  int64_t forward_flops = 0;     // FORWARD steps
  int64_t backward_flops = 0;    // BACKWARD and SAVE steps
  int64_t recompute_flops = 0;   // RECOMPUTE steps
  // Data-parallel (data_parallel.h's AddGradientBuckets): the processes the
  // gradients are summed over, and the buckets they are summed in (none
  // for 1).
  int ranks = 1;
  std::vector<GradientBucket> buckets;
};

// A mixed plan's choice: the bits (2, 4, 8; kPassThroughBits in tests) of
// each coded tensor, by the name of the layer whose output it codes (a
// BN→ReLU's code by its batch_norm's name). A tensor not named is kept
// exact.
using TensorBits = std::map<std::string, int>;

// Builds the schedule. `checkpoints` is used by the checkpointing strategies
// and mixed only: ids of cut points (CutPoints), each strictly before the loss; empty
// means one segment (no recompute). `tensor_bits` by mixed only. INVALID_ARGUMENT for
// batch < 1, a checkpoint that is not a cut point, or bits not in TensorBits'
// set.
absl::StatusOr<Schedule> BuildSchedule(const Graph& graph, Strategy strategy, int64_t batch,
                                       const CostModel& cost, const std::vector<int>& checkpoints = {},
                                       const TensorBits& tensor_bits = {});

// Whether node's backward adds into the gradient of its input `index` rather
// than writing it: backward steps run in reverse topological order, so it
// does when another consumer of that input has a larger id (its backward ran
// first). The schedule follows this rule, and backends sizing workspaces for
// accumulation (planner::CostModel::WorkspaceBytes) use it too.
bool InputGradAccumulates(const Graph& graph, const Node& node, int index);

// Nodes after which the graph can be cut: in topological order, every edge
// from a node at or before v to a node after v starts at v. Excludes the input
// and the loss. Ascending ids.
std::vector<int> CutPoints(const Graph& graph);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_SCHEDULE_H_
