// arena_placers.h — step 3 of the arena planner (arena.h): each buffer, in a
// given order, at the lowest offset where it fits among the buffers already
// placed that are alive with it (best fit: the smallest fitting gap, else the
// top). Two placers with the same result: a scan (fast for small inputs, the
// reference) and a segment tree over the steps (for thousands of buffers).
// Internal to planner/arena.cc; tests reach them through
// arena_internal::PlaceInOrder.
#ifndef SLIMTRAIN_PLANNER_ARENA_PLACERS_H_
#define SLIMTRAIN_PLANNER_ARENA_PLACERS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace slimtrain::planner::arena_internal {

// A buffer that takes space, in the units the placers work in.
struct Item {
  int64_t size;   // units of `alignment`, > 0
  int32_t first;  // steps, inclusive
  int32_t last;
  // first and last as indices into the sorted distinct first steps of all
  // items: two items are alive at a common step iff their [lo, hi] intersect.
  int32_t lo;
  int32_t hi;
};

// Units alive at each point of [0, num_points): the sum of the sizes of
// the items whose [lo, hi] holds it.
std::vector<int64_t> LoadAtPoints(absl::Span<const Item> items, int32_t num_points);

// Occupied memory [begin, end), in units.
struct Interval {
  int64_t begin;
  int64_t end;
};

// Step 3 by scanning every placed buffer, kept sorted by offset: O(n) per
// buffer with a tiny constant. The reference the tree is tested against.
class ScanPlacer {
 public:
  explicit ScanPlacer(const std::vector<Item>& items) : items_(items) {}

  // Places the items of order[start..] (item indices) after those of
  // order[..start], which stay at their offsets. offsets[k] gets item k's
  // offset in units. Returns the arena in units or, as soon as it reaches
  // `limit`, a value >= limit (offsets then incomplete).
  int64_t Place(absl::Span<const int32_t> order, size_t start, std::vector<int64_t>& offsets, int64_t limit);

 private:
  struct Placed {
    int64_t begin;  // units
    int64_t end;
    int32_t lo;  // compressed steps, as Item
    int32_t hi;
  };
  const std::vector<Item>& items_;
  std::vector<Placed> placed_;  // sorted by begin
};

// Step 3 with a segment tree over the compressed steps. A placed buffer is
// stored at the O(log T) nodes that exactly cover its lifetime (node_union_)
// and counted in subtree_union_ of those nodes and all their ancestors. The
// memory occupied during [lo, hi] is then the union of node_union_ of the
// nodes that partly overlap [lo, hi] and subtree_union_ of the nodes inside
// it: O(log T) lists of merged intervals.
class TreePlacer {
 public:
  TreePlacer(const std::vector<Item>& items, int32_t num_points);

  // As ScanPlacer::Place, with the same result.
  int64_t Place(absl::Span<const int32_t> order, size_t start, std::vector<int64_t>& offsets, int64_t limit);

 private:
  // Appends to gathered_ the intervals occupied during [lo, hi] within node.
  void Collect(int node, int nl, int nr, int lo, int hi);
  void Gather(const std::vector<Interval>& u);
  // Sorts gathered_ by begin: merges its sorted runs pairwise, O(K log runs).
  void MergeRuns();
  void Insert(int node, int nl, int nr, int lo, int hi, Interval iv);

  const std::vector<Item>& items_;
  int32_t num_points_;
  std::vector<std::vector<Interval>> node_union_;     // per node, merged
  std::vector<std::vector<Interval>> subtree_union_;  // per node, merged
  std::vector<Interval> gathered_;                    // scratch for one buffer
  std::vector<size_t> run_ends_;                      // sorted runs in gathered_
  std::vector<Interval> merged_;                      // scratch for MergeRuns
};

}  // namespace slimtrain::planner::arena_internal

#endif  // SLIMTRAIN_PLANNER_ARENA_PLACERS_H_
