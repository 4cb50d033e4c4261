// arena_decision.cc — the decision search of the exact arena search; the
// algorithm is in arena_exact.h, whose step numbers the comments below use.
#include "planner/arena_decision.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "planner/arena_memo.h"

namespace slimtrain::planner::arena_internal {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The vectors of one Search call, kept per depth of the recursion so that
// a node allocates nothing (Decision::scratch_at_).
struct Scratch {
  std::vector<std::pair<int32_t, int32_t>> windows;
  std::vector<int32_t> candidates;
};

// A section of the skyline: points [a, b] at height h between walls left, right.
struct Pit {
  int32_t a = 0, b = 0;
  int64_t h = 0, left = 0, right = 0;
};

// Search nodes of the first run before a restart, and the growth of that
// budget from run to run (step 4; tried on rectangle cuts: small and slow
// growing did best; growth 1.05 against 1.2, three seeds of 20 cuts each:
// 51/60 proven in 10 s against 47/60; 1.02 and 1.03 no better).
constexpr double kFirstRestartNodes = 200;
constexpr double kRestartGrowth = 1.05;

// Every this-many-th pair of runs (the fifth, the ninth, ...) follows the deepest
// partial placement found so far (step 4, phase saving; bench, all 231
// dumped instances, two runs each way: cuts above 1.01 4 and 5 -> 3 and 3;
// proven 223, 223 -> 222, 223).
constexpr uint64_t kPhaseSavingPairs = 4;

// Failed nodes kept at most; the memo is cleared when it grows past this.
constexpr size_t kMaxMemo = size_t{1} << 20;

// Reshuffle seeds of stream s start at s times this (DecisionRuns).
constexpr uint64_t kStreamSeeds = 1000003;

}  // namespace

// One decision problem: does everything fit in `capacity`?
class Decision {
 public:
  // `nodes` counts the search nodes of every Decision sharing it; `hint`
  // (may be null): offsets per item of a known placement to go towards first.
  Decision(const std::vector<Item>& items, int32_t num_points, int64_t capacity, int64_t* nodes,
           const std::vector<int64_t>* hint, bool backjump)
      : items_(items), n_(items.size()), t_(num_points), capacity_(capacity), height_(num_points, 0),
        remaining_(LoadAtPoints(items, num_points)), placed_(items.size(), 0), offsets_(items.size(), 0),
        starting_(num_points), twin_before_(items.size(), -1), rank_(items.size()), start_sum_(num_points, 0),
        end_sum_(num_points, 0),
        finish_(num_points + 1, 0), begin_(num_points + 1, 0), cover_(num_points + 1, 0), inner_(num_points + 1, 0),
        crossing_(num_points, 0), nodes_(nodes), backjump_(backjump && num_points <= kMaxSpanPoints) {
    for (const Item& it : items_) {
      for (int32_t t = it.lo; t < it.hi; ++t) ++crossing_[t];
      start_sum_[it.lo] += it.size;
      end_sum_[it.hi] += it.size;
    }
    // Step 2's floors cost more than they cut where every point's load is
    // the same (a rectangle cut: no spare room anywhere at its bound).
    floors_ = std::adjacent_find(remaining_.begin(), remaining_.end(), std::not_equal_to<>()) != remaining_.end();
    // Try order among candidates: longer lifetime, then larger, then index.
    std::vector<int32_t> by_pref(n_);
    for (size_t k = 0; k < n_; ++k) by_pref[k] = static_cast<int32_t>(k);
    auto length = [&](int32_t k) { return items_[k].hi - items_[k].lo; };
    std::sort(by_pref.begin(), by_pref.end(), [&](int32_t x, int32_t y) {
      return std::make_tuple(-length(x), -items_[x].size, x) < std::make_tuple(-length(y), -items_[y].size, y);
    });
    for (size_t r = 0; r < n_; ++r) rank_[by_pref[r]] = static_cast<int32_t>(r);
    for (int32_t k : by_pref) starting_[items_[k].lo].push_back(k);
    open_starting_.resize(t_);
    open_ending_.resize(t_);
    at_starting_.resize(n_);
    at_ending_.resize(n_);
    for (int32_t k : by_pref) Open(k);
    if (hint != nullptr) {
      // Guided: until the first reshuffle, a pit's candidates are tried in
      // the order of a known placement's offsets, so the first run goes
      // down towards it (bench: rectangle cuts 32 -> 33 of 40 proven).
      std::vector<int32_t> by_hint(n_);
      for (size_t k = 0; k < n_; ++k) by_hint[k] = static_cast<int32_t>(k);
      std::sort(by_hint.begin(), by_hint.end(), [&](int32_t x, int32_t y) {
        return std::make_tuple((*hint)[x], items_[x].lo, rank_[x]) <
               std::make_tuple((*hint)[y], items_[y].lo, rank_[y]);
      });
      for (size_t r = 0; r < n_; ++r) rank_[by_hint[r]] = static_cast<int32_t>(r);
      guided_ = true;
    }
    // Identical buffers (same size and points) go in index order (step 1).
    std::vector<int32_t> by_shape(n_);
    for (size_t k = 0; k < n_; ++k) by_shape[k] = static_cast<int32_t>(k);
    auto shape = [&](int32_t k) { return std::make_tuple(items_[k].lo, items_[k].hi, items_[k].size, k); };
    std::sort(by_shape.begin(), by_shape.end(), [&](int32_t x, int32_t y) { return shape(x) < shape(y); });
    for (size_t r = 1; r < n_; ++r) {
      const Item &x = items_[by_shape[r - 1]], &y = items_[by_shape[r]];
      if (x.lo == y.lo && x.hi == y.hi && x.size == y.size) twin_before_[by_shape[r]] = by_shape[r - 1];
    }
    for (int32_t t = 0; t < t_; ++t) {
      sky_a_ ^= PointHash(t, 0, 1);
      sky_b_ ^= PointHash(t, 0, 2);
    }
  }

