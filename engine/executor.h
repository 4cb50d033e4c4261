// executor.h — runs training steps exactly as a memory plan says.
//
// The executor makes one allocation of the plan's arena_bytes and puts every
// activation, code, statistic, gradient and workspace at its planned offset;
// parameters, gradients and the optimizer state live in a separate
// ParameterRegion (params.h). It walks the plan's steps in order, calling the
// Backend's kernels with pointers into those two regions, and allocates no
// other activation memory.
//
//   ReferenceBackend backend(DType::kF32);   // or FastBackend
//   SLIM_ASSIGN_OR_RETURN(auto exec, Executor::Create(graph, Strategy::kApprox4,
//                                                     /*batch=*/128, &backend, {}));
//   SLIM_ASSIGN_OR_RETURN(StepResult r, exec->TrainStep(images, labels, /*learning_rate=*/0.1));
//
// How a step maps to kernels: FORWARD and RECOMPUTE run the node's forward
// (recomputation: batch norm uses batch statistics without updating the
// running ones; dropout replays its mask from (seed, step, node)); SAVE
// quantizes a BN→ReLU; BACKWARD runs the node's backward (restoring a relu
// output from its codes first where the plan says); OPTIMIZER updates every
// parameter. Which buffer plays which part comes from the planner's schedule
// (planner/schedule.h's operand roles): the one the plan was packed from
// (Create), or, for a stored plan, derived from it and checked against it
// (CreateFromPlan).
//
// Debug mode (ExecutorOptions.debug) fills every storage block with NaNs
// before its first step and after its last, so a kernel that reads a buffer
// outside its lifetime produces NaNs (and the result differs from a normal
// run), and checks each operand's size against its tensor.
#ifndef SLIMTRAIN_ENGINE_EXECUTOR_H_
#define SLIMTRAIN_ENGINE_EXECUTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/comm/communicator.h"
#include "engine/memory.h"
#include "engine/params.h"
#include "planner/data_parallel.h"
#include "planner/graph.h"
#include "planner/lifetimes.h"
#include "planner/mixed.h"
#include "planner/schedule.h"
#include "planner/strategy.h"
#include "proto/plan.pb.h"

