// arena.h — offsets for every transient buffer of a training step in one arena.
//
// A plan's transient buffers are given as (size, first step, last step), both
// steps inclusive. PlanArena gives each buffer an offset so that no two buffers
// alive at a common step overlap in memory, every offset is a multiple of
// `alignment`, and the arena — the largest offset + aligned size — is small.
// It knows nothing of graphs: the engine then makes ONE allocation of
// arena_bytes and points each tensor at base + offset.
//
//   // {size in bytes, first step, last step}
//   std::vector<ArenaRequest> requests = {
//       {1024, 0, 2},  // buffer 0, alive at steps 0..2
//       {512, 1, 1},   // buffer 1, alive with buffer 0
//       {1024, 3, 4},  // buffer 2, alive after buffer 0
//   };
//   SLIM_ASSIGN_OR_RETURN(ArenaPlan plan, PlanArena(requests));
//   // plan.offsets == {0, 1024, 0}, plan.arena_bytes == 1536 == lower bound.
//   char* base = AllocateOnce(plan.arena_bytes);
//   char* buffer1 = base + plan.offsets[1];
//
// Algorithm (planner/arena.cc):
//   1. Validate the requests. Round every size up to `alignment` and count in
//      units of it. Zero-size buffers get offset 0 and take no space.
//   2. Lower bound: the largest sum of aligned sizes alive at one step. No
//      placement can beat it.
//   3. Greedy best fit in a given order (TFLite Micro's GreedyMemoryPlanner;
//      Pisarchyk & Lee 2020, "greedy by size for offset calculation"): each
//      buffer in turn goes into the smallest gap, lowest offset on ties, left
//      between the already placed buffers that overlap it in time, or on top
//      of them when no gap fits. Up to 1500 buffers a scan over all placed
//      buffers does it; above, a segment tree over the steps whose nodes keep
//      merged memory intervals, so a buffer sees the memory occupied during
//      its lifetime in O(log steps) short lists. Both give the same offsets.
//   4. Run these strategies, keep the smallest arena, and stop at the first
//      within 1/10,000 of the lower bound:
//        "length-desc"   step 3, longest lifetime first: nested long-lived
//                        buffers (forward saves for backward, freed in
//                        reverse) stack up like a stack, transients go above;
//        "two-sided(long k/8, ORDER)"  the longest-lived k/8 of the buffers
//                        (k = 2, 1) are placed on their own (length-desc) and
//                        hung from the arena's top, the others on their own in
//                        ORDER from the bottom; the arena is the max over steps
//                        of the two sides' heights, so a step pays only for
//                        what is alive at it. With pressure-desc, the bottom
//                        side counts the top side's height as live bytes and
//                        puts buffers under the lowest ceiling first;
//        "size-desc"     step 3, largest first (the classic order);
//        "pressure-desc" step 3, buffers alive at the busiest steps first (the
//                        most live bytes over the lifetime), then by size;
//        "area-desc"     step 3, size x lifetime first;
//        "first-asc"     step 3 by first step, longer first on ties (what an
//                        online best-fit allocator would do).
//      A known placement (ArenaOptions.start_offsets, a warm start) is
//      taken instead when its arena is smaller ("start").
//   4b. Place the buffers again in the order of their offsets in the best
//      plan ("+compact" when that helps), then, when n <= ~1400 and the plan is
//      not yet within 1/10,000, a short deterministic annealing run (step 5
//      capped at 2e7/n^2 placements: ~15 ms; "polish" when it helps).
//   5. Only when options.search_seconds > 0 and the lower bound is not yet
//      reached: simulated annealing over the placement order, each order
//      placed by step 3 ("search" when it helps). A move takes a buffer that
//      reaches the top of the arena (one time in 32, any buffer) to a random
//      earlier position; a larger arena is accepted with probability
//      exp(-increase / temperature), the temperature cooling from 10% to 1% of
//      the lower bound over the budget; placement restarts at the first moved
//      position and stops once the candidate cannot be accepted. The best plan
//      seen is kept: the search never returns a larger arena than step 4.
//   6. Only when options.exact_seconds > 0 (off by default here; PlanMemory
//      gives it 1 s), at most kMaxExactBuffers (5000) buffers take space,
//      and the arena is still more than options.exact_min_gap (0.5%) above
//      the lower bound: the exact search of planner/arena_exact.h (MiniMalloc's
//      canonical skyline search with spatial inference and dominance), by
//      rounds of bisection between the lower bound and the best plan so far
//      ("exact" when it helps). It sets proven_optimal when it proves that no smaller arena
//      exists, and never returns a larger arena than step 5. It stops early
//      once its arena is within options.exact_tolerance of what it proved no
//      arena can be below (PlanMemory: 0.01%); with a tolerance, when it
//      ends outside it, one decision at the tolerance's edge above its floor
//      follows, from its best placement, with a quarter more of the limits
//      (ResNet-50 approx8 at batch 64: 1.0139 -> within 0.01% of the bound).
//      With a tolerance and a node cap, the minimisation gets 4 nodes a
//      buffer before that decision and the rest of the cap after it, only
//      if still outside the tolerance (ResNet-50 approx8: within it after
//      about 6,000 nodes instead of 23,000; planner_bench, the zoo's seven
//      plans step 6 runs on: at most 0.044 s added to one, was 0.157 s).
//      With options.capacity it answers "does it fit in capacity" instead
//      of minimising.
//
// Optimality and cost. Minimizing the arena is dynamic storage allocation,
// which is NP-hard; steps 3-4 are heuristics without a guarantee. Two facts
// frame them: no arena is below the lower bound of step 2, and for every valid
// placement, step 3 in the order of its offsets puts each buffer no higher
// than it was (each buffer placed before it and alive with it lies entirely
// below its old offset) — so an optimal arena is one order away; that is what
// step 4b uses and step 5 searches for. Measured (bench/arena_bench.cc, 50
// instances per family, arena / lower bound): on training-like sets (LIFO
// saves + transients, 20-400 layers) steps 1-4b end at most 1.004 (a few sets
// of 40-60 layers reach ~1.02; a few tenths of a second of step 5 close it);
// on a time x memory rectangle cut into 100-400 pieces (optimum = lower bound)
// the classic size-desc greedy ends at median 1.13 and up to 1.49, steps 1-4b
// at median 1.05 and up to 1.22, and 1 s of step 5 at median 1.02 and up to
// 1.09 (larger cuts are harder: at ~1000 pieces, 5 s of step 5 end at median
// 1.11 and up to 1.22).
// Cost, for n buffers over T distinct steps: step 3 is O(n^2) by scan or
// O(n log T) list operations by tree (each on a list of merged intervals,
// short when placements are compact): ~10 ms for 15,000 training-like
// buffers on one core, and PlanArena 20-40 ms in all there; when no strategy
// gets within 1/10,000, step 4 runs all nine (~0.2 s for such a set).
//
// Determinism. Steps 1-4b are deterministic; step 6 is when its node cap
// (exact_max_nodes), not exact_seconds, ends it. The search is deterministic for a
// given seed and max_search_evaluations when that cap, not the clock, ends it;
// a search ended by search_seconds depends on machine speed.
#ifndef SLIMTRAIN_PLANNER_ARENA_H_
#define SLIMTRAIN_PLANNER_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace slimtrain {
namespace planner {

// One transient buffer.
struct ArenaRequest {
  int64_t size = 0;   // bytes, >= 0 (0-byte buffers get offset 0 and take no space)
  int32_t first = 0;  // first step alive, inclusive, >= 0
  int32_t last = 0;   // last step alive, inclusive, >= first
};

struct ArenaOptions {
  // Offsets and sizes are rounded up to this many bytes; >= 1.
  int64_t alignment = 256;
  // Extra time for the improvement search (step 5) on inputs the heuristics
  // leave above the lower bound; 0: heuristics only (steps 1-4b, whose short
  // polish is capped by work, not time). Finite, >= 0.
  double search_seconds = 0.0;
  // Also stop the search after this many placements of all buffers (0: no
  // cap). A search that this cap ends is deterministic for a seed.
  int64_t max_search_evaluations = 0;
  // Seed of the search's random moves.
  uint64_t seed = 1;
  // Time for the exact search (step 6, planner/arena_exact.h) on inputs the
  // steps before leave more than exact_min_gap above the lower bound; 0: off.
  // Finite, >= 0. Off by default here; PlanMemory (planner.h) sets it from
  // PlanOptions.arena_exact_seconds (1 s by default) with a node cap
  // derived from it; `slimtrain arena --search-seconds` and
  // bench/arena_bench set it.
  double exact_seconds = 0.0;
  // Also stop step 6 after this many search nodes (0: no cap; with
  // exact_tolerance, a quarter more for its decision at the tolerance's
  // edge, when the minimisation's first part ends outside it). A node costs
  // about 5-25 us on one core (more with more buffers), so the default is
  // about 1-5 s of search; a search the cap ends, not the clock, is
  // deterministic (the same input gives the same offsets).
  int64_t exact_max_nodes = 200000;
  // Step 6 runs only when arena > lower bound * (1 + exact_min_gap): plans
  // the heuristics already pack tightly stay as fast as without it. >= 0.
  double exact_min_gap = 0.005;
  // Step 6 stops once its arena is within this fraction of what it proved no
  // arena can be below (as a MIP solver's relative gap), so its arena is
  // then within that fraction of optimal; 0: only at a proof. PlanMemory
  // uses 0.0001 (a 1 GiB arena within 100 KiB). Ignored with a capacity.
  // >= 0.
  double exact_tolerance = 0;
  // Step 6's searches run in parallel, one thread each, sharing what they
  // find (arena_exact.h, "Streams"); 1: one search on the calling thread,
  // deterministic under the node cap. In [1, kMaxExactThreads].
  int exact_threads = 1;
  // The decision problem (MiniMalloc's --capacity): when > 0, step 6 answers
  // whether the buffers fit in this many bytes instead of minimising the
  // arena. It runs whenever the steps before end above the capacity (the
  // gap does not matter), and stops at a placement within it (not the
  // smallest) or a proof that none exists: then arena_bytes <= capacity
  // (fits) or floor_bytes > capacity (does not fit); neither when its
  // limits come first. 0: minimise. >= 0.
  int64_t capacity = 0;
  // A known placement to start from (a warm start, as a MIP solver's): bytes
  // from the arena's start, one per request (a plan's own offsets, or a
  // solution read back from `slimtrain arena --output`). It must be valid
  // (VerifyArena's rules). It is taken when it beats the heuristics of
  // step 4 ("start" in ArenaPlan.method), so the plan is never larger than
  // it, and steps 4b-6 go on from it. Empty: none.
  std::vector<int64_t> start_offsets;
  // Called about once a second while PlanArena runs long (on the calling
  // thread: between step 4's strategies, on inputs of tens of thousands of
  // buffers, and while step 6 runs), with the best arena so far and the
  // proven floor (bytes: no smaller arena exists) and the seconds since
  // PlanArena started. Empty: no reports.
  std::function<void(int64_t arena_bytes, int64_t floor_bytes, double seconds)> progress;
};

inline constexpr int kMaxExactThreads = 64;

// The most the aligned sizes of one input may add up to, bytes (4 EiB):
// every arena and capacity the planner computes stays below it, so sums of
// two of them fit in int64 and no arena is mistaken for "no limit"
// (INT64_MAX). An input of one 2^63-1-byte buffer and a 0-byte one once read
// past a vector there (arena_csv_fuzzer).
inline constexpr int64_t kMaxArenaTotalBytes = int64_t{1} << 62;

// Step 6 runs on inputs with at most this many buffers that take space
// (size > 0; its recursion is a few frames per buffer deep, on threads whose
// stacks are sized for it); larger ones keep the plan of steps 1-5.
inline constexpr size_t kMaxExactBuffers = 5000;

// The exact search's parallel streams where the time alone limits it
// (`slimtrain arena`, bench/arena_bench): the cores, at least 4 and at most
// 8. More streams than cores still pay: each is another path through a
// heavy-tailed search (bench, docs/results.md: on 2 cores, 4 streams proved
// more cuts in 10 s than 2).
int DefaultExactThreads();

struct ArenaPlan {
  std::vector<int64_t> offsets;   // bytes from the arena's start, one per request, same order
  int64_t arena_bytes = 0;        // max over buffers of offset + aligned size
  int64_t lower_bound_bytes = 0;  // max over steps of the sum of aligned sizes alive then
  // What produced the offsets: a strategy of step 4 ("length-desc",
  // "two-sided(long 2/8, pressure-desc)", ...; "start" for
  // ArenaOptions.start_offsets; "+compact" appended when step 4b's
  // re-placement helped), "polish" or "search" when the annealing of step
  // 4b or 5 improved on it, "exact" when step 6 did, "empty" when no buffer
  // takes space.
  std::string method;
  // No placement has a smaller arena: arena_bytes == lower_bound_bytes, or
  // the exact search of step 6 proved it ("exact" in method when it also
  // lowered the arena).
  bool proven_optimal = false;
  // No placement has a smaller arena than this: lower_bound_bytes, or more
  // where step 6 proved capacities above it infeasible; arena_bytes when
  // proven_optimal.
  int64_t floor_bytes = 0;
  // The arena of ArenaOptions.start_offsets (the max of offset + aligned
  // size); 0 without them.
  int64_t start_bytes = 0;
  // What step 6 did, in words, so that a plan that is not proven optimal
  // says why: "off" (exact_seconds 0), "not needed: at the lower bound",
  // "not run: within 0.5% of the lower bound" (exact_min_gap), "not run:
  // 6012 buffers take space, more than 5000" (kMaxExactBuffers), "proved it
  // optimal", "stopped within 0.01% of optimal" (exact_tolerance), "stopped
  // at its limit without a proof" (the node cap or the time); "empty" when
  // no buffer takes space. With a capacity: "not
  // needed: within the capacity", "not needed: the lower bound is above the
  // capacity", "found a placement within the capacity", "proved that
  // nothing fits in the capacity", "stopped at its limit without an
  // answer". Deterministic where the plan is: no times in it.
  std::string exact_search;
  // Search nodes step 6 spent, over all its streams (0 when it did not
  // run): what its node cap (exact_max_nodes) counts.
  int64_t exact_nodes = 0;
};

// Whether a plan answers "do its buffers fit in `capacity` bytes": kYes when
// arena_bytes <= capacity, kNo when floor_bytes > capacity (no placement
// fits), else kUnknown (the exact search's limits came first).
enum class Fits { kYes, kNo, kUnknown };
Fits FitsIn(const ArenaPlan& plan, int64_t capacity);
const char* FitsName(Fits fits);  // "yes", "no", "unknown"

// Plans offsets for `requests` (nothing is retained).
// Errors: INVALID_ARGUMENT naming the request index, the field and its value
// ("buffer 7: last 3 < first 5", "buffer 2: size -1 < 0", "buffer 4: first -2
// < 0"), or the option ("alignment 0 < 1", "search_seconds -1 is not a finite
// number >= 0", "max_search_evaluations -1 < 0", "exact_seconds -1 is not a
// finite number >= 0", "exact_max_nodes -1 < 0", "exact_min_gap -1 < 0", "exact_threads 0 is not in
// [1, 64]", "capacity -1 < 0", "exact_tolerance -1 < 0", "start_offsets: 3
// offsets for 4 buffers", "start_offsets: buffers 3 and 7 overlap: ..." as
// VerifyArena says it); also when the aligned sizes
// add up past kMaxArenaTotalBytes ("buffer 2: size 1024 takes the sum of
// aligned sizes past 2^62 bytes").
absl::StatusOr<ArenaPlan> PlanArena(absl::Span<const ArenaRequest> requests,
                                    const ArenaOptions& options = {});

// Max over steps of the sum of AlignUp(size, alignment) of the requests alive at
// that step. Requests must be valid (as PlanArena checks) and alignment >= 1.
int64_t ArenaLowerBound(absl::Span<const ArenaRequest> requests, int64_t alignment);

// OK when `plan` has one offset per request, every offset is >= 0 and a
// multiple of `alignment`, no two buffers alive at a common step overlap in
// memory, and plan.arena_bytes equals the max of offset + aligned size (0 for no
// buffers). Otherwise INVALID_ARGUMENT naming the buffer(s), e.g. "buffers 3
// and 7 overlap: both alive at step 5, bytes [256, 768) and [512, 768)".
// Requests are validated as by PlanArena. O(n log n).
absl::Status VerifyArena(absl::Span<const ArenaRequest> requests, const ArenaPlan& plan,
                         int64_t alignment);

// OK when `offsets` (bytes, one per request) are a valid placement of
// `requests` by VerifyArena's rules, whatever arena they make; else
// INVALID_ARGUMENT as VerifyArena names the problem ("buffers 3 and 7
// overlap: ..."), or "3 offsets for 4 buffers"; requests and alignment are
// checked first, as PlanArena checks them ("alignment 0 < 1").
// ArenaOptions.start_offsets is checked so.
absl::Status CheckPlacement(absl::Span<const ArenaRequest> requests, absl::Span<const int64_t> offsets,
                            int64_t alignment);

// `bytes` rounded up to a multiple of `alignment`. bytes >= 0, alignment >= 1,
// and the result must fit in int64.
int64_t AlignUp(int64_t bytes, int64_t alignment);

namespace arena_internal {

// Step 1: the requests and alignment PlanArena, VerifyArena and
// CheckPlacement take, with the errors PlanArena documents.
absl::Status ValidateRequests(absl::Span<const ArenaRequest> requests, int64_t alignment);

// The two implementations of step 3: a segment tree over the steps (used above
// 1500 buffers) and a scan over all placed buffers (used up to 1500, and the
// readable reference the tree is tested against).
enum class Placer { kTree, kScan };

// Step 3 alone: places the requests greedily, best fit, in `order` (a
// permutation of 0..n-1; zero-size requests in it are skipped). Exposed for
// tests and experiments. method is "order". Errors: as PlanArena, and when
// `order` is not a permutation.
absl::StatusOr<ArenaPlan> PlaceInOrder(absl::Span<const ArenaRequest> requests,
                                       absl::Span<const int32_t> order, int64_t alignment,
                                       Placer placer);

// Which runs of step 6's search branch on tight cells (arena_exact.h, step
// 1): alternate pairs (PlanArena's, the fastest measured), none or all. Each
// of the last two is complete on its own, so tests check each alone.
enum class Branching { kAlternate, kPitsOnly, kTightCells };

// Step 6 alone from the worst start, every buffer stacked on the one before,
// for `seconds` with the given branching: the search, not the heuristics,
// has to find the optimum and prove it (tests). method is "exact". Errors:
// as PlanArena. `backjump` false: without the search's backjumping
// (arena_exact.h, step 3b), the reference it is tested against.
absl::StatusOr<ArenaPlan> ExactFromStacked(absl::Span<const ArenaRequest> requests, int64_t alignment,
                                           double seconds, Branching branching, bool backjump = true);

// Step 0 of the exact search's decisions (arena_exact.h) alone: the
// buffers that take space as a decision at `capacity_bytes` searches them,
// with what full boundaries force merged (tests: the merged buffers fit iff
// the requests do, and any placement of them is one of the requests').
struct MergedRequests {
  std::vector<ArenaRequest> merged;  // bytes (units x alignment) and steps
  std::vector<int32_t> owner;        // per request: its merged buffer (-1: size 0)
  std::vector<int64_t> shift_bytes;  // per request: bytes above its merged buffer's offset
};
absl::StatusOr<MergedRequests> MergeAtFullBoundaries(absl::Span<const ArenaRequest> requests, int64_t alignment,
                                                     int64_t capacity_bytes);

}  // namespace arena_internal
}  // namespace planner
}  // namespace slimtrain

#endif  // SLIMTRAIN_PLANNER_ARENA_H_
