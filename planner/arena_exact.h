// arena_exact.h — an exact, time-limited search for the smallest arena
// (issue 19), used by PlanArena (arena.h) when its heuristics end more than a
// set gap above the lower bound. Internal to planner/arena.cc's library; it
// works in the units PlanArena counts in (sizes rounded up to the alignment,
// steps compressed to arena_internal::Item's lo/hi points).
//
//   // items: the buffers that take space; heuristic_offsets/arena: a valid
//   // placement of them (units) that the search starts from.
//   ExactOptions options;
//   options.seconds = 1.0;
//   ExactResult r = MinimizeArenaExact(items, num_points, lower_bound,
//                                      heuristic_offsets, heuristic_arena, options);
//   // r.arena <= heuristic_arena; r.proven_optimal when no smaller arena exists.
//
// The decision problem "does everything fit in capacity C" (arena_decision.h's
// DecisionRuns) follows the ideas of MiniMalloc (Moffitt & Fegade, ASPLOS 2023), written
// from the paper's description:
//   0. Full boundaries (arena_full_boundaries.h, before any run). Where the
//      load at two neighbouring points p - 1 and p is C, nothing is free
//      at either, and the items alive at both keep their offsets, so the
//      items ending at p - 1 cover exactly the memory the items starting at
//      p cover. When one side is a single item and the other side's items
//      share one lifetime, those items sit stacked in the single item's
//      slot in every placement within C (in any order: nothing else is
//      alive there then), so they become one item with it, repeated until
//      nothing changes. The reduced instance fits iff the input does, and
//      its placements expand to the input's. It applies where the load
//      reaches C at neighbouring points, so at the lower bound: the three
//      hardest coarse cuts lose 7-15% of their pieces, 600-1,500-piece fine
//      cuts 13-40% (a cut in time on a 1024-step grid usually makes a
//      boundary with one piece on each side), MiniMalloc's B and C 39% and
//      47%, its D and J under 1%; the zoo's plans checked (ResNet-50 approx8,
//      ResNet-101 approx4, a DenseNet one) none (bench, 30 fine cuts of
//      600-1,500 pieces, three orders each: 37 -> 41 of 90 proven in 10 s;
//      docs/results.md "Thirteenth session").
//   1. Canonical solutions only. Every feasible placement can be lowered until
//      each buffer rests on the highest buffer below it that is alive with it
//      (or on 0); taking the buffers by increasing offset, ties by time, each
//      then sits on the "skyline" (per step, the top of the buffers placed so
//      far) at the max over its lifetime. So the search keeps the skyline and,
//      at each node, takes a pit: a section [a, b] at height h lower than both
//      neighbours (the lowest section is one). Either some buffer inside
//      [a, b] goes at h, or no buffer ever sits at h over [a, b], and the
//      section is raised to its lower neighbour (any later buffer there
//      crosses a neighbour). Of all pits, the one with the fewest viable moves
//      is branched on, so a pit with a single move is filled at once.
//      Placing a buffer at [lo, hi] also raises [a, lo-1] to the lower of its
//      left neighbour and the buffer's top: a buffer at h there would have
//      come first (ties by time). Identical buffers are placed in index order.
//      Try order in a pit: buffers starting at a, then those that end at b or
//      top out level with a wall, then longer, then larger.
//      Tight cells: at a point p of a pit without spare room (capacity =
//      skyline + unplaced there), the cell (p, h) must be covered by an
//      unplaced buffer at h: none can sit lower, and if the cell stayed
//      empty the buffers alive at p would not fit. That buffer lies inside
//      the pit, so the candidates are the pit's buffers alive at p (whose
//      sides leave the pit's floor coverable). In the runs that use them
//      (step 4), the tight cell with the fewest candidates is branched on
//      when it has fewer than the best pit's moves; the placed buffer then
//      raises nothing beside it (the section left of it stays a pit). This
//      is the exact-cover rule of branching on the most constrained cell,
//      and it gives up step 1's canonical order for that node, so the same
//      placement can be reached twice: the memo (step 3) cuts the repeat.
//      (Bench, 46 hard and medium instances: 35 -> 37 proven in 10 s,
//      geometric mean time 1.09 -> 0.62 s; used in every run, 33.)
//   2. Spatial inference. At every step, the skyline plus the unplaced
//      buffers alive there must fit below C (each unplaced buffer lies above
//      the skyline over its whole lifetime); a branch that breaks it at any
//      step is cut at once, so a buffer that can no longer fit anywhere below
//      C ends its branch. Where the skyline steps up from p to p+1 (or p-1),
//      the band between them at p can only be filled by buffers that end (or
//      start) at p: too few of them cuts the branch. Floors: an unplaced
//      buffer sits at least on the highest skyline over its lifetime (its
//      floor), so floor + size <= C, and at each step the lowest floor of the
//      unplaced buffers alive there plus their sizes <= C (a step where no
//      unplaced buffer can reach down to the skyline loses that room); the
//      first part already follows from the sums above (at the step where a
//      buffer's floor is, skyline + unplaced counts the buffer). Floors are
//      not checked on an instance whose load is the same at every step (a
//      rectangle cut): there they cost more than they cut (bench, 231
//      instances side by side: 215 -> 216 proven, the cuts proven in over
//      0.05 s 2.6x faster); elsewhere they pay (without them ResNet-50
//      approx8's plan stays at the heuristics' 1.0220 instead of 1.0139). A pit's
//      floor: a point without spare room (C = skyline + unplaced there) must
//      be covered at the pit's height by an unplaced buffer inside the pit,
//      and such buffers do not overlap in time, so a DP over the pit checks
//      that its points can be covered that way, and drops candidates that
//      would leave the rest uncoverable. Below a pit's lower wall only items
//      inside the pit can go (any other is alive at a wall's point), so at
//      each of its points their units must reach the wall but for the
//      point's spare room. A pit without a move fails the node.
//   3. Dominance. A node is (placed set, skyline); one whose subtree failed is
//      remembered by a 128-bit hash, and reaching it again by another order
//      is cut.
//   3b. Backjumping. Every failure comes with a span of points that explains
//      it: the subtree fails whatever lies outside the span (the skyline
//      there and the placed items alive only there). A pit without a move:
//      the pit and its walls. A move cut by a check of step 2: its points
//      and two on each side (floors: the window). A node whose moves all
//      failed: its pit and the hull of its moves' spans. The memos keep each
//      failed node's span. A move changes the points from where it raises
//      (or starts) to where it ends; when it fails for a span it did not
//      touch, its node fails for that span at once, the other moves untried:
//      they would leave that span as it is (conflict-directed backjumping).
//      Tested against the search without it, which gives the same proven
//      optima; it changes no answer, only how soon it comes (bench, the 231
//      dumped instances, 4 streams, two runs each way side by side: 221 and
//      220 proven in 10 s without, 222 and 222 with; the time to the proof
//      0.74x and 0.86x, geometric mean over those both proved in over 0.05 s).
//   4. Restarts. Each decision search runs with a node budget (200 or twice
//      the buffers, whichever is more: a run places one a node; growing by
//      1.05x per run) and restarts with a reshuffled try order (seeded, so
//      deterministic) when it runs out; runs alternate with the instance
//      mirrored in time (same offsets, a different search), each direction
//      keeping its failed-node memo across its runs, so the search stays
//      complete. Runtimes on hard inputs are heavy-tailed: restarts solved
//      several rectangle cuts that one long run did not (bench: 8/20 -> 13/20
//      proven in 10 s). Runs also alternate the branching: two (one each
//      way) branch on tight cells too, the next two on pits alone, and so
//      on; both are complete from any node, so a failed node found by one
//      holds for the other and the memos are shared. The first two runs are
//      guided by the best placement known: a pit's candidates in the order of
//      its offsets. Phase saving (as SAT solvers do): every fourth pair of
//      runs from the fifth is led by the deepest partial placement any run
//      has reached (its items first, in the order of their offsets there),
//      so it goes back down to where the search got furthest and branches
//      on from there; only the order changes, so the run stays complete
//      (bench, all 231 dumped instances, two runs each way, 4 streams, 10 s:
//      222 and 223 proven with it, 223 and 223 without; cuts above 1.01: 3
//      and 3 against 4 and 5, rectangle-3-19 at 1.0068 in every run with it
//      and 1.0101 in every run without). A decision the limits stop can be
//      resumed later, memos kept.
//   5. Decomposition in time. Where no unplaced buffer is alive at both p
//      and p+1, the unplaced buffers on either side share no step: each side
//      (a window of steps, walls outside it counted as C) is searched alone,
//      one after another, and the first that fails fails the node, without
//      trying the other sides' alternatives. A failed window is remembered
//      by (window, its skyline, its placed buffers), so the same window
//      reached from another node is cut.
// Optimisation (MinimizeArenaExact): without a tolerance, one decision a
// quantum above the lower bound comes first, with 8,000 nodes (a training
// step's arena often fits there; the rounds below come near it late). Capacities are tried only at multiples
// of the greatest common divisor of the sizes (every canonical placement puts
// items at sums of sizes). Rounds of bisection between the largest capacity
// proven infeasible + 1 (`low`, from the lower bound) and the best arena: each
// round tries `low` first, then the middle of what is left, each decision
// within the round's node budget (1,000 or four per item, doubling each
// round); a capacity the budget leaves undecided is stepped over, so the
// bisection goes on above it, and tried again next round. The decision at
// `low` is resumed round after round, each time with at least as many nodes
// as the last round spent above it (the optimum is often the bound:
// MiniMalloc's E proven in 1.9 s against 3.3 s with equal shares); the others
// start afresh. Easy capacities fall at once (MiniMalloc's benchmark J: the
// heuristics' 1.28x the lower bound fell to 1.06x in the first round, where a
// descent one quantum at a time took 10 s to get there), and the time is
// spread over the gap instead of all spent at its bottom.
// After each round, a local search for best - quantum: the best placement's
// items whose top is below the lowest hole of the columns above that (then
// 85% and 70% of it) stay put, and the others are searched again above them,
// with the round's budget, as long as it succeeds (coarse cuts, seed 3: worst
// 1.071 -> 1.054; MiniMalloc's J 1.065 -> 1.054 and D 1.031 -> 1.052, both
// now below MiniMalloc's 1 MiB). Every found placement has arena <= C and
// becomes the new best.
// A tolerance (ExactOptions.tolerance, the planner's 0.01%) ends the
// optimisation once the best arena is within that fraction of the proven
// floor (bench, planner_bench in one run: ResNet-101's approx4 and mixed
// plans end one 256-byte unit above their 994 MiB bound either way; the
// search adds 0.13 s to each instead of 0.42 s).
// The decision alone (ExactOptions.target, ArenaOptions.capacity, `slimtrain
// arena --capacity`, MiniMalloc's question): the same rounds with the target
// (rounded down to the quantum) in the floor's place: each round decides at
// the target first (resumed, memos kept, with at least the nodes the round
// before spent above it; the first time 32 rounds' worth), then bisects
// between it and the best arena and
// runs the local search; it ends at a placement within the target or a
// proof that none exists (floor = target + quantum, or more when a capacity
// above the target is proven infeasible). The rounds above the target
// matter where there is room to spare, where a decision alone is lost:
// coarse cuts at 1% over their bound, 10 s, 4 streams: 78 of 80 answered
// (75 by a lone decision at the target, as before 2026-12-05), in half the
// time; rectangle-4-17 at 2% over its bound in 4.3 s, where the lone
// decision did not answer in 10 s. At the bound itself: 72 against 70 of
// 80. MiniMalloc's 17 benchmarks at their 1 MiB all fit, each in at most
// 0.36 s (0.18 s by the decision alone), J among them, whose optimum is
// unproven.
// Parts in time. Where no item is alive at both p and p + 1, the items on
// either side never meet: the arena is the larger of the two sides'
// arenas. Step 5 searches such windows apart within a decision, but a
// decision there covers them all at one capacity, so the hardest part's
// restarts start the others over and its bisection sets everyone's. Without
// a tolerance, MinimizeArenaExact splits the input there first and
// optimises each part alone (with everything above), the smallest first,
// each with its items' share of the time and nodes left, stopping once no
// larger than the largest floor (lower bound or proven) and the parts
// before it; the largest, usually the hardest, gets most of the time in one
// search. Then the parts at the top again, sharing what is left, as long as
// they all get below it; one that stays there gets the rest. The whole's
// floor is the largest of the parts'. Deciding (a target), each part above
// it is decided alone, and one that cannot fit answers for all. Measured
// on inputs in several orders, since the search's luck depends on it (rows
// shuffled, 10 s, 4 streams; `arena_bench --min-buffers`):
//   - fine cuts of 600-1,500 buffers that split (10 of seeds 11 and 12, two
//     orders each): better in 14 of 20 runs (fine-11-1 1.045-1.091 ->
//     1.040-1.041, fine-11-4 1.144-1.165 -> 1.119-1.122, fine-11-6
//     1.020-1.028 -> 1.009 and proven in 2.8 s), worse in 3 (fine-12-6
//     1.021-1.025 -> 1.040-1.041); proven 3 of 20 against 1;
//   - the 10 acceptance cuts that split and take the search over 0.03 s,
//     two orders each: the same but rectangle-5-1, proven in one more
//     order, and rectangle-3-19: over 5 orders proven in 2 before (7.1 and
//     8.8 s) and 1 after (1.2 s), above 1.01 (1.0101) in 2 before and 1
//     after.
// With a tolerance (the planner's) the whole is searched as one, as before:
// its stop rule is the whole's, and a plan under a node cap goes the way it
// went.
// Streams (ArenaOptions.exact_threads > 1): as many optimisations run at once,
// one thread each. Stream s starts its decision runs the other way from
// stream s - 1 and draws its reshuffles from seeds of its own (step 4), so
// each hard decision is searched along several paths; runtimes are
// heavy-tailed, so the first to finish often comes much earlier than one
// path's mean. After each decision a stream publishes its proven floor and
// its best placement and takes the others' (a floor proven by one holds for
// all: each decision is complete), and a stream's nodes check a shared flag
// with the clock, so all stop once the best is proven. Stream 0 keeps to
// its own placements (it goes the way one stream alone would, but for the
// floors the others prove). Bench, the 231 dumped instances at 10 s on 2
// cores: 1 stream 216 proven, 2 streams 218, 4 streams 221 (all 140 fine
// cuts, 71/80 coarse, MiniMalloc's D). PlanMemory runs one stream
// (deterministic under its node cap); `slimtrain arena` and the bench run
// DefaultExactThreads() (arena.h).
//
// Optimality and cost. The decision search is complete: when it answers
// kNo, no placement fits in C (the hash could in principle collide, at odds
// near 2^-100 per pair of nodes). The problem is NP-complete; the search is
// exponential in the worst case and ends at the time limit with the best
// placement found (never worse than the one it was given) and
// proven_optimal = false. A node costs O(steps log steps + candidates +
// buffers in its window).
#ifndef SLIMTRAIN_PLANNER_ARENA_EXACT_H_
#define SLIMTRAIN_PLANNER_ARENA_EXACT_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "planner/arena.h"
#include "planner/arena_placers.h"