namespace slimtrain::engine {

// The optimizer and its hyper-parameters (the learning rate comes with each
// step). Defaults as PyTorch's, with momentum 0.9 for SGD.
struct OptimizerConfig {
  std::string kind = "sgd";  // "sgd", "adam", "rmsprop"
  double momentum = 0.9;     // sgd, rmsprop
  bool nesterov = false;     // sgd
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999;  // adam
  double epsilon = 1e-8;              // adam, rmsprop
  double alpha = 0.99;                // rmsprop
};

struct ExecutorOptions {
  uint64_t seed = 1;        // parameter initialisation and dropout
  bool debug = false;       // NaN-poison blocks outside their lifetimes
  OptimizerConfig optimizer;
  // Budget checkpoint_optimal segments for (0: least peak) and mixed
  // chooses bits for; see planner::PlanOptions::checkpoint_budget_bytes.
  int64_t checkpoint_budget_bytes = 0;
  // mixed: the tensors' measured sensitivity (planner/mixed.h); null:
  // assumed. Not owned.
  const planner::Sensitivity* sensitivity = nullptr;
  // mixed: these bits per tensor instead of a choice; null: chosen. Not
  // owned.
  const planner::TensorBits* tensor_bits = nullptr;
  // Time every step by kind and op (Executor::profile()). Each timed step
  // waits for the device before and after it (Backend::Synchronize), so
  // on a GPU the times are the step's work, and the run is slower.
  bool profile = false;
  // Create: the most the plan may need, in bytes (0: no limit). A plan whose
  // peak is over it fails with FAILED_PRECONDITION giving both numbers,
  // before anything is allocated: a server's GPU worker re-plans with the
  // workspaces its cuDNN chose and must fit the peak its job was admitted
  // with (peak_limit_name says so).
  int64_t peak_limit_bytes = 0;
  std::string peak_limit_name = "the limit";
  // Data-parallel training: this process is one rank of `communicator`'s
  // (not owned; null or of size 1: training alone), and the plan is each
  // rank's (planner/data_parallel.h: Create plans for communicator->size()
  // ranks with the three fields below; CreateFromPlan takes them from the
  // stored plan, whose ranks must be the communicator's size). After
  // backward the gradients are the mean of every rank's: summed in the
  // plan's buckets of about bucket_bytes (trainable tensors in the order
  // backward completes them), each copied into its ALLREDUCE buffer of the
  // arena and its sum started as soon as the backward step completing it
  // has run when overlap_communication (so it overlaps the rest of
  // backward), otherwise all after backward; before the optimizer step the
  // executor waits for them and copies each bucket's sum over the ranks
  // back to the gradients. Each rank runs its own batch (its shard), so the
  // mean is the gradient of the global batch's mean loss. The copies are
  // the backend's kernels (Copy in, StridedCopy times 1/ranks back) on its
  // own memory, and the communicator is handed that memory: a host one (MPI)
  // on the CPU backends, a device one (NcclCommunicator) on a GPU; any other
  // pairing is FAILED_PRECONDITION.
  comm::Communicator* communicator = nullptr;
  int64_t bucket_bytes = planner::kDefaultBucketBytes;
  bool overlap_communication = true;
  // Data-parallel: batch norm with the statistics of every rank's batch
  // together (PyTorch's SyncBatchNorm): forward all-reduces each channel's
  // sum and sum of squares, backward the sums of dy and dy·x̂, so 2 ranks x
  // 32 compute what 1 x 64 does. Host-addressable backends; exact and the
  // checkpointing strategies (BN codes keep per-rank statistics: refused).
  // Its sums are computed on the host: refused (UNIMPLEMENTED) on a backend
  // that is not host-addressable.
  bool sync_batch_norm = false;
};

// Seconds spent per (step kind, op), e.g. "BACKWARD conv2d", summed over
// the steps run with ExecutorOptions.profile, and how many ran.
struct ProfileEntry {
  std::string what;
  double seconds = 0;
  int64_t calls = 0;
};

// Executor::profile() as a table, largest first: each entry's milliseconds,
// its share of their sum, its calls, and the mean per call; at most `rows`
// rows (the rest summed in one line), then the total.
std::string FormatProfile(const std::vector<ProfileEntry>& entries, int rows = 25);

struct StepResult {
  double loss = 0;      // mean cross-entropy over the batch
  int64_t correct = 0;  // examples whose largest logit is the label
};

class Executor {
 public:
  // Plans `strategy` at `batch` with `backend` as the cost model
  // (planner::PlanToRun; data-parallel: for options.communicator's ranks)
  // and runs that plan with the schedule it was packed from: nothing is
  // rebuilt or compared. `backend` must outlive the executor. Fails as
  // PlanToRun (INVALID_ARGUMENT for a bad batch, optimizer or bucket size,
  // naming it), or as the backend's Prepare and Allocate; data-parallel,
  // UNIMPLEMENTED on a backend that is not host-addressable or for sync
  // batch norm under a strategy that codes batch norms.
  static absl::StatusOr<std::unique_ptr<Executor>> Create(const planner::Graph& graph, planner::Strategy strategy,
                                                          int64_t batch, Backend* backend,
                                                          const ExecutorOptions& options);

  // Runs a stored `plan` (with its buffers and steps), e.g. the plan.pb a
  // server admitted. The proto carries no operands, so the schedule is
  // derived from the plan's own decisions (its strategy, checkpoints, each
  // code's bits, and its ranks, bucket_bytes and overlap_communication for
  // the gradient buckets) with planner::BuildSchedule and
  // planner::AddGradientBuckets: it derives, it does not re-plan (no
  // checkpoint search, no choice of bits). The derived schedule is then
  // checked against the plan, buffer by buffer. The plan's data-parallel
  // fields replace options' bucket_bytes, overlap_communication and
  // sync_batch_norm. FAILED_PRECONDITION when the plan lacks buffers, is for
  // another element size than the backend's or for other ranks than the
  // communicator's size (naming both), names a checkpoint that is not a
  // layer, or does not match the derived schedule (sizes, lifetimes,
  // in-place reuse), naming the first difference; INVALID_ARGUMENT for an
  // unknown strategy or optimizer.
  static absl::StatusOr<std::unique_ptr<Executor>> CreateFromPlan(const planner::Graph& graph,
                                                                  const v1::MemoryPlan& plan, Backend* backend,
                                                                  const ExecutorOptions& options);

