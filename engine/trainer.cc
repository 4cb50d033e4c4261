// See trainer.h.
#include "engine/trainer.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/units.h"
#include "engine/calibrate.h"
#include "engine/checkpoint.h"
#include "engine/comm/nccl_communicator.h"
#include "engine/data_metadata.h"
#include "engine/dataset_spec.h"
#include "engine/job_spec.h"
#include "engine/lr_schedule.h"
#include "engine/onnx_weights.h"
#include "planner/plan_request.h"
#include "planner/planner.h"

namespace slimtrain::engine {
namespace {

absl::Status FieldError(const std::string& field, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

// The optimizer `o` asks for, defaults applied (ValidateJobSpec checked the
// ranges).
OptimizerConfig OptimizerFrom(const v1::OptimizerSpec& o) {
  OptimizerConfig c;
  c.kind = planner::OptimizerOrDefault(o.kind());
  c.momentum = o.momentum();
  c.nesterov = o.nesterov();
  c.weight_decay = o.weight_decay();
  if (o.beta1() > 0) c.beta1 = o.beta1();
  if (o.beta2() > 0) c.beta2 = o.beta2();
  if (o.epsilon() > 0) c.epsilon = o.epsilon();
  if (o.alpha() > 0) c.alpha = o.alpha();
  return c;
}

// The device's memory in use for GPU backends, else the process's peak.
int64_t MeasuredPeakBytes(const Backend& backend) {
  const int64_t device = backend.DeviceBytesInUse();
  return device >= 0 ? device : PeakResidentBytes();
}

// A "Vm...:" line of /proc/self/status, bytes (0 when missing).
int64_t ProcStatusBytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == field) {
      int64_t kib = 0;
      status >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

}  // namespace

int64_t PeakResidentBytes() { return ProcStatusBytes("VmHWM:"); }
int64_t ResidentBytes() { return ProcStatusBytes("VmRSS:"); }

double LearningRateAt(const v1::JobSpec& spec, int64_t step, int64_t total_steps, int64_t steps_per_epoch) {
  return LearningRate(spec.learning_rate_schedule(), spec.optimizer().learning_rate(), step, total_steps,
                      steps_per_epoch);
}

Trainer::Trainer(v1::JobSpec spec, planner::Graph graph, TrainerOptions options)
    : spec_(std::move(spec)), graph_(std::move(graph)), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const v1::JobSpec& spec, Backend* backend,
                                                         const TrainerOptions& options) {
  // 1. The spec, field by field.
  // The model is resolved and built once, by the check.
  SLIM_ASSIGN_OR_RETURN(CheckedJob checked, CheckJobSpec(spec));
  SLIM_ASSIGN_OR_RETURN(planner::Strategy strategy, planner::ParseStrategyOrDefault(spec.strategy()));
  const OptimizerConfig optimizer = OptimizerFrom(spec.optimizer());

  std::unique_ptr<Trainer> t(new Trainer(spec, std::move(checked.graph), options));
  // 2. Data: shapes and classes must match the model.
  DatasetLoadOptions data_options;
  data_options.data_root = options.data_root;
  data_options.confine = options.confine_to_data_root;
  data_options.seed = spec.seed();
  SLIM_ASSIGN_OR_RETURN(t->train_, LoadDatasetSpec(spec.dataset(), t->graph_, Split::kTrain, data_options));
  SLIM_ASSIGN_OR_RETURN(t->test_, LoadDatasetSpec(spec.dataset(), t->graph_, Split::kTest, data_options));
  SLIM_RETURN_IF_ERROR(CheckDatasetFits(t->graph_, t->train_));
  if (t->train_.size < spec.batch_size()) {
    return FieldError("batch_size", absl::StrFormat("%d is more than the %d training examples", spec.batch_size(),
                                                    t->train_.size));
  }
  const v1::DatasetSpec& d = spec.dataset();
  BatchOptions batch_options;
  batch_options.crop_padding = d.random_crop_padding();
  batch_options.flip = d.horizontal_flip();
  batch_options.normalize = d.normalize();
  batch_options.shuffle = true;
  comm::Communicator* const comm = options.communicator;
  const int ranks = comm != nullptr ? comm->size() : 1;
  if (ranks > 1) {
    batch_options.rank = comm->rank();
    batch_options.ranks = ranks;
    if (t->train_.size / ranks < spec.batch_size()) {
      return FieldError("batch_size", absl::StrFormat("%d is more than the %d training examples of each of %d ranks' "
                                                      "shards",
                                                      spec.batch_size(), t->train_.size / ranks, ranks));
    }
  }
  if (d.normalize()) t->stats_ = ComputeChannelStats(t->train_);
  t->batches_ = std::make_unique<BatchIterator>(t->train_, spec.batch_size(), batch_options, spec.seed(), t->stats_);
  t->total_steps_ = spec.steps() > 0 ? spec.steps() : spec.epochs() * t->batches_->batches_per_epoch();
  if (t->total_steps_ > kMaxSteps) {  // a user's dataset: its size is known only now
    return FieldError("epochs", absl::StrFormat("%d epochs of %d steps are over the limit of %d steps", spec.epochs(),
                                                t->batches_->batches_per_epoch(), kMaxSteps));
  }
  t->data_metadata_ = DescribeData(t->train_, t->stats_);
  t->checkpoint_interval_ =
      spec.checkpoint_interval_steps() > 0 ? spec.checkpoint_interval_steps() : options.default_checkpoint_interval;

  // 3. The plan and the executor.
  ExecutorOptions exec_options;
  exec_options.seed = spec.seed();
  exec_options.optimizer = optimizer;
  exec_options.checkpoint_budget_bytes = spec.budget_bytes();
  exec_options.peak_limit_bytes = options.admitted_peak_bytes;
  exec_options.peak_limit_name = "the peak this job was admitted with";
  exec_options.communicator = comm;
  if (comm::Communicator* g = options.gradient_communicator; g != nullptr && g != comm) {
    if (comm == nullptr || g->size() != comm->size() || g->rank() != comm->rank()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "gradient_communicator: rank %d of %d, but the communicator's is rank %d of %d: both must be over the "
          "same ranks",
          g->rank(), g->size(), comm != nullptr ? comm->rank() : 0, comm != nullptr ? comm->size() : 1));
    }
    exec_options.communicator = g;
  }
  exec_options.bucket_bytes = options.bucket_bytes;
  exec_options.overlap_communication = options.overlap_communication;
  exec_options.sync_batch_norm = options.sync_batch_norm;
  exec_options.profile = options.profile;
  if (strategy == planner::Strategy::kMixed && options.plan == nullptr) {
    // mixed chooses bits from measured sensitivities: the job's, or measured
    // now on two batches at the job's initial weights (the same for a
    // resumed run: the seed fixes both).
    if (spec.sensitivity().tensors_size() == 0) {
      CalibrationOptions calibration;
      calibration.batch = spec.batch_size();
      calibration.batches = 2;
      calibration.seed = spec.seed();
      calibration.normalize = d.normalize();
      calibration.stats = t->stats_;
      if (spec.model().has_onnx()) {
        calibration.weights = [&spec](ParameterRegion& params) {
          return SetOnnxInitialWeights(spec.model().onnx().model(), "model.onnx", params);
        };
      }
      SLIM_ASSIGN_OR_RETURN(*t->spec_.mutable_sensitivity(),
                            MeasureSensitivity(t->graph_, t->train_, calibration, backend));
    }
    SLIM_ASSIGN_OR_RETURN(t->sensitivity_, planner::SensitivityFromTable(t->spec_.sensitivity()));
    exec_options.sensitivity = &t->sensitivity_;
  }
  // Everything resident before the executor allocates is the process's own.
  const int64_t device_bytes = backend->DeviceBytesInUse();
  t->other_bytes_ = device_bytes >= 0 ? device_bytes : ResidentBytes();
  if (options.plan != nullptr) {
    // The plan it was given runs as it is: nothing is planned here.
    SLIM_ASSIGN_OR_RETURN(t->executor_, Executor::CreateFromPlan(t->graph_, *options.plan, backend, exec_options));
  } else {
    SLIM_ASSIGN_OR_RETURN(t->executor_,
                          Executor::Create(t->graph_, strategy, spec.batch_size(), backend, exec_options));
  }
  // An ONNX model starts from its initializers (a resume below overrides).
  if (spec.model().has_onnx()) {
    // The trainer's copy of the file is not needed past this: freed here.
    std::string onnx;
    onnx.swap(*t->spec_.mutable_model()->mutable_onnx()->mutable_model());
    t->spec_.mutable_model()->mutable_onnx()->set_size_bytes(static_cast<int64_t>(onnx.size()));
    SLIM_RETURN_IF_ERROR(SetOnnxInitialWeights(onnx, "model.onnx", t->executor_->params()));
  }
  t->images_.resize(spec.batch_size() * t->train_.example_elements());
  t->labels_.resize(spec.batch_size() * t->train_.labels_per_example);
  t->targets_.resize(spec.batch_size() * t->train_.targets_per_example);

  // 4. Resume.
  if (options.resume && !options.checkpoint_path.empty() && std::ifstream(options.checkpoint_path).good()) {
    SLIM_ASSIGN_OR_RETURN(TrainingState state, LoadCheckpoint(options.checkpoint_path, t->executor_->params()));
    if (state.seed != spec.seed()) {
      return absl::FailedPreconditionError(absl::StrFormat("%s was written with seed %d, the job has seed %d",
                                                           options.checkpoint_path, state.seed, spec.seed()));
    }
    // The statistics the run normalised with so far, as the checkpoint holds them.
    SLIM_ASSIGN_OR_RETURN(DataMetadata stored, ParseDataMetadata(state.info, options.checkpoint_path));
    if (d.normalize() && stored.normalized()) {
      if (stored.mean.size() != t->stats_.mean.size()) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s holds the mean of %d channels, the data has %d", options.checkpoint_path, stored.mean.size(),
            t->stats_.mean.size()));
      }
      t->stats_ = stored.stats();
      t->data_metadata_ = DescribeData(t->train_, t->stats_);
      t->batches_ =
          std::make_unique<BatchIterator>(t->train_, spec.batch_size(), batch_options, spec.seed(), t->stats_);
    }
    t->step_ = state.step;
    t->batches_->Seek(state.epoch, state.position);
    t->executor_->set_steps_run(state.step);
  }
  // Every rank from rank 0's weights (the same seed gives the same ones;
  // this makes it so whatever each rank read).
  SLIM_RETURN_IF_ERROR(t->executor_->BroadcastParameters(0));
  return t;
}

