// plan_blocks.h — the blocks of memory a finished plan packed into its arena,
// read back from the plan (MemoryPlan.buffers): what `slimtrain plan
// --arena-csv` writes for `slimtrain arena`, and what tests and fuzz targets
// check with VerifyArena.
//
//   std::vector<PlanBlock> blocks = PlanBlocks(plan);  // needs plan.buffers
//   // blocks[i].request: size, first and last step; blocks[i].offset_bytes
//
// A buffer and the buffers that reuse it in place (in_place_of, followed to
// the first of the chain, as planner/lifetimes.h's StorageBlocks forms them
// from the schedule) are one block: the first buffer's id and offset, the
// largest size, from the earliest first step to the latest last step.
#ifndef SLIMTRAIN_PLANNER_PLAN_BLOCKS_H_
#define SLIMTRAIN_PLANNER_PLAN_BLOCKS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "planner/arena.h"
#include "proto/plan.pb.h"

namespace slimtrain::planner {

struct PlanBlock {
  int32_t id = 0;          // the chain's first buffer's id
  ArenaRequest request;    // bytes and steps (inclusive), as PlanArena takes them
  int64_t offset_bytes = 0;  // the first buffer's offset
};

// The blocks in the order of their first buffers in plan.buffers. A buffer
// whose in_place_of names no buffer of the plan (or itself) starts a block
// of its own. In_place_of cycles (which the planner never writes) end too:
// the first buffer of a cycle in plan.buffers heads a block, and the cycle's
// buffers after it join it. O(buffers) on the planner's plans.
std::vector<PlanBlock> PlanBlocks(const v1::MemoryPlan& plan);

// Whether the plan's blocks are one arena as PlanArena promises: VerifyArena
// on them with the plan's offsets, arena_bytes and alignment_bytes, and
// their lower bound equal to arena_lower_bound_bytes. A plan without blocks
// passes. For tests and fuzz targets.
absl::Status VerifyPlanArena(const v1::MemoryPlan& plan);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_PLAN_BLOCKS_H_
