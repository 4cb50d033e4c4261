// See arena_placers.h.
#include "planner/arena_placers.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

namespace slimtrain::planner::arena_internal {
namespace {

// Best fit (step 3) along the occupied intervals of the placed buffers that
// overlap the new one, visited by increasing begin.
class GapFinder {
 public:
  explicit GapFinder(int64_t size) : size_(size) {}

  // Returns true once a gap of exactly `size` is found: nothing can beat it.
  bool Visit(int64_t begin, int64_t end) {
    if (begin > top_) {
      const int64_t gap = begin - top_;
      if (gap >= size_ && gap < best_gap_) {
        best_gap_ = gap;
        best_offset_ = top_;
      }
    }
    top_ = std::max(top_, end);
    return best_gap_ == size_;
  }

  // The smallest fitting gap, else the top of the visited intervals.
  int64_t Offset() const { return best_offset_ >= 0 ? best_offset_ : top_; }

 private:
  int64_t size_;
  int64_t top_ = 0;
  int64_t best_gap_ = std::numeric_limits<int64_t>::max();
  int64_t best_offset_ = -1;
};

// Adds [iv.begin, iv.end) to a sorted list of disjoint, non-touching intervals,
// merging what it overlaps or touches.
void AddToUnion(std::vector<Interval>& u, Interval iv) {
  auto first = std::lower_bound(u.begin(), u.end(), iv.begin,
                                [](const Interval& a, int64_t x) { return a.end < x; });
  auto last = std::upper_bound(first, u.end(), iv.end,
                               [](int64_t x, const Interval& a) { return x < a.begin; });
  if (first == last) {
    u.insert(first, iv);
    return;
  }
  first->begin = std::min(first->begin, iv.begin);
  first->end = std::max((last - 1)->end, iv.end);
  u.erase(first + 1, last);
}

}  // namespace

std::vector<int64_t> LoadAtPoints(absl::Span<const Item> items, int32_t num_points) {
  std::vector<int64_t> load(num_points + 1, 0);  // differences, then sums
  for (const Item& it : items) {
    load[it.lo] += it.size;
    load[it.hi + 1] -= it.size;
  }
  for (int32_t p = 1; p < num_points; ++p) load[p] += load[p - 1];
  load.pop_back();
  return load;
}

int64_t ScanPlacer::Place(absl::Span<const int32_t> order, size_t start, std::vector<int64_t>& offsets,
                          int64_t limit) {
  placed_.clear();
  int64_t arena = 0;
  for (size_t i = 0; i < start; ++i) {
    const Item& it = items_[order[i]];
    placed_.push_back({offsets[order[i]], offsets[order[i]] + it.size, it.lo, it.hi});
    arena = std::max(arena, placed_.back().end);
  }
  auto by_begin = [](const Placed& a, const Placed& b) { return a.begin < b.begin; };
  std::sort(placed_.begin(), placed_.end(), by_begin);
  for (size_t i = start; i < order.size() && arena < limit; ++i) {
    const Item& it = items_[order[i]];
    GapFinder finder(it.size);
    for (const Placed& q : placed_) {
      if (q.lo > it.hi || q.hi < it.lo) continue;
      if (finder.Visit(q.begin, q.end)) break;
    }
    const int64_t offset = finder.Offset();
    const Placed mine{offset, offset + it.size, it.lo, it.hi};
    placed_.insert(std::upper_bound(placed_.begin(), placed_.end(), mine, by_begin), mine);
    offsets[order[i]] = offset;
    arena = std::max(arena, mine.end);
  }
  return arena;
}

TreePlacer::TreePlacer(const std::vector<Item>& items, int32_t num_points)
    : items_(items),
      num_points_(num_points),
      node_union_(4 * static_cast<size_t>(std::max(num_points, 1))),
      subtree_union_(node_union_.size()) {}

int64_t TreePlacer::Place(absl::Span<const int32_t> order, size_t start, std::vector<int64_t>& offsets,
                          int64_t limit) {
  for (auto& u : node_union_) u.clear();
  for (auto& u : subtree_union_) u.clear();
  int64_t arena = 0;
  for (size_t i = 0; i < order.size() && arena < limit; ++i) {
    const Item& it = items_[order[i]];
    if (i >= start) {
      gathered_.clear();
      Collect(1, 0, num_points_ - 1, it.lo, it.hi);
      MergeRuns();
      GapFinder finder(it.size);
      for (const Interval& iv : gathered_) {
        if (finder.Visit(iv.begin, iv.end)) break;
      }
      offsets[order[i]] = finder.Offset();
    }
    const int64_t offset = offsets[order[i]];
    Insert(1, 0, num_points_ - 1, it.lo, it.hi, {offset, offset + it.size});
    arena = std::max(arena, offset + it.size);
  }
  return arena;
}

void TreePlacer::Collect(int node, int nl, int nr, int lo, int hi) {
  if (hi < nl || nr < lo) return;
  if (lo <= nl && nr <= hi) {
    Gather(subtree_union_[node]);
    return;
  }
  Gather(node_union_[node]);
  const int mid = nl + (nr - nl) / 2;
  Collect(2 * node, nl, mid, lo, hi);
  Collect(2 * node + 1, mid + 1, nr, lo, hi);
}

void TreePlacer::Gather(const std::vector<Interval>& u) {
  if (u.empty()) return;
  gathered_.insert(gathered_.end(), u.begin(), u.end());
  run_ends_.push_back(gathered_.size());
}

void TreePlacer::MergeRuns() {
  while (run_ends_.size() > 1) {
    merged_.resize(gathered_.size());
    size_t out = 0, begin = 0;
    auto by_begin = [](const Interval& a, const Interval& b) { return a.begin < b.begin; };
    for (size_t r = 0; r < run_ends_.size(); r += 2) {
      const size_t mid = run_ends_[r];
      const size_t end = r + 1 < run_ends_.size() ? run_ends_[r + 1] : mid;
      std::merge(gathered_.begin() + begin, gathered_.begin() + mid, gathered_.begin() + mid,
                 gathered_.begin() + end, merged_.begin() + begin, by_begin);
      run_ends_[out++] = end;
      begin = end;
    }
    run_ends_.resize(out);
    std::swap(gathered_, merged_);
  }
  run_ends_.clear();
}

void TreePlacer::Insert(int node, int nl, int nr, int lo, int hi, Interval iv) {
  if (hi < nl || nr < lo) return;
  AddToUnion(subtree_union_[node], iv);
  if (lo <= nl && nr <= hi) {
    AddToUnion(node_union_[node], iv);
    return;
  }
  const int mid = nl + (nr - nl) / 2;
  Insert(2 * node, nl, mid, lo, hi, iv);
  Insert(2 * node + 1, mid + 1, nr, lo, hi, iv);
}

}  // namespace slimtrain::planner::arena_internal