  // Places the items with fixed[k] at offsets[k] for good, before any run,
  // and raises the skyline over each to its top (holes below are lost):
  // the search then places the others above (a neighbourhood of a known
  // placement, MinimizeArenaExact's local search). Not complete: "does not
  // fit" then holds for this skyline only.
  void Fix(const std::vector<int64_t>& offsets, const std::vector<char>& fixed) {
    for (size_t k = 0; k < n_; ++k) {
      if (!fixed[k]) continue;
      SetPlaced(static_cast<int32_t>(k), true);
      offsets_[k] = offsets[k];
      const int64_t top = offsets[k] + items_[k].size;
      for (int32_t t = items_[k].lo; t <= items_[k].hi; ++t) {
        if (height_[t] < top) SetHeight(t, top);
      }
    }
  }

  // The limits of the runs from now on: the time, the value of the shared
  // node count at which to stop (0: none), and a flag (may be null).
  void SetLimits(Clock::time_point deadline, int64_t max_nodes, const std::atomic<bool>* stop) {
    deadline_ = deadline;
    max_nodes_ = max_nodes;
    stop_ = stop;
  }

  // One run of the search with at most `budget` more nodes (step 4), the
  // try order reshuffled by `seed` first (0: kept), then, when `phase`, led
  // by the deepest partial placement so far; branching on tight cells too
  // when `cells` (step 1). kUnknown when a limit ended it: restarting()
  // tells the budget from the deadline or max_nodes.
  Fit RunFor(double budget, uint64_t seed, bool cells, bool phase, std::vector<int64_t>& offsets) {
    cells_ = cells;
    for (int32_t t = 0; t < t_; ++t) {
      if (height_[t] + remaining_[t] > capacity_) return Fit::kNo;
    }
    if (seed != 0) {
      Reshuffle(seed);
      guided_ = false;
    }
    if (phase && !deepest_.empty()) {
      // Phase saving (as a SAT solver's): the deepest partial placement's
      // items first, by their offsets there, then the others in the
      // reshuffled order, so the run goes back down to where the search got
      // furthest and tries other ways on from there. Only the order changes:
      // the run is as complete as any other.
      std::vector<std::tuple<int, int64_t, int32_t, int32_t>> keyed(n_);
      for (size_t k = 0; k < n_; ++k) keyed[k] = std::make_tuple(1, int64_t{0}, 0, rank_[k]);
      for (const auto& [k, offset] : deepest_) keyed[k] = std::make_tuple(0, offset, items_[k].lo, rank_[k]);
      std::vector<int32_t> order(n_);
      for (size_t k = 0; k < n_; ++k) order[k] = static_cast<int32_t>(k);
      std::sort(order.begin(), order.end(), [&](int32_t x, int32_t y) { return keyed[x] < keyed[y]; });
      for (size_t r = 0; r < n_; ++r) rank_[order[r]] = static_cast<int32_t>(r);
      guided_ = true;
    }
    restart_at_ = *nodes_ + static_cast<int64_t>(budget);
    aborted_ = restarting_ = false;
    if (Search(0, t_ - 1)) {
      offsets = offsets_;
      return Fit::kYes;
    }
    return aborted_ ? Fit::kUnknown : Fit::kNo;
  }
  bool restarting() const { return restarting_; }

 private:
  static uint64_t PointHash(int32_t t, int64_t height, uint64_t seed) {
    return Mix(Mix(seed * 0x1000193ULL + static_cast<uint64_t>(t)) ^ static_cast<uint64_t>(height));
  }
  static uint64_t ItemHash(int32_t k, uint64_t seed) { return Mix(Mix(seed + 0x51ed27ULL) + static_cast<uint64_t>(k)); }

