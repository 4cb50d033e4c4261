// arena_exact.cc — the optimisation of the exact arena search
// (MinimizeArenaExact) over arena_decision.h's decision runs; the algorithm
// is in arena_exact.h, whose step numbers the comments below use.
#include "planner/arena_exact.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>
#include <utility>
#include <vector>

#include "planner/arena_decision.h"

namespace slimtrain::planner::arena_internal {
namespace {

// Node budget of each decision in the optimisation's first round (at least
// four per item), doubled each round.
constexpr int64_t kFirstRoundNodes = 1000;

// Deciding a capacity (ExactOptions.target), its first decision gets this
// many first-round budgets before the rounds go above it: where the
// capacity has no room to spare, a decision alone answers soonest (bench:
// MiniMalloc's 17 benchmarks at 1 MiB, 4 streams, 2.2 s -> 1.1 s in all;
// coarse cuts at 1% over their bound: 78 of 80 answered either way).
constexpr int64_t kFirstTargetBudgets = 32;

// Minimising without a tolerance, a decision one quantum above the floor
// gets this many nodes before the rounds (a fixed number, so on large
// inputs it stays a small part of any node cap): a training step's
// arena often fits there, and the rounds' capacities come near it late
// (ResNet-50 approx8's blocks, one stream, 1 s: 1.0075 -> 1.0000; the 231
// dumped instances: the same proofs, time to them 0.83x, geometric mean).
// The planner's search has a tolerance and its own decision at its edge
// (arena.h step 6): there a placement a quantum above a provable floor
// would end the search short of the proof.
constexpr int64_t kNearFloorNodes = 8000;

// How much of the space below the lowest hole the local search keeps.
constexpr double kLocalShares[] = {1.0, 0.85, 0.7};

// Stack bytes a search thread gets per item: the decision search recurses
// a few frames per buffer placed (measured: 3.5-4 MiB for 4,990 buffers in
// an optimised build, ~750 B a buffer; unoptimised frames are a few times
// that). AddressSanitizer's frames are larger still (28 MiB overflowed for
// 4,990 buffers), so its builds get 8x.
#if defined(__SANITIZE_ADDRESS__)  // GCC
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)  // Clang
constexpr bool kAddressSanitizer = __has_feature(address_sanitizer);
#else
constexpr bool kAddressSanitizer = false;
#endif
constexpr size_t kStackPerItem = kAddressSanitizer ? 32 << 10 : 4 << 10;

// The stack of a search thread for `items` (only the pages used are touched).
size_t SearchStackBytes(size_t items) { return (size_t{8} << 20) + items * kStackPerItem; }

// A thread with a stack of a given size, joined on destruction. The search
// does not run on std::thread or the caller's thread: their stacks are the
// system's default (RLIMIT_STACK, and 2 MiB under `ulimit -s unlimited`),
// which a search over a few thousand buffers overflows.
class SearchThread {
 public:
  SearchThread(size_t stack_bytes, std::function<void()> body) : body_(std::move(body)) {
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return;
    started_ = pthread_attr_setstacksize(&attr, stack_bytes) == 0 &&
               pthread_create(&thread_, &attr, &SearchThread::Run, this) == 0;
    pthread_attr_destroy(&attr);
  }
  ~SearchThread() {
    if (started_) pthread_join(thread_, nullptr);
  }
  SearchThread(const SearchThread&) = delete;
  SearchThread& operator=(const SearchThread&) = delete;
  // False when the system had no thread to give (the body never runs).
  bool started() const { return started_; }

