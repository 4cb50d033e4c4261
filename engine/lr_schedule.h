// lr_schedule.h — the learning rate at each step (proto/job.proto's
// LearningRateSchedule).
//
//   double lr = LearningRate(schedule, /*base=*/0.1, step, total_steps, steps_per_epoch);
//
//   constant  base
//   step      base · gamma^(number of milestone epochs passed)
//   cosine    min + (base − min) · (1 + cos(π · step / total)) / 2
// and, for any kind, a linear warm-up from 0 to the scheduled rate over
// warmup_steps: lr · (step + 1) / warmup_steps while step < warmup_steps.
// `step` is 0-based (the step about to run).
#ifndef SLIMTRAIN_ENGINE_LR_SCHEDULE_H_
#define SLIMTRAIN_ENGINE_LR_SCHEDULE_H_

#include <cstdint>

#include "proto/job.pb.h"

namespace slimtrain::engine {

// The schedule's ranges are checked with the rest of the spec
// (job_spec.h's ValidateJobSpec).
double LearningRate(const v1::LearningRateSchedule& schedule, double base, int64_t step, int64_t total_steps,
                    int64_t steps_per_epoch);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_LR_SCHEDULE_H_
