// arena_verify.cc — the independent checks of a placement: VerifyArena and
// CheckPlacement (arena.h), apart from the planner that makes placements.
#include "planner/arena.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <queue>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace slimtrain::planner {

using arena_internal::ValidateRequests;

absl::Status CheckPlacement(absl::Span<const ArenaRequest> requests, absl::Span<const int64_t> offsets,
                            int64_t alignment) {
  SLIM_RETURN_IF_ERROR(ValidateRequests(requests, alignment));  // also the alignment, before AlignUp divides by it
  if (offsets.size() != requests.size()) {
    return absl::InvalidArgumentError(absl::StrCat(offsets.size(), " offsets for ", requests.size(), " buffers"));
  }
  ArenaPlan placement;
  placement.offsets.assign(offsets.begin(), offsets.end());
  for (size_t i = 0; i < requests.size(); ++i) {
    const int64_t size = AlignUp(requests[i].size, alignment), offset = offsets[i];
    // A bad offset is VerifyArena's to name; the arena only needs no overflow.
    if (size > 0 && offset >= 0 && offset <= std::numeric_limits<int64_t>::max() - size) {
      placement.arena_bytes = std::max(placement.arena_bytes, offset + size);
    }
  }
  return VerifyArena(requests, placement, alignment);
}

absl::Status VerifyArena(absl::Span<const ArenaRequest> requests, const ArenaPlan& plan,
                         int64_t alignment) {
  SLIM_RETURN_IF_ERROR(ValidateRequests(requests, alignment));
  if (plan.offsets.size() != requests.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan has ", plan.offsets.size(), " offsets for ", requests.size(), " buffers"));
  }
  int64_t arena = 0;
  std::vector<int32_t> by_first;  // buffers that take space, by first step
  for (size_t i = 0; i < requests.size(); ++i) {
    const int64_t offset = plan.offsets[i];
    if (offset < 0 || offset % alignment != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "buffer ", i, ": offset ", offset, " is not a non-negative multiple of ", alignment));
    }
    const int64_t size = AlignUp(requests[i].size, alignment);
    if (size == 0) continue;
    if (offset > std::numeric_limits<int64_t>::max() - size) {
      return absl::InvalidArgumentError(absl::StrCat("buffer ", i, ": offset ", offset,
                                                     " + size ", size, " passes 2^63"));
    }
    arena = std::max(arena, offset + size);
    by_first.push_back(static_cast<int32_t>(i));
  }
  if (plan.arena_bytes != arena) {
    return absl::InvalidArgumentError(absl::StrCat(
        "arena_bytes ", plan.arena_bytes, " != ", arena, ", the max of offset + aligned size"));
  }
  // Sweep the steps, keeping the live buffers by offset. Were a new buffer to
  // overlap a live one, it would overlap its neighbour below or above.
  std::stable_sort(by_first.begin(), by_first.end(),
                   [&](int32_t a, int32_t b) { return requests[a].first < requests[b].first; });
  using Expiry = std::pair<int32_t, int32_t>;  // (last step, buffer)
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<Expiry>> expiring;
  std::map<int64_t, int32_t> live;  // offset -> buffer
  for (int32_t i : by_first) {
    const ArenaRequest& r = requests[i];
    while (!expiring.empty() && expiring.top().first < r.first) {
      live.erase(plan.offsets[expiring.top().second]);
      expiring.pop();
    }
    const int64_t begin = plan.offsets[i], end = begin + AlignUp(r.size, alignment);
    auto above = live.lower_bound(begin);
    int32_t other = -1;
    if (above != live.end() && above->first < end) {
      other = above->second;
    } else if (above != live.begin()) {
      const auto below = std::prev(above);
      if (below->first + AlignUp(requests[below->second].size, alignment) > begin) other = below->second;
    }
    if (other >= 0) {
      const int64_t other_begin = plan.offsets[other];
      const int64_t other_end = other_begin + AlignUp(requests[other].size, alignment);
      return absl::InvalidArgumentError(absl::StrCat(
          "buffers ", std::min(i, other), " and ", std::max(i, other), " overlap: both alive at step ",
          r.first, ", bytes [", begin, ", ", end, ") and [", other_begin, ", ", other_end, ")"));
    }
    live.emplace(begin, i);
    expiring.push({r.last, i});
  }
  return absl::OkStatus();
}

}  // namespace slimtrain::planner
