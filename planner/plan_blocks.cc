// plan_blocks.cc — PlanBlocks (plan_blocks.h).
#include "planner/plan_blocks.h"

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace slimtrain::planner {

std::vector<PlanBlock> PlanBlocks(const v1::MemoryPlan& plan) {
  const int n = plan.buffers_size();
  absl::flat_hash_map<int32_t, int> index_of;  // buffer id -> index in plan.buffers
  for (int i = 0; i < n; ++i) index_of.emplace(plan.buffers(i).id(), i);
  // Each buffer's chain head: in_place_of followed until it names no buffer
  // of the plan (or the buffer itself), or reaches a buffer whose head is
  // known (the planner lists a chain's first buffer first, so one step). A
  // chain that does not end within n steps is a cycle met for the first
  // time: the buffer heads a block, which the cycle's later buffers reach.
  std::vector<int> head(n, -1);
  for (int i = 0; i < n; ++i) {
    head[i] = i;  // unless the chain ends within n steps
    for (int h = i, steps = 0; steps <= n; ++steps) {
      if (head[h] >= 0 && h != i) {
        head[i] = head[h];
        break;
      }
      const auto of = index_of.find(plan.buffers(h).in_place_of());
      if (plan.buffers(h).in_place_of() < 0 || of == index_of.end() || of->second == h) {
        head[i] = h;
        break;
      }
      h = of->second;
    }
  }
  std::vector<PlanBlock> blocks;
  std::vector<int> block_of(n, -1);  // by the head's index
  for (int i = 0; i < n; ++i) {
    if (head[i] != i) continue;
    const v1::Buffer& b = plan.buffers(i);
    block_of[i] = static_cast<int>(blocks.size());
    blocks.push_back({b.id(), ArenaRequest{b.size_bytes(), b.first_step(), b.last_step()}, b.offset_bytes()});
  }
  for (int i = 0; i < n; ++i) {
    const int h = head[i];
    const v1::Buffer& b = plan.buffers(i);
    ArenaRequest& r = blocks[block_of[h]].request;
    r.size = std::max(r.size, b.size_bytes());
    r.first = std::min(r.first, b.first_step());
    r.last = std::max(r.last, b.last_step());
  }
  return blocks;
}

absl::Status VerifyPlanArena(const v1::MemoryPlan& plan) {
  std::vector<ArenaRequest> requests;
  ArenaPlan arena;
  for (const PlanBlock& block : PlanBlocks(plan)) {
    requests.push_back(block.request);
    arena.offsets.push_back(block.offset_bytes);
  }
  if (requests.empty()) return absl::OkStatus();
  arena.arena_bytes = plan.arena_bytes();
  SLIM_RETURN_IF_ERROR(VerifyArena(requests, arena, plan.alignment_bytes()));
  const int64_t bound = ArenaLowerBound(requests, plan.alignment_bytes());
  if (bound != plan.arena_lower_bound_bytes()) {
    return absl::InvalidArgumentError(absl::StrCat("arena_lower_bound_bytes ", plan.arena_lower_bound_bytes(),
                                                   ", but the blocks' lower bound is ", bound));
  }
  return absl::OkStatus();
}

}  // namespace slimtrain::planner