  // One training step: forward, backward, the optimizer's update at
  // `learning_rate`. `images` (N,C,H,W) float, PyTorch's layout (converted to
  // the arena's NHWC), or whatever the input is (token ids (N,L) for an
  // embedding); `labels` (N), or (N,L) for a loss over (N,L,classes)
  // (planner::LabelsPerExample). StepResult.correct then counts positions. INVALID_ARGUMENT for a label outside
  // [0, classes), naming it; FAILED_PRECONDITION, before any update, when
  // the loss or a gradient is not finite, naming the step and the layer.
  absl::StatusOr<StepResult> TrainStep(const float* images, const int32_t* labels, double learning_rate);
  // A model ending in mse_loss takes float `targets` of the loss input's
  // shape per example (planner::TargetsPerExample), finite, in place of
  // labels (StepResult.correct stays 0); the other overload refuses it, and
  // this one a classifier.
  absl::StatusOr<StepResult> TrainStep(const float* images, const float* targets, double learning_rate);

  // Forward and backward: the gradients are left in params().Grads().
  absl::StatusOr<StepResult> ForwardBackward(const float* images, const int32_t* labels);
  absl::StatusOr<StepResult> ForwardBackward(const float* images, const float* targets);

  // Inference: batch norm with running statistics, no dropout, exact ReLU
  // for every strategy. Changes no state. Only the first `valid` examples
  // count (a last, partial batch padded to the plan's batch): the loss is
  // their mean cross-entropy (without label smoothing), correct their count.
  absl::StatusOr<StepResult> Evaluate(const float* images, const int32_t* labels, int64_t valid = -1);
  // mse_loss: the valid examples' mean squared error.
  absl::StatusOr<StepResult> Evaluate(const float* images, const float* targets, int64_t valid = -1);

  // Inference as Evaluate, writing the logits (N, classes) to `logits`.
  absl::Status Predict(const float* images, float* logits);

  const v1::MemoryPlan& plan() const { return plan_; }
  const planner::Schedule& schedule() const { return schedule_; }
  // Bytes of the one activation allocation: equal to plan().arena_bytes().
  int64_t arena_bytes() const { return arena_.size(); }
  ParameterRegion& params() { return params_; }
  Backend* backend() const { return backend_; }
  // Training steps run so far.
  int64_t steps_run() const { return steps_run_; }
  // With ExecutorOptions.profile: time per step kind and op, largest first.
  std::vector<ProfileEntry> profile() const;
  // After restoring a checkpoint: the optimizer's step count (Adam) and
  // dropout's random state continue from `steps`.
  void set_steps_run(int64_t steps) { steps_run_ = steps; }
  // Data-parallel: every rank's parameters (weights, statistics and the
  // optimizer's state) become rank `root`'s. OK alone.
  absl::Status BroadcastParameters(int root = 0);
  // Data-parallel: the plan's gradient buckets (schedule().buckets), and the
  // seconds the last step spent waiting for their sums.
  const std::vector<planner::GradientBucket>& gradient_buckets() const { return schedule_.buckets; }
  double communication_wait_seconds() const { return wait_seconds_; }

 private:
  enum class Mode { kTrain, kForwardBackward, kEvaluate };

