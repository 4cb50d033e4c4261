// Data-parallel plans (planner/data_parallel.h): the gradient buckets cover
// every trainable element exactly once, close at bucket_bytes, are
// ALLREDUCE buffers written by a BACKWARD step that has completed their
// tensors (in backward order; the last one when not overlapped) and read by
// OPTIMIZER; a plan for one rank is the plan it always was; options out of
// range are refused by name; and the plan's communication fields are what
// a small model's counts by hand give.
#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "planner/data_parallel.h"
#include "planner/parameter_layout.h"
#include "planner/planner.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::planner {
namespace {

using test_util::GraphFromText;
using test_util::ZooGraph;

// The index of the OPTIMIZER step and of the last BACKWARD step.
std::pair<int, int> OptimizerAndLastBackward(const Schedule& s) {
  int optimizer = -1, last_backward = -1;
  for (int t = 0; t < static_cast<int>(s.steps.size()); ++t) {
    if (s.steps[t].kind == v1::Step::OPTIMIZER) optimizer = t;
    if (s.steps[t].kind == v1::Step::BACKWARD) last_backward = t;
  }
  return {optimizer, last_backward};
}

// The step of each node's backward (-1: none).
std::vector<int> BackwardSteps(const Graph& g, const Schedule& s) {
  std::vector<int> step(g.size(), -1);
  for (int t = 0; t < static_cast<int>(s.steps.size()); ++t) {
    if (s.steps[t].kind == v1::Step::BACKWARD) step[s.steps[t].node] = t;
  }
  return step;
}

struct Setting {
  Strategy strategy;
  int64_t bucket_bytes;
  bool overlap;
};

// Every invariant of the buckets of one plan.
void ExpectBucketsHold(const Graph& g, const RunnablePlan& run, const Setting& setting) {
  const Schedule& s = run.schedule;
  const ParameterLayout layout = LayoutParameters(g);
  ASSERT_EQ(layout.trainable_count, g.parameter_count());
  ASSERT_FALSE(s.buckets.empty());
  const auto [optimizer, last_backward] = OptimizerAndLastBackward(s);
  const std::vector<int> backward = BackwardSteps(g, s);
  // Which tensor each trainable element belongs to.
  std::vector<int> tensor_of(layout.trainable_count, -1);
  for (size_t i = 0; i < layout.tensors.size(); ++i) {
    const ParameterTensor& t = layout.tensors[i];
    if (!t.trainable) continue;
    for (int64_t e = t.offset; e < t.offset + t.count; ++e) tensor_of[e] = static_cast<int>(i);
  }
  std::vector<int> covered(layout.trainable_count, 0);
  int previous_ready = -1;
  for (size_t k = 0; k < s.buckets.size(); ++k) {
    const GradientBucket& b = s.buckets[k];
    SCOPED_TRACE("bucket " + std::to_string(k));
    // Its buffer: an ALLREDUCE buffer of its bytes, from its ready step to
    // the optimizer's, and the plan's buffer of that id.
    const ScheduleBuffer& buffer = s.buffers[b.buffer];
    EXPECT_EQ(buffer.kind, v1::Buffer::ALLREDUCE);
    EXPECT_EQ(buffer.name, "allreduce.bucket" + std::to_string(k));
    EXPECT_EQ(buffer.size_bytes, b.elements * s.element_bytes);
    EXPECT_EQ(buffer.first_step, b.ready_step);
    EXPECT_EQ(buffer.last_step, optimizer);
    EXPECT_FALSE(buffer.saved);
    const v1::Buffer& planned = run.plan.buffers(b.buffer);
    EXPECT_EQ(planned.kind(), v1::Buffer::ALLREDUCE);
    EXPECT_NE(planned.reason().find("summed over 2 ranks"), std::string::npos) << planned.reason();
    const std::vector<int> writes = run.schedule.steps[b.ready_step].writes();
    EXPECT_NE(std::find(writes.begin(), writes.end(), b.buffer), writes.end());
    const std::vector<int> reads = run.schedule.steps[optimizer].reads();
    EXPECT_NE(std::find(reads.begin(), reads.end(), b.buffer), reads.end());
    // Ready at a BACKWARD step, in backward order; after backward when not
    // overlapped.
    EXPECT_EQ(s.steps[b.ready_step].kind, v1::Step::BACKWARD);
    EXPECT_GE(b.ready_step, previous_ready);
    previous_ready = b.ready_step;
    if (!setting.overlap) {
      EXPECT_EQ(b.ready_step, last_backward);
    }
    // Ranges ascending, merged, of its elements; each tensor whole, its
    // gradient complete by the ready step (a tied table: both writers'),
    // named in the reason.
    int64_t elements = 0, largest = 0, end = -1;
    std::map<int, int64_t> tensors;  // tensor -> its elements in the bucket
    for (const auto& [first, last] : b.ranges) {
      EXPECT_LT(end, first) << "ranges ascending and merged";
      end = last;
      elements += last - first;
      ASSERT_GE(first, 0);
      ASSERT_LE(last, layout.trainable_count);
      for (int64_t e = first; e < last; ++e) {
        ++covered[e];
        ++tensors[tensor_of[e]];
      }
    }
    EXPECT_EQ(elements, b.elements);
    for (const auto& [i, count] : tensors) {
      const ParameterTensor& t = layout.tensors[i];
      EXPECT_EQ(count, t.count) << t.name << " is split";
      largest = std::max(largest, t.count);
      EXPECT_LE(backward[t.node], b.ready_step) << t.name;
      for (const Node& n : g.nodes()) {
        if (n.tied_to == t.node) {
          EXPECT_LE(backward[n.id], b.ready_step) << t.name << ", tied to " << n.name;
        }
      }
      EXPECT_NE(planned.reason().find(t.name), std::string::npos) << t.name << ": " << planned.reason();
    }
    // Closed at bucket_bytes: the last bucket may hold less; none holds
    // bucket_bytes without its last (so not without its largest) tensor.
    const int64_t bytes = b.elements * s.element_bytes;
    if (k + 1 < s.buckets.size()) {
      EXPECT_GE(bytes, setting.bucket_bytes);
    }
    EXPECT_LT(bytes - largest * s.element_bytes, setting.bucket_bytes);
  }
  for (int64_t e = 0; e < layout.trainable_count; ++e) {
    ASSERT_EQ(covered[e], 1) << "element " << e << " of the gradient region";
  }
}

// ResNets (batch norm), a ViT (layer norm, class token, positional
// embedding) and nanoGPT (a tied table), under exact, checkpointing and
// approx4, with buckets of 4 KiB (many), 256 KiB and 25 MiB (one or a few),
// overlapped or not.
TEST(DataParallelTest, BucketsCoverEveryGradientOnceInBackwardOrder) {
  const std::vector<Setting> settings = {{Strategy::kExact, 4 << 10, true},
                                         {Strategy::kExact, 256 << 10, false},
                                         {Strategy::kCheckpoint, 4 << 10, true},
                                         {Strategy::kApprox4, kDefaultBucketBytes, true},
                                         {Strategy::kExact, kDefaultBucketBytes, false}};
  for (const char* model : {"fmnist_resnet", "resnet20", "fmnist_vit", "nanogpt"}) {
    ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph(model));
    for (const Setting& setting : settings) {
      SCOPED_TRACE(absl::StrCat(model, ", ", StrategyName(setting.strategy), ", ", setting.bucket_bytes,
                                "-byte buckets", setting.overlap ? "" : ", after backward"));
      PlanOptions options;
      options.batch_size = 2;
      options.data_parallel.ranks = 2;
      options.data_parallel.bucket_bytes = setting.bucket_bytes;
      options.data_parallel.overlap_communication = setting.overlap;
      ASSERT_OK_AND_ASSIGN(const RunnablePlan run, PlanToRun(g, setting.strategy, options, DefaultCostModel()));
      ExpectBucketsHold(g, run, setting);
      EXPECT_EQ(run.plan.ranks(), 2);
      EXPECT_EQ(run.plan.allreduce_buckets(), static_cast<int>(run.schedule.buckets.size()));
      EXPECT_EQ(run.plan.allreduce_gradient_bytes_per_step(), run.plan.gradient_bytes());
    }
  }
}

