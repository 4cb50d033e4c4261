// Each strategy keeps its promise against exact on real models
// (docs/DESIGN.md): approx-K's forward is exact bit for bit, the ReLU masks it
// restores from codes are exact, its gradient error shrinks with K and
// vanishes with pass-through codes; mixed runs each tensor with its own bits
// (and recomputes segments, coding the rest); checkpointing gives exact's
// gradients and running statistics, with dropout too.
#include "engine/executor.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"
#include "gtest/gtest.h"
#include "planner/planner.h"
#include "planner/schedule.h"
#include "tests/engine/executor_test_models.h"
#include "tests/engine/executor_test_util.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine::testing {
namespace {

using planner::Graph;
using planner::Strategy;
using test_util::ZooGraph;

TEST(ExecutorTest, ApproxForwardIsExactBitForBit) {
  ReferenceBackend reference(DType::kF32);
  FastBackend fast;
  for (const absl::StatusOr<Graph>& built :
       {ZooGraph("fmnist_resnet"), ZooGraph("fmnist_resnet_post"), ActivationOps(), TransformerOps()}) {
    ASSERT_TRUE(built.ok()) << built.status();
    const Graph& g = *built;
    const Batch data = RandomBatch(g, 4, 1);
    for (Backend* backend : std::vector<Backend*>{&reference, &fast}) {
      const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, backend, data);
      for (Strategy s : {Strategy::kApprox8, Strategy::kApprox4, Strategy::kApprox2}) {
        const Gradients approx = RunForwardBackward(g, s, 4, backend, data);
        EXPECT_EQ(std::memcmp(&approx.loss, &exact.loss, sizeof(double)), 0)
            << g.spec().name() << " " << backend->name() << " " << planner::StrategyName(s) << ": " << approx.loss
            << " vs " << exact.loss;
      }
    }
  }
}

// Batch norm `bn`'s β gradient under approx-8, -4 and -2 equals exact's bit
// for bit: it is Σ g·mask with an exact upstream gradient, so equal only if
// the mask the approximate backward applies is the forward's own. Call it
// through ASSERT_NO_FATAL_FAILURE.
void ExpectBetaGradientExactUnderApprox(const Graph& g, const std::string& bn) {
  ReferenceBackend backend(DType::kF32);
  const Batch data = RandomBatch(g, 4, 2);
  std::unique_ptr<Executor> probe = MakeExecutor(g, Strategy::kExact, 4, &backend);
  ASSERT_NE(probe, nullptr);
  const int64_t beta = probe->params().node(g.Find(bn)).beta;
  const int64_t channels = g.node(g.Find(bn)).out[0];
  const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, &backend, data);
  ASSERT_EQ(exact.grads.size(), static_cast<size_t>(probe->params().trainable_count()));
  for (Strategy s : {Strategy::kApprox8, Strategy::kApprox4, Strategy::kApprox2}) {
    const Gradients approx = RunForwardBackward(g, s, 4, &backend, data);
    ASSERT_EQ(approx.grads.size(), exact.grads.size()) << planner::StrategyName(s);
    for (int64_t c = 0; c < channels; ++c) {
      EXPECT_EQ(approx.grads[beta + c], exact.grads[beta + c]) << planner::StrategyName(s) << " channel " << c;
    }
  }
}

// The last BN→ReLU's mask comes from its codes.
TEST(ExecutorTest, ReluMaskFromCodesIsExact) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  ASSERT_NO_FATAL_FAILURE(ExpectBetaGradientExactUnderApprox(g, "bn"));
}

// The relu after a post-activation block's add has no batch_norm before it:
// its kRelu code keeps the mask exact, so the last block's bn2 β gradient
// (Σ of the masked, otherwise exact upstream gradient) equals exact's.
TEST(ExecutorTest, ReluMaskFromAReluCodeIsExact) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet_post"));
  ASSERT_NO_FATAL_FAILURE(ExpectBetaGradientExactUnderApprox(g, "layer3.2.bn2"));
}

