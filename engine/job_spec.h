// job_spec.h — the ranges of a JobSpec's fields (proto/job.proto), checked in
// one place.
//
// The server checks a submission with ValidateJobSpec before it plans or
// stores anything; Trainer::Create checks again before it loads data. Every
// number must be finite and in its documented range, every product (epochs ×
// steps per epoch, examples × example size) must fit, and every string has a
// length limit, so a spec that passes cannot overflow, allocate without bound
// or diverge for want of a check.
//
//   SLIM_RETURN_IF_ERROR(ValidateJobSpec(spec));   // "optimizer.momentum: must
//                                                  //  be in [0, 1), got nan"
#ifndef SLIMTRAIN_ENGINE_JOB_SPEC_H_
#define SLIMTRAIN_ENGINE_JOB_SPEC_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "planner/graph.h"
#include "planner/limits.h"
#include "proto/job.pb.h"
#include "proto/model.pb.h"

namespace slimtrain::engine {

// The ranges proto/job.proto documents.
inline constexpr int64_t kMaxDisplayNameBytes = 256;
inline constexpr int64_t kMaxPathBytes = 4096;
inline constexpr int64_t kMaxSteps = 1000000000;  // steps, total steps, intervals, warm-up
inline constexpr int64_t kMaxEpochs = 1000000;
inline constexpr int64_t kMaxMilestones = 1000;
inline constexpr int64_t kMaxCropPadding = 256;
inline constexpr int64_t kMaxSyntheticExamples = 10000000;
// Pixels of a synthetic dataset (train and test splits, one byte each).
inline constexpr int64_t kMaxSyntheticBytes = int64_t{4} << 30;
inline constexpr double kMaxLearningRate = 100.0;

// Training examples of the dataset `d` names (Fashion-MNIST 60000, CIFAR
// 50000, synthetic its synthetic_examples or 10000), to count steps before
// any data is loaded; 0 for a user's dataset (image-folder, npy, npz, idx),
// whose size is known only once loaded.
int64_t TrainingExamples(const v1::DatasetSpec& d);

// Checks every field of `spec` a trainer reads, without loading any data:
// INVALID_ARGUMENT whose message begins with the field ("batch_size: ...",
// "optimizer.learning_rate: ...", "layer 'conv1': ..." for the model, built
// and checked at the batch with `limits`). The strategy must be a concrete
// one: 'auto' is resolved by whoever plans the job.
absl::Status ValidateJobSpec(const v1::JobSpec& spec, const planner::SizeLimits& limits = planner::SizeLimits());

// A spec ValidateJobSpec accepts, with what checking it made: the model
// resolved (an ONNX file imported once) and built at the batch. Whoever
// checks a job and then plans or trains it uses these instead of resolving
// and building the model again.
struct CheckedJob {
  v1::ModelSpec model;
  planner::Graph graph;
};
absl::StatusOr<CheckedJob> CheckJobSpec(const v1::JobSpec& spec,
                                        const planner::SizeLimits& limits = planner::SizeLimits());

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_JOB_SPEC_H_