// Many buckets overlapped: each waits for its own tensors only, so on a
// deep model they become ready at different steps, the first long before
// backward ends; and the buckets make the arena larger where parameters
// outweigh the activations.
TEST(DataParallelTest, OverlappedBucketsStartDuringBackwardAndCountInThePeak) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("resnet20"));
  PlanOptions alone;
  alone.batch_size = 1;
  PlanOptions ranked = alone;
  ranked.data_parallel.ranks = 2;
  ranked.data_parallel.bucket_bytes = 64 << 10;
  ASSERT_OK_AND_ASSIGN(const RunnablePlan run, PlanToRun(g, Strategy::kExact, ranked, DefaultCostModel()));
  const std::vector<GradientBucket>& buckets = run.schedule.buckets;
  ASSERT_GT(buckets.size(), 4u);
  EXPECT_LT(buckets.front().ready_step, buckets.back().ready_step);
  EXPECT_LT(buckets.front().ready_step, OptimizerAndLastBackward(run.schedule).second);
  ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan one, PlanMemory(g, Strategy::kExact, alone, DefaultCostModel()));
  // At batch 1 the ResNet's 1 MiB of gradients outweighs what backward's
  // last steps keep: the arena grows, by less than the buckets (they reuse
  // the activations' memory).
  EXPECT_GT(run.plan.peak_bytes(), one.peak_bytes());
  EXPECT_LT(run.plan.peak_bytes() - one.peak_bytes(), run.plan.gradient_bytes() + 256 * 64);
  EXPECT_EQ(run.plan.peak_bytes(), run.plan.parameter_bytes() + run.plan.gradient_bytes() +
                                       run.plan.optimizer_state_bytes() + run.plan.arena_bytes());
}

