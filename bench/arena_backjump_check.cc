// arena_backjump_check — the exact search with backjumping (planner/
// arena_exact.h, step 3b) against the search without it, on random instances
// whose steps are all full at the lower bound (test_util::FullSteps), where
// the search must often prove "does not fit". A wrong backjump makes such a
// proof false, so the two would end at different arenas. The unit test runs
// 100 small instances; this runs thousands, for minutes, after a change to
// the search's failure reasons.
//
//   bazel run -c opt //bench:arena_backjump_check -- --instances=2000 --max-steps=20 --max-buffers=24
//
// Prints progress every 10% and a summary; exits 1 on any disagreement
// (each printed with its seed and index, to rerun alone).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "base/flags.h"
#include "planner/arena.h"
#include "tests/testing/arena_instances.h"

int main(int argc, char** argv) {
  using namespace slimtrain::planner;
  int instances = 2000, max_steps = 20, max_buffers = 24;
  int64_t seed = 1;
  double seconds = 10;
  slimtrain::base::FlagSet flags(
      "arena_backjump_check",
      "The exact search with backjumping against the search without it, on instances that need\n"
      "\"does not fit\" proofs: the same proven optima (bench/arena_backjump_check.cc).",
      "bazel run -c opt //bench:arena_backjump_check -- --instances=2000 --max-steps=20 --max-buffers=24");
  flags.Int("instances", &instances, "instances to compare");
  flags.Int("seed", &seed, "seed of the instance generator");
  flags.Int("max-steps", &max_steps, "steps per instance: 6 to this");
  flags.Int("max-buffers", &max_buffers, "buffers per instance before the fillers: 8 to this");
  flags.Double("seconds", &seconds, "time limit of each search; an instance either leaves unproven is skipped");
  if (auto s = flags.Parse(std::vector<std::string>(argv + 1, argv + argc)); !s.ok()) {
    std::fprintf(stderr, "arena_backjump_check: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  if (instances < 1 || max_steps < 6 || max_buffers < 8 || !(seconds > 0)) {
    std::fprintf(stderr,
                 "arena_backjump_check: need --instances >= 1 (got %d), --max-steps >= 6 (got %d), "
                 "--max-buffers >= 8 (got %d), --seconds > 0 (got %g)\n",
                 instances, max_steps, max_buffers, seconds);
    return 2;
  }
  using Clock = std::chrono::steady_clock;
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  const arena_internal::Branching branchings[] = {arena_internal::Branching::kAlternate,
                                                  arena_internal::Branching::kPitsOnly,
                                                  arena_internal::Branching::kTightCells};
  int compared = 0, above_bound = 0, skipped = 0, disagreements = 0;
  double with_seconds = 0, without_seconds = 0;
  for (int i = 0; i < instances; ++i) {
    const std::vector<ArenaRequest> r = slimtrain::test_util::FullSteps(rng, max_steps, max_buffers);
    const arena_internal::Branching branching = branchings[i % 3];
    const Clock::time_point start = Clock::now();
    absl::StatusOr<ArenaPlan> with = arena_internal::ExactFromStacked(r, 1, seconds, branching);
    const Clock::time_point middle = Clock::now();
    absl::StatusOr<ArenaPlan> without = arena_internal::ExactFromStacked(r, 1, seconds, branching, false);
    with_seconds += std::chrono::duration<double>(middle - start).count();
    without_seconds += std::chrono::duration<double>(Clock::now() - middle).count();
    if (!with.ok() || !without.ok()) {
      std::fprintf(stderr, "arena_backjump_check: instance %d: %s\n", i,
                   std::string((with.ok() ? without : with).status().message()).c_str());
      return 1;
    }
    if (!with->proven_optimal || !without->proven_optimal) {
      ++skipped;
    } else {
      ++compared;
      above_bound += without->arena_bytes > without->lower_bound_bytes;
      if (with->arena_bytes != without->arena_bytes) {
        ++disagreements;
        std::printf("DISAGREE seed %lld instance %d (branching %d): %lld with backjumping, %lld without\n",
                    static_cast<long long>(seed), i, static_cast<int>(branching),
                    static_cast<long long>(with->arena_bytes), static_cast<long long>(without->arena_bytes));
      }
    }
    if ((i + 1) % std::max(1, instances / 10) == 0 || i + 1 == instances) {
      std::printf("%d/%d: %d compared (%d above the bound), %d skipped (unproven), %d disagreements\n", i + 1,
                  instances, compared, above_bound, skipped, disagreements);
      std::fflush(stdout);
    }
  }
  std::printf("search time: %.1f s with backjumping, %.1f s without\n", with_seconds, without_seconds);
  return disagreements == 0 ? 0 : 1;
}
