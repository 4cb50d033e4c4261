// See arena_full_boundaries.h.
#include "planner/arena_full_boundaries.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace slimtrain::planner::arena_internal {

FullBoundaryReduction ReduceAtFullBoundaries(const std::vector<Item>& items, int32_t num_points, int64_t capacity) {
  const int32_t n = static_cast<int32_t>(items.size());
  const std::vector<int64_t> load = LoadAtPoints(items, num_points);
  // Groups: items kept together, each at shift[k] above its group's
  // offset. A group absorbed into another points to it.
  std::vector<Item> group = items;
  std::vector<int32_t> into(n, -1);
  std::vector<std::vector<int32_t>> members(n);
  std::vector<int64_t> shift(n, 0);
  std::vector<std::vector<int32_t>> ending(num_points), starting(num_points);
  for (int32_t k = 0; k < n; ++k) {
    members[k] = {k};
    ending[items[k].hi].push_back(k);
    starting[items[k].lo].push_back(k);
  }
  auto find = [&](int32_t g) {  // with path compression
    int32_t root = g;
    while (into[root] >= 0) root = into[root];
    while (into[g] >= 0 && into[g] != root) {
      const int32_t next = into[g];
      into[g] = root;
      g = next;
    }
    return root;
  };
  // The groups of `list`'s items that still end (by_hi) or start at p, once each.
  std::vector<int32_t> e, st;
  auto collect = [&](const std::vector<int32_t>& list, int32_t p, bool by_hi, std::vector<int32_t>& out) {
    out.clear();
    for (int32_t g : list) {
      g = find(g);
      if ((by_hi ? group[g].hi : group[g].lo) == p && std::find(out.begin(), out.end(), g) == out.end()) {
        out.push_back(g);
      }
    }
  };
  auto same_lifetime = [&](const std::vector<int32_t>& v) {
    for (int32_t g : v) {
      if (group[g].lo != group[v[0]].lo || group[g].hi != group[v[0]].hi) return false;
    }
    return true;
  };
  // `stack`'s groups, of one lifetime, go on top of each other in `keeper`'s
  // slot (in any order: nothing else is alive there while they are), and
  // `keeper` takes their lifetime on.
  auto absorb = [&](int32_t keeper, const std::vector<int32_t>& stack) {
    int64_t at = 0;
    for (int32_t g : stack) {
      for (int32_t m : members[g]) shift[m] += at;
      members[keeper].insert(members[keeper].end(), members[g].begin(), members[g].end());
      members[g].clear();
      at += group[g].size;
      into[g] = keeper;
    }
    Item& k = group[keeper];
    const Item& s = group[stack[0]];
    if (s.lo > k.hi) {
      k.hi = s.hi;
      for (int32_t g : stack) k.last = std::max(k.last, group[g].last);
    } else {
      k.lo = s.lo;
      k.first = s.first;
    }
  };
  int merged = 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t p = 1; p < num_points; ++p) {
      if (load[p - 1] != capacity || load[p] != capacity) continue;
      collect(ending[p - 1], p - 1, /*by_hi=*/true, e);
      collect(starting[p], p, /*by_hi=*/false, st);
      // Both points full: the two sides cover the same units (the items
      // alive at both are the same), so neither side is empty alone.
      if (e.empty()) continue;
      if (e.size() == 1 && same_lifetime(st)) {
        absorb(e[0], st);
      } else if (st.size() == 1 && same_lifetime(e)) {
        absorb(st[0], e);
      } else {
        continue;
      }
      ++merged;
      changed = true;
    }
  }
  if (merged == 0) return Unreduced(items, num_points);
  // The groups as items, on the points where one starts.
  FullBoundaryReduction r;
  std::vector<int32_t> used(num_points + 1, 0);  // used[p]: points where a group starts, below p
  for (int32_t g = 0; g < n; ++g) {
    if (into[g] < 0) used[group[g].lo + 1] = 1;
  }
  for (int32_t p = 1; p <= num_points; ++p) used[p] += used[p - 1];
  r.num_points = used[num_points];
  std::vector<int32_t> index(n, -1);
  for (int32_t g = 0; g < n; ++g) {
    if (into[g] >= 0) continue;
    index[g] = static_cast<int32_t>(r.items.size());
    Item it = group[g];
    it.lo = used[it.lo];
    it.hi = used[it.hi + 1] - 1;
    r.items.push_back(it);
    r.head.push_back(g);
  }
  r.owner.resize(n);
  for (int32_t k = 0; k < n; ++k) r.owner[k] = index[find(k)];
  r.shift = std::move(shift);
  return r;
}

std::vector<int64_t> FullBoundaryReduction::Expand(const std::vector<int64_t>& reduced_offsets) const {
  std::vector<int64_t> out(owner.size());
  for (size_t k = 0; k < owner.size(); ++k) out[k] = reduced_offsets[owner[k]] + shift[k];
  return out;
}

FullBoundaryReduction Unreduced(const std::vector<Item>& items, int32_t num_points) {
  FullBoundaryReduction r;
  r.items = items;
  r.num_points = num_points;
  r.owner.resize(items.size());
  r.head.resize(items.size());
  for (size_t k = 0; k < items.size(); ++k) r.owner[k] = r.head[k] = static_cast<int32_t>(k);
  r.shift.assign(items.size(), 0);
  return r;
}


}  // namespace slimtrain::planner::arena_internal
