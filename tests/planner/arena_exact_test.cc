// Tests of the exact search (step 6 of planner/arena.h, planner/arena_exact.h)
// through PlanArena and, from the worst start, through MinimizeArenaExact
// with each branching: it proves the optimum of rectangle cuts (optimum =
// lower bound), matches a brute-force optimum on tiny instances, some with an
// optimum above the lower bound (so its "no placement fits" answers are
// right), keeps to its time limit, and every plan passes an overlap check
// independent of the planner's VerifyArena (tests/testing/arena_reference.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <pthread.h>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "planner/arena.h"
#include "tests/testing/arena_instances.h"
#include "tests/testing/arena_reference.h"

namespace slimtrain {
namespace planner {
namespace {

using ::testing::HasSubstr;
using Requests = std::vector<ArenaRequest>;
using ::slimtrain::test_util::BruteForceOptimum;
using ::slimtrain::test_util::CheckPlan;
using ::slimtrain::test_util::FullSteps;
using ::slimtrain::test_util::GapInstances;
using ::slimtrain::test_util::RandomIntervals;
using ::slimtrain::test_util::RectangleSlices;
using ::slimtrain::test_util::Uniform;

ArenaOptions Exact(double seconds, int64_t alignment) {
  ArenaOptions o;
  o.alignment = alignment;
  o.exact_seconds = seconds;
  o.exact_min_gap = 0;  // whenever the heuristics miss the lower bound
  o.exact_max_nodes = 0;  // the time alone
  return o;
}

// Small rectangle cuts: the optimum is the rectangle's height, and the exact
// search proves it (the heuristics alone miss it on many of them).
TEST(ArenaExactTest, ProvesRectangleCutOptimum) {
  std::mt19937_64 rng(19);
  int heuristics_missed = 0;
  for (int i = 0; i < 40; ++i) {
    const int64_t unit = 256, height = Uniform(rng, 20, 60);
    const Requests r = RectangleSlices(rng, static_cast<int>(Uniform(rng, 20, 60)),
                                       static_cast<int32_t>(Uniform(rng, 10, 30)), height, unit);
    absl::StatusOr<ArenaPlan> heuristic = PlanArena(r, Exact(0, unit));
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, Exact(10, unit));
    ASSERT_TRUE(heuristic.ok() && plan.ok());
    heuristics_missed += heuristic->arena_bytes > height * unit;
    EXPECT_EQ(CheckPlan(r, *plan, unit), "") << "instance " << i;
    EXPECT_EQ(plan->arena_bytes, height * unit) << "instance " << i;
    EXPECT_TRUE(plan->proven_optimal) << "instance " << i;
    EXPECT_EQ(heuristic->proven_optimal, heuristic->arena_bytes == heuristic->lower_bound_bytes);
    // What step 6 did, in words.
    const bool at_bound = heuristic->proven_optimal;
    EXPECT_EQ(heuristic->exact_search, at_bound ? "not needed: at the lower bound" : "off") << "instance " << i;
    EXPECT_EQ(plan->exact_search, at_bound ? "not needed: at the lower bound" : "proved it optimal") << "instance " << i;
  }
  EXPECT_GT(heuristics_missed, 0) << "no instance needed the exact search: the test proves nothing";
}

// Three rectangle cuts one after another in time (no buffer crosses from one
// to the next): the search splits them apart (arena_exact.h step 5) and
// proves the tallest one's height, the lower bound.
TEST(ArenaExactTest, SplitsAtTimeCuts) {
  std::mt19937_64 rng(31);
  int heuristics_missed = 0;
  for (int i = 0; i < 10; ++i) {
    Requests r;
    int64_t tallest = 0;
    int32_t start = 0;
    for (int part = 0; part < 3; ++part) {
      const int64_t height = Uniform(rng, 50, 200);
      const int32_t steps = static_cast<int32_t>(Uniform(rng, 10, 40));
      for (ArenaRequest q : RectangleSlices(rng, static_cast<int>(Uniform(rng, 30, 80)), steps, height, 1)) {
        q.first += start;
        q.last += start;
        r.push_back(q);
      }
      tallest = std::max(tallest, height);
      start += steps;
    }
    absl::StatusOr<ArenaPlan> heuristic = PlanArena(r, Exact(0, 1));
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, Exact(10, 1));
    ASSERT_TRUE(heuristic.ok() && plan.ok());
    heuristics_missed += heuristic->arena_bytes > tallest;
    EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i;
    EXPECT_EQ(plan->arena_bytes, tallest) << "instance " << i;
    EXPECT_TRUE(plan->proven_optimal) << "instance " << i;
  }
  EXPECT_GT(heuristics_missed, 0) << "no instance needed the exact search: the test proves nothing";
}

// 4-8 buffers of 1-4 bytes, each alive 1-3 of 7 steps.
Requests TinyInstance(std::mt19937_64& rng) {
  Requests r;
  const int n = static_cast<int>(Uniform(rng, 4, 8));
  for (int k = 0; k < n; ++k) {
    const int32_t first = static_cast<int32_t>(Uniform(rng, 0, 4));
    r.push_back({Uniform(rng, 1, 4), first, first + static_cast<int32_t>(Uniform(rng, 0, 2))});
  }
  return r;
}

// Tiny random instances (alignment 1): the proven optimum equals the
// brute-force one. (Random tiny instances almost never have an optimum above
// the lower bound: 20,000 tried found none; GapInstances, arena_instances.h,
// have one.)
TEST(ArenaExactTest, MatchesBruteForceOnTinyInstances) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100; ++i) {
    const Requests r = TinyInstance(rng);
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, Exact(5, 1));
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i;
    EXPECT_EQ(plan->arena_bytes, BruteForceOptimum(r, plan->arena_bytes + 1)) << "instance " << i;
    EXPECT_TRUE(plan->proven_optimal) << "instance " << i;
  }
}