namespace slimtrain::planner::arena_internal {

struct ExactStats {
  int64_t nodes = 0;      // search nodes visited, all decision calls together
  int decisions = 0;      // decision problems solved or abandoned
};

struct ExactResult {
  std::vector<int64_t> offsets;  // units, per item
  int64_t arena = 0;             // units, max of offset + size
  int64_t floor = 0;             // units: no placement has a smaller arena (<= arena)
  bool proven_optimal = false;   // floor == arena: no placement has a smaller arena
  bool improved = false;         // arena < the given arena
  ExactStats stats;
};

using ExactProgress = std::function<void(int64_t arena, int64_t floor, double seconds)>;

struct ExactOptions {
  double seconds = 1.0;   // time limit
  int64_t max_nodes = 0;  // search nodes over all decision calls; 0: no cap
  Branching branching = Branching::kAlternate;
  int streams = 1;        // parallel searches ("Streams" above)
  // Called on the calling thread about once a second while the search runs,
  // with the best arena so far, the proven floor (units: no smaller arena
  // exists) and the seconds since the start. May be empty.
  ExactProgress progress;
  // The decision problem alone (units; 0: minimise): the search decides
  // whether everything fits in `target` and stops at the answer, a
  // placement within it (not the smallest) or a proof that none exists
  // (floor > target).
  int64_t target = 0;
  // Minimising stops once the best arena is within this fraction of the
  // proven floor (as a MIP solver's relative gap): 0.0001 stops 1 GiB
  // arenas within 100 KiB of optimal. 0: only at a proof. >= 0.
  double tolerance = 0;
  bool backjump = true;  // step 3b (off only to test the search with it against the search without)
};

// The smallest arena the search finds within options.seconds and
// options.max_nodes, starting from a valid placement (`offsets`, `arena`,
// units) and the lower bound (units, the most alive at a point); with
// options.target, the answer to "does it fit in target" instead. Never
// returns more than `arena`. The streams run in parallel, each with the node
// cap; one stream is deterministic when the node cap, not the clock, ends it.
// Every stream runs on a thread of its own whose stack is sized for the
// recursion (a few frames per item), whatever the caller's stack.
ExactResult MinimizeArenaExact(const std::vector<Item>& items, int32_t num_points, int64_t lower_bound,
                               const std::vector<int64_t>& offsets, int64_t arena, const ExactOptions& options);

}  // namespace slimtrain::planner::arena_internal

#endif  // SLIMTRAIN_PLANNER_ARENA_EXACT_H_
