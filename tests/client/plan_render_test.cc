// What `slimtrain plan` prints about a plan's arena (client/plan_render):
// the lines that say why an arena is not proven optimal, the pointer to
// `slimtrain arena` where it can search on, and the CSV of an arena's
// blocks that `--arena-csv` writes.
#include "client/plan_render.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "proto/plan.pb.h"
#include "proto/service.pb.h"

namespace slimtrain::client {
namespace {

v1::MemoryPlan Plan(const std::string& strategy, int64_t arena, int64_t bound, const std::string& search) {
  v1::MemoryPlan plan;
  plan.set_strategy(strategy);
  plan.set_model("m");
  plan.set_batch_size(8);
  plan.set_arena_bytes(arena);
  plan.set_arena_lower_bound_bytes(bound);
  plan.set_peak_bytes(arena);
  plan.set_alignment_bytes(256);
  plan.set_arena_proven_optimal(arena == bound);
  plan.set_arena_exact_search(search);
  plan.set_fits(true);
  return plan;
}

constexpr char kPointer[] = "`slimtrain arena --input FILE --alignment 256 --search-seconds 60` searches on";

TEST(PlansTableTest, PointsToTheArenaCommandWhereItCanSearchOn) {
  v1::PlanMemoryResponse response;
  *response.add_plans() = Plan("exact", 102400, 100000, "stopped at its limit without a proof");
  const std::string table = PlansTable(response, RenderOptions());
  EXPECT_NE(table.find("exact: arena not proven optimal: exact search stopped at its limit without a proof"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find(kPointer), std::string::npos) << table;
}

// Too many buffers for the exact search: `slimtrain arena` has the same
// limit, so the line says why and points nowhere; a plan within 0.5% of its
// bound gets no line.
TEST(PlansTableTest, NoPointerWhereTheArenaCommandCannotSearchEither) {
  v1::PlanMemoryResponse response;
  *response.add_plans() = Plan("exact", 102400, 100000, "not run: 6012 buffers take space, more than 5000");
  *response.add_plans() = Plan("approx4", 100256, 100000, "stopped at its limit without a proof");
  const std::string table = PlansTable(response, RenderOptions());
  EXPECT_NE(table.find("exact: arena not proven optimal: exact search not run: 6012 buffers"), std::string::npos)
      << table;
  EXPECT_EQ(table.find("approx4: arena not proven optimal"), std::string::npos) << table;
  EXPECT_EQ(table.find(kPointer), std::string::npos) << table;
}

// The header says whose workspaces the plans count, from cost_model; a
// plan from a server older than the field says nothing of them.
TEST(PlansTableTest, HeaderSaysWhoseWorkspacesThePlansCount) {
  for (const auto& [cost_model, says] : std::vector<std::pair<std::string, std::string>>{
           {"onednn", "device cpu (oneDNN's workspaces), optimizer"},
           {"cudnn-bound", "device cpu (cuDNN's workspaces at their bounds), optimizer"},
           {"cudnn", "device cpu (cuDNN's workspaces), optimizer"},
           {"reference", "device cpu (no workspaces counted), optimizer"},
           {"default", "device cpu (no workspaces counted), optimizer"},
           {"tpu-xla", "device cpu (tpu-xla's workspaces), optimizer"},
           {"", "device cpu, optimizer"}}) {
    v1::PlanMemoryResponse response;
    v1::MemoryPlan& plan = *response.add_plans() = Plan("exact", 100000, 100000, "not needed: at the lower bound");
    plan.set_device("cpu");
    plan.set_cost_model(cost_model);
    const std::string table = PlansTable(response, RenderOptions());
    EXPECT_NE(table.find(says), std::string::npos) << cost_model << "\n" << table;
  }
}

// Buffer 1 reuses buffer 0's memory in place (steps 0-1, then 1-3) and
// buffer 3 reuses buffer 1's: one block of their largest size over steps
// 0-3 (upper 4, exclusive), at buffer 0's offset; buffer 2 is a block alone.
TEST(ArenaCsvOfPlanTest, WritesOneRowPerBlockOfMemory) {
  v1::MemoryPlan plan;
  auto add = [&](int32_t id, int64_t size, int64_t offset, int32_t first, int32_t last, int32_t in_place_of) {
    v1::Buffer* b = plan.add_buffers();
    b->set_id(id);
    b->set_size_bytes(size);
    b->set_offset_bytes(offset);
    b->set_first_step(first);
    b->set_last_step(last);
    b->set_in_place_of(in_place_of);
  };
  add(0, 1000, 512, 0, 1, -1);
  add(1, 1024, 512, 1, 2, 0);
  add(2, 300, 0, 0, 3, -1);
  add(3, 800, 512, 2, 3, 1);
  EXPECT_EQ(ArenaCsvOfPlan(plan), "id,lower,upper,size,offset\n0,0,4,1024,512\n2,0,4,300,0\n");
}

}  // namespace
}  // namespace slimtrain::client
