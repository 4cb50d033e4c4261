// See arena_reference.h.
#include "tests/testing/arena_reference.h"

#include <algorithm>
#include <functional>

namespace slimtrain::test_util {
namespace {

using planner::ArenaPlan;
using Requests = std::vector<planner::ArenaRequest>;

int64_t Aligned(int64_t bytes, int64_t alignment) { return (bytes + alignment - 1) / alignment * alignment; }

// Whether buffer i at offset o shares no byte with buffers 0..i-1 alive
// with it, at `offsets` (alignment 1).
bool FreeBelowIndex(const Requests& r, const std::vector<int64_t>& offsets, size_t i, int64_t o) {
  for (size_t j = 0; j < i; ++j) {
    const bool same_time = r[i].first <= r[j].last && r[j].first <= r[i].last;
    if (same_time && o < offsets[j] + r[j].size && offsets[j] < o + r[i].size) return false;
  }
  return true;
}

}  // namespace

std::string CheckPlan(const Requests& r, const ArenaPlan& plan, int64_t alignment) {
  if (plan.offsets.size() != r.size()) return "wrong number of offsets";
  int64_t arena = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    if (plan.offsets[i] < 0 || plan.offsets[i] % alignment != 0) {
      return "buffer " + std::to_string(i) + " misaligned";
    }
    if (r[i].size > 0) arena = std::max(arena, plan.offsets[i] + Aligned(r[i].size, alignment));
    for (size_t j = 0; j < i; ++j) {
      if (r[i].size == 0 || r[j].size == 0) continue;
      const bool same_time = r[i].first <= r[j].last && r[j].first <= r[i].last;
      const bool same_bytes = plan.offsets[i] < plan.offsets[j] + Aligned(r[j].size, alignment) &&
                              plan.offsets[j] < plan.offsets[i] + Aligned(r[i].size, alignment);
      if (same_time && same_bytes) return "buffers " + std::to_string(j) + " and " + std::to_string(i) + " overlap";
    }
  }
  if (arena != plan.arena_bytes) return "arena_bytes is not the max of offset + size";
  return "";
}

int64_t BruteForceOptimum(const Requests& r, int64_t bound) {
  std::vector<int64_t> offsets(r.size());
  int64_t best = bound;
  std::function<void(size_t, int64_t)> place = [&](size_t i, int64_t arena) {
    if (arena >= best) return;
    if (i == r.size()) {
      best = arena;
      return;
    }
    for (int64_t o = 0; o + r[i].size < best; ++o) {
      if (!FreeBelowIndex(r, offsets, i, o)) continue;
      offsets[i] = o;
      place(i + 1, std::max(arena, o + r[i].size));
    }
  };
  place(0, 0);
  return best;
}

bool BruteForceFits(const Requests& r, int64_t capacity, std::vector<int64_t>& offsets) {
  offsets.assign(r.size(), 0);
  std::function<bool(size_t)> place = [&](size_t i) {
    if (i == r.size()) return true;
    for (int64_t o = 0; o + r[i].size <= capacity; ++o) {
      if (!FreeBelowIndex(r, offsets, i, o)) continue;
      offsets[i] = o;
      if (place(i + 1)) return true;
    }
    return false;
  };
  return place(0);
}

}  // namespace slimtrain::test_util
