// test_models.h — small models and jobs the tests share.
//
//   v1::ModelSpec deep = ReluChainModel(9997);        // 9999 layers
//   v1::JobSpec job = TinySyntheticJob(/*steps=*/12);  // trains in moments
#ifndef SLIMTRAIN_TESTS_TESTING_TEST_MODELS_H_
#define SLIMTRAIN_TESTS_TESTING_TEST_MODELS_H_

#include <cstdint>

#include "proto/job.pb.h"
#include "proto/model.pb.h"

namespace slimtrain::test_util {

// input (8) -> `relus` ReLUs -> a linear classifier (4) -> the loss: the
// deepest model of its size, and checkpoint_optimal's worst case. Each ReLU's
// name is padded with 'x' to `name_bytes` (for models of a given byte size).
v1::ModelSpec ReluChainModel(int relus, int name_bytes = 0);

// A conv-bn-relu model on 1x8x8 synthetic data (128 examples, 4 classes),
// batch 16, approx4, a checkpoint every 4 steps, seed 3: a step takes
// milliseconds.
v1::JobSpec TinySyntheticJob(int64_t steps = 12);

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_TESTING_TEST_MODELS_H_