// Through PlanArena: the proven arena is the brute-force optimum.
TEST(ArenaExactTest, ProvesOptimaAboveTheLowerBound) {
  const std::vector<Requests> gaps = GapInstances();
  for (size_t i = 0; i < gaps.size(); ++i) {
    const Requests& r = gaps[i];
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, Exact(5, 1));
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i;
    EXPECT_GT(plan->arena_bytes, plan->lower_bound_bytes) << "instance " << i << " has no gap";
    EXPECT_EQ(plan->arena_bytes, BruteForceOptimum(r, plan->arena_bytes + 1)) << "instance " << i;
    EXPECT_TRUE(plan->proven_optimal) << "instance " << i;
  }
}

// Two parts in time (arena_exact.h, "Parts in time"): a gap instance
// (optimum above its lower bound) and after it a rectangle cut a byte lower
// than that optimum, or a byte higher. The whole's optimum is the larger
// part's, above the whole's lower bound in the first case: proving it takes
// the gap instance's "does not fit" answers with the cut beside it, and
// deciding at the lower bound says no. In the second the gap instance need
// only fit under the cut.
TEST(ArenaExactTest, PartsInTimeProveTheLargestPartsOptimum) {
  const std::vector<Requests> gaps = GapInstances();
  std::mt19937_64 rng(37);
  for (size_t i = 0; i < gaps.size(); ++i) {
    absl::StatusOr<ArenaPlan> alone = PlanArena(gaps[i], Exact(5, 1));
    ASSERT_TRUE(alone.ok() && alone->proven_optimal);
    const int64_t optimum = alone->arena_bytes;
    int32_t end = 0;
    for (const ArenaRequest& q : gaps[i]) end = std::max(end, q.last + 1);
    for (const int64_t height : {optimum - 1, optimum + 1}) {
      Requests r = gaps[i];
      for (ArenaRequest q : RectangleSlices(rng, 40, 12, height, 1)) {
        q.first += end;
        q.last += end;
        r.push_back(q);
      }
      ArenaOptions o = Exact(5, 1);
      absl::StatusOr<ArenaPlan> plan = PlanArena(r, o);
      ASSERT_TRUE(plan.ok());
      EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i << ", cut of " << height;
      EXPECT_EQ(plan->lower_bound_bytes, height) << "instance " << i << ", cut of " << height;
      EXPECT_EQ(plan->arena_bytes, std::max(optimum, height)) << "instance " << i << ", cut of " << height;
      EXPECT_TRUE(plan->proven_optimal) << "instance " << i << ", cut of " << height;
      if (height > optimum) continue;
      o.capacity = height;
      plan = PlanArena(r, o);
      ASSERT_TRUE(plan.ok());
      EXPECT_EQ(FitsIn(*plan, height), Fits::kNo) << "instance " << i;
      EXPECT_EQ(plan->floor_bytes, optimum) << "instance " << i;
      EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i;
    }
  }
}