 private:
  static void* Run(void* self) {
    static_cast<SearchThread*>(self)->body_();
    return nullptr;
  }
  std::function<void()> body_;
  pthread_t thread_{};
  bool started_ = false;
};

int64_t ArenaOf(const std::vector<Item>& items, const std::vector<int64_t>& offsets) {
  int64_t arena = 0;
  for (size_t k = 0; k < items.size(); ++k) arena = std::max(arena, offsets[k] + items[k].size);
  return arena;
}

// What the streams share (arena_exact.h, "Streams").
struct Shared {
  std::mutex mu;
  int64_t low = 0;               // every capacity below it is proven infeasible
  int64_t arena = 0;             // the best arena found
  std::vector<int64_t> offsets;  // its placement
  int64_t target = 0;            // ExactOptions.target, rounded down to the quantum (0: none)
  double tolerance = 0;          // ExactOptions.tolerance
  int64_t enough = 0;            // minimising stops at an arena this small (0: none)
  // low >= arena: the best is proven optimal; with a target, also arena <=
  // target (it fits) or low > target (it does not).
  std::atomic<bool> done{false};
};

// Whether the streams can stop, `low` being the proven floor: the best is
// optimal, within the tolerance of the floor, or answers the target's question.
bool Answered(const Shared& shared, int64_t low) {
  if (shared.target > 0) return shared.arena <= shared.target || low > shared.target;
  return low >= shared.arena || shared.arena <= shared.enough ||
         static_cast<double>(shared.arena - low) <= shared.tolerance * static_cast<double>(low);
}

// One stream of the optimisation; `result` gets its nodes and decisions.
void RunStream(const std::vector<Item>& items, int32_t num_points, int64_t quantum, Clock::time_point deadline,
               const ExactOptions& options, int stream, Shared& shared, ExactResult& result) {
  const int64_t max_nodes = options.max_nodes;
  const Branching branching = options.branching;
  const bool backjump = options.backjump;
  int64_t low = 0;
  // Gives the other streams what this one found and takes theirs: a higher
  // proven floor, and (but for stream 0) a better placement. Stream 0 keeps
  // to its own placements, so it goes the way one stream alone goes (bench:
  // rectangle-1-8, proven in 0.7 s by one stream, was not in 10 s by four
  // when stream 0 too took the others' placements).
  auto sync = [&] {
    std::lock_guard<std::mutex> lock(shared.mu);
    if (result.arena < shared.arena) {
      shared.arena = result.arena;
      shared.offsets = result.offsets;
    } else if (shared.arena < result.arena && stream != 0) {
      result.arena = shared.arena;
      result.offsets = shared.offsets;
    }
    shared.low = std::max(shared.low, low);
    low = shared.low;
    if (Answered(shared, low)) shared.done = true;
  };
  sync();
  std::vector<int64_t> trial;
  // Nodes left to the calls after this one (0 with no cap: never reached).
  auto nodes_left = [&] { return max_nodes > 0 ? std::max<int64_t>(max_nodes - result.stats.nodes, 1) : 0; };
  // Runs `runs` on for at most `nodes` more (capped by what is left), counts
  // its nodes, and takes a placement it finds as the new best.
  auto run = [&](DecisionRuns& runs, int64_t nodes) {
    const int64_t before = runs.nodes();
    const Fit fit =
        runs.Continue(deadline, max_nodes > 0 ? std::min(nodes, nodes_left()) : nodes, trial, &shared.done);
    result.stats.nodes += runs.nodes() - before;
    ++result.stats.decisions;
    if (fit == Fit::kYes) {
      result.offsets = trial;
      result.arena = ArenaOf(items, trial);
    }
    return fit;
  };
  // The decision at the anchor (`low`, or the target's when deciding)
  // comes back every round: it resumes where it stopped, memos kept.
  // Others start afresh, guided by the best placement.
  std::unique_ptr<DecisionRuns> at_anchor;
  auto decide = [&](int64_t capacity, int64_t nodes) {
    std::unique_ptr<DecisionRuns> fresh;
    const bool anchored = capacity == (shared.target > 0 ? shared.target : low);
    if (anchored && (at_anchor == nullptr || at_anchor->capacity() != capacity)) {
      at_anchor = std::make_unique<DecisionRuns>(items, num_points, capacity, branching, &result.offsets, nullptr,
                                              stream, backjump);
    } else if (!anchored) {
      fresh = std::make_unique<DecisionRuns>(items, num_points, capacity, branching, &result.offsets, nullptr,
                                             stream, backjump);
    }
    const Fit fit = run(anchored ? *at_anchor : *fresh, nodes);
    if (fit == Fit::kNo) low = capacity + quantum;
    sync();
    return fit;
  };
  // Rounds of bisection between the proven floor `low` and the best arena
  // (arena_exact.h, "Optimisation"): `low` first, then the middle of what
  // is left, each decision within `budget` nodes; a capacity left undecided
  // is stepped over and tried again next round with twice the budget.
  int64_t budget = std::max<int64_t>(kFirstRoundNodes, 4 * static_cast<int64_t>(items.size()));
  auto out_of_limits = [&] {
    return shared.done || Clock::now() > deadline || (max_nodes > 0 && result.stats.nodes >= max_nodes);
  };
  // One try of the local search for best arena - quantum: the items whose
  // top is at most `keep` stay where the best placement has them; the others
  // are searched again above them. (They fit there at their old offsets: an
  // item that stays is never above one that moves.) `keep` comes from the
  // points whose column is above the target: below the lowest hole of any
  // of them, scaled by `share`, so every such hole is free to close.
  std::vector<char> fixed(items.size()), over(num_points, 0), holed(num_points, 0);
  std::vector<int64_t> filled(num_points, 0);  // at a point above the target: its column is full up to here
  std::vector<int32_t> over_points, by_offset(items.size());
  auto local_search = [&](double share, int64_t nodes) {
    const int64_t target = result.arena - quantum;
    // The points above the target: those of the items that end above it.
    for (int32_t t : over_points) over[t] = 0;
    over_points.clear();
    for (size_t k = 0; k < items.size(); ++k) {
      if (result.offsets[k] + items[k].size <= target) continue;
      for (int32_t t = items[k].lo; t <= items[k].hi; ++t) {
        if (over[t]) continue;
        over[t] = 1;
        holed[t] = 0;
        filled[t] = 0;
        over_points.push_back(t);
      }
    }
    // Their lowest holes: items by offset, each extending the full part of
    // the columns it crosses until one starts above it.
    for (size_t k = 0; k < items.size(); ++k) by_offset[k] = static_cast<int32_t>(k);
    std::sort(by_offset.begin(), by_offset.end(),
              [&](int32_t x, int32_t y) { return result.offsets[x] < result.offsets[y]; });
    for (int32_t k : by_offset) {
      const int64_t offset = result.offsets[k], top = offset + items[k].size;
      auto extend = [&](int32_t t) {
        if (!over[t] || holed[t]) return;
        if (offset > filled[t]) {
          holed[t] = 1;
        } else {
          filled[t] = std::max(filled[t], top);
        }
      };
      if (static_cast<size_t>(items[k].hi - items[k].lo + 1) <= over_points.size()) {
        for (int32_t t = items[k].lo; t <= items[k].hi; ++t) extend(t);
      } else {
        for (int32_t t : over_points) {
          if (t >= items[k].lo && t <= items[k].hi) extend(t);
        }
      }
    }
    int64_t lowest_hole = target;
    for (int32_t t : over_points) lowest_hole = std::min(lowest_hole, filled[t]);
    const int64_t keep = static_cast<int64_t>(share * static_cast<double>(lowest_hole));
    for (size_t k = 0; k < items.size(); ++k) fixed[k] = result.offsets[k] + items[k].size <= keep;
    DecisionRuns runs(items, num_points, target, branching, &result.offsets, &fixed, stream, backjump);
    const bool found = run(runs, nodes) == Fit::kYes;  // "does not fit" holds for this neighbourhood only
    sync();
    return found;
  };
  // Nodes the last round spent above `low`: the floor's least share.
  // Deciding, the target's first turn is kFirstTargetBudgets budgets long.
  int64_t above_floor = shared.target > 0 ? kFirstTargetBudgets * budget : 0;
  // Minimising without a tolerance, one decision a quantum above the floor
  // comes first (kNearFloorNodes).
  if (shared.target == 0 && shared.tolerance == 0 && low + quantum < result.arena && !out_of_limits()) {
    decide(low + quantum, kNearFloorNodes);
  }
  while (low < result.arena && !out_of_limits()) {
    // Deciding, the rounds start at the target: nothing below it is asked.
    int64_t lo = std::max(low, shared.target);
    bool undecided = false;
    const int64_t round_start = result.stats.nodes;
    int64_t at_floor = 0;
    for (bool first = true; lo < result.arena && !out_of_limits(); first = false) {
      const int64_t capacity = first ? lo : lo + (result.arena - quantum - lo) / (2 * quantum) * quantum;
      const Fit fit = decide(capacity, first ? std::max(budget, above_floor) : budget);
      if (first) at_floor = result.stats.nodes - round_start;
      if (fit == Fit::kNo) lo = low;
      if (fit == Fit::kUnknown) {
        lo = capacity + quantum;
        undecided = true;
      }
      lo = std::max(lo, low);  // another stream may have proven more
    }
    if (!undecided) break;
    // Local search: keep the best placement's lower items where they are
    // and search the top ones again for one quantum less, with the round's
    // budget per try; fractions of the items freed in turn.
    for (const double share : kLocalShares) {
      while (low < result.arena && !out_of_limits() && local_search(share, budget)) {
      }
    }
    above_floor = result.stats.nodes - round_start - at_floor;
    budget *= 2;
  }
  sync();
}

// MinimizeArenaExact on one part in time (or the whole input): minimising
// also stops once the arena is at most `enough` (units; 0: never), which
// another part's arena makes good enough.
ExactResult MinimizePart(const std::vector<Item>& items, int32_t num_points, int64_t lower_bound,
                         const std::vector<int64_t>& offsets, int64_t arena, const ExactOptions& options,
                         int64_t enough) {
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  const ExactProgress& progress = options.progress;
  // Every canonical placement (arena_exact.h, step 1) puts each item at a sum
  // of sizes, so arenas come in steps of the sizes' greatest common divisor:
  // capacities are tried only at its multiples (MiniMalloc's benchmarks
  // count bytes in multiples of 1 KiB; a descent byte by byte got nowhere).
  int64_t quantum = 0;
  for (size_t k = 0; k < items.size(); ++k) quantum = std::gcd(std::gcd(quantum, items[k].size), offsets[k]);
  quantum = std::max<int64_t>(quantum, 1);
  Shared shared;
  shared.low = (lower_bound + quantum - 1) / quantum * quantum;
  shared.arena = arena;
  shared.offsets = offsets;
  // A placement within the target fits within the largest multiple of the
  // quantum below it (step 1's canonical form).
  shared.target = options.target > 0 ? std::max<int64_t>(options.target / quantum * quantum, 1) : 0;
  shared.tolerance = options.tolerance;
  shared.enough = enough;
  const int streams = Answered(shared, shared.low) ? 0 : std::max(options.streams, 1);
  std::vector<ExactResult> results(streams);
  for (ExactResult& r : results) {
    r.offsets = offsets;
    r.arena = arena;
  }
  {
    // Each stream on a thread of its own (SearchThread: the stack); one that
    // does not start leaves its result at the given placement.
    std::atomic<int> running{streams};
    std::vector<std::unique_ptr<SearchThread>> threads;
    for (int s = 0; s < streams; ++s) {
      threads.push_back(std::make_unique<SearchThread>(SearchStackBytes(items.size()), [&, s] {
        RunStream(items, num_points, quantum, deadline, options, s, shared, results[s]);
        --running;
      }));
      if (!threads.back()->started()) --running;
    }
    // Reports about once a second, looking every 20 ms whether all ended.
    for (Clock::time_point next = start + std::chrono::seconds(1); progress && running > 0;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (Clock::now() < next || running == 0) continue;
      next += std::chrono::seconds(1);
      int64_t best = 0, floor = 0;
      {
        std::lock_guard<std::mutex> lock(shared.mu);
        best = shared.arena;
        floor = shared.low;
      }
      progress(best, std::min(floor, best), std::chrono::duration<double>(Clock::now() - start).count());
    }
  }  // joins the threads
  ExactResult result;
  result.offsets = std::move(shared.offsets);
  result.arena = shared.arena;
  result.floor = std::min(shared.low, shared.arena);
  result.proven_optimal = shared.low >= shared.arena;
  result.improved = shared.arena < arena;
  for (const ExactResult& r : results) {
    result.stats.nodes += r.stats.nodes;
    result.stats.decisions += r.stats.decisions;
  }
  return result;
}

// One part of the input in time ("Parts in time", arena_exact.h): which
// items it has, its own copy of them on its own points, and where its
// search stands.
struct Part {
  std::vector<int32_t> members;  // indices into the input, in input order
  int32_t first_point = 0;  // its items' lo/hi are shifted down by this
  int32_t num_points = 0;
  std::vector<Item> items;
  std::vector<int64_t> offsets;
  int64_t arena = 0;
  int64_t floor = 0;  // no placement of the part is below it
};

// Splits the items where no item is alive at both p and p + 1, in order of time.
std::vector<Part> SplitInTime(const std::vector<Item>& items, const std::vector<int64_t>& offsets) {
  std::vector<int32_t> by_lo(items.size());
  for (size_t k = 0; k < items.size(); ++k) by_lo[k] = static_cast<int32_t>(k);
  std::sort(by_lo.begin(), by_lo.end(), [&](int32_t x, int32_t y) { return items[x].lo < items[y].lo; });
  std::vector<Part> parts;
  int32_t reach = -1;  // the last point of the part being gathered
  for (const int32_t k : by_lo) {
    if (parts.empty() || items[k].lo > reach) {
      parts.emplace_back();
      parts.back().first_point = items[k].lo;
    }
    parts.back().members.push_back(k);
    reach = std::max(reach, items[k].hi);
  }
  for (Part& part : parts) {
    // In input order, as the whole has them (the search's try orders break
    // ties by index).
    std::sort(part.members.begin(), part.members.end());
    int32_t last = part.first_point;
    for (const int32_t k : part.members) last = std::max(last, items[k].hi);
    part.num_points = last - part.first_point + 1;
    for (const int32_t k : part.members) {
      Item it = items[k];
      it.lo -= part.first_point;
      it.hi -= part.first_point;
      part.items.push_back(it);
      part.offsets.push_back(offsets[k]);
      part.arena = std::max(part.arena, offsets[k] + it.size);
    }
    for (const int64_t live : LoadAtPoints(part.items, part.num_points)) part.floor = std::max(part.floor, live);
  }
  return parts;
}

}  // namespace

