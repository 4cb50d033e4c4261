// trainer.h — a training run: data, schedule, evaluation, metrics, checkpoints.
//
// A Trainer turns a JobSpec (proto/job.proto) into an Executor on a backend,
// feeds it batches, follows the learning-rate schedule, evaluates on the test
// set, reports per-step metrics, and checkpoints; the local `slimtrain train`
// and the server's workers both run one.
//
//   TrainerOptions options;
//   options.checkpoint_path = "run/checkpoint.safetensors";
//   SLIM_ASSIGN_OR_RETURN(auto trainer, Trainer::Create(spec, &backend, options));
//   TrainerCallbacks callbacks;
//   callbacks.on_metrics = [](const v1::Metrics& m) { ... };
//   SLIM_RETURN_IF_ERROR(trainer->Run(callbacks));
//
// Deterministic for a seed on the CPU backends: initialisation, data order,
// augmentation and dropout are functions of the seed and the position, and
// the kernels are. A NaN or infinity in the loss or a gradient stops the run
// with an error naming the step and the layer.
#ifndef SLIMTRAIN_ENGINE_TRAINER_H_
#define SLIMTRAIN_ENGINE_TRAINER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/batches.h"
#include "engine/comm/communicator.h"
#include "engine/data.h"
#include "engine/data_metadata.h"
#include "engine/executor.h"
#include "planner/data_parallel.h"
#include "planner/graph.h"
#include "proto/job.pb.h"

namespace slimtrain::engine {

struct TrainerOptions {
  // Dataset folders: the spec's path (or the dataset's default) is read
  // relative to it when not absolute. Empty: paths as given.
  std::string data_root;
  // Every file of the spec's dataset.path must resolve inside data_root
  // (the server's workers; dataset_spec.h).
  bool confine_to_data_root = false;
  // Write a checkpoint here every spec.checkpoint_interval_steps steps (or
  // default_checkpoint_interval) and at the end; empty: no checkpoints.
  std::string checkpoint_path;
  int64_t default_checkpoint_interval = 500;
  // Continue from checkpoint_path when it exists.
  bool resume = false;
  // The plan to run (with its buffers and steps, for this backend): the
  // executor takes it as it is (Executor::CreateFromPlan) and nothing is
  // planned, nor calibrated for mixed. Null: the trainer plans.
  const v1::MemoryPlan* plan = nullptr;
  // Without a plan: the peak the trainer's own plan must fit (0: any), e.g.
  // the peak a server admitted a GPU job with (ExecutorOptions::
  // peak_limit_bytes).
  int64_t admitted_peak_bytes = 0;
  // Data-parallel training: this process is one rank of `communicator`'s
  // (not owned; null or of size 1: alone). The spec's batch_size is each
  // rank's; every rank starts from rank 0's weights, takes its shard of
  // each epoch (BatchOptions::rank), and steps with the mean of the ranks'
  // gradients (ExecutorOptions::communicator). Each step's loss and
  // accuracy are the ranks' together; rank 0 alone writes checkpoints and
  // evaluates; a stop asked of any rank stops them all at the same step.
  comm::Communicator* communicator = nullptr;
  // Data-parallel: what sums the gradients and broadcasts the parameters
  // (ExecutorOptions::communicator), which must reach the backend's memory:
  // on a GPU an NcclCommunicator over `communicator`'s ranks
  // (MakeGradientCommunicator), the same ranks in the same order (else
  // INVALID_ARGUMENT). Null: `communicator` (a CPU backend). The host
  // scalars of each step (loss, correct count, waits, the stop flag) always
  // go over `communicator`. Not owned.
  comm::Communicator* gradient_communicator = nullptr;
  // Data-parallel: the gradient buckets' size, and whether they start while
  // backward still runs. The trainer's plan is each rank's, for
  // communicator->size() ranks with these (planner/data_parallel.h); a
  // given `plan` must be for that many ranks, and its own buckets hold.
  int64_t bucket_bytes = planner::kDefaultBucketBytes;
  bool overlap_communication = true;
  // Data-parallel: batch norm over every rank's batch together
  // (ExecutorOptions::sync_batch_norm).
  bool sync_batch_norm = false;
  // Time every step of the schedule by kind and op (ExecutorOptions::
  // profile; executor().profile() afterwards).
  bool profile = false;
  // Test-set evaluation batch (inference needs no backward memory, but runs
  // in the training plan's arena, so at most the training batch).
  bool evaluate_at_end = true;
};

struct TrainerCallbacks {
  // After every step (metrics.step 1-based) and after every evaluation
  // (has_eval set).
  std::function<void(const v1::Metrics&)> on_metrics;
  // A line for the job's log.
  std::function<void(const std::string&)> on_log;
  // Polled between steps: true stops the run with CANCELLED.
  std::function<bool()> should_stop;
};

struct EvalResult {
  double loss = 0;
  double accuracy = 0;  // fraction of the labels (positions, for a label per position)
  int64_t examples = 0;
};

class Trainer {
 public:
  // Validates the spec (errors name the field), loads the datasets, plans and
  // prepares the executor; with options.resume, restores the checkpoint.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const v1::JobSpec& spec, Backend* backend,
                                                         const TrainerOptions& options);