// Every branching: runs with tight cells only, without, and alternating.
class BranchingTest : public ::testing::TestWithParam<arena_internal::Branching> {};

INSTANTIATE_TEST_SUITE_P(AllBranchings, BranchingTest,
                         ::testing::Values(arena_internal::Branching::kAlternate,
                                           arena_internal::Branching::kPitsOnly,
                                           arena_internal::Branching::kTightCells));

// From the stacked start (arena_internal::ExactFromStacked): tiny random
// instances (optimum = lower bound) and the gap instances above reach the
// brute-force optimum, proven.
TEST_P(BranchingTest, SearchFromAStackedStartFindsAndProvesTheOptimum) {
  std::vector<Requests> instances = GapInstances();
  std::mt19937_64 rng(11);
  for (int i = 0; i < 200; ++i) instances.push_back(TinyInstance(rng));
  for (size_t i = 0; i < instances.size(); ++i) {
    const Requests& r = instances[i];
    absl::StatusOr<ArenaPlan> plan = arena_internal::ExactFromStacked(r, 1, 5, GetParam());
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i;
    EXPECT_EQ(plan->arena_bytes, BruteForceOptimum(r, plan->arena_bytes + 1)) << "instance " << i;
    EXPECT_TRUE(plan->proven_optimal) << "instance " << i;
  }
}

// From the stacked start (arena_internal::ExactFromStacked: the search, not
// the heuristics, must find the optimum and prove it), rectangle cuts are
// packed at the rectangle's height.
TEST_P(BranchingTest, SearchFromAStackedStartPacksRectangleCuts) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 40; ++i) {
    const int64_t height = Uniform(rng, 20, 60);
    const Requests r = RectangleSlices(rng, static_cast<int>(Uniform(rng, 40, 120)),
                                       static_cast<int32_t>(Uniform(rng, 8, 24)), height, 1);
    absl::StatusOr<ArenaPlan> plan = arena_internal::ExactFromStacked(r, 1, 5, GetParam());
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i;
    EXPECT_EQ(plan->arena_bytes, height) << "instance " << i;
    EXPECT_TRUE(plan->proven_optimal) << "instance " << i;
  }
}

// Sizes that share a divisor (MiniMalloc's benchmarks count bytes in KiB):
// the search tries capacities at its multiples only, and proves a capacity
// infeasible a whole divisor at a time. That must not cost correctness:
// rectangle cuts in units of 1000 bytes at alignment 1 are packed at their
// height, proven, every offset a multiple of 1000. (How many decisions the
// divisor saves is not visible through PlanArena; bench/arena_bench shows
// the time.)
TEST(ArenaExactTest, CutsInUnitsOfADivisorArePackedAtTheirHeight) {
  std::mt19937_64 rng(29);
  int heuristics_missed = 0;
  for (int i = 0; i < 10; ++i) {
    const int64_t height = Uniform(rng, 50, 200);
    const Requests r = RectangleSlices(rng, static_cast<int>(Uniform(rng, 40, 100)),
                                       static_cast<int32_t>(Uniform(rng, 10, 40)), height, 1000);
    absl::StatusOr<ArenaPlan> heuristic = PlanArena(r, Exact(0, 1));
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, Exact(10, 1));
    ASSERT_TRUE(heuristic.ok() && plan.ok());
    heuristics_missed += heuristic->arena_bytes > 1000 * height;
    EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i;
    EXPECT_EQ(plan->arena_bytes, 1000 * height) << "instance " << i;
    EXPECT_TRUE(plan->proven_optimal) << "instance " << i;
    for (int64_t offset : plan->offsets) EXPECT_EQ(offset % 1000, 0) << "instance " << i;
  }
  EXPECT_GT(heuristics_missed, 0) << "no instance needed the exact search: the test proves nothing";
}