ExactResult MinimizeArenaExact(const std::vector<Item>& items, int32_t num_points, int64_t lower_bound,
                               const std::vector<int64_t>& offsets, int64_t arena, const ExactOptions& options) {
  // With a tolerance the whole is searched: its stop rule is the whole's.
  std::vector<Part> parts;
  if (options.tolerance == 0) parts = SplitInTime(items, offsets);
  if (parts.size() <= 1) return MinimizePart(items, num_points, lower_bound, offsets, arena, options, 0);
  // Parts in time (arena_exact.h): each searched alone, the smallest
  // first, so the largest gets most of the time in one search; a part need
  // not go below the floor or what the parts before it already take.
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  ExactResult result;
  auto whole_arena = [&] {
    int64_t a = 0;
    for (const Part& part : parts) a = std::max(a, part.arena);
    return a;
  };
  auto whole_floor = [&] {
    int64_t f = lower_bound;
    for (const Part& part : parts) f = std::max(f, part.floor);
    return f;
  };
  auto out_of_limits = [&] {
    return Clock::now() >= deadline || (options.max_nodes > 0 && result.stats.nodes >= options.max_nodes);
  };
  // Searches part `i` with `share` of the time and nodes left; minimising,
  // it stops at an arena of `enough`.
  auto search = [&](size_t i, double share, int64_t enough) {
    Part& part = parts[i];
    ExactOptions part_options = options;
    part_options.seconds = share * std::chrono::duration<double>(deadline - Clock::now()).count();
    if (options.max_nodes > 0) {
      const double nodes_left = static_cast<double>(options.max_nodes - result.stats.nodes);
      part_options.max_nodes = std::max<int64_t>(static_cast<int64_t>(share * nodes_left), 1);
    }
    if (options.progress) {
      part_options.progress = [&, i](int64_t part_arena, int64_t part_floor, double) {
        int64_t a = part_arena, f = std::max(part_floor, lower_bound);
        for (size_t j = 0; j < parts.size(); ++j) {
          if (j == i) continue;
          a = std::max(a, parts[j].arena);
          f = std::max(f, parts[j].floor);
        }
        options.progress(a, std::min(f, a), std::chrono::duration<double>(Clock::now() - start).count());
      };
    }
    ExactResult r = MinimizePart(part.items, part.num_points, part.floor, part.offsets, part.arena, part_options,
                                 enough);
    result.stats.nodes += r.stats.nodes;
    result.stats.decisions += r.stats.decisions;
    part.offsets = std::move(r.offsets);
    part.arena = r.arena;
    part.floor = std::max(part.floor, r.floor);
  };
  std::vector<size_t> order(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return parts[x].items.size() < parts[y].items.size(); });
  size_t items_left = items.size();
  if (options.target > 0) {
    // Deciding: every part must fit; one that cannot answers for all.
    for (const size_t i : order) {
      const double share = static_cast<double>(parts[i].items.size()) / static_cast<double>(items_left);
      items_left -= parts[i].items.size();
      if (whole_floor() > options.target || out_of_limits()) break;
      if (parts[i].arena > options.target) search(i, share, 0);
    }
  } else {
    // One pass, each part with its items' share of what is left. Then the
    // parts at the top again, sharing what is left, as long as they all get
    // below it; one that stays there gets the rest.
    int64_t needed = 0;  // what the parts searched so far take
    for (const size_t i : order) {
      const double share = static_cast<double>(parts[i].items.size()) / static_cast<double>(items_left);
      items_left -= parts[i].items.size();
      if (out_of_limits()) break;
      const int64_t enough = std::max(needed, whole_floor());
      if (parts[i].arena > enough && parts[i].floor < parts[i].arena) search(i, share, enough);
      needed = std::max(needed, parts[i].arena);
    }
    while (!out_of_limits() && whole_floor() < whole_arena()) {
      const int64_t top = whole_arena();
      int64_t below = whole_floor();  // the parts under the top take this anyway
      std::vector<size_t> at_top;
      for (size_t i = 0; i < parts.size(); ++i) {
        if (parts[i].arena == top) {
          at_top.push_back(i);
        } else {
          below = std::max(below, parts[i].arena);
        }
      }
      // A part at the top that does not get below it in its share keeps
      // the whole there: it gets all that is left.
      for (size_t n = 0; n < at_top.size() && !out_of_limits(); ++n) {
        const size_t i = at_top[n];
        search(i, 1.0 / static_cast<double>(at_top.size() - n), below);
        if (parts[i].arena == top && !out_of_limits() && parts[i].floor < top) search(i, 1.0, below);
        if (parts[i].arena == top) break;
      }
      if (whole_arena() == top) break;
    }
  }
  result.offsets = offsets;
  for (const Part& part : parts) {
    for (size_t m = 0; m < part.members.size(); ++m) result.offsets[part.members[m]] = part.offsets[m];
  }
  result.arena = whole_arena();
  result.floor = std::min(whole_floor(), result.arena);
  result.proven_optimal = whole_floor() >= result.arena;
  result.improved = result.arena < arena;
  return result;
}

}  // namespace slimtrain::planner::arena_internal