  // A new try order: by lifetime and size, each scaled by a random factor in
  // [0.5, 1.5) drawn from `seed` (deterministic).
  void Reshuffle(uint64_t seed) {
    std::vector<std::pair<double, int32_t>> keyed(n_);
    for (size_t k = 0; k < n_; ++k) {
      const double noise = 0.5 + static_cast<double>(Mix(seed * 0x9e3779b9ULL + k) >> 11) * 0x1.0p-53;
      const double weight = static_cast<double>(items_[k].hi - items_[k].lo + 1) * 1e6 +
                            static_cast<double>(items_[k].size);
      keyed[k] = {-weight * noise, static_cast<int32_t>(k)};
    }
    std::sort(keyed.begin(), keyed.end());
    for (size_t r = 0; r < n_; ++r) rank_[keyed[r].second] = static_cast<int32_t>(r);
  }

  // Raises (or sets) point t's skyline, logging the old height for Undo.
  void SetHeight(int32_t t, int64_t height) {
    log_.push_back({t, height_[t]});
    sky_a_ ^= PointHash(t, height_[t], 1) ^ PointHash(t, height, 1);
    sky_b_ ^= PointHash(t, height_[t], 2) ^ PointHash(t, height, 2);
    height_[t] = height;
  }
  void UndoTo(size_t mark) {
    while (log_.size() > mark) {
      const auto [t, old] = log_.back();
      log_.pop_back();
      sky_a_ ^= PointHash(t, height_[t], 1) ^ PointHash(t, old, 1);
      sky_b_ ^= PointHash(t, height_[t], 2) ^ PointHash(t, old, 2);
      height_[t] = old;
    }
  }
  void SetPlaced(int32_t k, bool placed) {
    placed_[k] = placed;
    if (placed) {
      Close(k);
    } else {
      Open(k);
    }
    placed_a_ ^= ItemHash(k, 1);
    placed_b_ ^= ItemHash(k, 2);
    const int64_t delta = placed ? -items_[k].size : items_[k].size;
    const int32_t count = placed ? -1 : 1;
    for (int32_t t = items_[k].lo; t <= items_[k].hi; ++t) remaining_[t] += delta;
    for (int32_t t = items_[k].lo; t < items_[k].hi; ++t) crossing_[t] += count;
    start_sum_[items_[k].lo] += delta;
    end_sum_[items_[k].hi] += delta;
    if (placed) {
      placed_stack_.push_back(k);
    } else {
      placed_stack_.pop_back();
      deepest_valid_ = std::min(deepest_valid_, placed_stack_.size());
    }
  }

  // Adds unplaced item k to open_starting_ and open_ending_ (at the end).
  void Open(int32_t k) {
    at_starting_[k] = static_cast<int32_t>(open_starting_[items_[k].lo].size());
    open_starting_[items_[k].lo].push_back(k);
    at_ending_[k] = static_cast<int32_t>(open_ending_[items_[k].hi].size());
    open_ending_[items_[k].hi].push_back(k);
  }
  // Takes placed item k out of them (the last one of each list moves to its slot).
  void Close(int32_t k) {
    auto take = [](std::vector<int32_t>& list, std::vector<int32_t>& at, int32_t k) {
      const int32_t last = list.back();
      list[at[k]] = last;
      at[last] = at[k];
      list.pop_back();
    };
    take(open_starting_[items_[k].lo], at_starting_, k);
    take(open_ending_[items_[k].hi], at_ending_, k);
  }

  // Takes back every placement made since placed_stack_ had `items` entries
  // and the log `mark` entries.
  void UnplaceTo(size_t items, size_t mark) {
    while (placed_stack_.size() > items) SetPlaced(placed_stack_.back(), false);
    UndoTo(mark);
  }

  // The key of the subproblem in window [wa, wb] alone (step 5): the window,
  // its skyline and which of the items starting in it are placed.
  Key WindowKey(int32_t wa, int32_t wb) const {
    Key key{Mix(static_cast<uint64_t>(wa) << 32 | static_cast<uint32_t>(wb)), Mix(~static_cast<uint64_t>(wa) ^ wb)};
    for (int32_t p = wa; p <= wb; ++p) {
      key.a ^= PointHash(p, height_[p], 3);
      key.b ^= PointHash(p, height_[p], 4);
      for (int32_t k : starting_[p]) {
        if (placed_[k]) {
          key.a ^= ItemHash(k, 3);
          key.b ^= ItemHash(k, 4);
        }
      }
    }
    return key;
  }

  // Step 5: where no unplaced item is alive at both p and p+1 inside
  // [wa, wb], the items on either side share no point, and each side's
  // window is solved alone. Fills `windows` with the parts that still hold
  // unplaced items.
  void SplitWindow(int32_t wa, int32_t wb, std::vector<std::pair<int32_t, int32_t>>& windows) const {
    windows.clear();
    int32_t start = wa;
    size_t unplaced = 0;
    for (int32_t p = wa; p <= wb; ++p) {
      unplaced += open_starting_[p].size();
      if (p == wb || crossing_[p] == 0) {
        if (unplaced > 0) windows.push_back({start, p});
        start = p + 1;
        unplaced = 0;
      }
    }
  }