// The same with units of 2^46 bytes (64 TiB): arenas up to 2^54 bytes and
// sizes adding up to 2^60, near kMaxArenaTotalBytes (2^62), in the search's
// own arithmetic (alignment 1, so its units are bytes) stay exact (and, under
// UBSan, free of signed overflow).
TEST(ArenaExactTest, CutsInUnitsOf64TiBArePackedAtTheirHeight) {
  constexpr int64_t kUnit = int64_t{1} << 46;
  std::mt19937_64 rng(29);
  int heuristics_missed = 0;
  for (int i = 0; i < 10; ++i) {
    const int64_t height = Uniform(rng, 50, 200);
    const Requests r = RectangleSlices(rng, static_cast<int>(Uniform(rng, 40, 100)),
                                       static_cast<int32_t>(Uniform(rng, 10, 40)), height, kUnit);
    absl::StatusOr<ArenaPlan> heuristic = PlanArena(r, Exact(0, 1));
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, Exact(10, 1));
    ASSERT_TRUE(heuristic.ok() && plan.ok()) << heuristic.status() << plan.status();
    heuristics_missed += heuristic->arena_bytes > kUnit * height;
    EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i;
    EXPECT_EQ(plan->arena_bytes, kUnit * height) << "instance " << i;
    EXPECT_TRUE(plan->proven_optimal) << "instance " << i;
    for (int64_t offset : plan->offsets) EXPECT_EQ(offset % kUnit, 0) << "instance " << i;
  }
  EXPECT_GT(heuristics_missed, 0) << "no instance needed the exact search: the test proves nothing";
}

// Random lifetimes with odd sizes and zero-size buffers, alignment 256: plans
// stay valid and never grow with the exact search.
TEST(ArenaExactTest, RandomInstancesStayValid) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20; ++i) {
    const Requests r = RandomIntervals(rng, static_cast<int>(Uniform(rng, 20, 80)),
                                       static_cast<int32_t>(Uniform(rng, 10, 40)),
                                       test_util::Sizes::kSmallWithZeros);
    absl::StatusOr<ArenaPlan> heuristic = PlanArena(r, Exact(0, 256));
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, Exact(0.2, 256));
    ASSERT_TRUE(heuristic.ok() && plan.ok());
    EXPECT_EQ(CheckPlan(r, *plan, 256), "") << "instance " << i;
    EXPECT_LE(plan->arena_bytes, heuristic->arena_bytes);
    EXPECT_GE(plan->arena_bytes, plan->lower_bound_bytes);
  }
}

// A large cut the search cannot finish: it stops near its limit and returns a
// valid plan no larger than the heuristics'.
TEST(ArenaExactTest, HonoursTheTimeLimit) {
  std::mt19937_64 rng(5);
  const Requests r = RectangleSlices(rng, 1500, 300, 3000);
  absl::StatusOr<ArenaPlan> heuristic = PlanArena(r, Exact(0, 256));
  ASSERT_TRUE(heuristic.ok());
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ArenaPlan> plan = PlanArena(r, Exact(0.3, 256));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(plan.ok());
  EXPECT_LT(seconds, 0.3 + 1.5);  // the heuristics' time, with room for a slow machine
  EXPECT_EQ(CheckPlan(r, *plan, 256), "");
  EXPECT_LE(plan->arena_bytes, heuristic->arena_bytes);
  EXPECT_FALSE(plan->proven_optimal) << "the premise: a cut the search cannot finish in 0.3 s";
  EXPECT_EQ(plan->exact_search, "stopped at its limit without a proof");
  // Parallel streams stop at the same limit.
  ArenaOptions parallel = Exact(0.3, 256);
  parallel.exact_threads = 2;
  const auto parallel_start = std::chrono::steady_clock::now();
  absl::StatusOr<ArenaPlan> both = PlanArena(r, parallel);
  const double both_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - parallel_start).count();
  ASSERT_TRUE(both.ok());
  EXPECT_LT(both_seconds, 0.3 + 1.5);
  EXPECT_EQ(CheckPlan(r, *both, 256), "");
  EXPECT_LE(both->arena_bytes, heuristic->arena_bytes);
}