absl::Status Trainer::TrainOne(const TrainerCallbacks& callbacks) {
  const double lr = LearningRateAt(spec_, step_, total_steps_, batches_->batches_per_epoch());
  const auto start = std::chrono::steady_clock::now();
  batches_->Next(images_.data(), labels_.data(), targets_.data());
  SLIM_ASSIGN_OR_RETURN(StepResult r, targets_.empty() ? executor_->TrainStep(images_.data(), labels_.data(), lr)
                                                       : executor_->TrainStep(images_.data(), targets_.data(), lr));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++step_;
  communication_wait_seconds_ += executor_->communication_wait_seconds();
  comm::Communicator* const comm = options_.communicator;
  const int ranks = comm != nullptr ? comm->size() : 1;
  if (ranks > 1) {  // the global batch's loss and correct count, and every rank's wait
    std::vector<double> sums(2 + ranks, 0.0);
    sums[0] = r.loss;
    sums[1] = static_cast<double>(r.correct);
    sums[2 + comm->rank()] = executor_->communication_wait_seconds();
    SLIM_RETURN_IF_ERROR(comm->AllReduceSum(sums.data(), static_cast<int64_t>(sums.size())));
    r.loss = sums[0] / ranks;
    r.correct = static_cast<int64_t>(std::llround(sums[1]));
    communication_exposed_seconds_ += *std::min_element(sums.begin() + 2, sums.end());
  }
  losses_.push_back(r.loss);
  const double rate = spec_.batch_size() * ranks / std::max(seconds, 1e-9);  // every rank's examples
  images_per_second_ = images_per_second_ == 0 ? rate : 0.9 * images_per_second_ + 0.1 * rate;
  if (callbacks.on_metrics) {
    v1::Metrics m;
    m.set_step(step_);
    m.set_epoch(batches_->epoch());
    m.set_loss(r.loss);
    // A regression has no accuracy: 0.
    m.set_accuracy(train_.labels_per_example > 0
                       ? static_cast<double>(r.correct) / (spec_.batch_size() * ranks * train_.labels_per_example)
                       : 0.0);
    m.set_learning_rate(lr);
    m.set_images_per_second(images_per_second_);
    SetMemory(&m);
    callbacks.on_metrics(m);
  }
  return absl::OkStatus();
}