  // Step 2 at the skyline's steps around points [from, to]: where point p is
  // lower than p-1, the band between them at p can only hold buffers that
  // start at p (any other is alive at p-1 too, so above its top); where p is
  // lower than p+1, only buffers that end at p. Unplaced such buffers must
  // fill the band but for p's spare room (capacity - skyline - unplaced).
  bool StepsFillable(int32_t from, int32_t to) const {
    for (int32_t p = std::max(from, 0); p <= std::min(to, t_ - 1); ++p) {
      const int64_t spare = Spare(p);
      if (p > 0 && height_[p - 1] > height_[p] &&
          start_sum_[p] < std::min(height_[p - 1], capacity_) - height_[p] - spare) {
        return false;
      }
      if (p + 1 < t_ && height_[p + 1] > height_[p] &&
          end_sum_[p] < std::min(height_[p + 1], capacity_) - height_[p] - spare) {
        return false;
      }
    }
    return true;
  }

  // Step 2 with floors: every unplaced item sits at least on the highest
  // skyline over its lifetime (its floor), so it must fit below the capacity
  // from there, and at every point p the lowest floor of the unplaced items
  // alive at p plus their units must too. O(T log T + items) by a sparse
  // table of skyline maxima and one of floor minima pushed down to points.
  bool FloorsFit(int32_t wa, int32_t wb) {
    const int32_t width = wb - wa + 1;
    int levels = 1;
    while ((1 << levels) <= width) ++levels;
    if (high_.size() < static_cast<size_t>(levels)) {
      high_.resize(levels, std::vector<int64_t>(t_));
      low_.resize(levels, std::vector<int64_t>(t_));
    }
    for (int32_t p = wa; p <= wb; ++p) {
      high_[0][p] = height_[p];
      low_[0][p] = capacity_;
    }
    for (int j = 1; j < levels; ++j) {
      for (int32_t p = wa; p + (1 << j) - 1 <= wb; ++p) {
        high_[j][p] = std::max(high_[j - 1][p], high_[j - 1][p + (1 << (j - 1))]);
        low_[j][p] = capacity_;
      }
    }
    for (int32_t p = wa; p <= wb; ++p) {
      for (int32_t k : open_starting_[p]) {
        const Item& it = items_[k];
        int j = 0;
        while ((2 << j) <= it.hi - it.lo + 1) ++j;
        const int32_t q = it.hi - (1 << j) + 1;
        const int64_t floor = std::max(high_[j][it.lo], high_[j][q]);
        if (floor + it.size > capacity_) return false;
        low_[j][it.lo] = std::min(low_[j][it.lo], floor);
        low_[j][q] = std::min(low_[j][q], floor);
      }
    }
    for (int j = levels - 1; j > 0; --j) {
      const int32_t half = 1 << (j - 1);
      for (int32_t p = wa; p + (1 << j) - 1 <= wb; ++p) {
        low_[j - 1][p] = std::min(low_[j - 1][p], low_[j][p]);
        low_[j - 1][p + half] = std::min(low_[j - 1][p + half], low_[j][p]);
      }
    }
    for (int32_t p = wa; p <= wb; ++p) {
      if (remaining_[p] > 0 && low_[0][p] + remaining_[p] > capacity_) return false;
    }
    return true;
  }

  // Raises points [from, to] to `height`; false when a point's unplaced
  // buffers then no longer fit below the capacity (step 2).
  bool Raise(int32_t from, int32_t to, int64_t height) {
    bool fits = true;
    for (int32_t t = from; t <= to; ++t) {
      SetHeight(t, height);
      fits = fits && height + remaining_[t] <= capacity_;
    }
    return fits;
  }

  // Places every unplaced item that starts in [wa, wb] (none crosses its
  // edges), or returns false with the state as it was.
  bool Search(int32_t wa, int32_t wb) {
    if (placed_stack_.size() > deepest_.size()) {  // the deepest node so far (phase saving)
      deepest_.resize(deepest_valid_);
      for (size_t i = deepest_valid_; i < placed_stack_.size(); ++i) {
        deepest_.push_back({placed_stack_[i], offsets_[placed_stack_[i]]});
      }
      deepest_valid_ = placed_stack_.size();
    }
    if (depth_ == scratch_at_.size()) scratch_at_.emplace_back();
    Scratch& scratch = scratch_at_[depth_];
    ++depth_;
    const bool found = SearchWith(wa, wb, scratch);
    --depth_;
    return found;
  }

