// arena_instances.h — generated buffer lists for arena tests and benchmarks.
//
//   std::mt19937_64 rng(1);
//   std::vector<ArenaRequest> hard = RectangleSlices(rng, 200, 100, 1000);
//   // optimum == lower bound == 1000 * 256 bytes
//
// Families:
//   RectangleSlices  a time x memory rectangle cut (guillotine) into pieces:
//                    every step is covered exactly, so the optimum equals the
//                    lower bound, and greedy orders miss it;
//   RandomIntervals  random lifetimes (mostly short, some long) and sizes;
//   TrainingLike     one training step of a bottleneck ResNet: per layer a
//                    LIFO saved buffer (forward to backward), an activation, a
//                    gradient and two workspaces.
#ifndef SLIMTRAIN_TESTS_TESTING_ARENA_INSTANCES_H_
#define SLIMTRAIN_TESTS_TESTING_ARENA_INSTANCES_H_

#include <cstdint>
#include <random>
#include <vector>

#include "planner/arena.h"

namespace slimtrain::test_util {

// Uniform integer in [lo, hi].
int64_t Uniform(std::mt19937_64& rng, int64_t lo, int64_t hi);

// `steps` x `height` units of `unit` bytes cut into about `pieces` buffers,
// shuffled. Optimum = lower bound = height * unit bytes.
std::vector<planner::ArenaRequest> RectangleSlices(std::mt19937_64& rng, int pieces, int32_t steps,
                                                   int64_t height, int64_t unit = 256);

enum class Sizes {
  kLogUniform,      // 256 B .. 1 MiB, log-uniform
  kSmallWithZeros,  // 1 B .. 64 KiB, one in ten of size 0
};

// `n` buffers over `steps` steps: 70% live 1-4 steps, 25% up to steps/10, 5%
// up to steps/2.
std::vector<planner::ArenaRequest> RandomIntervals(std::mt19937_64& rng, int n, int32_t steps,
                                                   Sizes sizes = Sizes::kLogUniform);

// Buffers over 6-`max_steps` steps, 8-`max_buffers` of them (sizes 1-4, a
// third 1-12; most live up to 4 steps, a quarter up to half the steps), then
// at every step one more buffer, alive at that step alone, that fills it up
// to the fullest step's load (alignment 1). Every step is full at the lower
// bound, where many have no placement: a search must prove "does not fit".
std::vector<planner::ArenaRequest> FullSteps(std::mt19937_64& rng, int32_t max_steps = 16, int max_buffers = 20);

// Seven instances (alignment 1, 9-14 buffers over 5 steps, every step filled
// to the bound by one-step buffers) whose optimum is above the lower bound,
// so that proving it needs "does not fit" answers at capacities from the
// bound up. Random ones almost never have such a gap (300,000 random 8-12
// buffer instances had none): these were found by a brute-force search.
std::vector<std::vector<planner::ArenaRequest>> GapInstances();

// A pre-activation bottleneck ResNet step with `layers` BN-ReLU-conv layers,
// three per block, four stages (block input/output `base` = 8 MiB >> stage,
// inside base/4). Forward step i, backward step 2*layers-1-i. Per layer: the
// 8-bit codes of its input (input/4), saved forward to backward, nested LIFO;
// its output, read by the next layer (a block's output also by the residual
// add 3 steps later); a forward workspace (0-50% of the input); the gradient
// of its input, read by the next backward step (a block's input gradient also
// by the skip path, 3 steps later); a backward workspace.
std::vector<planner::ArenaRequest> TrainingLike(std::mt19937_64& rng, int32_t layers);

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_TESTING_ARENA_INSTANCES_H_
