// Tests of step 0 of the exact arena search's decisions
// (planner/arena_full_boundaries.h), through
// arena_internal::MergeAtFullBoundaries: where two neighbouring steps are
// full, what every placement keeps together is merged, nothing else, and the
// merged buffers fit exactly when the requests do (brute force on both).
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "planner/arena.h"
#include "tests/testing/arena_instances.h"
#include "tests/testing/arena_reference.h"

namespace slimtrain::planner {
namespace {

using Requests = std::vector<ArenaRequest>;
using ::slimtrain::test_util::BruteForceFits;
using ::slimtrain::test_util::CheckPlan;
using ::slimtrain::test_util::FullSteps;
using ::slimtrain::test_util::GapInstances;

// Where two neighbouring steps are full, a lone buffer ending at the first
// is continued in its slot by the buffers of one lifetime starting at the
// second, and the other way round; nothing else is merged, and a step with
// room to spare merges nothing.
TEST(FullBoundariesTest, MergeOnlyWhatEveryPlacementKeepsTogether) {
  // {size, first, last}: 4 bytes over steps 0-1, then two of 2 over 2-3,
  // then a 4 over step 4 and beside it (capacity 5) a 1 over all steps.
  const Requests r = {{4, 0, 1}, {2, 2, 3}, {2, 2, 3}, {4, 4, 4}, {1, 0, 4}};
  absl::StatusOr<arena_internal::MergedRequests> m = arena_internal::MergeAtFullBoundaries(r, 1, 5);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->merged.size(), 2u);
  EXPECT_EQ(m->owner[0], m->owner[1]);
  EXPECT_EQ(m->owner[0], m->owner[3]);
  EXPECT_NE(m->owner[0], m->owner[4]);
  const ArenaRequest& slot = m->merged[m->owner[0]];
  EXPECT_EQ(slot.size, 4);
  EXPECT_EQ(slot.first, 0);
  EXPECT_EQ(slot.last, 4);
  EXPECT_EQ(m->shift_bytes[0], 0);
  EXPECT_EQ(m->shift_bytes[3], 0);
  EXPECT_EQ(std::min(m->shift_bytes[1], m->shift_bytes[2]), 0);
  EXPECT_EQ(std::max(m->shift_bytes[1], m->shift_bytes[2]), 2);

  // With room to spare at step 1 nothing is forced.
  absl::StatusOr<arena_internal::MergedRequests> roomy = arena_internal::MergeAtFullBoundaries(r, 1, 6);
  ASSERT_TRUE(roomy.ok());
  EXPECT_EQ(roomy->merged.size(), r.size());
  // Steps 0-1 full, step 2 not: a lone buffer on each side of their
  // boundary, but the one after may sit anywhere below 5.
  const Requests half = {{4, 0, 1}, {2, 2, 2}, {1, 0, 2}};
  absl::StatusOr<arena_internal::MergedRequests> h = arena_internal::MergeAtFullBoundaries(half, 1, 5);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->merged.size(), half.size());
  // Two buffers of different lifetimes after the lone one (step 4, where a
  // third starts, has room): their order in its slot is open, so all stay
  // apart.
  const Requests open = {{4, 0, 1}, {2, 2, 3}, {2, 2, 4}, {1, 4, 4}};
  absl::StatusOr<arena_internal::MergedRequests> o = arena_internal::MergeAtFullBoundaries(open, 1, 4);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->merged.size(), open.size());
}

// The merged buffers fit at the lower bound exactly when the requests do
// (brute force on both; small instances full at every step, FullSteps, and
// the gap instances, which do not fit there), and a placement of the merged
// buffers expands to one of the requests'.
TEST(FullBoundariesTest, MergingKeepsTheAnswer) {
  std::vector<Requests> instances = GapInstances();
  std::mt19937_64 rng(53);
  for (int i = 0; i < 100; ++i) instances.push_back(FullSteps(rng, 6, 8));
  size_t merged_away = 0;
  int fit = 0, no_fit = 0;
  for (size_t i = 0; i < instances.size(); ++i) {
    const Requests& r = instances[i];
    const int64_t bound = ArenaLowerBound(r, 1);
    absl::StatusOr<arena_internal::MergedRequests> m = arena_internal::MergeAtFullBoundaries(r, 1, bound);
    ASSERT_TRUE(m.ok()) << m.status();
    merged_away += r.size() - m->merged.size();
    std::vector<int64_t> offsets, merged_offsets;
    const bool fits = BruteForceFits(r, bound, offsets);
    ASSERT_EQ(BruteForceFits(m->merged, bound, merged_offsets), fits) << "instance " << i;
    (fits ? fit : no_fit)++;
    if (!fits) continue;
    ArenaPlan plan;
    for (size_t k = 0; k < r.size(); ++k) {
      plan.offsets.push_back(merged_offsets[m->owner[k]] + m->shift_bytes[k]);
      plan.arena_bytes = std::max(plan.arena_bytes, plan.offsets[k] + r[k].size);
    }
    EXPECT_EQ(CheckPlan(r, plan, 1), "") << "instance " << i;
    EXPECT_LE(plan.arena_bytes, bound) << "instance " << i;
  }
  EXPECT_GE(merged_away, 200u) << "the instances give the merging too little to do";
  EXPECT_GE(no_fit, static_cast<int>(GapInstances().size()));
  EXPECT_GT(fit, 80);
}

}  // namespace
}  // namespace slimtrain::planner
