// Whole models' gradients are right: they match central finite differences
// in float64 (exact and checkpoint, every model of executor_test_models.h);
// a tied linear's table gradient is the sum of both layers'; and a batch norm
// on the model input (no input gradient) gives the fast backend the
// reference's gradients under every strategy.
#include "engine/executor.h"

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/engine/executor_test_models.h"
#include "tests/engine/executor_test_util.h"
#include "tests/testing/status_assertions.h"

namespace slimtrain::engine::testing {
namespace {

using planner::Graph;
using planner::Strategy;

TEST(ExecutorTest, WholeModelGradientsMatchFiniteDifferencesInFloat64) {
  ReferenceBackend backend(DType::kF64);
  for (const absl::StatusOr<Graph>& built : {AllOps(), ActivationOps(), ShapeOps(), TransformerOps(), DecoderOps(),
                                             LanguageOps(), TiedLanguageOps(), UpsampleOps(), SequenceBnOps(),
                                             RegressionOps()}) {
    ASSERT_TRUE(built.ok()) << built.status();
    const Graph& g = *built;
    SCOPED_TRACE(g.spec().name());
    const Batch data = RandomBatch(g, 3, 6);
    for (Strategy s : {Strategy::kExact, Strategy::kCheckpoint}) {
      std::unique_ptr<Executor> e = MakeExecutor(g, s, 3, &backend);
      ASSERT_NE(e, nullptr);
      ASSERT_TRUE(ForwardBackwardOf(*e, data).ok());
      std::vector<double> analytic;
      for (int64_t i = 0; i < e->params().trainable_count(); ++i) analytic.push_back(e->params().GetGrad(i));
      std::mt19937_64 rng(9);
      // Every parameter tensor, a few elements each.
      for (const NamedTensor& t : e->params().tensors()) {
        if (!t.trainable) continue;
        int64_t count = 1;
        for (int64_t d : t.shape) count *= d;
        for (int k = 0; k < 3; ++k) {
          const int64_t i = t.offset + static_cast<int64_t>(rng() % count);
          const double h = 1e-6, original = e->params().Get(i);
          e->params().Set(i, original + h);
          ASSERT_OK_AND_ASSIGN(const StepResult up, ForwardBackwardOf(*e, data));
          e->params().Set(i, original - h);
          ASSERT_OK_AND_ASSIGN(const StepResult down, ForwardBackwardOf(*e, data));
          e->params().Set(i, original);
          const double numeric = (up.loss - down.loss) / (2 * h);
          EXPECT_NEAR(analytic[i], numeric, 1e-6 + 1e-5 * std::fabs(numeric))
              << t.name << " element " << i - t.offset << " " << planner::StrategyName(s);
        }
      }
    }
  }
}

// Weight tying: lm_head owns no weight (the parameter count drops by the
// table's 11x8), reads wte's table, and the table's gradient is the sum of
// the two layers' (the finite-difference test above checks the sum; here,
// the sum of the untied model's two gradients, with the same weights).
TEST(ExecutorTest, TiedLinearSharesTheEmbeddingTableAndSumsItsGradients) {
  ReferenceBackend backend(DType::kF64);
  ASSERT_OK_AND_ASSIGN(const Graph tied, TiedLanguageOps());
  ASSERT_OK_AND_ASSIGN(const Graph untied, LanguageOps());
  // ln_f has no β in the tied model: 8 fewer, and the table once.
  EXPECT_EQ(untied.parameter_count() - tied.parameter_count(), 11 * 8 + 8);
  std::unique_ptr<Executor> t = MakeExecutor(tied, Strategy::kExact, 3, &backend);
  std::unique_ptr<Executor> u = MakeExecutor(untied, Strategy::kExact, 3, &backend);
  ASSERT_NE(t, nullptr);
  ASSERT_NE(u, nullptr);
  auto find = [](const ParameterRegion& p, const std::string& name) -> const NamedTensor* {
    for (const NamedTensor& x : p.tensors()) {
      if (x.name == name) return &x;
    }
    return nullptr;
  };
  EXPECT_EQ(find(t->params(), "lm_head.weight"), nullptr);
  EXPECT_EQ(find(t->params(), "ln_f.bias"), nullptr);
  // The untied model with the tied one's weights: its lm_head gets wte's
  // table, its ln_f.bias zero (what the tied model has none of).
  for (const NamedTensor& x : u->params().tensors()) {
    const NamedTensor* src = find(t->params(), x.name == "lm_head.weight" ? "wte.weight" : x.name);
    int64_t count = 1;
    for (int64_t d : x.shape) count *= d;
    for (int64_t i = 0; i < count; ++i) u->params().Set(x.offset + i, src != nullptr ? t->params().Get(src->offset + i) : 0.0);
  }
  const Batch data = RandomBatch(tied, 3, 8);
  ASSERT_OK_AND_ASSIGN(const StepResult rt, t->ForwardBackward(data.images.data(), data.labels.data()));
  ASSERT_OK_AND_ASSIGN(const StepResult ru, u->ForwardBackward(data.images.data(), data.labels.data()));
  EXPECT_NEAR(rt.loss, ru.loss, 1e-12);
  const NamedTensor* table_t = find(t->params(), "wte.weight");
  const NamedTensor* table_u = find(u->params(), "wte.weight");
  const NamedTensor* head_u = find(u->params(), "lm_head.weight");
  ASSERT_NE(table_t, nullptr);
  ASSERT_NE(table_u, nullptr);
  ASSERT_NE(head_u, nullptr);
  for (int64_t i = 0; i < 11 * 8; ++i) {
    const double sum = u->params().GetGrad(table_u->offset + i) + u->params().GetGrad(head_u->offset + i);
    EXPECT_NEAR(t->params().GetGrad(table_t->offset + i), sum, 1e-12 + 1e-10 * std::fabs(sum)) << i;
  }
}

// A batch norm on the model input gets no input gradient (dx == nullptr):
// every backend computes dγ and dβ alone, for every strategy, and the fast
// backend's gradients match the reference's.
TEST(ExecutorTest, BatchNormOnTheModelInput) {
  v1::ModelSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    name: "input_bn"
    input { dims: 3 dims: 6 dims: 6 }
    num_classes: 4
    layers { name: "bn0" inputs: "input" batch_norm {} }
    layers { name: "relu0" inputs: "bn0" relu {} }
    layers { name: "conv1" inputs: "relu0" conv2d { out_channels: 4 kernel_size: 3 padding: 1 } }
    layers { name: "gap" inputs: "conv1" global_avg_pool {} }
    layers { name: "fc" inputs: "gap" linear { out_features: 4 } }
    layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
  )pb", &spec));
  ASSERT_OK_AND_ASSIGN(const Graph g, Graph::Build(spec));
  const Batch data = RandomBatch(g, 5, 11);
  ReferenceBackend reference(DType::kF32);
  FastBackend fast(1);
  for (Strategy s : {Strategy::kExact, Strategy::kApprox4, Strategy::kCheckpoint}) {
    const Gradients a = RunForwardBackward(g, s, 5, &reference, data);
    const Gradients b = RunForwardBackward(g, s, 5, &fast, data);
    ASSERT_FALSE(a.grads.empty()) << planner::StrategyName(s);
    EXPECT_LT(L2RelativeError(b.grads, a.grads), 1e-4) << planner::StrategyName(s);
    // bn0's dγ, dβ are the first trainable gradients: not all zero.
    EXPECT_NE(a.grads[0], 0.0) << planner::StrategyName(s);
  }
}

}  // namespace
}  // namespace slimtrain::engine::testing