  // Trains to spec.steps (or spec.epochs), evaluating every
  // spec.eval_interval_steps and at the end, checkpointing as configured.
  // CANCELLED when should_stop said so (after a checkpoint).
  absl::Status Run(const TrainerCallbacks& callbacks);

  // Trains exactly `steps` more steps (tests; no end-of-run evaluation).
  absl::Status RunSteps(int64_t steps, const TrainerCallbacks& callbacks);

  // The test set, in inference mode.
  absl::StatusOr<EvalResult> Evaluate();

  absl::Status SaveCheckpoint();

  Executor& executor() { return *executor_; }
  const planner::Graph& graph() const { return graph_; }
  int64_t step() const { return step_; }
  // Data-parallel: the seconds the steps run so far spent waiting for the
  // gradients' sums after backward (Executor::communication_wait_seconds).
  double communication_wait_seconds() const { return communication_wait_seconds_; }
  // Data-parallel: of that wait, what no rank could avoid: each step's
  // least wait over the ranks. The rank that reaches the wait last waits
  // only for the communication backward did not hide, while the others also
  // wait for it (their lag): so this is the all-reduce time left exposed,
  // the same on every rank.
  double communication_exposed_seconds() const { return communication_exposed_seconds_; }
  int64_t total_steps() const { return total_steps_; }
  int64_t steps_per_epoch() const { return batches_->batches_per_epoch(); }
  int64_t epoch() const { return batches_->epoch(); }
  // The training data's shape, scale, classes and, when normalised, the
  // mean and std used: what WriteWeights should record (data_metadata.h).
  // Checkpoints carry it; a resumed run normalises with the stored values.
  const DataMetadata& data_metadata() const { return data_metadata_; }
  // The step's losses so far (for tests and the reproduction's curves).
  const std::vector<double>& losses() const { return losses_; }
  // What the process held before training allocated anything (code,
  // libraries, the datasets; on a GPU the device memory in use, its CUDA
  // context): Metrics.other_bytes.
  int64_t other_bytes() const { return other_bytes_; }

 private:
  Trainer(v1::JobSpec spec, planner::Graph graph, TrainerOptions options);
  absl::Status TrainOne(const TrainerCallbacks& callbacks);
  // m's planned, measured and other bytes.
  void SetMemory(v1::Metrics* m) const;

  v1::JobSpec spec_;
  planner::Graph graph_;
  TrainerOptions options_;
  Dataset train_, test_;
  ChannelStats stats_;
  planner::Sensitivity sensitivity_;  // mixed: what its plan chose bits from
  DataMetadata data_metadata_;
  std::unique_ptr<BatchIterator> batches_;
  std::unique_ptr<Executor> executor_;
  std::vector<float> images_;
  std::vector<int32_t> labels_;
  std::vector<float> targets_;  // a regression's
  int64_t step_ = 0, total_steps_ = 0, checkpoint_interval_ = 0;
  std::vector<double> losses_;
  double images_per_second_ = 0;
  double communication_wait_seconds_ = 0;
  double communication_exposed_seconds_ = 0;
  int64_t other_bytes_ = 0;
};

// The gradient communicator a data-parallel rank on `backend` needs
// (TrainerOptions::gradient_communicator): null when `host` reaches the
// backend's memory (a host-addressable backend) or runs alone; else an
// NcclCommunicator over `host`'s ranks on CUDA device `device` (the one
// `backend` runs on: the rank's local rank under mpirun), its collectives
// ordered after the backend's stream. A collective over `host`: every rank
// calls it. FAILED_PRECONDITION when some ranks' backends are GPUs and
// others' not; NcclCommunicator::Create's errors (UNAVAILABLE without
// libnccl, DEADLINE_EXCEEDED).
absl::StatusOr<std::unique_ptr<comm::Communicator>> MakeGradientCommunicator(
    const Backend& backend, comm::Communicator& host, int device, const comm::CommunicatorOptions& options);

// Scores `data` in inference mode in batches of the executor's batch size
// (a last partial batch is padded; only its real examples count), normalised
// with `stats` when `normalize`.
absl::StatusOr<EvalResult> EvaluateDataset(Executor& executor, const Dataset& data, bool normalize,
                                           const ChannelStats& stats);

// The learning rate spec asks for at `step` (0-based).
double LearningRateAt(const v1::JobSpec& spec, int64_t step, int64_t total_steps, int64_t steps_per_epoch);

// Peak resident memory of this process (VmHWM), bytes.
int64_t PeakResidentBytes();
// Resident memory of this process now (VmRSS), bytes.
int64_t ResidentBytes();

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_TRAINER_H_
