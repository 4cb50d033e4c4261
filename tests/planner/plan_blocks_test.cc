// plan_blocks_test — PlanBlocks (planner/plan_blocks.h): in-place chains of
// a plan's buffers read back as the blocks its arena packed, also from
// plans the planner never writes (chains listed out of order, a name that is
// not there, a cycle); and VerifyPlanArena on such blocks.
#include "planner/plan_blocks.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/plan.pb.h"

namespace slimtrain::planner {
namespace {

struct BufferRow {
  int32_t id, in_place_of;  // -1: none
  int64_t size;
  int32_t first, last;
  int64_t offset;
};

struct BlockRow {
  int32_t id;
  int64_t size;
  int32_t first, last;
  int64_t offset;
};

struct Case {
  std::string name;
  std::vector<BufferRow> buffers;
  std::vector<BlockRow> blocks;
};

class PlanBlocksTest : public ::testing::TestWithParam<Case> {};

v1::MemoryPlan PlanOf(const std::vector<BufferRow>& rows) {
  v1::MemoryPlan plan;
  for (const BufferRow& r : rows) {
    v1::Buffer* b = plan.add_buffers();
    b->set_id(r.id);
    b->set_in_place_of(r.in_place_of);
    b->set_size_bytes(r.size);
    b->set_first_step(r.first);
    b->set_last_step(r.last);
    b->set_offset_bytes(r.offset);
  }
  return plan;
}

TEST_P(PlanBlocksTest, ReadsTheBlocksBack) {
  const v1::MemoryPlan plan = PlanOf(GetParam().buffers);
  const std::vector<PlanBlock> blocks = PlanBlocks(plan);
  ASSERT_EQ(blocks.size(), GetParam().blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    const BlockRow& want = GetParam().blocks[i];
    SCOPED_TRACE("block " + std::to_string(i));
    EXPECT_EQ(blocks[i].id, want.id);
    EXPECT_EQ(blocks[i].request.size, want.size);
    EXPECT_EQ(blocks[i].request.first, want.first);
    EXPECT_EQ(blocks[i].request.last, want.last);
    EXPECT_EQ(blocks[i].offset_bytes, want.offset);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PlanBlocksTest,
    ::testing::Values(
        // 1 reuses 0 in place and is larger; 2 reuses 1: one block of the
        // largest size over all their steps, at the first one's offset.
        Case{"AChainIsOneBlockOfItsLargestSizeOverAllItsSteps",
             {{0, -1, 512, 0, 2, 0}, {1, 0, 1024, 2, 3, 0}, {2, 1, 256, 3, 7, 0}, {3, -1, 256, 1, 4, 1024}},
             {{0, 1024, 0, 7, 0}, {3, 256, 1, 4, 1024}}},
        // 5 reuses 9, listed before it; 7 names no buffer of the plan.
        Case{"OrderAndMissingNamesDoNotMatter",
             {{5, 9, 128, 4, 6, 256}, {7, 42, 64, 0, 1, 512}, {9, -1, 256, 1, 4, 256}},
             {{7, 64, 0, 1, 512}, {9, 256, 1, 6, 256}}},
        // 0 and 1 name each other (0, first, heads them); 2 names itself,
        // 3 names 2.
        Case{"ACycleEndsHeadedByItsFirstBuffer",
             {{0, 1, 100, 0, 1, 0}, {1, 0, 200, 1, 2, 0}, {2, 2, 300, 5, 5, 512}, {3, 2, 50, 5, 6, 512}},
             {{0, 200, 0, 2, 0}, {2, 300, 5, 6, 512}}},
        Case{"NoBuffersNoBlocks", {}, {}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// VerifyPlanArena: the blocks of a chain (0, 1) beside a buffer above them
// (2) are one arena of 1,280 bytes with a lower bound of 1,280; an offset
// into the chain, a wrong arena_bytes or a wrong bound is named.
TEST(VerifyPlanArenaTest, ChecksTheBlocksAsOneArena) {
  v1::MemoryPlan plan = PlanOf({{0, -1, 512, 0, 2, 0}, {1, 0, 1024, 2, 3, 0}, {2, -1, 256, 1, 4, 1024}});
  plan.set_alignment_bytes(256);
  plan.set_arena_bytes(1280);
  plan.set_arena_lower_bound_bytes(1280);
  EXPECT_TRUE(VerifyPlanArena(plan).ok()) << VerifyPlanArena(plan);
  v1::MemoryPlan overlapping = plan;
  overlapping.mutable_buffers(2)->set_offset_bytes(768);
  overlapping.set_arena_bytes(1024);
  EXPECT_THAT(std::string(VerifyPlanArena(overlapping).message()), ::testing::HasSubstr("overlap"));
  v1::MemoryPlan wrong_arena = plan;
  wrong_arena.set_arena_bytes(2048);
  EXPECT_THAT(std::string(VerifyPlanArena(wrong_arena).message()), ::testing::HasSubstr("arena_bytes 2048"));
  v1::MemoryPlan wrong_bound = plan;
  wrong_bound.set_arena_lower_bound_bytes(1024);
  EXPECT_EQ(VerifyPlanArena(wrong_bound).message(),
            "arena_lower_bound_bytes 1024, but the blocks' lower bound is 1280");
  EXPECT_TRUE(VerifyPlanArena(v1::MemoryPlan()).ok());
}

}  // namespace
}  // namespace slimtrain::planner