void Trainer::SetMemory(v1::Metrics* m) const {
  m->set_planned_peak_bytes(executor_->plan().peak_bytes());
  m->set_measured_peak_bytes(MeasuredPeakBytes(*executor_->backend()));
  m->set_other_bytes(other_bytes_);
}

absl::Status Trainer::RunSteps(int64_t steps, const TrainerCallbacks& callbacks) {
  for (int64_t i = 0; i < steps; ++i) SLIM_RETURN_IF_ERROR(TrainOne(callbacks));
  return absl::OkStatus();
}

absl::Status Trainer::Run(const TrainerCallbacks& callbacks) {
  auto log = [&](const std::string& line) {
    if (callbacks.on_log) callbacks.on_log(line);
  };
  log(absl::StrFormat("training %s with %s, batch %d, %d steps (%d per epoch), planned peak %s",
                      graph_.spec().name(), executor_->plan().strategy(), spec_.batch_size(), total_steps_,
                      batches_->batches_per_epoch(), base::FormatBytes(executor_->plan().peak_bytes())));
  if (step_ > 0) log(absl::StrFormat("resumed at step %d (epoch %d)", step_, batches_->epoch()));
  comm::Communicator* const comm = options_.communicator;
  const bool lead = comm == nullptr || comm->rank() == 0;  // checkpoints, evaluation
  const bool checkpoints = lead && !options_.checkpoint_path.empty();
  while (step_ < total_steps_) {
    bool stop = callbacks.should_stop && callbacks.should_stop();
    if (comm != nullptr && comm->size() > 1) {  // any rank's stop stops all, at this step
      double any = stop ? 1 : 0;
      SLIM_RETURN_IF_ERROR(comm->AllReduceSum(&any, 1));
      stop = any > 0;
    }
    if (stop) {
      if (checkpoints) SLIM_RETURN_IF_ERROR(SaveCheckpoint());
      return absl::CancelledError(absl::StrCat("stopped at step ", step_));
    }
    SLIM_RETURN_IF_ERROR(TrainOne(callbacks));
    if (checkpoints && step_ % checkpoint_interval_ == 0) SLIM_RETURN_IF_ERROR(SaveCheckpoint());
    const bool eval_now = spec_.eval_interval_steps() > 0 && step_ % spec_.eval_interval_steps() == 0;
    if (lead && (eval_now || (step_ == total_steps_ && options_.evaluate_at_end))) {
      SLIM_ASSIGN_OR_RETURN(EvalResult e, Evaluate());
      log(train_.targets_per_example > 0  // a regression: no accuracy
              ? absl::StrFormat("step %d: test loss %.4f (%d examples)", step_, e.loss, e.examples)
              : absl::StrFormat("step %d: test loss %.4f, test accuracy %.2f%% (%d examples)", step_, e.loss,
                                100 * e.accuracy, e.examples));
      if (callbacks.on_metrics) {
        v1::Metrics m;
        m.set_step(step_);
        m.set_epoch(batches_->epoch());
        m.set_has_eval(true);
        m.set_eval_loss(e.loss);
        m.set_eval_accuracy(e.accuracy);
        m.set_loss(losses_.empty() ? 0 : losses_.back());
        m.set_images_per_second(images_per_second_);
        SetMemory(&m);
        callbacks.on_metrics(m);
      }
    }
  }
  if (checkpoints) SLIM_RETURN_IF_ERROR(SaveCheckpoint());
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<comm::Communicator>> MakeGradientCommunicator(
    const Backend& backend, comm::Communicator& host, int device, const comm::CommunicatorOptions& options) {
  if (host.size() == 1) return nullptr;
  // Every rank must take the same branch: NcclCommunicator::Create is a
  // collective, so the ranks first agree on how many train on a device.
  double on_device = backend.host_addressable() ? 0 : 1;
  SLIM_RETURN_IF_ERROR(host.AllReduceSum(&on_device, 1));
  if (on_device == 0) return nullptr;
  if (on_device != host.size()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "data-parallel: %d of %d ranks train on a GPU and the others on the CPU (this rank on %s): all or none "
        "must (a rank without a usable GPU falls back to the CPU)",
        static_cast<int>(on_device), host.size(), backend.name()));
  }
  SLIM_ASSIGN_OR_RETURN(std::unique_ptr<comm::NcclCommunicator> nccl,
                        comm::NcclCommunicator::Create(host, device, backend.stream(), options));
  return std::unique_ptr<comm::Communicator>(std::move(nccl));
}