// One rank: whatever the other data-parallel options say, the plan is the
// plan of one process, byte for byte, with no ALLREDUCE buffer and every
// data-parallel field unset.
TEST(DataParallelTest, OneRankPlansAreUnchanged) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  for (Strategy strategy : {Strategy::kExact, Strategy::kApprox4, Strategy::kCheckpointOptimal, Strategy::kMixed}) {
    SCOPED_TRACE(StrategyName(strategy));
    PlanOptions plain;
    plain.batch_size = 8;
    plain.include_buffers = true;
    PlanOptions one = plain;
    one.data_parallel.ranks = 1;
    one.data_parallel.bucket_bytes = 4;
    one.data_parallel.overlap_communication = false;
    one.data_parallel.sync_batch_norm = true;
    ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan a, PlanMemory(g, strategy, plain, DefaultCostModel()));
    ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan b, PlanMemory(g, strategy, one, DefaultCostModel()));
    EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
    for (const v1::Buffer& buffer : b.buffers()) EXPECT_NE(buffer.kind(), v1::Buffer::ALLREDUCE) << buffer.name();
    EXPECT_EQ(b.ranks(), 0);
    EXPECT_EQ(b.bucket_bytes(), 0);
    EXPECT_EQ(b.sent_bytes_per_step(), 0);
    EXPECT_EQ(b.allreduce_buckets(), 0);
    ASSERT_OK_AND_ASSIGN(const RunnablePlan run, PlanToRun(g, strategy, one, DefaultCostModel()));
    EXPECT_TRUE(run.schedule.buckets.empty());
    EXPECT_EQ(run.schedule.ranks, 1);
  }
}

