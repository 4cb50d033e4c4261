// arena_full_boundaries.h — step 0 of the exact arena search's decisions
// (arena_exact.h): the instance with what full boundaries force merged.
// Internal to planner/arena.cc's library; DecisionRuns (arena_decision.h)
// searches the reduced instance, and tests reach it through
// arena_internal::MergeAtFullBoundaries (arena.h).
//
//   FullBoundaryReduction r = ReduceAtFullBoundaries(items, num_points, capacity);
//   ... search r.items on r.num_points points, placement `reduced` ...
//   std::vector<int64_t> offsets = r.Expand(reduced);  // one per input item
#ifndef SLIMTRAIN_PLANNER_ARENA_FULL_BOUNDARIES_H_
#define SLIMTRAIN_PLANNER_ARENA_FULL_BOUNDARIES_H_

#include <cstdint>
#include <vector>

#include "planner/arena_placers.h"

namespace slimtrain::planner::arena_internal {

// Where the points p - 1 and p are both full (load = capacity), the items
// ending at p - 1 and those starting at p cover the same memory; when one
// side is a single item and the other side's items share their lifetime,
// those sit stacked in its slot in every placement, and become one item
// with it. Exact: the reduced instance fits iff the input does.
struct FullBoundaryReduction {
  std::vector<Item> items;     // the reduced instance (points renumbered)
  int32_t num_points = 0;
  std::vector<int32_t> owner;  // per input item: the reduced item it is part of
  std::vector<int64_t> shift;  // per input item: units above its owner's offset
  std::vector<int32_t> head;   // per reduced item: an input item at shift 0

  // Input offsets from the reduced instance's.
  std::vector<int64_t> Expand(const std::vector<int64_t>& reduced_offsets) const;
};

// The reduction at `capacity` (units); the input as it is when nothing merges.
FullBoundaryReduction ReduceAtFullBoundaries(const std::vector<Item>& items, int32_t num_points, int64_t capacity);

// The input as it is: every item its own.
FullBoundaryReduction Unreduced(const std::vector<Item>& items, int32_t num_points);

}  // namespace slimtrain::planner::arena_internal

#endif  // SLIMTRAIN_PLANNER_ARENA_FULL_BOUNDARIES_H_
