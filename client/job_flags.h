// job_flags.h — a training job described by command-line flags: the flags
// `slimtrain train` (local) and `slimtrain submit` (remote) share.
//
//   JobFlags job;
//   base::FlagSet flags("slimtrain train", ...);
//   job.Register(flags);
//   SLIM_RETURN_IF_ERROR(flags.Parse(args));
//   SLIM_ASSIGN_OR_RETURN(v1::JobSpec spec, job.ToSpec());
#ifndef SLIMTRAIN_CLIENT_JOB_FLAGS_H_
#define SLIMTRAIN_CLIENT_JOB_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "base/flags.h"
#include "planner/strategy.h"
#include "proto/job.pb.h"

namespace slimtrain::client {

struct JobFlags {
  std::string model, model_file, loss;
  std::string dataset = "fashion-mnist", data_dir;
  int64_t synthetic_examples = 0;
  std::string strategy = "approx4";
  int64_t batch = 128, epochs = 0, steps = 0, eval_every = 0;
  std::string optimizer = planner::kDefaultOptimizer;
  double lr = 0.1, momentum = 0.9, weight_decay = 5e-4;
  bool nesterov = false;
  std::string schedule = "cosine", milestones;
  int64_t warmup_steps = 0;
  double gamma = 0.1;
  int64_t crop_padding = 0;
  bool flip = false, normalize = true;
  int64_t seed = 1;
  std::string budget, sensitivity;
  int64_t checkpoint_every = 0;
  bool tf32 = false;

  // Adds the flags, with these defaults, to `flags` (which must outlive
  // ToSpec).
  void Register(base::FlagSet& flags);
  // The JobSpec the flags describe; INVALID_ARGUMENT naming the flag for a
  // bad value. Without --epochs and --steps: 1 epoch. For a model that reads
  // token ids, --dataset defaults to synthetic and --normalize to false; for
  // a regression (mse_loss), --dataset to synthetic.
  absl::StatusOr<v1::JobSpec> ToSpec() const;

 private:
  const base::FlagSet* flags_ = nullptr;
};

// How a data-parallel job's ranks sum their gradients: --bucket-mib,
// --overlap/--no-overlap and --sync-bn, which `slimtrain train`, `plan` and
// `submit` share (each has its own --ranks).
struct DataParallelFlags {
  int64_t bucket_mib = 25;
  bool overlap = true;
  bool sync_bn = false;

  void Register(base::FlagSet& flags);
  // INVALID_ARGUMENT naming --bucket-mib outside [1, 4096].
  absl::Status Check() const;
  // As a JobSpec or PlanMemoryRequest carries it (ranks left 0).
  v1::DataParallelPlanning ToPlanning() const;
};

// A `slimtrain calibrate` table (its JSON) for --sensitivity;
// INVALID_ARGUMENT naming `flag` when unreadable or not one.
absl::StatusOr<v1::SensitivityTable> ReadSensitivityFile(const std::string& path, const std::string& flag);

}  // namespace slimtrain::client

#endif  // SLIMTRAIN_CLIENT_JOB_FLAGS_H_