  // Search's work, with the scratch vectors of its depth.
  bool SearchWith(int32_t wa, int32_t wb, Scratch& scratch) {
    const Key key{placed_a_ ^ sky_a_, placed_b_ ^ sky_b_};
    failed_.Prefetch(key);  // the lookup below comes after the window split
    std::vector<std::pair<int32_t, int32_t>>& windows = scratch.windows;
    SplitWindow(wa, wb, windows);
    if (windows.empty()) return true;
    if ((++*nodes_ & 1023) == 0 &&
        (Clock::now() > deadline_ || (stop_ != nullptr && stop_->load(std::memory_order_relaxed)))) {
      aborted_ = true;
    }
    if (max_nodes_ > 0 && *nodes_ > max_nodes_) aborted_ = true;
    if (!aborted_ && *nodes_ > restart_at_) aborted_ = restarting_ = true;
    if (aborted_) return false;
    if (failed_.contains(key, why_)) return false;
    if (windows.size() > 1) return SearchApart(windows, key);
    return SearchPit(windows[0].first, windows[0].second, key, scratch.candidates);
  }

  // Step 5: each window alone, in turn; one that fails fails the node.
  bool SearchApart(const std::vector<std::pair<int32_t, int32_t>>& windows, const Key& key) {
    const size_t items = placed_stack_.size(), mark = log_.size();
    for (const auto& [wa, wb] : windows) {
      const Key window_key = WindowKey(wa, wb);
      if (!window_failed_.contains(window_key, why_) && Search(wa, wb)) continue;
      UnplaceTo(items, mark);
      if (aborted_) return false;
      if (window_failed_.size() >= kMaxMemo) window_failed_.clear();
      window_failed_.insert(window_key, why_);
      return FailNode(key, why_);
    }
    return true;
  }

