// After warm-up, a training step makes no heap allocation over 64 KiB: the
// arena and the parameter region are all the memory a step needs. malloc and
// its relatives are interposed here to count large requests.
#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <random>
#include <vector>

#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"
#include "engine/executor.h"
#include "gtest/gtest.h"
#include "planner/zoo.h"

namespace {

constexpr size_t kLarge = 64 * 1024;
std::atomic<bool> g_counting{false};
std::atomic<long> g_large{0};

void Note(size_t bytes) {
  if (g_counting.load(std::memory_order_relaxed) && bytes > kLarge) g_large.fetch_add(1);
}

}  // namespace

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);

void* malloc(size_t n) {
  Note(n);
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
  Note(n * size);
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  Note(n);
  return __libc_realloc(p, n);
}
void* memalign(size_t alignment, size_t n) {
  Note(n);
  return __libc_memalign(alignment, n);
}
void* aligned_alloc(size_t alignment, size_t n) {
  Note(n);
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, size_t alignment, size_t n) {
  Note(n);
  *out = __libc_memalign(alignment, n);
  return *out == nullptr ? 12 /* ENOMEM */ : 0;
}
}

namespace slimtrain::engine {
namespace {

long LargeAllocationsInOneStep(Backend* backend, planner::Strategy strategy) {
  const planner::Graph g = planner::Graph::Build(planner::ZooModel("resnet20").value()).value();
  const int64_t batch = 8;
  std::unique_ptr<Executor> e = Executor::Create(g, strategy, batch, backend, {}).value();
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> images(batch * 3 * 32 * 32);
  for (float& v : images) v = normal(rng);
  std::vector<int32_t> labels(batch, 3);
  for (int warmup = 0; warmup < 2; ++warmup) EXPECT_TRUE(e->TrainStep(images.data(), labels.data(), 0.1).ok());
  g_large = 0;
  g_counting = true;
  const bool ok = e->TrainStep(images.data(), labels.data(), 0.1).ok();
  g_counting = false;
  EXPECT_TRUE(ok);
  return g_large.load();
}

TEST(AllocationTest, HookCountsLargeAllocations) {
  g_large = 0;
  g_counting = true;
  std::vector<char> big(kLarge + 1);
  g_counting = false;
  EXPECT_EQ(g_large.load(), 1);
  EXPECT_EQ(big.size(), kLarge + 1);
}

TEST(AllocationTest, NoLargeAllocationInATrainingStepAfterWarmUp) {
  FastBackend fast;
  ReferenceBackend reference(DType::kF32);
  for (planner::Strategy s : {planner::Strategy::kExact, planner::Strategy::kApprox4,
                              planner::Strategy::kCheckpoint}) {
    EXPECT_EQ(LargeAllocationsInOneStep(&fast, s), 0) << "fast " << planner::StrategyName(s);
    EXPECT_EQ(LargeAllocationsInOneStep(&reference, s), 0) << "reference " << planner::StrategyName(s);
  }
}

}  // namespace
}  // namespace slimtrain::engine