TEST(DataParallelTest, OptionsOutOfRangeAreRefusedByName) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  struct Case {
    int ranks;
    int64_t bucket_bytes;
    const char* message;
  };
  for (const Case& c : {Case{0, kDefaultBucketBytes, "data_parallel.ranks must be in [1, 65536], got 0"},
                        Case{-2, kDefaultBucketBytes, "data_parallel.ranks must be in [1, 65536], got -2"},
                        Case{65537, kDefaultBucketBytes, "data_parallel.ranks must be in [1, 65536], got 65537"},
                        Case{2, 3, "data_parallel.bucket_bytes must be at least one element (4 bytes), got 3"},
                        Case{1, 0, "data_parallel.bucket_bytes must be at least one element (4 bytes), got 0"}}) {
    PlanOptions options;
    options.batch_size = 4;
    options.data_parallel.ranks = c.ranks;
    options.data_parallel.bucket_bytes = c.bucket_bytes;
    const absl::Status plan = PlanMemory(g, Strategy::kExact, options, DefaultCostModel()).status();
    EXPECT_EQ(plan.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(plan.message(), c.message);
    EXPECT_EQ(PlanToRun(g, Strategy::kExact, options, DefaultCostModel()).status(), plan);
  }
  DataParallelOptions largest;
  largest.ranks = kMaxRanks;
  largest.bucket_bytes = 8;
  EXPECT_TRUE(CheckDataParallelOptions(largest, 8).ok());
}

// conv (2x1x3x3 + 2) → batch norm (2 + 2) → relu → pool → linear (3x2 + 3):
// 33 parameters, 132 bytes of gradients.
constexpr char kTiny[] = R"pb(
  name: "tiny"
  input { dims: 1 dims: 4 dims: 4 }
  num_classes: 3
  layers { name: "conv" inputs: "input" conv2d { out_channels: 2 kernel_size: 3 padding: 1 } }
  layers { name: "bn" inputs: "conv" batch_norm {} }
  layers { name: "relu" inputs: "bn" relu {} }
  layers { name: "gap" inputs: "relu" global_avg_pool {} }
  layers { name: "fc" inputs: "gap" linear { out_features: 3 } }
  layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
)pb";