  // Steps 1-3 in window [wa, wb], whose unplaced items cannot be split
  // apart; outside it the walls count as the capacity.
  bool SearchPit(int32_t wa, int32_t wb, const Key& key, std::vector<int32_t>& candidates) {
    // The pit (a section lower than both neighbours) with the fewest viable
    // moves (step 1; the lowest section is one, and the argument there holds
    // for any pit); a pit with none fails the node, one with one is forced.
    Pit pit;
    candidates.clear();
    bool raise_ok = false;
    bool at_cell = false;  // the candidates cover a tight cell: nothing is raised beside them
    size_t best_moves = SIZE_MAX;
    for (int32_t a = wa; a <= wb && best_moves > 1;) {
      int32_t b = a;
      while (b + 1 <= wb && height_[b + 1] == height_[a]) ++b;
      const Pit here{a, b, height_[a], a > wa ? height_[a - 1] : capacity_,
                     b + 1 <= wb ? height_[b + 1] : capacity_};
      a = b + 1;
      if (here.left <= here.h || here.right <= here.h) continue;
      bool here_raise_ok = true;
      const int64_t raised = std::min(here.left, here.right);
      for (int32_t p = here.a; p <= here.b; ++p) here_raise_ok = here_raise_ok && raised + remaining_[p] <= capacity_;
      // The pit's floor (step 2): a point p with no spare room (capacity =
      // skyline + unplaced) must be covered at h, by an unplaced item that
      // rests there, so lies inside [a, b]; such items cannot overlap. So
      // [p, b] is coverable from p (finish_[p]) when p has spare room and
      // [p+1, b] is, or an item from p to some q fits and [q+1, b] is.
      // Below the lower wall (`raised`), the pit can only be filled by items
      // inside [a, b] (any other is alive at a wall's point too, so it sits
      // above that wall): at every point their units must reach the lower
      // wall but for the point's spare room.
      for (int32_t p = here.a; p <= here.b + 1; ++p) inner_[p] = 0;
      for (int32_t p = here.a; p <= here.b; ++p) {
        for (int32_t k : open_starting_[p]) {
          if (items_[k].hi > here.b) continue;
          inner_[p] += items_[k].size;
          inner_[items_[k].hi + 1] -= items_[k].size;
        }
      }
      int64_t inside = 0;
      for (int32_t p = here.a; p <= here.b; ++p) {
        inside += inner_[p];
        if (inside < raised - here.h - Spare(p)) return FailNode(key, Around(here.a, here.b, 1));
      }
      finish_[here.b + 1] = 1;
      for (int32_t p = here.b; p >= here.a; --p) {
        bool can = Spare(p) > 0 && finish_[p + 1];
        for (int32_t k : open_starting_[p]) {
          if (can) break;
          can = items_[k].hi <= here.b && here.h + items_[k].size <= capacity_ &&
                finish_[items_[k].hi + 1];
        }
        finish_[p] = can;
      }
      if (!finish_[here.a]) return FailNode(key, Around(here.a, here.b, 1));
      scratch_.clear();
      int64_t most_remaining = 0;  // over [here.a, p - 1]
      for (int32_t p = here.a; p <= here.b; ++p) {
        for (int32_t k : open_starting_[p]) {
          if (items_[k].hi > here.b || !finish_[items_[k].hi + 1]) continue;
          if (twin_before_[k] >= 0 && !placed_[twin_before_[k]]) continue;
          if (p > here.a && std::min(here.left, here.h + items_[k].size) + most_remaining > capacity_) continue;
          scratch_.push_back(k);
        }
        most_remaining = std::max(most_remaining, remaining_[p]);
      }
      const size_t moves = scratch_.size() + (here_raise_ok ? 1 : 0);
      if (moves < best_moves) {
        best_moves = moves;
        pit = here;
        candidates.swap(scratch_);
        raise_ok = here_raise_ok;
        at_cell = false;
      }
      // A tight cell of the pit (step 1) with fewer candidates than the
      // best pit's moves is branched on instead.
      if (!cells_ || best_moves <= 1) continue;
      int32_t cell = -1;
      size_t cell_moves = SIZE_MAX;
      if (!TightestCell(here, cell, cell_moves)) return FailNode(key, Around(here.a, here.b, 1));
      if (cell >= 0 && cell_moves < best_moves) {
        best_moves = cell_moves;
        pit = here;
        candidates.clear();
        for (int32_t q = here.a; q <= cell; ++q) {
          for (int32_t k : open_starting_[q]) {
            if (items_[k].hi >= cell && CellCandidate(here, k)) candidates.push_back(k);
          }
        }
        raise_ok = false;
        at_cell = true;
      }
    }
    if (best_moves == SIZE_MAX) return FailNode(key, Around(wa, wb, 0));  // no pit: cannot happen below capacity
    const int32_t a = pit.a, b = pit.b;
    const int64_t h = pit.h, left = pit.left, right = pit.right;
    // Try order: buffers starting at a (they leave no hole), then those that
    // end at b or top out level with a wall (they make no new step; bench:
    // the rectangle cuts' worst ratio 1.039 -> 1.024), then by rank.
    auto flush = [&](int32_t k) {  // 0: ends at b or tops level with a wall
      const int64_t top = h + items_[k].size;
      return items_[k].hi == b || top == left || top == right ? 0 : 1;
    };
    std::sort(candidates.begin(), candidates.end(), [&](int32_t x, int32_t y) {
      if (guided_) return rank_[x] < rank_[y];
      return std::make_tuple(items_[x].lo != a, flush(x), rank_[x]) <
             std::make_tuple(items_[y].lo != a, flush(y), rank_[y]);
    });
    // Step 3b, backjumping: a child that fails for reasons on points its
    // move did not change fails this node for the same reasons, so the
    // other moves are not tried. Otherwise the node fails for its children's
    // reasons and its pit (the moves it has).
    Span why = Around(a, b, 1);
    for (int32_t k : candidates) {
      const Item& it = items_[k];
      const size_t mark = log_.size();
      const int64_t top = h + it.size;
      // Over the buffer, skyline + unplaced stays the same: no check needed.
      for (int32_t t = it.lo; t <= it.hi; ++t) SetHeight(t, top);
      SetPlaced(k, true);
      offsets_[k] = h;
      const int32_t from = it.lo == a || at_cell ? it.lo : a;  // the move changed points [from, it.hi]
      const bool checked =
          (it.lo == a || at_cell || Raise(a, it.lo - 1, std::min(left, top))) && StepsFillable(a - 1, it.hi + 1);
      Span child_why;
      if (Descend(checked, Around(a, it.hi, 2), wa, wb, child_why)) return true;
      SetPlaced(k, false);
      UndoTo(mark);
      if (aborted_) return false;
      if (backjump_ && !child_why.Meets(from, it.hi)) return FailNode(key, child_why);
      why = why.Hull(child_why);
    }
    // No buffer at h over [a, b]: raise the section to its lower neighbour.
    const size_t mark = log_.size();
    if (raise_ok) {
      const bool checked = Raise(a, b, std::min(left, right)) && StepsFillable(a - 1, b + 1);
      Span child_why;
      if (Descend(checked, Around(a, b, 2), wa, wb, child_why)) return true;
      UndoTo(mark);
      if (aborted_) return false;
      if (backjump_ && !child_why.Meets(a, b)) return FailNode(key, child_why);
      why = why.Hull(child_why);
    }
    return FailNode(key, why);
  }

  // Below a move just made in window [wa, wb]: true when the search finds a
  // placement. Otherwise false, with `why` the reason (step 3b): `near` when
  // step 2's checks on the move's points (`checked`) failed, the window when
  // its floors do, else why the search below failed.
  bool Descend(bool checked, Span near, int32_t wa, int32_t wb, Span& why) {
    if (!checked) {
      why = near;
      return false;
    }
    if (floors_ && !FloorsFit(wa, wb)) {
      why = Around(wa, wb, 0);
      return false;
    }
    if (Search(wa, wb)) return true;
    why = why_;
    return false;
  }