// ArenaOptions.progress: a search that runs to its limit reports about once
// a second, each time a placement no worse than the last and a floor
// between the lower bound and it, in seconds since PlanArena started.
TEST(ArenaExactTest, ReportsProgressWhileTheSearchRuns) {
  std::mt19937_64 rng(5);
  const Requests r = RectangleSlices(rng, 1500, 300, 3000);
  struct Report {
    int64_t arena, floor;
    double seconds;
  };
  std::vector<Report> reports;
  ArenaOptions o = Exact(1.5, 256);
  o.progress = [&](int64_t arena, int64_t floor, double seconds) { reports.push_back({arena, floor, seconds}); };
  absl::StatusOr<ArenaPlan> plan = PlanArena(r, o);
  ASSERT_TRUE(plan.ok());
  ASSERT_FALSE(plan->proven_optimal) << "the premise: a cut the search cannot finish in 1.5 s";
  ASSERT_FALSE(reports.empty());
  for (size_t i = 0; i < reports.size(); ++i) {
    EXPECT_LE(plan->lower_bound_bytes, reports[i].floor) << "report " << i;
    EXPECT_LE(reports[i].floor, reports[i].arena) << "report " << i;
    EXPECT_GE(reports[i].arena, plan->arena_bytes) << "report " << i;
    EXPECT_GE(reports[i].seconds, 0.9) << "report " << i;
    if (i > 0) {
      EXPECT_LE(reports[i].arena, reports[i - 1].arena) << "report " << i;
      EXPECT_GE(reports[i].seconds, reports[i - 1].seconds) << "report " << i;
    }
  }
}

// The default gap: plans within 0.5% of the lower bound skip the search, and
// say so. (The first training-like set the heuristics leave just above its
// bound.)
TEST(ArenaExactTest, SkipsPlansWithinTheGap) {
  std::mt19937_64 rng(11);
  ArenaOptions o;
  o.exact_seconds = 1.0;
  int tried = 0;
  for (; tried < 200; ++tried) {
    const Requests r = test_util::TrainingLike(rng, static_cast<int>(Uniform(rng, 20, 120)));
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, o);
    ASSERT_TRUE(plan.ok());
    if (plan->arena_bytes == plan->lower_bound_bytes || plan->arena_bytes > plan->lower_bound_bytes * 1.005) continue;
    EXPECT_NE(plan->method, "exact");
    EXPECT_FALSE(plan->proven_optimal);
    EXPECT_EQ(plan->exact_search, "not run: within 0.5% of the lower bound");
    EXPECT_EQ(CheckPlan(r, *plan, 256), "");
    break;
  }
  EXPECT_LT(tried, 200) << "no set within the gap but above the bound: the test checks nothing";
}

TEST(ArenaExactTest, RejectsBadOptions) {
  ArenaOptions o;
  o.exact_seconds = -1;
  EXPECT_THAT(PlanArena({}, o).status().message(), HasSubstr("exact_seconds -1 is not a finite"));
  o.exact_seconds = INFINITY;
  EXPECT_THAT(PlanArena({}, o).status().message(), HasSubstr("exact_seconds inf"));
  o.exact_seconds = 1;
  o.exact_min_gap = -1;
  EXPECT_THAT(PlanArena({}, o).status().message(), HasSubstr("exact_min_gap -1 < 0"));
  o.exact_min_gap = 0;
  o.exact_max_nodes = -1;
  EXPECT_THAT(PlanArena({}, o).status().message(), HasSubstr("exact_max_nodes -1 < 0"));
  o.exact_max_nodes = 0;
  o.exact_threads = 0;
  EXPECT_THAT(PlanArena({}, o).status().message(), HasSubstr("exact_threads 0 is not in [1, 64]"));
  o.exact_threads = 65;
  EXPECT_THAT(PlanArena({}, o).status().message(), HasSubstr("exact_threads 65 is not in [1, 64]"));
  o.exact_threads = 1;
  o.capacity = -1;
  EXPECT_THAT(PlanArena({}, o).status().message(), HasSubstr("capacity -1 < 0"));
}