TEST(ExecutorTest, ApproxGradientErrorShrinksWithMoreBitsAndVanishesWithPassThrough) {
  ReferenceBackend backend(DType::kF64);
  for (const absl::StatusOr<Graph>& built :
       {ZooGraph("fmnist_resnet"), ZooGraph("fmnist_resnet_post"), ActivationOps(), TransformerOps()}) {
    ASSERT_TRUE(built.ok()) << built.status();
    const Graph& g = *built;
    const Batch data = RandomBatch(g, 8, 3);
    const Gradients exact = RunForwardBackward(g, Strategy::kExact, 8, &backend, data);
    const double e2 = L2RelativeError(RunForwardBackward(g, Strategy::kApprox2, 8, &backend, data).grads, exact.grads);
    const double e4 = L2RelativeError(RunForwardBackward(g, Strategy::kApprox4, 8, &backend, data).grads, exact.grads);
    const double e8 = L2RelativeError(RunForwardBackward(g, Strategy::kApprox8, 8, &backend, data).grads, exact.grads);
    EXPECT_GT(e2, e4) << g.spec().name();
    EXPECT_GT(e4, e8) << g.spec().name();
    EXPECT_GT(e8, 0.0) << g.spec().name();
    std::printf("%s relative gradient error: approx2 %.3g, approx4 %.3g, approx8 %.3g\n", g.spec().name().c_str(), e2,
                e4, e8);
  }
  // Pass-through codes keep every value: every coding's data path (encode
  // after the forward, decode in the first backward reading it) must give
  // exact's gradients on every op.
  for (const absl::StatusOr<Graph>& built :
       {ZooGraph("fmnist_resnet"), ZooGraph("fmnist_resnet_post"), AllOps(), ActivationOps(), ShapeOps(),
        TransformerOps(), DecoderOps(), LanguageOps(), TiedLanguageOps(), UpsampleOps(), SequenceBnOps(),
        RegressionOps()}) {
    ASSERT_TRUE(built.ok()) << built.status();
    const Graph& g = *built;
    const Batch data = RandomBatch(g, 4, 3);
    const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, &backend, data);
    const double pass =
        L2RelativeError(RunForwardBackward(g, Strategy::kApproxPassThrough, 4, &backend, data).grads, exact.grads);
    EXPECT_LT(pass, 1e-10) << g.spec().name() << ": pass-through must reproduce exact gradients";
  }
}

// Bits for every tensor approx4 codes: pass-through for all (`pass`), and
// 2, 4, 8 and exact in turn (`mixed`); `count` tensors.
struct TestBits {
  planner::TensorBits pass, mixed;
  int count = 0;
};
TestBits PassAndMixedBits(const Graph& g, Backend* backend) {
  TestBits t;
  std::unique_ptr<Executor> approx = MakeExecutor(g, Strategy::kApprox4, 4, backend);
  if (approx == nullptr) return t;
  for (const v1::Buffer& b : approx->plan().buffers()) {
    if (b.kind() != v1::Buffer::CODE) continue;
    t.pass[b.layer()] = planner::kPassThroughBits;
    const int bits[] = {2, 4, 8, 0};
    if (bits[t.count % 4] != 0) t.mixed[b.layer()] = bits[t.count % 4];
    ++t.count;
  }
  return t;
}

// mixed: each tensor's own bits. With every tensor at pass-through bits the
// gradients are exact's; with them at 2, 4, 8 and exact in turn the forward
// stays exact bit for bit and the gradient error lies between approx2's and
// exact's; a plan's bits come back from the plan alone (CreateFromPlan).
TEST(ExecutorTest, MixedRunsEachTensorWithItsOwnBits) {
  ReferenceBackend backend(DType::kF64);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet_post"));
  const Batch data = RandomBatch(g, 4, 6);
  const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, &backend, data);
  const TestBits bits = PassAndMixedBits(g, &backend);
  const planner::TensorBits& pass = bits.pass;
  const planner::TensorBits& mixed = bits.mixed;
  ASSERT_GT(bits.count, 8);
  EXPECT_LT(L2RelativeError(RunForwardBackward(g, Strategy::kMixed, 4, &backend, data, false, &pass).grads,
                            exact.grads),
            1e-10);
  const Gradients m = RunForwardBackward(g, Strategy::kMixed, 4, &backend, data, false, &mixed);
  EXPECT_EQ(m.loss, exact.loss);
  const double e2 = L2RelativeError(RunForwardBackward(g, Strategy::kApprox2, 4, &backend, data).grads, exact.grads);
  const double em = L2RelativeError(m.grads, exact.grads);
  EXPECT_GT(em, 0);
  EXPECT_LT(em, e2);
  std::unique_ptr<Executor> planned = MakeExecutor(g, Strategy::kMixed, 4, &backend, false, &mixed);
  ASSERT_NE(planned, nullptr);
  absl::StatusOr<std::unique_ptr<Executor>> again =
      Executor::CreateFromPlan(g, planned->plan(), &backend, ExecutorOptions());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->arena_bytes(), planned->arena_bytes());
}

