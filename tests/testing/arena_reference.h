// arena_reference.h — slow, independent references for arena tests: a
// placement check written from the definition (not the planner's
// VerifyArena) and brute-force searches over every offset for tiny
// instances (alignment 1).
//
//   EXPECT_EQ(CheckPlan(requests, plan, alignment), "");
//   EXPECT_EQ(plan.arena_bytes, BruteForceOptimum(requests, plan.arena_bytes + 1));
#ifndef SLIMTRAIN_TESTS_TESTING_ARENA_REFERENCE_H_
#define SLIMTRAIN_TESTS_TESTING_ARENA_REFERENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "planner/arena.h"

namespace slimtrain::test_util {

// "" when every offset is a non-negative multiple of the alignment, no two
// buffers alive at a common step share a byte, and arena_bytes is the max of
// offset + aligned size; else what is wrong. O(n^2), by the definition.
std::string CheckPlan(const std::vector<planner::ArenaRequest>& requests, const planner::ArenaPlan& plan,
                      int64_t alignment);

// The least arena below `bound` (`bound` when none is), trying every offset
// for every buffer (alignment 1).
int64_t BruteForceOptimum(const std::vector<planner::ArenaRequest>& requests, int64_t bound);

// Whether the buffers fit in `capacity` (alignment 1), trying every offset
// for every buffer; `offsets` gets the first placement found.
bool BruteForceFits(const std::vector<planner::ArenaRequest>& requests, int64_t capacity,
                    std::vector<int64_t>& offsets);

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_TESTING_ARENA_REFERENCE_H_