// The decision problem (ArenaOptions.capacity). On the gap instances (optimum
// above the bound), at the lower bound the search proves that nothing fits,
// and at the optimum everything does; below the bound and at the
// heuristics' arena there is nothing to search. On rectangle cuts the
// heuristics miss, it finds a placement within the rectangle's height. A
// search its limit stops does not know.
TEST(ArenaExactTest, AnswersWhetherEverythingFitsInACapacity) {
  const std::vector<Requests> gaps = GapInstances();
  for (size_t i = 0; i < gaps.size(); ++i) {
    const Requests& r = gaps[i];
    ArenaOptions o = Exact(5, 1);
    absl::StatusOr<ArenaPlan> optimal = PlanArena(r, o);
    ASSERT_TRUE(optimal.ok() && optimal->proven_optimal);
    const int64_t bound = optimal->lower_bound_bytes, optimum = optimal->arena_bytes;
    ASSERT_GT(optimum, bound);
    o.capacity = bound;
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, o);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(FitsIn(*plan, bound), Fits::kNo) << "instance " << i;
    EXPECT_GT(plan->floor_bytes, bound) << "instance " << i;
    EXPECT_EQ(plan->exact_search, "proved that nothing fits in the capacity") << "instance " << i;
    EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i;
    o.capacity = optimum;
    plan = PlanArena(r, o);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(FitsIn(*plan, optimum), Fits::kYes) << "instance " << i;
    EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i;
    o.capacity = bound - 1;
    plan = PlanArena(r, o);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(FitsIn(*plan, bound - 1), Fits::kNo) << "instance " << i;
    EXPECT_EQ(plan->exact_search, "not needed: the lower bound is above the capacity") << "instance " << i;
  }
  std::mt19937_64 rng(19);
  int searched = 0, above_optimum = 0;
  for (int i = 0; i < 40; ++i) {
    const int64_t unit = 256, height = Uniform(rng, 20, 60);
    const Requests r = RectangleSlices(rng, static_cast<int>(Uniform(rng, 20, 60)),
                                       static_cast<int32_t>(Uniform(rng, 10, 30)), height, unit);
    ArenaOptions o = Exact(10, unit);
    absl::StatusOr<ArenaPlan> heuristic = PlanArena(r, Exact(0, unit));
    ASSERT_TRUE(heuristic.ok());
    if (heuristic->proven_optimal) continue;
    ++searched;
    o.capacity = height * unit;
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, o);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(FitsIn(*plan, o.capacity), Fits::kYes) << "instance " << i;
    EXPECT_EQ(plan->exact_search, "found a placement within the capacity") << "instance " << i;
    EXPECT_EQ(CheckPlan(r, *plan, unit), "") << "instance " << i;
    // Halfway between the optimum and the heuristics: a placement within it,
    // where the search stops (a minimisation would go on to the optimum).
    o.capacity = (height * unit + heuristic->arena_bytes) / 2 / unit * unit;
    plan = PlanArena(r, o);
    ASSERT_TRUE(plan.ok());
    if (o.capacity > height * unit && o.capacity < heuristic->arena_bytes) {
      EXPECT_EQ(FitsIn(*plan, o.capacity), Fits::kYes) << "instance " << i;
      EXPECT_EQ(CheckPlan(r, *plan, unit), "") << "instance " << i;
      above_optimum += plan->arena_bytes > height * unit;
    }
    o.capacity = heuristic->arena_bytes;
    plan = PlanArena(r, o);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->exact_search, "not needed: within the capacity") << "instance " << i;
    EXPECT_EQ(plan->arena_bytes, heuristic->arena_bytes) << "instance " << i;
  }
  EXPECT_GT(searched, 0) << "no cut needed the search: the test checks nothing";
  EXPECT_GT(above_optimum, 0) << "every answer was the optimum: the search did not stop at the capacity";
  // A cut the search cannot decide at its bound in 0.3 s.
  const Requests big = RectangleSlices(rng, 1500, 300, 3000);
  ArenaOptions o = Exact(0.3, 256);
  o.capacity = 3000 * 256;
  absl::StatusOr<ArenaPlan> plan = PlanArena(big, o);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(FitsIn(*plan, o.capacity), Fits::kUnknown);
  EXPECT_EQ(plan->exact_search, "stopped at its limit without an answer");
  EXPECT_EQ(plan->floor_bytes, plan->lower_bound_bytes);
  EXPECT_EQ(CheckPlan(big, *plan, 256), "");
}

