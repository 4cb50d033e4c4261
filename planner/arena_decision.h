// arena_decision.h — the decision problem of the exact arena search
// (arena_exact.h, steps 1-5): does everything fit in capacity C? Internal to
// planner/arena.cc's library; MinimizeArenaExact (arena_exact.cc) runs it.
//
//   DecisionRuns runs(items, num_points, capacity, Branching::kAlternate, &best_offsets);
//   std::vector<int64_t> offsets;
//   switch (runs.Continue(deadline, /*max_nodes=*/5000, offsets)) {
//     case Fit::kYes: ...      // offsets: a placement within capacity
//     case Fit::kNo: ...       // proven: none exists
//     case Fit::kUnknown: ...  // a limit came first; Continue again later
//   }
#ifndef SLIMTRAIN_PLANNER_ARENA_DECISION_H_
#define SLIMTRAIN_PLANNER_ARENA_DECISION_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "planner/arena.h"
#include "planner/arena_full_boundaries.h"
#include "planner/arena_placers.h"

namespace slimtrain::planner::arena_internal {

using Clock = std::chrono::steady_clock;

enum class Fit {
  kYes,      // a placement within the capacity was found
  kNo,       // proven: none exists
  kUnknown,  // the deadline came first
};

class Decision;  // one search direction (arena_decision.cc)

// The runs of one decision problem (step 4), alternating between the
// instance and its mirror in time (the search fills from the left, so the two
// explore differently; offsets are the same for both), each with its own
// memo. Resumable: Continue picks up with the run a limit stopped, memos kept,
// so the optimisation can come back to a hard capacity with more nodes.
class DecisionRuns {
 public:
  // `hint` (may be null): offsets per item of a known placement, which the
  // first runs go towards. `fixed` (may be null): items kept at their `hint`
  // offsets for good, the others searched above them (a neighbourhood of
  // the hint; "does not fit" then holds for it only). `stream`: which of
  // MinimizeArenaExact's parallel searches this is; an odd one starts the
  // other way in time, and each but 0 draws reshuffles of its own.
  // `backjump`: step 3b on (off only to test it against the search without).
  // Without `fixed`, the runs search ReduceAtFullBoundaries' instance.
  DecisionRuns(const std::vector<Item>& items, int32_t num_points, int64_t capacity, Branching branching,
               const std::vector<int64_t>* hint, const std::vector<char>* fixed = nullptr, int stream = 0,
               bool backjump = true);
  ~DecisionRuns();
  DecisionRuns(const DecisionRuns&) = delete;
  DecisionRuns& operator=(const DecisionRuns&) = delete;

  // Runs on until an answer, `deadline`, `max_nodes` more nodes (0: no cap)
  // or `*stop` (may be null; checked with the clock, every 1,024 nodes).
  Fit Continue(Clock::time_point deadline, int64_t max_nodes, std::vector<int64_t>& offsets,
               const std::atomic<bool>* stop = nullptr);
  int64_t nodes() const { return nodes_; }
  int64_t capacity() const { return capacity_; }

 private:
  const Branching branching_;
  const FullBoundaryReduction reduction_;  // the items the runs search (all, unmerged, with `fixed`)
  const std::vector<Item> mirrored_;
  int64_t nodes_ = 0;  // both directions' search nodes
  std::unique_ptr<Decision> forward_, backward_;
  const int64_t capacity_;
  const int stream_;
  std::vector<int64_t> reduced_offsets_;  // a run's placement of reduction_.items
  uint64_t seed_ = 0;  // of the next run
  double budget_;      // nodes of the next run
};

}  // namespace slimtrain::planner::arena_internal

#endif  // SLIMTRAIN_PLANNER_ARENA_DECISION_H_
