// plan_blocks_test — PlanBlocks (planner/plan_blocks.h): in-place chains of
// a plan's buffers read back as the blocks its arena packed, also from
// plans the planner never writes (chains listed out of order, a name that is
// not there, a cycle).
#include "planner/plan_blocks.h"

#include <cstdint>
#include <string>
#include <vector>

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

TEST_P(PlanBlocksTest, ReadsTheBlocksBack) {
  v1::MemoryPlan plan;
  for (const BufferRow& r : GetParam().buffers) {
    v1::Buffer* b = plan.add_buffers();
    b->set_id(r.id);
    b->set_in_place_of(r.in_place_of);
    b->set_size_bytes(r.size);
    b->set_first_step(r.first);
    b->set_last_step(r.last);
    b->set_offset_bytes(r.offset);
  }
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

}  // namespace
}  // namespace slimtrain::planner