// By hand: the region holds conv.weight [0,18), conv.bias [18,20),
// bn.weight [20,22), bn.bias [22,24), fc.weight [24,30), fc.bias [30,33).
// Backward completes fc, then bn, then conv; among one step's tensors the
// later in the region goes first. With 40-byte buckets: fc.bias (12 bytes)
// + fc.weight (24) = 36, + bn.bias (8) = 44 closes bucket 0 at bn's
// backward; bn.weight (8) + conv.bias (8) + conv.weight (72) = 88 close
// bucket 1 at conv's. 4 ranks send 2·3/4 of 132 bytes = 198. Sync batch
// norm adds bn's two float64 sums of its 2 channels forward and two
// backward, 64 bytes: a payload of 196 bytes, 294 sent.
TEST(DataParallelTest, BucketsAndVolumesOfASmallModelByHand) {
  ASSERT_OK_AND_ASSIGN(const Graph g, GraphFromText(kTiny));
  ASSERT_EQ(g.parameter_count(), 33);
  PlanOptions options;
  options.batch_size = 2;
  options.data_parallel.ranks = 4;
  options.data_parallel.bucket_bytes = 40;
  ASSERT_OK_AND_ASSIGN(const RunnablePlan run, PlanToRun(g, Strategy::kExact, options, DefaultCostModel()));
  const std::vector<int> backward = BackwardSteps(g, run.schedule);
  ASSERT_EQ(run.schedule.buckets.size(), 2u);
  const GradientBucket& b0 = run.schedule.buckets[0];
  const GradientBucket& b1 = run.schedule.buckets[1];
  EXPECT_EQ(b0.ranges, (std::vector<std::pair<int64_t, int64_t>>{{22, 33}}));
  EXPECT_EQ(b0.elements, 11);
  EXPECT_EQ(b0.ready_step, backward[g.Find("bn")]);
  EXPECT_EQ(b1.ranges, (std::vector<std::pair<int64_t, int64_t>>{{0, 22}}));
  EXPECT_EQ(b1.elements, 22);
  EXPECT_EQ(b1.ready_step, backward[g.Find("conv")]);
  const v1::Buffer& buffer0 = run.plan.buffers(b0.buffer);
  EXPECT_EQ(buffer0.name(), "allreduce.bucket0");
  EXPECT_EQ(buffer0.size_bytes(), 44);
  EXPECT_EQ(buffer0.layer(), "bn");
  EXPECT_EQ(buffer0.reason(),
            absl::StrCat("gradients of fc.bias, fc.weight, bn.bias (44 B), summed over 4 ranks: complete after "
                         "'bn''s backward (step ",
                         b0.ready_step, "); the optimizer reads their mean"));
  EXPECT_EQ(run.plan.buffers(b1.buffer).size_bytes(), 88);
  EXPECT_EQ(run.plan.ranks(), 4);
  EXPECT_EQ(run.plan.bucket_bytes(), 40);
  EXPECT_TRUE(run.plan.overlap_communication());
  EXPECT_FALSE(run.plan.sync_batch_norm());
  EXPECT_EQ(run.plan.allreduce_buckets(), 2);
  EXPECT_EQ(run.plan.allreduce_gradient_bytes_per_step(), 132);
  EXPECT_EQ(run.plan.sync_batch_norm_bytes_per_step(), 0);
  EXPECT_EQ(run.plan.sent_bytes_per_step(), 198);

  options.data_parallel.sync_batch_norm = true;
  options.data_parallel.overlap_communication = false;
  ASSERT_OK_AND_ASSIGN(const RunnablePlan synced, PlanToRun(g, Strategy::kExact, options, DefaultCostModel()));
  EXPECT_EQ(synced.plan.sync_batch_norm_bytes_per_step(), 64);
  EXPECT_EQ(synced.plan.sent_bytes_per_step(), 294);
  EXPECT_TRUE(synced.plan.sync_batch_norm());
  EXPECT_FALSE(synced.plan.overlap_communication());
  for (const GradientBucket& b : synced.schedule.buckets) EXPECT_EQ(b.ready_step, backward[g.Find("conv")]);
  // 2 ranks: 2·(R-1)/R = 1, each sends the payload once.
  options.data_parallel.ranks = 2;
  ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan two, PlanMemory(g, Strategy::kExact, options, DefaultCostModel()));
  EXPECT_EQ(two.sent_bytes_per_step(), 196);
}

// An embedding's table tied to a linear is written by both backwards, the
// linear's first: its bucket waits for the embedding's.
TEST(DataParallelTest, ATiedTableWaitsForItsEmbedding) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("nanogpt"));
  int embedding = -1, head = -1;
  for (const Node& n : g.nodes()) {
    if (n.tied_to >= 0) {
      head = n.id;
      embedding = n.tied_to;
    }
  }
  ASSERT_GE(embedding, 0);
  PlanOptions options;
  options.batch_size = 1;
  options.data_parallel.ranks = 2;
  options.data_parallel.bucket_bytes = 4;  // one tensor a bucket
  ASSERT_OK_AND_ASSIGN(const RunnablePlan run, PlanToRun(g, Strategy::kExact, options, DefaultCostModel()));
  const std::vector<int> backward = BackwardSteps(g, run.schedule);
  ASSERT_LT(backward[head], backward[embedding]);
  const int64_t table = LayoutParameters(g).nodes[embedding].weight;
  int found = 0;
  for (const GradientBucket& b : run.schedule.buckets) {
    if (b.ranges.front().first != table) continue;
    ++found;
    EXPECT_EQ(b.ready_step, backward[embedding]);
  }
  EXPECT_EQ(found, 1);
}

}  // namespace
}  // namespace slimtrain::planner