  // Whether unplaced item k could cover a cell of `pit` at its height: it
  // lies inside the pit, fits below the capacity, is the first of its twins,
  // and the rest of the pit's floor stays coverable on both sides of it
  // (begin_ and finish_, filled for this pit).
  bool CellCandidate(const Pit& pit, int32_t k) const {
    const Item& it = items_[k];
    return it.lo >= pit.a && it.hi <= pit.b && pit.h + it.size <= capacity_ && begin_[it.lo] &&
           finish_[it.hi + 1] && (twin_before_[k] < 0 || placed_[twin_before_[k]]);
  }

  // Step 1's tight cells: the pit's point without spare room whose cell at
  // the pit's height has the fewest candidates (`cell`, or -1 when every
  // point has spare room, and their number, `moves`). False when some tight
  // cell has none: the node fails. Needs finish_ filled for the pit.
  bool TightestCell(const Pit& pit, int32_t& cell, size_t& moves) {
    bool tight = false;
    for (int32_t p = pit.a; p <= pit.b && !tight; ++p) tight = Spare(p) == 0;
    if (!tight) return true;
    // begin_[p]: [a, p-1] coverable at the pit's height by items inside it
    // (finish_ from the other side): each point has spare room or is covered
    // by an item that ends there.
    begin_[pit.a] = 1;
    for (int32_t p = pit.a; p <= pit.b; ++p) {
      bool can = Spare(p) > 0 && begin_[p];
      for (int32_t k : open_ending_[p]) {
        if (can) break;
        can = items_[k].lo >= pit.a && pit.h + items_[k].size <= capacity_ && begin_[items_[k].lo];
      }
      begin_[p + 1] = can;
    }
    // Candidates per point, as differences over their lifetimes.
    for (int32_t p = pit.a; p <= pit.b + 1; ++p) cover_[p] = 0;
    for (int32_t p = pit.a; p <= pit.b; ++p) {
      for (int32_t k : open_starting_[p]) {
        if (!CellCandidate(pit, k)) continue;
        ++cover_[p];
        --cover_[items_[k].hi + 1];
      }
    }
    int32_t count = 0;
    for (int32_t p = pit.a; p <= pit.b; ++p) {
      count += cover_[p];
      if (Spare(p) != 0) continue;
      if (count == 0) return false;
      if (static_cast<size_t>(count) < moves) {
        moves = static_cast<size_t>(count);
        cell = p;
      }
    }
    return true;
  }

  // Point p's spare room: the capacity less its skyline and the unplaced
  // units alive there (0: a tight point, step 1).
  int64_t Spare(int32_t p) const { return capacity_ - height_[p] - remaining_[p]; }

  // Remembers a node whose subtree fails (step 3).
  bool FailNode(const Key& key, Span why) {
    if (failed_.size() >= kMaxMemo) failed_.clear();
    failed_.insert(key, why);
    why_ = why;
    return false;
  }

  // Points [a - margin, b + margin] within the instance.
  Span Around(int32_t a, int32_t b, int32_t margin) const {
    return {std::max(a - margin, 0), std::min(b + margin, t_ - 1)};
  }

  const std::vector<Item>& items_;
  const size_t n_;
  const int32_t t_;
  const int64_t capacity_;
  Clock::time_point deadline_;
  int64_t max_nodes_ = 0;    // *nodes_ at which to stop; 0: no cap
  const std::atomic<bool>* stop_ = nullptr;  // stop when set (may be null)
  int64_t restart_at_ = 0;   // nodes_ at which this run restarts
  bool restarting_ = false;  // aborted_ is a restart, not the limits
  std::vector<int64_t> height_;     // (points) the skyline, units
  std::vector<int64_t> remaining_;  // (points) units of unplaced buffers alive
  std::vector<char> placed_;
  std::deque<Scratch> scratch_at_;  // one per depth of Search (a deque keeps them in place as it grows)
  size_t depth_ = 0;  // Search calls under way
  // (points) the unplaced items with lo (hi) there, in no order: the
  // loops over a pit's items go over these, not over every item.
  std::vector<std::vector<int32_t>> open_starting_, open_ending_;
  std::vector<int32_t> at_starting_, at_ending_;  // (items) where item k is in them
  std::vector<int64_t> offsets_;    // units, valid for placed items
  std::vector<std::vector<int32_t>> starting_;  // (points) items with lo there, by rank
  std::vector<int32_t> twin_before_;  // an identical item of lower index, or -1
  std::vector<int32_t> rank_;         // try order
  // The node with the most items placed so far, over every run (step 4's
  // phase saving): its items and offsets in the order placed. Its first
  // deepest_valid_ entries are placed_stack_'s too, so a deeper node copies
  // only what follows them (each placement is copied at most once).
  std::vector<std::pair<int32_t, int64_t>> deepest_;
  size_t deepest_valid_ = 0;
  std::vector<int64_t> start_sum_;    // (points) units of unplaced buffers starting there
  std::vector<int64_t> end_sum_;      // (points) units of unplaced buffers ending there
  std::vector<std::pair<int32_t, int64_t>> log_;  // (point, old height)
  std::vector<int32_t> scratch_;                   // candidates of the pit being looked at
  std::vector<char> finish_;                       // (points + 1) a pit's floor coverable from there
  std::vector<char> begin_;                        // (points + 1) a pit's floor coverable up to there
  std::vector<int32_t> cover_;                     // (points + 1) a pit's cell candidates, as differences
  std::vector<int64_t> inner_;                     // (points + 1) a pit's inside items' units, as differences
  std::vector<int32_t> crossing_;           // (points) unplaced items alive at p and p+1
  std::vector<int32_t> placed_stack_;       // placed items, in the order placed
  std::vector<std::vector<int64_t>> high_;  // (levels, points) FloorsFit's skyline maxima
  std::vector<std::vector<int64_t>> low_;   // (levels, points) FloorsFit's floor minima
  uint64_t sky_a_ = 0, sky_b_ = 0, placed_a_ = 0, placed_b_ = 0;
  KeySet failed_;
  Span why_{0, -1};  // why the last Search that returned false (not aborted) failed
  KeySet window_failed_;  // windows (step 5) proven to fail
  int64_t* nodes_;
  // Step 3b on: the memos' spans are read (KeySet holds them up to
  // kMaxSpanPoints points; on larger instances they are kept but never read).
  const bool backjump_;
  bool aborted_ = false;
  bool floors_ = true;   // step 2's floors checked (not when every point's load is the same)
  bool cells_ = false;   // this run branches on tight cells too
  bool guided_ = false;  // try order: rank_ alone (a known placement's)
};