// ArenaOptions.exact_tolerance: the search stops once its arena is within
// that fraction of its proven floor, and says so. Under a node cap (one
// stream: deterministic), cuts the search does not prove: with the gap it
// ends at as the tolerance, it stops there or sooner, at an arena within it.
// (A buffer alive at every step keeps each cut one part in time: without a
// tolerance the search takes the parts apart, with one the whole, so the
// two runs would not go the same way; arena_exact.h, "Parts in time".)
TEST(ArenaExactTest, StopsWithinTheTolerance) {
  std::mt19937_64 rng(29);
  int stopped = 0;
  for (int i = 0; i < 4; ++i) {
    Requests r = RectangleSlices(rng, 400, 120, 600);
    r.push_back({256, 0, 119});
    ArenaOptions o;
    o.exact_seconds = 1000;  // the node cap ends it
    o.exact_min_gap = 0;
    o.exact_max_nodes = 5000;
    absl::StatusOr<ArenaPlan> capped = PlanArena(r, o);
    ASSERT_TRUE(capped.ok());
    if (capped->proven_optimal) continue;
    ++stopped;
    o.exact_tolerance = static_cast<double>(capped->arena_bytes - capped->floor_bytes) /
                        static_cast<double>(capped->floor_bytes) * (1 + 1e-9);
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, o);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(CheckPlan(r, *plan, 256), "") << "cut " << i;
    EXPECT_FALSE(plan->proven_optimal) << "cut " << i;
    EXPECT_LE(plan->arena_bytes, capped->arena_bytes) << "cut " << i;
    EXPECT_LE(static_cast<double>(plan->arena_bytes - plan->floor_bytes),
              o.exact_tolerance * static_cast<double>(plan->floor_bytes))
        << "cut " << i;
    EXPECT_EQ(plan->exact_search, absl::StrCat("stopped within ", 100 * o.exact_tolerance, "% of optimal"))
        << "cut " << i;
  }
  EXPECT_GT(stopped, 0) << "every cut was proven: the tolerance was never used";
  ArenaOptions bad;
  bad.exact_tolerance = -1;
  EXPECT_THAT(PlanArena({}, bad).status().message(), HasSubstr("exact_tolerance -1 < 0"));
}

// Parallel streams (arena_exact.h, "Streams") share proven floors and found
// placements: on the gap instances (optimum above the bound, so some stream
// must prove "does not fit" and the others take it), tiny instances and
// rectangle cuts, three streams reach the brute-force or known optimum,
// proven, and every plan passes the overlap check.
TEST(ArenaExactTest, ParallelStreamsProveTheSameOptima) {
  ArenaOptions o = Exact(10, 1);
  o.exact_threads = 3;
  std::vector<Requests> instances = GapInstances();
  std::mt19937_64 rng(29);
  for (int i = 0; i < 60; ++i) instances.push_back(TinyInstance(rng));
  for (size_t i = 0; i < instances.size(); ++i) {
    const Requests& r = instances[i];
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, o);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(CheckPlan(r, *plan, 1), "") << "instance " << i;
    EXPECT_EQ(plan->arena_bytes, BruteForceOptimum(r, plan->arena_bytes + 1)) << "instance " << i;
    EXPECT_TRUE(plan->proven_optimal) << "instance " << i;
  }
  o.alignment = 256;
  int heuristics_missed = 0;
  for (int i = 0; i < 10; ++i) {
    const int64_t height = Uniform(rng, 50, 150);
    const Requests r = RectangleSlices(rng, static_cast<int>(Uniform(rng, 60, 120)),
                                       static_cast<int32_t>(Uniform(rng, 20, 40)), height);
    absl::StatusOr<ArenaPlan> heuristic = PlanArena(r, Exact(0, 256));
    absl::StatusOr<ArenaPlan> plan = PlanArena(r, o);
    ASSERT_TRUE(heuristic.ok() && plan.ok());
    heuristics_missed += heuristic->arena_bytes > height * 256;
    EXPECT_EQ(CheckPlan(r, *plan, 256), "") << "cut " << i;
    EXPECT_EQ(plan->arena_bytes, height * 256) << "cut " << i;
    EXPECT_TRUE(plan->proven_optimal) << "cut " << i;
  }
  EXPECT_GE(heuristics_missed, 3) << "too few cuts needed the exact search";
}

