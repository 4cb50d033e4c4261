// Tests of planner/arena.h: exact offsets on hand-computed cases, the
// invariants (no two live buffers overlap, arena >= lower bound) on many random
// instances, the search on hard instances, every validation error, and
// VerifyArena catching bad plans.
#include "planner/arena.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/arena_instances.h"

namespace slimtrain {
namespace planner {
namespace {

using ::testing::HasSubstr;
using Requests = std::vector<ArenaRequest>;

using ::slimtrain::test_util::RandomIntervals;
using ::slimtrain::test_util::RectangleSlices;
using ::slimtrain::test_util::Sizes;
using ::slimtrain::test_util::TrainingLike;
using ::slimtrain::test_util::Uniform;

double Ratio(const ArenaPlan& plan) {
  return static_cast<double>(plan.arena_bytes) / static_cast<double>(plan.lower_bound_bytes);
}

// An independent O(n^2) check of the no-overlap invariant.
bool NoLiveBuffersOverlap(const Requests& r, const ArenaPlan& plan, int64_t alignment) {
  for (size_t a = 0; a < r.size(); ++a) {
    for (size_t b = a + 1; b < r.size(); ++b) {
      if (r[a].size == 0 || r[b].size == 0) continue;
      const bool same_time = r[a].first <= r[b].last && r[b].first <= r[a].last;
      const bool same_bytes = plan.offsets[a] < plan.offsets[b] + AlignUp(r[b].size, alignment) &&
                              plan.offsets[b] < plan.offsets[a] + AlignUp(r[a].size, alignment);
      if (same_time && same_bytes) return false;
    }
  }
  return true;
}

// ------------------------------------------------------ hand-computed offsets

struct HandCase {
  std::string name;
  Requests requests;
  int64_t alignment;
  std::vector<int64_t> offsets;
  int64_t arena_bytes;
  int64_t lower_bound_bytes;
};

class HandComputedTest : public ::testing::TestWithParam<HandCase> {};

TEST_P(HandComputedTest, PlanHasExactOffsetsArenaAndBound) {
  const HandCase& c = GetParam();
  ArenaOptions options;
  options.alignment = c.alignment;
  absl::StatusOr<ArenaPlan> plan = PlanArena(c.requests, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->offsets, c.offsets);
  EXPECT_EQ(plan->arena_bytes, c.arena_bytes);
  EXPECT_EQ(plan->lower_bound_bytes, c.lower_bound_bytes);
  EXPECT_TRUE(VerifyArena(c.requests, *plan, c.alignment).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, HandComputedTest,
    ::testing::Values(
        // The example of arena.h: buffer 1 sits on buffer 0, buffer 2 reuses 0.
        HandCase{"HeaderExample", {{1024, 0, 2}, {512, 1, 1}, {1024, 3, 4}}, 256, {0, 1024, 0}, 1536, 1536},
        // Three buffers, two alive at step 1: the longer-lived, larger one
        // goes first (at 0), the other on top; the third reuses offset 0.
        HandCase{"TwoOverlapOneAfter", {{100, 0, 1}, {200, 1, 2}, {300, 3, 3}}, 1, {200, 0, 0}, 300, 300},
        // Sizes round up to 256: 1 -> 256, 300 -> 512; the largest goes first.
        HandCase{"SizesRoundUpToAlignment", {{1, 0, 0}, {300, 0, 0}, {256, 1, 1}}, 256, {512, 0, 0}, 768, 768},
        // Alignment 1000 (not a power of two): offsets are multiples of it.
        HandCase{"OddAlignment", {{1500, 0, 1}, {10, 1, 1}}, 1000, {0, 2000}, 3000, 3000},
        // Zero-size buffers get offset 0 and take no space, even when alive
        // with others.
        HandCase{"ZeroSizeTakesNoSpace", {{0, 0, 5}, {64, 0, 5}, {0, 2, 2}}, 256, {0, 0, 0}, 256, 256},
        HandCase{"OnlyZeroSizes", {{0, 0, 1}, {0, 1, 2}}, 256, {0, 0}, 0, 0},
        HandCase{"NoBuffers", {}, 256, {}, 0, 0},
        // Disjoint lifetimes all share offset 0.
        HandCase{"DisjointLifetimesShareOffsetZero", {{512, 0, 0}, {256, 1, 1}, {768, 2, 5}}, 256, {0, 0, 0}, 768, 768}),
    [](const ::testing::TestParamInfo<HandCase>& info) { return info.param.name; });

TEST(ArenaTest, EmptyPlanSaysSo) {
  absl::StatusOr<ArenaPlan> plan = PlanArena({{0, 0, 1}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->method, "empty");
  EXPECT_TRUE(plan->proven_optimal);
  EXPECT_EQ(plan->exact_search, "empty");
}

// Best fit, by each placer: buffer 4 (20 bytes, step 2) has two gaps at step
// 2, [0, 30) and [40, 60); it takes the exact fit at 40, not the lowest gap.
TEST(ArenaTest, GreedyTakesTheSmallestGapThatFits) {
  const Requests requests = {{10, 0, 2}, {30, 0, 0}, {10, 0, 2}, {20, 0, 0}, {20, 2, 2}};
  const std::vector<int32_t> order = {1, 0, 3, 2, 4};
  for (auto placer : {arena_internal::Placer::kScan, arena_internal::Placer::kTree}) {
    absl::StatusOr<ArenaPlan> plan = arena_internal::PlaceInOrder(requests, order, 1, placer);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->offsets, (std::vector<int64_t>{30, 0, 60, 40, 40}));
    EXPECT_EQ(plan->arena_bytes, 70);
  }
}

TEST(ArenaTest, AlignUpRoundsToMultiples) {
  EXPECT_EQ(AlignUp(0, 256), 0);
  EXPECT_EQ(AlignUp(1, 256), 256);
  EXPECT_EQ(AlignUp(256, 256), 256);
  EXPECT_EQ(AlignUp(257, 256), 512);
  EXPECT_EQ(AlignUp(7, 1), 7);
  EXPECT_EQ(AlignUp(1001, 1000), 2000);
}

TEST(ArenaTest, LowerBoundIsMostAlignedBytesAliveAtOneStep) {
  // Step 0: 256 + 512; step 1: 512 + 256 + 256 (the peak); step 3: 256.
  const Requests requests = {{1, 0, 0}, {300, 0, 1}, {200, 1, 1}, {256, 1, 3}, {0, 1, 1}};
  EXPECT_EQ(ArenaLowerBound(requests, 256), 1024);
  EXPECT_EQ(ArenaLowerBound(requests, 1), 300 + 200 + 256);  // step 1
  EXPECT_EQ(ArenaLowerBound({}, 256), 0);
}

// --------------------------------------------------------------- invariants

TEST(ArenaTest, RandomInstancesNeverOverlapAndStayAboveTheBound) {
  std::mt19937_64 rng(20240601);
  for (int instance = 0; instance < 300; ++instance) {
    const Requests requests = RandomIntervals(rng, static_cast<int>(Uniform(rng, 1, 120)),
                                              static_cast<int32_t>(Uniform(rng, 1, 40)), Sizes::kSmallWithZeros);
    const int64_t alignment = int64_t{1} << Uniform(rng, 0, 9);
    ArenaOptions options;
    options.alignment = alignment;
    absl::StatusOr<ArenaPlan> plan = PlanArena(requests, options);
    ASSERT_TRUE(plan.ok()) << plan.status();
    ASSERT_EQ(plan->offsets.size(), requests.size());
    EXPECT_TRUE(VerifyArena(requests, *plan, alignment).ok()) << "instance " << instance;
    EXPECT_TRUE(NoLiveBuffersOverlap(requests, *plan, alignment)) << "instance " << instance;
    EXPECT_EQ(plan->lower_bound_bytes, ArenaLowerBound(requests, alignment));
    EXPECT_GE(plan->arena_bytes, plan->lower_bound_bytes);
    for (int64_t offset : plan->offsets) EXPECT_EQ(offset % alignment, 0);
  }
}

// The segment-tree placer must give exactly the offsets of the scan, its
// readable reference, in any order, on inputs of every family.
TEST(ArenaTest, TreePlacerMatchesScanPlacer) {
  std::mt19937_64 rng(7);
  for (int instance = 0; instance < 60; ++instance) {
    Requests requests;
    switch (instance % 3) {
      case 0:
        requests = RandomIntervals(rng, static_cast<int>(Uniform(rng, 1, 400)), 60, Sizes::kSmallWithZeros);
        break;
      case 1:
        requests = RectangleSlices(rng, 100, 30, 200);
        break;
      default:
        requests = TrainingLike(rng, static_cast<int32_t>(Uniform(rng, 3, 80)));
        break;
    }
    std::vector<int32_t> order(requests.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
    std::shuffle(order.begin(), order.end(), rng);
    absl::StatusOr<ArenaPlan> scan =
        arena_internal::PlaceInOrder(requests, order, 256, arena_internal::Placer::kScan);
    absl::StatusOr<ArenaPlan> tree =
        arena_internal::PlaceInOrder(requests, order, 256, arena_internal::Placer::kTree);
    ASSERT_TRUE(scan.ok() && tree.ok());
    EXPECT_EQ(scan->offsets, tree->offsets) << "instance " << instance;
    EXPECT_EQ(scan->arena_bytes, tree->arena_bytes);
    EXPECT_TRUE(VerifyArena(requests, *tree, 256).ok());
  }
}

TEST(ArenaTest, SamePlanTwiceAndSameSearchForASeedAndCap) {
  std::mt19937_64 rng(3);
  const Requests requests = RectangleSlices(rng, 120, 40, 300);
  ArenaOptions options;
  options.search_seconds = 1000;  // the evaluation cap ends it
  options.max_search_evaluations = 300;
  options.seed = 42;
  absl::StatusOr<ArenaPlan> a = PlanArena(requests), b = PlanArena(requests);
  absl::StatusOr<ArenaPlan> c = PlanArena(requests, options), d = PlanArena(requests, options);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_EQ(a->offsets, b->offsets);
  EXPECT_EQ(a->method, b->method);
  EXPECT_EQ(c->offsets, d->offsets);
}

// ------------------------------------------------------------------- search

TEST(ArenaTest, SearchNeverEndsAboveTheHeuristics) {
  std::mt19937_64 rng(11);
  for (int instance = 0; instance < 24; ++instance) {
    const Requests requests = instance % 2 == 0
                                  ? RectangleSlices(rng, static_cast<int>(Uniform(rng, 10, 120)), 30, 100)
                                  : RandomIntervals(rng, static_cast<int>(Uniform(rng, 10, 150)), 30, Sizes::kSmallWithZeros);
    ArenaOptions searching;
    searching.search_seconds = 1000;
    searching.max_search_evaluations = 200;
    searching.seed = static_cast<uint64_t>(instance);
    absl::StatusOr<ArenaPlan> heuristics = PlanArena(requests);
    absl::StatusOr<ArenaPlan> searched = PlanArena(requests, searching);
    ASSERT_TRUE(heuristics.ok() && searched.ok());
    EXPECT_LE(searched->arena_bytes, heuristics->arena_bytes) << "instance " << instance;
    EXPECT_TRUE(VerifyArena(requests, *searched, 256).ok());
  }
}

// A cut of an 80-step x 200-unit rectangle into 130 pieces that the
// heuristics leave over 20% above its height (the optimum).
Requests HardRectangle() {
  std::mt19937_64 rng(433);
  return RectangleSlices(rng, 130, 80, 200);
}

ArenaOptions NoExact() {
  ArenaOptions options;
  options.exact_seconds = 0;
  return options;
}

// A rectangle of 80 steps x 200 units cut into 130 pieces: the optimum is
// the lower bound, the heuristics end 26% above it (seed 433 is one of the
// hardest of 2000 such instances for them), and two seconds of search get
// within 10% (in 0.05 s on a 2024 laptop core). The exact search (step 6)
// proves the optimum within a second.
TEST(ArenaTest, SearchBringsAHardRectangleWithinTenPercent) {
  const Requests requests = HardRectangle();
  const ArenaOptions no_exact = NoExact();
  absl::StatusOr<ArenaPlan> heuristics = PlanArena(requests, no_exact);
  ASSERT_TRUE(heuristics.ok()) << heuristics.status();
  EXPECT_EQ(heuristics->lower_bound_bytes, 200 * 256);
  EXPECT_GT(Ratio(*heuristics), 1.2) << "the instance is no longer hard for the heuristics";
  EXPECT_FALSE(heuristics->proven_optimal);
  ArenaOptions options = no_exact;
  options.search_seconds = 2.0;
  absl::StatusOr<ArenaPlan> searched = PlanArena(requests, options);
  ASSERT_TRUE(searched.ok()) << searched.status();
  EXPECT_LE(Ratio(*searched), 1.10);
  EXPECT_TRUE(VerifyArena(requests, *searched, 256).ok());
  ArenaOptions exact_options;
  exact_options.exact_seconds = 1.0;
  absl::StatusOr<ArenaPlan> exact = PlanArena(requests, exact_options);
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(exact->arena_bytes, 200 * 256);
  EXPECT_TRUE(exact->proven_optimal);
  EXPECT_EQ(exact->method, "exact");
  EXPECT_TRUE(VerifyArena(requests, *exact, 256).ok());
}

// A known placement (ArenaOptions.start_offsets) is the plan when it beats
// the heuristics, and no plan is larger than it: the exact search's optimum
// given back as the start of a run without the search comes back as it was
// (method "start"), also through the annealing of step 5; a worse start
// leaves the heuristics' plan.
TEST(ArenaTest, StartOffsetsAreTakenWhenTheyBeatTheHeuristics) {
  const Requests requests = HardRectangle();
  const ArenaOptions no_exact = NoExact();
  absl::StatusOr<ArenaPlan> heuristics = PlanArena(requests, no_exact);
  ASSERT_TRUE(heuristics.ok()) << heuristics.status();
  ASSERT_GT(heuristics->arena_bytes, 200 * 256) << "the heuristics reach the optimum: the test checks nothing";
  ArenaOptions exact_options;
  exact_options.exact_seconds = 5.0;
  absl::StatusOr<ArenaPlan> optimum = PlanArena(requests, exact_options);
  ASSERT_TRUE(optimum.ok()) << optimum.status();
  ASSERT_TRUE(optimum->proven_optimal);
  for (const double search : {0.0, 0.2}) {
    ArenaOptions options = no_exact;
    options.search_seconds = search;
    options.start_offsets = optimum->offsets;
    absl::StatusOr<ArenaPlan> started = PlanArena(requests, options);
    ASSERT_TRUE(started.ok()) << started.status();
    EXPECT_EQ(started->arena_bytes, optimum->arena_bytes) << search;
    EXPECT_EQ(started->start_bytes, optimum->arena_bytes) << search;
    EXPECT_TRUE(started->proven_optimal) << "at the lower bound";
    EXPECT_EQ(started->method.rfind("start", 0), 0u) << started->method;
    EXPECT_TRUE(NoLiveBuffersOverlap(requests, *started, 256));
  }
  // Every buffer stacked on the one before: far worse than the heuristics.
  ArenaOptions stacked = no_exact;
  int64_t top = 0;
  for (const ArenaRequest& r : requests) {
    stacked.start_offsets.push_back(top);
    top += AlignUp(r.size, 256);
  }
  absl::StatusOr<ArenaPlan> not_taken = PlanArena(requests, stacked);
  ASSERT_TRUE(not_taken.ok()) << not_taken.status();
  EXPECT_EQ(not_taken->arena_bytes, heuristics->arena_bytes);
  EXPECT_EQ(not_taken->method, heuristics->method);
  EXPECT_EQ(not_taken->start_bytes, top);
  EXPECT_EQ(heuristics->start_bytes, 0) << "no start, no start_bytes";
}

// A start that is not a valid placement is refused, saying what is wrong.
TEST(ArenaTest, StartOffsetsMustBeAValidPlacement) {
  const Requests requests = {{1024, 0, 2}, {512, 1, 1}, {1024, 3, 4}};
  struct Case {
    std::vector<int64_t> start;
    std::string message;
  };
  const Case cases[] = {
      {{0, 1024}, "start_offsets: 2 offsets for 3 buffers"},
      {{0, 1024, -256}, "start_offsets: buffer 2: offset -256 is not a non-negative multiple of 256"},
      {{0, 1000, 0}, "start_offsets: buffer 1: offset 1000 is not a non-negative multiple of 256"},
      {{0, 512, 0}, "start_offsets: buffers 0 and 1 overlap"},
  };
  for (const Case& c : cases) {
    ArenaOptions options;
    options.start_offsets = c.start;
    absl::StatusOr<ArenaPlan> plan = PlanArena(requests, options);
    ASSERT_FALSE(plan.ok()) << c.message;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(plan.status().message(), HasSubstr(c.message));
  }
  // The placement alone, before any plan: the alignment is checked first (it
  // divides sizes).
  EXPECT_TRUE(CheckPlacement(requests, {0, 1024, 0}, 256).ok());
  EXPECT_THAT(CheckPlacement(requests, {0, 1024, 0}, 0).message(), HasSubstr("alignment 0 < 1"));
  EXPECT_THAT(CheckPlacement(requests, {0, 512, 0}, 256).message(), HasSubstr("buffers 0 and 1 overlap"));
  ArenaOptions valid;
  valid.start_offsets = {0, 1024, 0};  // buffer 2 reuses buffer 0's bytes after step 2
  absl::StatusOr<ArenaPlan> plan = PlanArena(requests, valid);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->arena_bytes, 1536);
}

// ------------------------------------------------------ training structure

TEST(ArenaTest, TrainingLikeSetsEndWithinOnePercentOfTheBound) {
  std::mt19937_64 rng(5);
  for (int32_t layers : {100, 300, 1000, 3000}) {
    const Requests requests = TrainingLike(rng, layers);
    absl::StatusOr<ArenaPlan> plan = PlanArena(requests);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_LE(Ratio(*plan), 1.01) << layers << " layers, " << plan->method;
    EXPECT_TRUE(VerifyArena(requests, *plan, 256).ok());
  }
}

// ------------------------------------------------------------------- errors

struct ErrorCase {
  std::string name;
  Requests requests;
  ArenaOptions options;
  std::string message;
};

ArenaOptions WithAlignment(int64_t alignment) {
  ArenaOptions o;
  o.alignment = alignment;
  return o;
}
ArenaOptions WithSearch(double seconds, int64_t evaluations = 0) {
  ArenaOptions o;
  o.search_seconds = seconds;
  o.max_search_evaluations = evaluations;
  return o;
}

class ErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorTest, InvalidInputIsRejectedNamingTheField) {
  const ErrorCase& c = GetParam();
  absl::StatusOr<ArenaPlan> plan = PlanArena(c.requests, c.options);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr(c.message));
}

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

INSTANTIATE_TEST_SUITE_P(
    Cases, ErrorTest,
    ::testing::Values(
        ErrorCase{"LastBeforeFirst", {{1, 0, 0}, {1, 5, 3}}, {}, "buffer 1: last 3 < first 5"},
        ErrorCase{"NegativeSize", {{1, 0, 0}, {1, 0, 0}, {-1, 0, 0}}, {}, "buffer 2: size -1 < 0"},
        ErrorCase{"NegativeFirst", {{1, -2, 0}}, {}, "buffer 0: first -2 < 0"},
        ErrorCase{"ZeroAlignment", {{1, 0, 0}}, WithAlignment(0), "alignment 0 < 1"},
        ErrorCase{"NegativeAlignment", {}, WithAlignment(-8), "alignment -8 < 1"},
        ErrorCase{"NegativeSearchSeconds", {}, WithSearch(-1), "search_seconds -1 is not a finite"},
        ErrorCase{"NanSearchSeconds", {}, WithSearch(std::nan("")), "search_seconds nan"},
        ErrorCase{"InfiniteSearchSeconds", {}, WithSearch(INFINITY), "search_seconds inf"},
        ErrorCase{"NegativeEvaluations", {}, WithSearch(1, -1), "max_search_evaluations -1 < 0"},
        ErrorCase{"SizeOverflowsWhenAligned", {{kMax, 0, 0}}, {}, "buffer 0: size 9223372036854775807"},
        ErrorCase{"SumPastTheLimit", {{kMaxArenaTotalBytes / 2, 0, 0}, {kMaxArenaTotalBytes / 2, 1, 1}, {1024, 2, 2}},
                  WithAlignment(1), "buffer 2: size 1024 takes the sum of aligned sizes past 2^62 bytes"},
        // Found by arena_csv_fuzzer: the heuristics took an arena of INT64_MAX
        // for "over the limit" and left the plan without offsets.
        ErrorCase{"LargestSizeBesideAnEmptyBuffer", {{0, 0, 0}, {kMax, 0, 0}}, WithAlignment(1),
                  "buffer 1: size 9223372036854775807 takes the sum of aligned sizes past 2^62 bytes"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

// The largest input PlanArena takes: its arena is the limit itself, beside
// an empty buffer, with the exact search on and a capacity just below it.
TEST(ArenaTest, SizesAddingUpToTheLimitArePlanned) {
  const Requests requests = {{0, 0, 0}, {kMaxArenaTotalBytes / 2, 0, 1}, {kMaxArenaTotalBytes / 2, 1, 2}};
  ArenaOptions options;
  options.alignment = 1;
  options.exact_seconds = 1;
  for (const int64_t capacity : {int64_t{0}, kMaxArenaTotalBytes - 1}) {
    options.capacity = capacity;
    const absl::StatusOr<ArenaPlan> plan = PlanArena(requests, options);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_TRUE(VerifyArena(requests, *plan, 1).ok());
    EXPECT_EQ(plan->arena_bytes, kMaxArenaTotalBytes);
    EXPECT_EQ(plan->lower_bound_bytes, kMaxArenaTotalBytes);
    EXPECT_TRUE(plan->proven_optimal);
  }
}

TEST(ArenaTest, PlaceInOrderRejectsAnOrderThatIsNotAPermutation) {
  const Requests requests = {{1, 0, 0}, {1, 0, 0}};
  for (const std::vector<int32_t>& order :
       {std::vector<int32_t>{0}, std::vector<int32_t>{0, 0}, std::vector<int32_t>{0, 2}}) {
    EXPECT_FALSE(arena_internal::PlaceInOrder(requests, order, 1, arena_internal::Placer::kScan).ok());
  }
}

// --------------------------------------------------------------- VerifyArena

class VerifyArenaTest : public ::testing::Test {
 protected:
  // Buffers 0 and 2 are alive together at step 2; buffer 1 only at step 0.
  const Requests requests_ = {{256, 0, 2}, {512, 0, 0}, {256, 2, 3}};
  ArenaPlan Plan(std::vector<int64_t> offsets, int64_t arena_bytes) {
    ArenaPlan plan;
    plan.offsets = std::move(offsets);
    plan.arena_bytes = arena_bytes;
    return plan;
  }
  std::string Error(const ArenaPlan& plan) {
    return std::string(VerifyArena(requests_, plan, 256).message());
  }
};

TEST_F(VerifyArenaTest, AcceptsAValidPlan) {
  EXPECT_TRUE(VerifyArena(requests_, Plan({0, 256, 256}, 768), 256).ok());
}

TEST_F(VerifyArenaTest, CatchesTwoLiveBuffersThatOverlap) {
  EXPECT_EQ(Error(Plan({0, 256, 0}, 768)),
            "buffers 0 and 2 overlap: both alive at step 2, bytes [0, 256) and [0, 256)");
  // Partial overlap: buffer 1 spans [0, 512), buffer 0 [256, 512).
  EXPECT_THAT(Error(Plan({256, 0, 0}, 512)), HasSubstr("buffers 0 and 1 overlap"));
}

TEST_F(VerifyArenaTest, AllowsReuseAcrossSteps) {
  // Buffers 1 and 2 share bytes but never a step.
  EXPECT_TRUE(VerifyArena(requests_, Plan({512, 0, 0}, 768), 256).ok());
}

TEST_F(VerifyArenaTest, CatchesMisalignedOffsetWrongArenaAndWrongCount) {
  EXPECT_THAT(Error(Plan({0, 256, 300}, 768)),
              HasSubstr("buffer 2: offset 300 is not a non-negative multiple of 256"));
  EXPECT_THAT(Error(Plan({0, 256, -256}, 768)), HasSubstr("buffer 2: offset -256"));
  EXPECT_THAT(Error(Plan({0, 256, 256}, 1024)), HasSubstr("arena_bytes 1024 != 768"));
  EXPECT_THAT(Error(Plan({0, 256}, 768)), HasSubstr("plan has 2 offsets for 3 buffers"));
}

}  // namespace
}  // namespace planner
}  // namespace slimtrain