namespace {

std::vector<Item> Mirrored(std::vector<Item> items, int32_t num_points) {
  for (Item& it : items) {
    const int32_t lo = it.lo;
    it.lo = num_points - 1 - it.hi;
    it.hi = num_points - 1 - lo;
  }
  return items;
}

}  // namespace

DecisionRuns::DecisionRuns(const std::vector<Item>& items, int32_t num_points, int64_t capacity,
                           Branching branching, const std::vector<int64_t>* hint, const std::vector<char>* fixed,
                           int stream, bool backjump)
    : branching_(branching),
      reduction_(fixed == nullptr ? ReduceAtFullBoundaries(items, num_points, capacity)
                                  : Unreduced(items, num_points)),
      mirrored_(Mirrored(reduction_.items, reduction_.num_points)),
      capacity_(capacity),
      stream_(stream),
      // A run places one item a node (and raises sections in others), so
      // a run with fewer nodes than twice the items rarely gets to the
      // end: the first budget is at least that (DenseNet's plans: 7,700
      // nodes -> 1,250).
      budget_(std::max(kFirstRestartNodes, 2.0 * static_cast<double>(reduction_.items.size()))) {
  std::vector<int64_t> reduced_hint;
  if (hint != nullptr) {
    for (int32_t k : reduction_.head) reduced_hint.push_back((*hint)[k]);
  }
  const std::vector<int64_t>* h = hint != nullptr ? &reduced_hint : nullptr;
  forward_ = std::make_unique<Decision>(reduction_.items, reduction_.num_points, capacity, &nodes_, h, backjump);
  backward_ = std::make_unique<Decision>(mirrored_, reduction_.num_points, capacity, &nodes_, h, backjump);
  if (fixed != nullptr) {
    forward_->Fix(*hint, *fixed);
    backward_->Fix(*hint, *fixed);
  }
}

DecisionRuns::~DecisionRuns() = default;

Fit DecisionRuns::Continue(Clock::time_point deadline, int64_t max_nodes, std::vector<int64_t>& offsets,
                           const std::atomic<bool>* stop) {
  const int64_t last = max_nodes > 0 ? nodes_ + max_nodes : 0;
  forward_->SetLimits(deadline, last, stop);
  backward_->SetLimits(deadline, last, stop);
  for (;; budget_ *= kRestartGrowth, ++seed_) {
    // Even streams start forward, odd ones backward; streams other than 0
    // draw their reshuffles from seeds of their own (bench, the 13 cuts
    // stream 0 left unproven in 10 s: stream 1 alone proved 3 of them).
    Decision& decision = (seed_ + stream_) % 2 == 0 ? *forward_ : *backward_;
    // kAlternate: two runs (one each way) with tight cells, two without,
    // and so on; the guided first two with them.
    const bool cells = branching_ == Branching::kTightCells ||
                       (branching_ == Branching::kAlternate && seed_ / 2 % 2 == 0);
    const bool phase = seed_ >= 2 && seed_ / 2 % kPhaseSavingPairs == 0;
    const Fit fit =
        decision.RunFor(budget_, seed_ < 2 ? 0 : seed_ + stream_ * kStreamSeeds, cells, phase, reduced_offsets_);
    if (fit == Fit::kYes) offsets = reduction_.Expand(reduced_offsets_);
    if (fit != Fit::kUnknown || !decision.restarting()) return fit;
  }
}

}  // namespace slimtrain::planner::arena_internal
