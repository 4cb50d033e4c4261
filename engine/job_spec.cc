// See job_spec.h.
#include "engine/job_spec.h"

#include <cmath>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/data.h"
#include "planner/graph.h"
#include "planner/mixed.h"
#include "planner/plan_request.h"
#include "planner/planner.h"
#include "planner/strategy.h"

namespace slimtrain::engine {
namespace {

absl::Status FieldError(const std::string& field, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

// `value` in [lo, hi]; the message names the field and the range.
absl::Status CheckInt(const std::string& field, int64_t value, int64_t lo, int64_t hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return FieldError(field, absl::StrFormat("must be in [%d, %d], got %d", lo, hi, value));
}

// How a double's range is written in messages: "[0, 1)", "(0, 100]".
struct Range {
  double lo, hi;
  bool lo_open, hi_open;
  bool Contains(double v) const {  // false for NaN and infinities outside
    return std::isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  }
  std::string Describe() const {
    return absl::StrCat(lo_open ? "(" : "[", lo, ", ", hi, hi_open ? ")" : "]");
  }
};

absl::Status CheckDouble(const std::string& field, double value, const Range& range) {
  if (range.Contains(value)) return absl::OkStatus();
  return FieldError(field, absl::StrCat("must be a finite number in ", range.Describe(), ", got ", value));
}

// A field where 0 means "the default" and anything else must be in `range`.
absl::Status CheckDoubleOrDefault(const std::string& field, double value, const Range& range) {
  if (value == 0) return absl::OkStatus();
  if (range.Contains(value)) return absl::OkStatus();
  return FieldError(field, absl::StrCat("must be 0 (the default) or a finite number in ", range.Describe(),
                                        ", got ", value));
}

absl::Status CheckText(const std::string& field, const std::string& value, int64_t max_bytes) {
  if (static_cast<int64_t>(value.size()) > max_bytes) {
    return FieldError(field, absl::StrFormat("%d bytes, over the limit of %d", value.size(), max_bytes));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return FieldError(field, absl::StrFormat("contains the control character 0x%02x", c));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOptimizer(const v1::OptimizerSpec& o) {
  const std::string kind = planner::OptimizerOrDefault(o.kind());
  if (absl::Status s = planner::OptimizerStateSlots(kind).status(); !s.ok()) {
    return FieldError("optimizer.kind", absl::StrCat("unknown optimizer '", kind, "'; known: sgd, adam, rmsprop"));
  }
  SLIM_RETURN_IF_ERROR(CheckDouble("optimizer.learning_rate", o.learning_rate(), {0, kMaxLearningRate, true, false}));
  SLIM_RETURN_IF_ERROR(CheckDouble("optimizer.momentum", o.momentum(), {0, 1, false, true}));
  SLIM_RETURN_IF_ERROR(CheckDouble("optimizer.weight_decay", o.weight_decay(), {0, 1, false, false}));
  if (o.nesterov() && (kind != "sgd" || o.momentum() <= 0)) {
    return FieldError("optimizer.nesterov", "needs kind sgd with momentum > 0");
  }
  SLIM_RETURN_IF_ERROR(CheckDoubleOrDefault("optimizer.beta1", o.beta1(), {0, 1, true, true}));
  SLIM_RETURN_IF_ERROR(CheckDoubleOrDefault("optimizer.beta2", o.beta2(), {0, 1, true, true}));
  SLIM_RETURN_IF_ERROR(CheckDoubleOrDefault("optimizer.epsilon", o.epsilon(), {0, 1, true, false}));
  SLIM_RETURN_IF_ERROR(CheckDoubleOrDefault("optimizer.alpha", o.alpha(), {0, 1, true, true}));
  return absl::OkStatus();
}

absl::Status ValidateSchedule(const v1::LearningRateSchedule& s, double learning_rate) {
  const std::string& kind = s.kind();
  if (!kind.empty() && kind != "constant" && kind != "step" && kind != "cosine") {
    return FieldError("learning_rate_schedule.kind", absl::StrCat("unknown '", kind, "'; known: constant, step, cosine"));
  }
  SLIM_RETURN_IF_ERROR(CheckInt("learning_rate_schedule.warmup_steps", s.warmup_steps(), 0, kMaxSteps));
  SLIM_RETURN_IF_ERROR(CheckDoubleOrDefault("learning_rate_schedule.gamma", s.gamma(), {0, 1, true, false}));
  SLIM_RETURN_IF_ERROR(CheckDouble("learning_rate_schedule.min_learning_rate", s.min_learning_rate(),
                                   {0, learning_rate, false, false}));
  if (s.milestone_epochs_size() > kMaxMilestones) {
    return FieldError("learning_rate_schedule.milestone_epochs",
                      absl::StrFormat("%d milestones, over the limit of %d", s.milestone_epochs_size(), kMaxMilestones));
  }
  for (int i = 0; i < s.milestone_epochs_size(); ++i) {
    SLIM_RETURN_IF_ERROR(CheckInt("learning_rate_schedule.milestone_epochs", s.milestone_epochs(i), 0, kMaxEpochs));
    if (i > 0 && s.milestone_epochs(i) <= s.milestone_epochs(i - 1)) {
      return FieldError("learning_rate_schedule.milestone_epochs",
                        absl::StrCat("must ascend, got ", s.milestone_epochs(i - 1), " then ", s.milestone_epochs(i)));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateResources(const v1::Resources& r) {
  const std::string& d = r.device();
  if (!d.empty() && d != "any" && d != "cpu" && d != "cuda") {
    return FieldError("resources.device", absl::StrCat("unknown device '", d, "'; use cpu, cuda or any"));
  }
  SLIM_RETURN_IF_ERROR(CheckInt("resources.gpu_count", r.gpu_count(), 0, 1024));
  SLIM_RETURN_IF_ERROR(CheckInt("resources.node_count", r.node_count(), 0, 1024));
  SLIM_RETURN_IF_ERROR(CheckInt("resources.cpu_ranks", r.cpu_ranks(), 0, 1024));
  if (r.cpu_ranks() > 1 && d == "cuda") {
    return FieldError("resources.cpu_ranks",
                      absl::StrFormat("%d asks for CPU processes, but resources.device is 'cuda'; a GPU job's "
                                      "processes per node are resources.gpu_count",
                                      r.cpu_ranks()));
  }
  if (r.cpu_ranks() > 1 && r.gpu_count() > 1) {
    return FieldError("resources.cpu_ranks", absl::StrFormat("%d CPU processes and resources.gpu_count %d: ask for one",
                                                             r.cpu_ranks(), r.gpu_count()));
  }
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  if (r.cpu_threads() < 0 || r.cpu_threads() > cores) {
    return FieldError("resources.cpu_threads",
                      absl::StrFormat("must be in [0, %d] (0: all; %d is this machine's cores), got %d", cores, cores,
                                      r.cpu_threads()));
  }
  SLIM_RETURN_IF_ERROR(CheckInt("resources.max_run_seconds", r.max_run_seconds(), 0, int64_t{10} * 365 * 86400));
  return absl::OkStatus();
}

absl::Status ValidateDataParallel(const v1::JobSpec& spec) {
  const v1::DataParallelPlanning& d = spec.data_parallel();
  if (d.ranks() != 0) {
    return FieldError("data_parallel.ranks",
                      absl::StrFormat("%d; leave it 0: a job's processes are resources.cpu_ranks x node_count",
                                      d.ranks()));
  }
  SLIM_RETURN_IF_ERROR(CheckInt("data_parallel.bucket_bytes", d.bucket_bytes(), 0, int64_t{1} << 32));
  if (d.bucket_bytes() > 0 && d.bucket_bytes() < 8) {
    return FieldError("data_parallel.bucket_bytes",
                      absl::StrFormat("%d is less than one element; at least 8, or 0 for 25 MiB", d.bucket_bytes()));
  }
  const std::string& s = spec.strategy();
  if (d.sync_batch_norm() && s != "exact" && s != "checkpoint" && s != "checkpoint_optimal") {
    return FieldError("data_parallel.sync_batch_norm",
                      absl::StrFormat("with strategy '%s': approximate strategies code batch norms with each "
                                      "rank's statistics; use exact, checkpoint or checkpoint_optimal",
                                      s.empty() ? "(default)" : s));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t TrainingExamples(const v1::DatasetSpec& d) {
  if (d.name() == "fashion-mnist") return 60000;
  if (d.name() == "cifar10" || d.name() == "cifar100") return 50000;
  if (d.name() != "synthetic") return 0;  // a user's dataset: known once loaded
  return d.synthetic_examples() > 0 ? d.synthetic_examples() : 10000;
}

absl::StatusOr<CheckedJob> CheckJobSpec(const v1::JobSpec& spec, const planner::SizeLimits& limits) {
  SLIM_RETURN_IF_ERROR(CheckText("display_name", spec.display_name(), kMaxDisplayNameBytes));
  // The run's length.
  SLIM_RETURN_IF_ERROR(CheckInt("batch_size", spec.batch_size(), 1, limits.max_batch_size));
  SLIM_RETURN_IF_ERROR(CheckInt("steps", spec.steps(), 0, kMaxSteps));
  if (spec.steps() == 0) {
    SLIM_RETURN_IF_ERROR(CheckInt("epochs", spec.epochs(), 0, kMaxEpochs));
    if (spec.epochs() == 0) return FieldError("epochs", "give epochs > 0 or steps > 0");
  }
  SLIM_RETURN_IF_ERROR(CheckInt("eval_interval_steps", spec.eval_interval_steps(), 0, kMaxSteps));
  SLIM_RETURN_IF_ERROR(CheckInt("checkpoint_interval_steps", spec.checkpoint_interval_steps(), 0, kMaxSteps));
  if (spec.budget_bytes() < 0) return FieldError("budget_bytes", absl::StrCat("must be >= 0, got ", spec.budget_bytes()));
  // Errors name the field ("sensitivity.tensors[2].error4: ...").
  SLIM_RETURN_IF_ERROR(planner::SensitivityFromTable(spec.sensitivity()).status());
  if (spec.strategy() == "auto") {
    return FieldError("strategy", "'auto' is chosen when the job is planned; the trainer needs the strategy");
  }
  if (absl::StatusOr<planner::Strategy> s = planner::ParseStrategyOrDefault(spec.strategy());
      !s.ok()) {
    return FieldError("strategy", std::string(s.status().message()));
  }
  SLIM_RETURN_IF_ERROR(ValidateOptimizer(spec.optimizer()));
  SLIM_RETURN_IF_ERROR(ValidateSchedule(spec.learning_rate_schedule(), spec.optimizer().learning_rate()));
  SLIM_RETURN_IF_ERROR(ValidateResources(spec.resources()));
  SLIM_RETURN_IF_ERROR(ValidateDataParallel(spec));

  // The data.
  const v1::DatasetSpec& d = spec.dataset();
  if (!IsDatasetName(d.name())) {
    return FieldError("dataset.name", absl::StrCat("unknown dataset '", d.name(), "'; known: ", DatasetNamesText()));
  }
  SLIM_RETURN_IF_ERROR(CheckText("dataset.path", d.path(), kMaxPathBytes));
  SLIM_RETURN_IF_ERROR(CheckInt("dataset.random_crop_padding", d.random_crop_padding(), 0, kMaxCropPadding));
  SLIM_RETURN_IF_ERROR(CheckInt("dataset.synthetic_examples", d.synthetic_examples(), 0, kMaxSyntheticExamples));
  const int64_t examples = TrainingExamples(d);  // 0: a user's dataset, checked by the trainer
  if (examples > 0 && spec.batch_size() > examples) {
    return FieldError("batch_size", absl::StrFormat("%d is more than the %d training examples of %s",
                                                    spec.batch_size(), examples, d.name()));
  }
  const int64_t per_epoch = examples / spec.batch_size();
  if (examples > 0 && spec.steps() == 0 && spec.epochs() > kMaxSteps / per_epoch) {
    return FieldError("epochs", absl::StrFormat("%d epochs of %d steps are over the limit of %d steps", spec.epochs(),
                                                per_epoch, kMaxSteps));
  }

  // The model, at the batch.
  SLIM_ASSIGN_OR_RETURN(v1::ModelSpec model, planner::ResolveModel(spec.model()));
  SLIM_ASSIGN_OR_RETURN(planner::Graph graph, planner::Graph::Build(model, limits));
  SLIM_RETURN_IF_ERROR(graph.CheckBatch(spec.batch_size(), sizeof(float)));
  const bool tokens = planner::TokenVocabulary(graph) > 0;
  const int64_t per_example = planner::LabelsPerExample(graph);
  const bool float_targets = d.name() == "synthetic" || d.name() == "npy" || d.name() == "npz";
  if (planner::TargetsPerExample(graph) > 0 && !float_targets) {
    return FieldError("dataset.name", absl::StrFormat("model '%s' ends in mse_loss (a regression), and %s has class "
                                                      "labels; train it on npy, npz or synthetic (float targets)",
                                                      model.name(), d.name()));
  }
  if ((tokens || per_example > 1) && d.name() != "synthetic") {
    return FieldError("dataset.name",
                      absl::StrFormat("model '%s' %s, and %s has images with one label each; train it on synthetic "
                                      "(token sequences)",
                                      model.name(), tokens ? "reads token ids" : "takes a label per position",
                                      d.name()));
  }
  if (tokens && (d.random_crop_padding() > 0 || d.horizontal_flip() || d.normalize())) {
    return FieldError(d.random_crop_padding() > 0 ? "dataset.random_crop_padding"
                      : d.horizontal_flip()       ? "dataset.horizontal_flip"
                                                  : "dataset.normalize",
                      absl::StrFormat("model '%s' reads token ids, which have no pixels to crop, flip or normalise",
                                      model.name()));
  }
  if (d.name() == "synthetic") {
    // Both splits (the test split is a fifth): a byte per pixel or four per
    // token id, and four per label.
    const int64_t pixels = planner::NumElements(graph.node(0).out) * (tokens ? 4 : 1) + 4 * per_example +
                           4 * planner::TargetsPerExample(graph);
    const int64_t all = examples + std::max<int64_t>(examples / 5, 1);
    if (pixels > kMaxSyntheticBytes / all) {
      return FieldError("dataset.synthetic_examples",
                        absl::StrFormat("%d examples of %s are over the limit of %d bytes of synthetic data",
                                        examples, planner::DimsString(graph.node(0).out), kMaxSyntheticBytes));
    }
  }
  return CheckedJob{std::move(model), std::move(graph)};
}

absl::Status ValidateJobSpec(const v1::JobSpec& spec, const planner::SizeLimits& limits) {
  return CheckJobSpec(spec, limits).status();
}

}  // namespace slimtrain::engine
