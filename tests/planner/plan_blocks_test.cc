// plan_blocks_test — PlanBlocks (planner/plan_blocks.h): in-place chains of
// a plan's buffers read back as the blocks its arena packed, also from
// plans the planner never writes (chains listed out of order, a name that is
// not there, a cycle).
#include "planner/plan_blocks.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "proto/plan.pb.h"

namespace slimtrain::planner {
namespace {

// A buffer: id, in place of (-1: none), size, first and last step, offset.
void AddBuffer(v1::MemoryPlan& plan, int32_t id, int32_t in_place_of, int64_t size, int32_t first, int32_t last,
               int64_t offset) {
  v1::Buffer* b = plan.add_buffers();
  b->set_id(id);
  b->set_in_place_of(in_place_of);
  b->set_size_bytes(size);
  b->set_first_step(first);
  b->set_last_step(last);
  b->set_offset_bytes(offset);
}

void ExpectBlock(const PlanBlock& block, int32_t id, int64_t size, int32_t first, int32_t last, int64_t offset) {
  EXPECT_EQ(block.id, id);
  EXPECT_EQ(block.request.size, size);
  EXPECT_EQ(block.request.first, first);
  EXPECT_EQ(block.request.last, last);
  EXPECT_EQ(block.offset_bytes, offset);
}

TEST(PlanBlocksTest, AChainIsOneBlockOfItsLargestSizeOverAllItsSteps) {
  v1::MemoryPlan plan;
  AddBuffer(plan, 0, -1, 512, 0, 2, 0);
  AddBuffer(plan, 1, 0, 1024, 2, 3, 0);  // reuses 0 in place, larger
  AddBuffer(plan, 2, 1, 256, 3, 7, 0);   // reuses 1
  AddBuffer(plan, 3, -1, 256, 1, 4, 1024);
  const std::vector<PlanBlock> blocks = PlanBlocks(plan);
  ASSERT_EQ(blocks.size(), 2u);
  ExpectBlock(blocks[0], 0, 1024, 0, 7, 0);
  ExpectBlock(blocks[1], 3, 256, 1, 4, 1024);
}

TEST(PlanBlocksTest, OrderAndMissingNamesDoNotMatter) {
  v1::MemoryPlan plan;
  AddBuffer(plan, 5, 9, 128, 4, 6, 256);    // in place of 9, listed after it
  AddBuffer(plan, 7, 42, 64, 0, 1, 512);    // names no buffer: a block of its own
  AddBuffer(plan, 9, -1, 256, 1, 4, 256);
  const std::vector<PlanBlock> blocks = PlanBlocks(plan);
  ASSERT_EQ(blocks.size(), 2u);
  ExpectBlock(blocks[0], 7, 64, 0, 1, 512);
  ExpectBlock(blocks[1], 9, 256, 1, 6, 256);
}

TEST(PlanBlocksTest, EachBufferOfACycleIsABlockOfItsOwn) {
  v1::MemoryPlan plan;
  AddBuffer(plan, 0, 1, 100, 0, 1, 0);
  AddBuffer(plan, 1, 0, 200, 1, 2, 256);
  AddBuffer(plan, 2, 2, 300, 5, 5, 512);  // in place of itself
  AddBuffer(plan, 3, 2, 50, 5, 6, 512);   // in place of 2
  const std::vector<PlanBlock> blocks = PlanBlocks(plan);
  ASSERT_EQ(blocks.size(), 3u);
  ExpectBlock(blocks[0], 0, 100, 0, 1, 0);
  ExpectBlock(blocks[1], 1, 200, 1, 2, 256);
  ExpectBlock(blocks[2], 2, 300, 5, 6, 512);
}

TEST(PlanBlocksTest, APlanWithoutBuffersHasNoBlocks) { EXPECT_TRUE(PlanBlocks(v1::MemoryPlan()).empty()); }

}  // namespace
}  // namespace slimtrain::planner