absl::StatusOr<EvalResult> EvaluateDataset(Executor& executor, const Dataset& data, bool normalize,
                                           const ChannelStats& stats) {
  const int64_t batch = executor.schedule().batch;
  BatchOptions options;
  options.normalize = normalize;
  options.drop_last = false;
  BatchIterator it(data, batch, options, 0, stats);
  const int64_t elements = data.example_elements(), per_example = data.labels_per_example;
  const int64_t per_target = data.targets_per_example;
  std::vector<float> images(batch * elements), targets(batch * per_target);
  std::vector<int32_t> labels(batch * per_example);
  EvalResult e;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t b = 0; b < it.batches_per_epoch(); ++b) {
    const int64_t n = it.Next(images.data(), labels.data(), targets.data());
    // Pad a partial batch with its first example; only n count.
    for (int64_t i = n; i < batch; ++i) {
      std::copy(images.begin(), images.begin() + elements, images.begin() + i * elements);
      std::copy(labels.begin(), labels.begin() + per_example, labels.begin() + i * per_example);
      std::copy(targets.begin(), targets.begin() + per_target, targets.begin() + i * per_target);
    }
    SLIM_ASSIGN_OR_RETURN(StepResult r, per_target > 0 ? executor.Evaluate(images.data(), targets.data(), n)
                                                       : executor.Evaluate(images.data(), labels.data(), n));
    loss_sum += r.loss * n;
    correct += r.correct;
    e.examples += n;
  }
  e.loss = loss_sum / std::max<int64_t>(e.examples, 1);
  e.accuracy = per_example > 0 ? static_cast<double>(correct) / std::max<int64_t>(e.examples * per_example, 1)
                               : 0.0;  // a regression has none
  return e;
}

absl::StatusOr<EvalResult> Trainer::Evaluate() {
  return EvaluateDataset(*executor_, test_, spec_.dataset().normalize(), stats_);
}

absl::Status Trainer::SaveCheckpoint() {
  TrainingState state;
  state.step = step_;
  state.epoch = batches_->epoch();
  state.position = batches_->position();
  state.seed = spec_.seed();
  state.info = MetadataEntries(data_metadata_);
  state.info["model"] = graph_.spec().name();
  state.info["strategy"] = executor_->plan().strategy();
  return engine::SaveCheckpoint(options_.checkpoint_path, executor_->params(), state);
}

}  // namespace slimtrain::engine
