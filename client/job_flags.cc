// See job_flags.h.
#include "client/job_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "base/units.h"
#include "client/model_flags.h"
#include "google/protobuf/util/json_util.h"
#include "planner/graph.h"
#include "planner/plan_request.h"

namespace slimtrain::client {

void JobFlags::Register(base::FlagSet& f) {
  flags_ = &f;
  f.String("model", &model, "zoo model, e.g. zoo:fmnist_resnet (slimtrain zoo list)");
  f.String("model-file", &model_file, "model file: protobuf text format, JSON or ONNX (its weights are the start)");
  f.String("loss", &loss, "ONNX model files: the loss on the output, cross_entropy (default) or mse");
  f.String("dataset", &dataset,
           "fashion-mnist, cifar10, cifar100, synthetic (the default, as token sequences, for a model that reads\n"
           "token ids), or your own in --data-dir: image-folder (train/<class>/*.png|jpg, test/<class>/...),\n"
           "npy (train_x.npy, train_y.npy, test_x.npy, test_y.npy), npz (train.npz, test.npz holding x and y),\n"
           "idx (MNIST-named IDX files, plain or .gz)");
  f.String("data-dir", &data_dir, "folder of the dataset's files (fashion-mnist: Debian's by default)");
  f.Int("synthetic-examples", &synthetic_examples, "synthetic: training examples (default 10000)");
  f.String("strategy", &strategy, "exact, approx8, approx4, approx2, naive8, naive4, checkpoint, checkpoint_optimal, mixed");
  f.Int("batch", &batch, "examples per step");
  f.Int("epochs", &epochs, "epochs to train (default 1 when --steps is not given)");
  f.Int("steps", &steps, "steps to train instead of epochs");
  f.Int("eval-every", &eval_every, "evaluate on the test set every N steps (and at the end)");
  f.String("optimizer", &optimizer, "sgd, adam or rmsprop");
  f.Double("lr", &lr, "base learning rate");
  f.Double("momentum", &momentum, "sgd/rmsprop momentum");
  f.Bool("nesterov", &nesterov, "sgd: Nesterov momentum");
  f.Double("weight-decay", &weight_decay, "L2 weight decay");
  f.String("schedule", &schedule, "learning-rate schedule: constant, step or cosine");
  f.String("milestones", &milestones, "step schedule: comma-separated epochs, e.g. 30,60");
  f.Double("gamma", &gamma, "step schedule: factor at each milestone");
  f.Int("warmup-steps", &warmup_steps, "linear warm-up steps");
  f.Int("crop-padding", &crop_padding, "random crop after zero padding of this many pixels");
  f.Bool("flip", &flip, "random horizontal flips");
  f.Bool("normalize", &normalize, "normalise with the training set's channel mean and std (images only)");
  f.Int("seed", &seed, "seed for initialisation, data order, augmentation, dropout");
  f.String("budget", &budget, "checkpoint_optimal, mixed: memory to fit, e.g. 4GiB");
  f.String("sensitivity", &sensitivity,
           "mixed: a `slimtrain calibrate` table (default: measured on 2 batches when training starts)");
  f.Int("checkpoint-every", &checkpoint_every, "steps between checkpoints (default 500)");
  f.Bool("tf32", &tf32, "GPUs: allow TF32 tensor-core math (faster, not true fp32; default off)");
}

absl::StatusOr<v1::JobSpec> JobFlags::ToSpec() const {
  v1::JobSpec spec;
  SLIM_ASSIGN_OR_RETURN(*spec.mutable_model(), ModelRefFromFlags(model, model_file));
  if (!loss.empty()) {
    if (!spec.model().has_onnx()) {
      return absl::InvalidArgumentError("--loss applies to an ONNX --model-file (other models name their loss)");
    }
    if (loss != "cross_entropy" && loss != "mse") {
      return absl::InvalidArgumentError(absl::StrCat("--loss: '", loss, "' is not cross_entropy or mse"));
    }
    spec.mutable_model()->mutable_onnx()->set_loss(loss);
  }
  // A language model's defaults: synthetic token sequences, nothing to
  // normalise (a model that does not build is the trainer's to report).
  bool tokens = false, regression = false;
  if (absl::StatusOr<v1::ModelSpec> m = planner::ResolveModel(spec.model()); m.ok()) {
    absl::StatusOr<planner::Graph> g = planner::Graph::Build(*m);
    tokens = g.ok() && planner::TokenVocabulary(*g) > 0;
    regression = g.ok() && planner::TargetsPerExample(*g) > 0;
  }
  const bool dataset_given = flags_ != nullptr && flags_->WasSet("dataset");
  const bool normalize_given = flags_ != nullptr && flags_->WasSet("normalize");
  spec.mutable_dataset()->set_name((tokens || regression) && !dataset_given ? "synthetic" : dataset);
  spec.mutable_dataset()->set_path(data_dir);
  spec.mutable_dataset()->set_synthetic_examples(synthetic_examples);
  spec.mutable_dataset()->set_random_crop_padding(crop_padding);
  spec.mutable_dataset()->set_horizontal_flip(flip);
  spec.set_allow_tf32(tf32);
  spec.mutable_dataset()->set_normalize(tokens && !normalize_given ? false : normalize);
  spec.set_strategy(strategy);
  if (batch < 1) return absl::InvalidArgumentError(absl::StrCat("--batch must be >= 1, got ", batch));
  spec.set_batch_size(batch);
  if (epochs < 0 || steps < 0) return absl::InvalidArgumentError("--epochs and --steps must be >= 0");
  spec.set_steps(steps);
  spec.set_epochs(steps == 0 && epochs == 0 ? 1 : epochs);
  spec.set_eval_interval_steps(eval_every);
  v1::OptimizerSpec* o = spec.mutable_optimizer();
  o->set_kind(optimizer);
  o->set_learning_rate(lr);
  o->set_momentum(optimizer == "adam" ? 0.0 : momentum);
  o->set_nesterov(nesterov);
  o->set_weight_decay(weight_decay);
  v1::LearningRateSchedule* s = spec.mutable_learning_rate_schedule();
  s->set_kind(schedule);
  s->set_warmup_steps(warmup_steps);
  s->set_gamma(gamma);
  for (absl::string_view m : absl::StrSplit(milestones, ',', absl::SkipWhitespace())) {
    int64_t epoch = 0;
    if (!absl::SimpleAtoi(m, &epoch)) {
      return absl::InvalidArgumentError(absl::StrCat("--milestones: '", m, "' is not an epoch number"));
    }
    s->add_milestone_epochs(epoch);
  }
  spec.set_seed(static_cast<uint64_t>(seed));
  if (!sensitivity.empty()) {
    SLIM_ASSIGN_OR_RETURN(*spec.mutable_sensitivity(), ReadSensitivityFile(sensitivity, "--sensitivity"));
  }
  if (!budget.empty()) {
    SLIM_ASSIGN_OR_RETURN(int64_t bytes, base::ParseBytes(budget, "--budget"));
    spec.set_budget_bytes(bytes);
  }
  spec.set_checkpoint_interval_steps(checkpoint_every);
  return spec;
}

absl::StatusOr<v1::SensitivityTable> ReadSensitivityFile(const std::string& path, const std::string& flag) {
  absl::StatusOr<std::string> text = base::ReadFile(path);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", text.status().message()));
  v1::SensitivityTable table;
  if (auto s = google::protobuf::util::JsonStringToMessage(*text, &table); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path,
                                                   " is not a sensitivity table (slimtrain calibrate's JSON): ",
                                                   std::string(s.message())));
  }
  return table;
}

void DataParallelFlags::Register(base::FlagSet& flags) {
  flags.Int("bucket-mib", &bucket_mib, "data-parallel: gradients are summed across ranks in buckets of this many MiB");
  flags.Bool("overlap", &overlap,
             "data-parallel: start summing a bucket as soon as backward has completed it (--no-overlap: every "
             "bucket after backward)");
  flags.Bool("sync-bn", &sync_bn,
             "data-parallel: batch norm with the statistics of every rank's batch together (PyTorch's "
             "SyncBatchNorm; exact and checkpointing strategies); default: each rank's own");
}

absl::Status DataParallelFlags::Check() const {
  if (bucket_mib < 1 || bucket_mib > 4096) {
    return absl::InvalidArgumentError(absl::StrCat("--bucket-mib: ", bucket_mib, ", must be in [1, 4096]"));
  }
  return absl::OkStatus();
}

v1::DataParallelPlanning DataParallelFlags::ToPlanning() const {
  v1::DataParallelPlanning d;
  d.set_bucket_bytes(bucket_mib << 20);
  d.set_no_overlap(!overlap);
  d.set_sync_batch_norm(sync_bn);
  return d;
}

}  // namespace slimtrain::client