// mixed with recomputed segments: the segments up to the last checkpoint are
// recomputed exactly and only the rest is coded. With every code at
// pass-through bits the gradients are exact's; with 2, 4, 8 and exact in turn
// the loss is exact's and the gradient error below approx2's; the plan runs
// again from itself alone.
TEST(ExecutorTest, MixedRecomputesSegmentsAndCodesTheRest) {
  ReferenceBackend backend(DType::kF64);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet_post"));
  const Batch data = RandomBatch(g, 4, 8);
  const std::vector<int> cuts = planner::CutPoints(g);
  ASSERT_GT(cuts.size(), 6u);
  const std::vector<int> checkpoints = {cuts[cuts.size() / 3], cuts[cuts.size() / 2]};
  const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, &backend, data);
  const TestBits bits = PassAndMixedBits(g, &backend);
  const planner::TensorBits& pass = bits.pass;
  const planner::TensorBits& mixed = bits.mixed;
  auto run = [&](const planner::TensorBits& tensor_bits, v1::MemoryPlan* plan_out) {
    planner::PlanOptions options;
    options.batch_size = 4;
    options.include_buffers = true;
    options.tensor_bits = &tensor_bits;
    options.mixed_checkpoints = &checkpoints;
    absl::StatusOr<v1::MemoryPlan> plan = planner::PlanMemory(g, Strategy::kMixed, options, backend);
    EXPECT_TRUE(plan.ok()) << plan.status();
    Gradients out;
    if (!plan.ok()) return out;
    if (plan_out != nullptr) *plan_out = *plan;
    ExecutorOptions eo;
    eo.seed = 7;
    eo.debug = true;  // NaN-poisons every block outside its lifetime
    absl::StatusOr<std::unique_ptr<Executor>> e = Executor::CreateFromPlan(g, *plan, &backend, eo);
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) return out;
    absl::StatusOr<StepResult> r = ForwardBackwardOf(**e, data);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return out;
    out.loss = r->loss;
    for (int64_t i = 0; i < (*e)->params().trainable_count(); ++i) out.grads.push_back((*e)->params().GetGrad(i));
    return out;
  };
  v1::MemoryPlan plan;
  EXPECT_LT(L2RelativeError(run(pass, nullptr).grads, exact.grads), 1e-10);
  const Gradients m = run(mixed, &plan);
  EXPECT_EQ(m.loss, exact.loss);
  const double e2 = L2RelativeError(RunForwardBackward(g, Strategy::kApprox2, 4, &backend, data).grads, exact.grads);
  const double em = L2RelativeError(m.grads, exact.grads);
  EXPECT_GT(em, 0);
  EXPECT_LT(em, e2);
  ASSERT_EQ(plan.checkpoints_size(), 2);
  EXPECT_GT(plan.recompute_flops(), 0);
  int coded = 0;
  for (const v1::Buffer& b : plan.buffers()) {
    if (b.kind() != v1::Buffer::CODE) continue;
    ++coded;
    EXPECT_GT(g.Find(b.layer()), checkpoints.back()) << b.name();
  }
  EXPECT_GT(coded, 0);
}

TEST(ExecutorTest, CheckpointGradientsEqualExactIncludingDropout) {
  ReferenceBackend backend(DType::kF64);
  for (const absl::StatusOr<Graph>& built :
       {ZooGraph("fmnist_resnet"), AllOps(), ActivationOps(), ShapeOps(), TransformerOps(), DecoderOps(), LanguageOps(),
        TiedLanguageOps(), UpsampleOps(), SequenceBnOps(), RegressionOps()}) {
    ASSERT_TRUE(built.ok()) << built.status();
    const Graph& g = *built;
    const Batch data = RandomBatch(g, 4, 4);
    const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, &backend, data);
    for (Strategy s : {Strategy::kCheckpoint, Strategy::kCheckpointOptimal}) {
      const Gradients ckpt = RunForwardBackward(g, s, 4, &backend, data);
      EXPECT_EQ(ckpt.loss, exact.loss) << g.spec().name();
      EXPECT_LT(L2RelativeError(ckpt.grads, exact.grads), 1e-12) << g.spec().name() << " " << planner::StrategyName(s);
      // Recomputation leaves the running statistics as one forward pass did.
      EXPECT_EQ(ckpt.state, exact.state) << g.spec().name() << " " << planner::StrategyName(s);
    }
  }
}

}  // namespace
}  // namespace slimtrain::engine::testing