// With the default node cap, the same input gives the same plan.
TEST(ArenaExactTest, NodeCapMakesPlansDeterministic) {
  std::mt19937_64 rng(23);
  const Requests r = RectangleSlices(rng, 400, 120, 600);
  ArenaOptions o;
  o.exact_seconds = 1000;  // the node cap ends it
  o.exact_min_gap = 0;
  o.exact_max_nodes = 20000;
  absl::StatusOr<ArenaPlan> a = PlanArena(r, o), b = PlanArena(r, o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->offsets, b->offsets);
  EXPECT_EQ(CheckPlan(r, *a, 256), "");
}

// Backjumping (arena_exact.h, step 3b) cuts subtrees by why their children
// failed; a wrong reason would make a "does not fit" false. So the search
// with it must give the same proven optimum as the search without, on
// instances where "does not fit" comes up, with every branching.
TEST_P(BranchingTest, BackjumpingGivesTheOptimaOfTheSearchWithout) {
  std::mt19937_64 rng(41);
  int above_bound = 0;
  for (int i = 0; i < 100; ++i) {
    const Requests r = FullSteps(rng);
    absl::StatusOr<ArenaPlan> with = arena_internal::ExactFromStacked(r, 1, 10, GetParam());
    absl::StatusOr<ArenaPlan> without = arena_internal::ExactFromStacked(r, 1, 10, GetParam(), /*backjump=*/false);
    ASSERT_TRUE(with.ok() && without.ok());
    EXPECT_EQ(CheckPlan(r, *with, 1), "") << "instance " << i;
    EXPECT_TRUE(with->proven_optimal && without->proven_optimal) << "instance " << i;
    EXPECT_EQ(with->arena_bytes, without->arena_bytes) << "instance " << i;
    above_bound += without->arena_bytes > without->lower_bound_bytes;
  }
  EXPECT_GE(above_bound, 10) << "too few instances needed a proof that the lower bound does not fit";
}

// Runs `body` on a thread with a stack of `bytes` and waits for it.
void OnStackOf(size_t bytes, std::function<void()> body) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, bytes), 0);
  pthread_t thread;
  auto run = [](void* arg) -> void* {
    (*static_cast<std::function<void()>*>(arg))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, run, &body), 0);
  pthread_attr_destroy(&attr);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
}

// The search recurses a few frames per buffer placed, megabytes deep at the
// most buffers it takes (kMaxExactBuffers); it runs on threads of its own
// with stacks sized for that, so a caller's small stack does not matter
// (with `ulimit -s unlimited`, glibc gives new threads 2 MiB; a 5,000-buffer
// search used to overflow that and crash the process).
TEST(ArenaExactTest, DeepSearchesDoNotNeedTheCallersStack) {
  std::mt19937_64 rng(31);
  const Requests r = RectangleSlices(rng, static_cast<int>(kMaxExactBuffers) - 10, 3000, 3000);
  ArenaOptions o;
  o.exact_seconds = 1000;  // the node cap ends it
  o.exact_min_gap = 0;
  o.exact_max_nodes = 200000;
  absl::StatusOr<ArenaPlan> plan;
  OnStackOf(256 << 10, [&] { plan = PlanArena(r, o); });
  ASSERT_TRUE(plan.ok()) << plan.status();
  // An improvement means a decision that placed every buffer: one path of
  // the recursion as deep as the buffers.
  EXPECT_EQ(plan->method, "exact");
  EXPECT_EQ(CheckPlan(r, *plan, 256), "");
}

}  // namespace
}  // namespace planner
}  // namespace slimtrain