  // Create's and CreateFromPlan's common end: `schedule` is `plan`'s,
  // index-aligned (planner::RunnablePlan). Checks the optimizer, the tied
  // layers' backward order and the data-parallel setting
  // (CheckDataParallel), prepares the backend, allocates the arena (the one
  // activation allocation) and the parameters.
  static absl::StatusOr<std::unique_ptr<Executor>> Assemble(const planner::Graph& graph, v1::MemoryPlan plan,
                                                            planner::Schedule schedule, Backend* backend,
                                                            const ExecutorOptions& options);
  Executor(const planner::Graph& graph, v1::MemoryPlan plan, planner::Schedule schedule, Backend* backend,
           const ExecutorOptions& options, DeviceBuffer arena);
  absl::StatusOr<StepResult> Run(const float* images, const int32_t* labels, Mode mode, double learning_rate);
  // Checks `targets` (finite, a regression model) and runs with them.
  absl::StatusOr<StepResult> RunWithTargets(const float* images, const float* targets, Mode mode,
                                            double learning_rate);
  void RunStep(int t, Mode mode, const float* images, const int32_t* labels, double learning_rate,
               StepResult& result);
  void Update(double learning_rate);
  // Data-parallel (executor_comm.cc): whether `schedule` can run on
  // `backend` with `options` (its ranks the communicator's size; refused: a
  // communicator that cannot reach the backend's memory, sync batch norm on
  // a device or under a strategy without batch-norm codes); copying the
  // buckets ready after step `t` into their buffers and starting their
  // sums; waiting for all and copying their means back to the gradients,
  // before the optimizer (all copies backend kernels).
  static absl::Status CheckDataParallel(const planner::Schedule& schedule, const Backend& backend,
                                        const ExecutorOptions& options);
  void StartReadyBuckets(int t);
  absl::Status FinishGradients();
  bool data_parallel() const { return options_.communicator != nullptr && options_.communicator->size() > 1; }
  bool sync_batch_norm() const { return options_.sync_batch_norm && data_parallel(); }
  // Sync batch norm on host memory (executor_comm.cc): forward with the
  // global batch's statistics; backward's dx corrected from the backend's
  // (made with this rank's sums) to the global sums. Failures are kept in
  // comm_error_ (RunStep returns nothing), which Run checks after each step.
  void SyncBatchNormForward(const planner::Node& n, int64_t batch, BatchNormMode mode, const void* x,
                            const void* gamma, const void* beta, void* running_mean, void* running_var, void* y,
                            void* stats);
  // Before the backend's backward (which may write dx over dy): this
  // rank's and every rank's sums of dy and dy·x̂; after it, dx moved from
  // this rank's sums to every rank's.
  void SyncBatchNormSums(const planner::Node& n, int64_t batch, const void* dy, const void* x, const void* stats);
  void SyncBatchNormCorrect(const planner::Node& n, int64_t batch, const void* x, const void* gamma,
                            const void* stats, void* dx);
  // FAILED_PRECONDITION naming the step, layer and tensor of the first
  // non-finite gradient.
  absl::Status CheckGradientsFinite();
  void Forward(const planner::ScheduleStep& step, bool recompute, Mode mode, const float* images,
               const int32_t* labels, StepResult& result);
  // SAVE: the code of a tensor for backward (a BN→ReLU's, or EncodeSaved's).
  void Save(const planner::ScheduleStep& step);
  // Decodes every tensor a backward step writes from its code (the first
  // backward reading a coded tensor), before the step's own kernels run.
  void DecodeFirstReads(const planner::ScheduleStep& step);
  // What the backend needs to encode or decode the code buffer `code`.
  quant::CodeSpec CodeSpecOf(int code) const;
  // mse_loss's forward: the loss; in evaluation, the valid examples' loss.
  void MseForward(const planner::ScheduleStep& step, bool eval, StepResult& result);
  void Backward(const planner::ScheduleStep& step);

  // Pointer to the operand with `role` (and `index`), or null.
  void* Ptr(const planner::ScheduleStep& step, planner::Role role, int index = 0);
  bool Accumulates(const planner::ScheduleStep& step, int index);
  Workspace WorkspaceOf(const planner::ScheduleStep& step);
  void Poison(int block);

  planner::Graph graph_;
  v1::MemoryPlan plan_;
  planner::Schedule schedule_;
  Backend* backend_;
  ExecutorOptions options_;
  DeviceBuffer arena_;  // from the backend: host or device memory
  ParameterRegion params_;
  std::vector<int64_t> offset_;  // per buffer
  std::vector<planner::StorageBlock> blocks_;
  std::vector<std::vector<int>> blocks_starting_, blocks_ending_;  // per step
  std::vector<bool> table_tied_;  // per node: an embedding a linear is tied to
  int64_t steps_run_ = 0;
  int64_t valid_ = 0;  // examples of the batch that count (Evaluate)
  std::vector<double> step_seconds_;  // per schedule step, with options_.profile
  std::vector<int64_t> step_calls_;   // per schedule step: the times it ran, with options_.profile
  float* logits_out_ = nullptr;  // Predict's destination
  const float* targets_ = nullptr;  // the running step's regression targets
  // Host copies: the input in the arena's layout (device arenas) and the
  // loss's probabilities.
  std::vector<uint8_t> staging_, host_probs_;
  // Data-parallel: the buckets started after each step (indices into
  // schedule_.buckets), and their collectives in flight.
  std::vector<std::vector<int>> buckets_after_step_;
  std::vector<std::unique_ptr<comm::PendingCollective>> pending_;
  double wait_seconds_ = 0;
  absl::Status comm_error_;
  std::vector<double> bn_local_, bn_global_;  // sync batch norm's sums, (2, C)
};

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_EXECUTOR_H_
