// PlanMemory: the invariants of docs/DESIGN.md on every zoo model × strategy, byte
// counts computed by hand on a small model, checkpoint choice, and the budget
// answers.
#include "planner/planner.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "planner/coding.h"
#include "planner/plan_request.h"
#include "planner/zoo.h"
#include "tests/testing/plan_checks.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::planner {
namespace {

// Graphs come back as StatusOr: a test takes them with ASSERT_OK_AND_ASSIGN,
// so a model that does not build fails that test alone.
using test_util::ExpectPlanInvariants;
using test_util::GraphFromText;
using test_util::PlanOrDie;
using test_util::ZooGraph;

class ZooPlanTest : public testing::TestWithParam<std::string> {};

TEST_P(ZooPlanTest, EveryStrategyKeepsTheArenaInvariants) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph(GetParam()));
  PlanOptions options;
  // Images (C,H,W) of 224 and more get batch 2; token inputs have no H.
  options.batch_size = g.node(0).out.size() == 3 && g.node(0).out[1] >= 224 ? 2 : 8;
  options.include_buffers = true;
  // approx-K codes every tensor a backward reads; naive-K BN→ReLU pairs only.
  bool has_bn_relu = false;
  for (const Node& n : g.nodes()) {
    has_bn_relu |= n.kind == OpKind::kBatchNorm && n.consumers.size() == 1 &&
                   g.node(n.consumers[0]).kind == OpKind::kRelu;
  }
  int64_t exact_saved = 0;
  for (Strategy s : AllStrategies()) {
    const v1::MemoryPlan plan = PlanOrDie(g, s, options);
    ExpectPlanInvariants(plan);
    if (s == Strategy::kExact) exact_saved = plan.saved_activation_bytes();
    if ((CodeBits(s) > 0 && (has_bn_relu || !QuantizesForward(s))) || IsCheckpointing(s)) {
      EXPECT_LT(plan.saved_activation_bytes(), exact_saved) << StrategyName(s);
    } else if (CodeBits(s) > 0) {
      EXPECT_EQ(plan.saved_activation_bytes(), exact_saved) << StrategyName(s);
    }
    EXPECT_EQ(plan.recompute_flops() > 0, IsCheckpointing(s)) << StrategyName(s);
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooPlanTest,
                         testing::Values("fmnist_resnet", "resnet20", "resnet56", "resnet110", "resnet164",
                                         "resnet1001", "densenet_bc_100", "mobilenet_v2_cifar", "vit_tiny_cifar",
                                         "mobilenet_v2", "efficientnet_b0", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                                         "vit_tiny", "nanogpt", "bert_base", "vgg16_bn"));

// conv-bn-relu twice, pool, classifier: small enough to count by hand.
constexpr char kSmall[] = R"pb(
  name: "small"
  input { dims: 3 dims: 8 dims: 8 }
  num_classes: 10
  layers { name: "conv1" inputs: "input" conv2d { out_channels: 4 kernel_size: 3 padding: 1 bias: false } }
  layers { name: "bn1" inputs: "conv1" batch_norm {} }
  layers { name: "relu1" inputs: "bn1" relu {} }
  layers { name: "conv2" inputs: "relu1" conv2d { out_channels: 4 kernel_size: 3 padding: 1 bias: false } }
  layers { name: "bn2" inputs: "conv2" batch_norm {} }
  layers { name: "relu2" inputs: "bn2" relu {} }
  layers { name: "gap" inputs: "relu2" global_avg_pool {} }
  layers { name: "fc" inputs: "gap" linear { out_features: 10 } }
  layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
)pb";

absl::StatusOr<Graph> Small() { return GraphFromText(kSmall); }

std::map<std::string, int64_t> SavedBuffers(const v1::MemoryPlan& plan) {
  std::map<std::string, int64_t> saved;
  for (const v1::Buffer& b : plan.buffers()) {
    if (b.saved()) saved[b.name()] = b.size_bytes();
  }
  return saved;
}

TEST(PlannerTest, ExactKeepsWhatEachBackwardReadsInFp32) {
  PlanOptions options;
  options.batch_size = 2;
  options.include_buffers = true;
  ASSERT_OK_AND_ASSIGN(const Graph small, Small());
  const v1::MemoryPlan plan = PlanOrDie(small, Strategy::kExact, options);
  const int64_t map = 2 * 4 * 8 * 8 * 4;  // one (2,4,8,8) fp32 tensor
  const std::map<std::string, int64_t> expected = {
      {"input.out", 2 * 3 * 64 * 4},  // conv1's weight gradient
      {"labels", 2 * 4},
      {"conv1.out", map},             // bn1's input
      {"bn1.stats", 2 * 4 * 4},
      {"relu1.out", map},             // relu1's output, conv2's input
      {"conv2.out", map},
      {"bn2.stats", 2 * 4 * 4},
      {"relu2.out", map},             // relu2's backward
      {"gap.out", 2 * 4 * 4},         // fc's input
      {"loss.probs", 2 * 10 * 4},
  };
  EXPECT_EQ(SavedBuffers(plan), expected);
  EXPECT_EQ(plan.parameter_count(), 108 + 8 + 144 + 8 + 50);
  EXPECT_EQ(plan.parameter_bytes(), (318 + 16) * 4);  // BN running stats included
  EXPECT_EQ(plan.gradient_bytes(), 318 * 4);
  EXPECT_EQ(plan.optimizer_state_bytes(), 318 * 4);  // sgd momentum
}

TEST(PlannerTest, Approx4KeepsCodesForEachBnReluAndEveryOtherTensorAndRestoresConvInputs) {
  PlanOptions options;
  options.batch_size = 2;
  options.include_buffers = true;
  ASSERT_OK_AND_ASSIGN(const Graph small, Small());
  const v1::MemoryPlan plan = PlanOrDie(small, Strategy::kApprox4, options);
  const int64_t code = 2 * 4 * 8 * 8 / 2;  // 4 bits per element
  const std::map<std::string, int64_t> expected = {
      {"input.out", 2 * 3 * 64 * 4}, {"labels", 2 * 4},      {"bn1.code", code},
      {"bn1.stats", 2 * 4 * 4},      {"bn2.code", code},     {"bn2.stats", 2 * 4 * 4},
      {"gap.code", 16 + 2 * 4},      {"loss.probs", 2 * 10 * 4},  // 8 codes padded to 16 bytes, min and max
  };
  EXPECT_EQ(SavedBuffers(plan), expected);
  bool restored = false;
  for (const v1::Buffer& b : plan.buffers()) {
    if (b.name() == "bn1.code") {
      EXPECT_EQ(b.representation(), v1::Buffer::CODE4);
      EXPECT_EQ(b.reason(), "BN→ReLU 'bn1'→'relu1': 4-bit code");
    }
    if (b.name() == "gap.code") {
      EXPECT_EQ(b.reason(), "output of global_avg_pool 'gap', read by backward: 4-bit code, min to max per 256 values");
    }
    if (b.name() == "relu1.restored") {
      restored = true;
      EXPECT_FALSE(b.saved());  // lives only in conv2's backward
      EXPECT_EQ(b.first_step(), b.last_step());
    }
  }
  EXPECT_TRUE(restored);
}

TEST(PlannerTest, NaiveCodesBnReluPairsOnly) {
  // Pre-activation: every tensor a backward reads but the classifier's input
  // is a BN→ReLU's or the model input, so approx-K (everything coded) saves
  // what naive-K (BN→ReLU codes only) saves less the classifier input's
  // difference; on post-activation blocks it codes much more.
  PlanOptions options;
  options.batch_size = 16;
  const int64_t features = 16 * 64;  // the fc's input, (N, 64)
  ASSERT_OK_AND_ASSIGN(const Graph pre, ZooGraph("fmnist_resnet"));
  EXPECT_EQ(PlanOrDie(pre, Strategy::kNaive8, options).saved_activation_bytes() -
                PlanOrDie(pre, Strategy::kApprox8, options).saved_activation_bytes(),
            features * 4 - CodeBytes(Coding::kGroup, 8, features, 4));
  ASSERT_OK_AND_ASSIGN(const Graph post, ZooGraph("resnet20"));
  EXPECT_LT(2 * PlanOrDie(post, Strategy::kApprox8, options).saved_activation_bytes(),
            PlanOrDie(post, Strategy::kNaive8, options).saved_activation_bytes());
}

TEST(PlannerTest, ReluRunsInPlaceOnItsBatchNormOutput) {
  PlanOptions options;
  options.batch_size = 2;
  options.include_buffers = true;
  ASSERT_OK_AND_ASSIGN(const Graph small, Small());
  const v1::MemoryPlan plan = PlanOrDie(small, Strategy::kExact, options);
  std::map<std::string, const v1::Buffer*> by_name;
  for (const v1::Buffer& b : plan.buffers()) by_name[b.name()] = &b;
  ASSERT_TRUE(by_name.count("relu1.out"));
  EXPECT_EQ(plan.buffers(by_name["relu1.out"]->in_place_of()).name(), "bn1.out");
}

// Which tensor each activation's backward keeps, and the in-place rule:
// relu6 keeps its output and overwrites conv1's (dead) output; gelu keeps
// its input, so conv2's output stays and gelu gets its own buffer; softmax
// keeps its output, in place of gelu's (read by nothing later).
TEST(PlannerTest, ActivationsKeepTheirOutputOrInputAndRunInPlaceWhereTheInputDies) {
  v1::ModelSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    name: "activations"
    input { dims: 3 dims: 8 dims: 8 }
    num_classes: 10
    layers { name: "conv1" inputs: "input" conv2d { out_channels: 4 kernel_size: 3 padding: 1 } }
    layers { name: "relu6" inputs: "conv1" relu6 {} }
    layers { name: "conv2" inputs: "relu6" conv2d { out_channels: 4 kernel_size: 3 padding: 1 } }
    layers { name: "gelu" inputs: "conv2" gelu {} }
    layers { name: "softmax" inputs: "gelu" softmax { axis: 1 } }
    layers { name: "gap" inputs: "softmax" global_avg_pool {} }
    layers { name: "fc" inputs: "gap" linear { out_features: 10 } }
    layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
  )pb", &spec));
  PlanOptions options;
  options.batch_size = 2;
  options.include_buffers = true;
  ASSERT_OK_AND_ASSIGN(const Graph g, Graph::Build(spec));
  const v1::MemoryPlan plan = PlanOrDie(g, Strategy::kExact, options);
  const int64_t map = 2 * 4 * 8 * 8 * 4;
  const std::map<std::string, int64_t> expected = {
      {"input.out", 2 * 3 * 64 * 4}, {"labels", 2 * 4},
      {"relu6.out", map},  // its own backward and conv2's weight gradient
      {"conv2.out", map},  // gelu's input
      {"softmax.out", map},
      {"gap.out", 2 * 4 * 4}, {"loss.probs", 2 * 10 * 4},
  };
  EXPECT_EQ(SavedBuffers(plan), expected);
  std::map<std::string, const v1::Buffer*> by_name;
  for (const v1::Buffer& b : plan.buffers()) by_name[b.name()] = &b;
  ASSERT_TRUE(by_name.count("relu6.out") && by_name.count("gelu.out") && by_name.count("softmax.out"));
  EXPECT_EQ(plan.buffers(by_name["relu6.out"]->in_place_of()).name(), "conv1.out");
  EXPECT_EQ(by_name["gelu.out"]->in_place_of(), -1);
  EXPECT_EQ(plan.buffers(by_name["softmax.out"]->in_place_of()).name(), "gelu.out");
  EXPECT_EQ(by_name["conv2.out"]->reason(), "input of gelu 'gelu', read by its backward");
  EXPECT_EQ(by_name["softmax.out"]->reason(), "output of softmax 'softmax', read by its backward");
}

// The fused attention keeps one log-sum-exp per head and query; the unfused
// path (matmul, scale, softmax, matmul) keeps the H×L×L probabilities: the
// planner shows the difference (issue 13). At L 256, D 192, 3 heads, batch
// 8: 7.5 MiB saved fused, 12.0 MiB unfused.
TEST(PlannerTest, FusedAttentionSavesTheProbabilitiesTheUnfusedPathKeeps) {
  static constexpr int64_t kL = 256, kD = 192, kHeads = 3, kBatch = 8;
  auto block = [](bool fused) {
    std::string text = absl::StrFormat(R"pb(
      name: "block"
      input { dims: %d dims: %d }
      num_classes: 2
      layers { name: "q" inputs: "input" linear { out_features: %d } }
      layers { name: "k" inputs: "input" linear { out_features: %d } }
      layers { name: "v" inputs: "input" linear { out_features: %d } }
    )pb", kL, kD, kD, kD, kD);
    if (fused) {
      absl::StrAppend(&text, absl::StrFormat(R"pb(
        layers { name: "attn" inputs: "q" inputs: "k" inputs: "v" attention { heads: %d } })pb", kHeads));
    } else {
      absl::StrAppend(&text, absl::StrFormat(R"pb(
        layers { name: "qh" inputs: "q" reshape { dims: [%d, %d, %d] } }
        layers { name: "qt" inputs: "qh" transpose { perm: [0, 2, 1, 3] } }
        layers { name: "kh" inputs: "k" reshape { dims: [%d, %d, %d] } }
        layers { name: "kt" inputs: "kh" transpose { perm: [0, 2, 3, 1] } }
        layers { name: "vh" inputs: "v" reshape { dims: [%d, %d, %d] } }
        layers { name: "vt" inputs: "vh" transpose { perm: [0, 2, 1, 3] } }
        layers { name: "scores" inputs: "qt" inputs: "kt" matmul {} }
        layers { name: "scaled" inputs: "scores" scale { value: 0.125 } }
        layers { name: "probs" inputs: "scaled" softmax {} }
        layers { name: "o" inputs: "probs" inputs: "vt" matmul {} }
        layers { name: "ot" inputs: "o" transpose { perm: [0, 2, 1, 3] } }
        layers { name: "attn" inputs: "ot" reshape { dims: [%d, %d] } })pb",
        kL, kHeads, kD / kHeads, kL, kHeads, kD / kHeads, kL, kHeads, kD / kHeads, kL, kD));
    }
    absl::StrAppend(&text, R"pb(
      layers { name: "pool" inputs: "attn" reduce_mean { axes: [1] } }
      layers { name: "fc" inputs: "pool" linear { out_features: 2 } }
      layers { name: "loss" inputs: "fc" softmax_cross_entropy {} })pb");
    return GraphFromText(text);
  };
  PlanOptions options;
  options.batch_size = kBatch;
  ASSERT_OK_AND_ASSIGN(const Graph fused_block, block(true));
  ASSERT_OK_AND_ASSIGN(const Graph unfused_block, block(false));
  const v1::MemoryPlan fused = PlanOrDie(fused_block, Strategy::kExact, options);
  const v1::MemoryPlan unfused = PlanOrDie(unfused_block, Strategy::kExact, options);
  const int64_t probabilities = kBatch * kHeads * kL * kL * 4;
  std::printf("attention block, L %d, D %d, %d heads, batch %d: saved %.1f MiB fused, %.1f MiB unfused (the "
              "probabilities: %.1f MiB)\n",
              static_cast<int>(kL), static_cast<int>(kD), static_cast<int>(kHeads), static_cast<int>(kBatch),
              fused.saved_activation_bytes() / 1048576.0, unfused.saved_activation_bytes() / 1048576.0,
              probabilities / 1048576.0);
  // Both keep q, k and v (the unfused path as its per-head copies); the
  // fused op keeps its output and the log-sum-exp besides, the unfused path
  // the probabilities.
  const int64_t output = kBatch * kL * kD * 4, lse = kBatch * kHeads * kL * 4;
  EXPECT_EQ(unfused.saved_activation_bytes() - fused.saved_activation_bytes(), probabilities - output - lse);
  EXPECT_LT(fused.peak_bytes(), unfused.peak_bytes());
}

// upsample's backward reads only dy: neither its input nor its (4x larger)
// output is kept for it, so a model with an upsample before a global pool
// saves exactly what the model without it saves.
TEST(PlannerTest, UpsampleKeepsNothingForBackward) {
  auto model = [](const char* resize) {
    std::string text = absl::StrCat(R"pb(
      name: "resize" input { dims: 3 dims: 16 dims: 16 } num_classes: 2
      layers { name: "conv" inputs: "input" conv2d { out_channels: 8 kernel_size: 3 padding: 1 } })pb",
                                    resize, R"pb(
      layers { name: "gap" inputs: "up" global_avg_pool {} }
      layers { name: "fc" inputs: "gap" linear { out_features: 2 } }
      layers { name: "loss" inputs: "fc" softmax_cross_entropy {} })pb");
    return GraphFromText(text);
  };
  PlanOptions options;
  options.batch_size = 4;
  ASSERT_OK_AND_ASSIGN(const Graph plain, model(R"pb(layers { name: "up" inputs: "conv" scale { value: 1 } })pb"));
  const v1::MemoryPlan none = PlanOrDie(plain, Strategy::kExact, options);
  for (const char* mode : {"nearest", "bilinear"}) {
    ASSERT_OK_AND_ASSIGN(
        const Graph upsampled,
        model(absl::StrCat(R"pb(layers { name: "up" inputs: "conv" upsample { scale_factor: 2 mode: ")pb", mode,
                           R"pb(" } })pb").c_str()));
    const v1::MemoryPlan up = PlanOrDie(upsampled, Strategy::kExact, options);
    EXPECT_EQ(up.saved_activation_bytes(), none.saved_activation_bytes()) << mode;
  }
}

// BatchNorm1d over (C,L): no BN→ReLU code (its kernels read channels
// innermost); approx4 codes the relu's output (kRelu) and the linear's input
// (kGroup) instead, and keeps the model input exact.
TEST(PlannerTest, BatchNormOverSequencesIsNotCodedAsABnRelu) {
  auto model = [](const char* dims) {
    return GraphFromText(absl::StrCat(R"pb(
      name: "bn1d" num_classes: 2 input { )pb", dims, R"pb( }
      layers { name: "bn" inputs: "input" batch_norm {} }
      layers { name: "relu" inputs: "bn" relu {} }
      layers { name: "flat" inputs: "relu" flatten {} }
      layers { name: "fc" inputs: "flat" linear { out_features: 2 } }
      layers { name: "loss" inputs: "fc" softmax_cross_entropy {} })pb"));
  };
  PlanOptions options;
  options.batch_size = 16;
  const int64_t count = 16 * 32 * 64, bytes = count * 4;
  ASSERT_OK_AND_ASSIGN(const Graph sequence, model("dims: 32 dims: 64"));
  ASSERT_OK_AND_ASSIGN(const Graph image, model("dims: 32 dims: 8 dims: 8"));
  EXPECT_EQ(PlanOrDie(sequence, Strategy::kExact, options).saved_activation_bytes() -
                PlanOrDie(sequence, Strategy::kApprox4, options).saved_activation_bytes(),
            (bytes - CodeBytes(Coding::kRelu, 4, count, 4)) + (bytes - CodeBytes(Coding::kGroup, 4, count, 4)));
  // On images the pair is a BN→ReLU: one code replaces the input and the
  // relu output.
  EXPECT_EQ(PlanOrDie(image, Strategy::kExact, options).saved_activation_bytes() -
                PlanOrDie(image, Strategy::kApprox4, options).saved_activation_bytes(),
            (2 * bytes - count / 2) + (bytes - CodeBytes(Coding::kGroup, 4, count, 4)));
}

// A backend whose convolutions need scratch memory: each workspace lives for
// its one step and is packed with everything else.
class WorkspaceCostModel : public DefaultCostModel {
 public:
  int64_t WorkspaceBytes(const Graph&, const Node& node, int64_t batch, Pass pass) const override {
    if (node.kind != OpKind::kConv2d) return 0;
    return batch * (pass == Pass::kForward ? 1000 : 3000);
  }
};

TEST(PlannerTest, BackendWorkspacesArePlannedForOneStepEach) {
  PlanOptions options;
  options.batch_size = 2;
  options.include_buffers = true;
  ASSERT_OK_AND_ASSIGN(const Graph small, Small());
  absl::StatusOr<v1::MemoryPlan> plan = PlanMemory(small, Strategy::kApprox4, options, WorkspaceCostModel());
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectPlanInvariants(*plan);
  int workspaces = 0;
  for (const v1::Buffer& b : plan->buffers()) {
    if (b.kind() != v1::Buffer::WORKSPACE) continue;
    ++workspaces;
    EXPECT_EQ(b.first_step(), b.last_step()) << b.name();
    EXPECT_EQ(b.size_bytes(), b.name().find(".fwd_") != std::string::npos ? 2000 : 6000) << b.name();
    EXPECT_FALSE(b.saved());
  }
  EXPECT_EQ(workspaces, 4);  // two convs, forward and backward
  const v1::MemoryPlan without = PlanOrDie(small, Strategy::kApprox4, options);
  EXPECT_GT(plan->arena_bytes(), without.arena_bytes());
}

// The paper's model at the paper's batch: approx4 keeps at most 1/12 of
// exact's saved bytes.
TEST(PlannerTest, ResNet164Approx4SavesAtMostATwelfthOfExact) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("resnet164"));
  PlanOptions options;
  options.batch_size = 128;
  const v1::MemoryPlan exact = PlanOrDie(g, Strategy::kExact, options);
  const v1::MemoryPlan approx4 = PlanOrDie(g, Strategy::kApprox4, options);
  EXPECT_LE(approx4.saved_activation_bytes() * 12, exact.saved_activation_bytes());
}

TEST(PlannerTest, CheckpointOptimalFitsABudgetWithLessRecomputeWhenGivenMore) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("resnet56"));
  PlanOptions options;
  options.batch_size = 32;
  const v1::MemoryPlan exact = PlanOrDie(g, Strategy::kExact, options);
  const v1::MemoryPlan least = PlanOrDie(g, Strategy::kCheckpointOptimal, options);
  const v1::MemoryPlan sqrt = PlanOrDie(g, Strategy::kCheckpoint, options);
  EXPECT_LE(least.peak_bytes(), sqrt.peak_bytes());
  EXPECT_LT(least.peak_bytes(), exact.peak_bytes());
  // A budget halfway between the least peak and exact's.
  options.budget_bytes = (least.peak_bytes() + exact.peak_bytes()) / 2;
  options.checkpoint_budget_bytes = options.budget_bytes;
  const v1::MemoryPlan mid = PlanOrDie(g, Strategy::kCheckpointOptimal, options);
  EXPECT_TRUE(mid.fits());
  EXPECT_LE(mid.peak_bytes(), options.budget_bytes);
  EXPECT_LT(mid.recompute_flops(), least.recompute_flops());
  // A budget exact meets needs no recomputation at all.
  options.budget_bytes = options.checkpoint_budget_bytes = exact.peak_bytes();
  EXPECT_EQ(PlanOrDie(g, Strategy::kCheckpointOptimal, options).recompute_flops(), 0);
}

TEST(PlannerTest, MaxBatchFitsAndOneMoreDoesNot) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("resnet20"));
  PlanOptions options;
  options.budget_bytes = int64_t{256} << 20;
  for (Strategy s : {Strategy::kExact, Strategy::kApprox4, Strategy::kCheckpointOptimal}) {
    absl::StatusOr<int64_t> max = MaxBatchSize(g, s, options, DefaultCostModel());
    ASSERT_TRUE(max.ok()) << max.status();
    ASSERT_GT(*max, 0);
    options.batch_size = *max;
    EXPECT_LE(PlanOrDie(g, s, options).peak_bytes(), options.budget_bytes) << StrategyName(s);
    options.batch_size = *max + 1;
    EXPECT_GT(PlanOrDie(g, s, options).peak_bytes(), options.budget_bytes) << StrategyName(s);
  }
}

// DenseNet's approx8 arenas are where the exact search packs tighter than
// the heuristics: the largest batch is found with heuristic probes and then
// with the exact search above them, and is still the plan's own answer.
TEST(PlannerTest, MaxBatchWithTheExactSearchFitsAndOneMoreDoesNot) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("densenet_bc_100"));
  PlanOptions options;
  options.budget_bytes = int64_t{512} << 20;  // 99 with the search, 98 without (measured)
  ASSERT_GT(options.arena_exact_seconds, 0) << "the search is on by default";
  ASSERT_OK_AND_ASSIGN(const int64_t max, MaxBatchSize(g, Strategy::kApprox8, options, DefaultCostModel()));
  ASSERT_GT(max, 0);
  options.batch_size = max;
  EXPECT_LE(PlanOrDie(g, Strategy::kApprox8, options).peak_bytes(), options.budget_bytes);
  options.batch_size = max + 1;
  EXPECT_GT(PlanOrDie(g, Strategy::kApprox8, options).peak_bytes(), options.budget_bytes);
  PlanOptions heuristics = options;
  heuristics.arena_exact_seconds = 0;
  ASSERT_OK_AND_ASSIGN(const int64_t heuristic_max,
                       MaxBatchSize(g, Strategy::kApprox8, heuristics, DefaultCostModel()));
  EXPECT_LE(heuristic_max, max);
  EXPECT_LT(heuristic_max, max) << "this budget is one where the search fits more (if not, pick another)";
}

TEST(PlannerTest, MaxBatchStopsAtTheSizeLimits) {
  // Everything fits a huge budget: the search ends at the largest batch the
  // graph's limits accept, not past it.
  SizeLimits limits;
  limits.max_batch_size = 1000;
  ASSERT_OK_AND_ASSIGN(const v1::ModelSpec spec, ZooModel("resnet20"));
  ASSERT_OK_AND_ASSIGN(const Graph g, Graph::Build(spec));
  ASSERT_OK_AND_ASSIGN(const Graph limited, Graph::Build(spec, limits));
  PlanOptions options;
  options.budget_bytes = int64_t{1} << 60;
  absl::StatusOr<int64_t> max = MaxBatchSize(limited, Strategy::kApprox4, options, DefaultCostModel());
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ(*max, 1000);
  // And a batch past them is refused before anything is planned.
  options.batch_size = 1001;
  const absl::Status refused = PlanMemory(limited, Strategy::kExact, options, DefaultCostModel()).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.message(), "batch_size: 1001 is outside [1, 1000] (examples per step)");
  options.batch_size = int64_t{1} << 40;
  EXPECT_EQ(PlanMemory(g, Strategy::kExact, options, DefaultCostModel()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

using test_util::ReluChainModel;

TEST(PlannerTest, PlanningStopsOnDeadlineCancellationAndTimeLimit) {
  ASSERT_OK_AND_ASSIGN(const Graph g, Graph::Build(ReluChainModel(3000)));
  PlanOptions options;
  options.batch_size = 4;
  PlanStop stop;
  options.stop = &stop;
  EXPECT_TRUE(PlanMemory(g, Strategy::kExact, options, DefaultCostModel()).ok());
  stop.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_EQ(PlanMemory(g, Strategy::kExact, options, DefaultCostModel()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  stop.deadline = absl::InfiniteFuture();
  stop.cancelled = [] { return true; };
  EXPECT_EQ(PlanMemory(g, Strategy::kExact, options, DefaultCostModel()).status().code(),
            absl::StatusCode::kCancelled);
  stop.cancelled = nullptr;
  // checkpoint_optimal's dynamic program on 3000 layers takes seconds; a
  // 200 ms limit ends it inside, promptly.
  stop.time_limit = absl::Now() + absl::Milliseconds(200);
  stop.time_limit_reason = "over this test's 200 ms";
  const absl::Time start = absl::Now();
  const absl::Status s = MaxBatchSize(g, Strategy::kCheckpointOptimal, [&] {
                           PlanOptions o = options;
                           o.budget_bytes = int64_t{1} << 40;
                           return o;
                         }(), DefaultCostModel()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(s.message(), "over this test's 200 ms");
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(PlanRequestTest, WorkOverTheBoundIsRefusedBeforePlanning) {
  v1::PlanMemoryRequest request;
  *request.mutable_model()->mutable_spec() = ReluChainModel(998);  // 1000 layers
  request.set_batch_size(1);
  request.add_strategies("exact");
  request.add_strategies("approx4");
  PlanRequestBounds bounds;
  bounds.max_work = 2000;
  bounds.max_work_name = "the test's bound";
  EXPECT_TRUE(AnswerPlanRequest(request, DefaultCostModel(), {}, bounds).ok());
  request.set_max_batch(true);  // 2 strategies × (1 + 2·25 probes) × 1000 layers
  const absl::Status s = AnswerPlanRequest(request, DefaultCostModel(), {}, bounds).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "this request plans 2 strategies with max_batch for a 1000-layer model: 102000 layer-plans, "
                         "over the test's bound of 2000; ask for fewer strategies or without max_batch, or plan it "
                         "locally with `slimtrain plan`");
}

TEST(PlannerTest, AutoPicksTheFirstStrategyThatFitsAndSaysWhy) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("resnet56"));
  PlanOptions options;
  options.batch_size = 64;
  const v1::MemoryPlan exact = PlanOrDie(g, Strategy::kExact, options);
  const v1::MemoryPlan approx8 = PlanOrDie(g, Strategy::kApprox8, options);
  options.budget_bytes = exact.peak_bytes();
  absl::StatusOr<StrategyChoice> choice = ChooseStrategy(g, options, DefaultCostModel());
  ASSERT_TRUE(choice.ok());
  EXPECT_EQ(choice->strategy, Strategy::kExact);
  options.budget_bytes = (exact.peak_bytes() + approx8.peak_bytes()) / 2;
  choice = ChooseStrategy(g, options, DefaultCostModel());
  ASSERT_TRUE(choice.ok());
  EXPECT_TRUE(choice->fits);
  EXPECT_EQ(choice->strategy, Strategy::kApprox8);
  EXPECT_NE(choice->reason.find("exact needs"), std::string::npos) << choice->reason;
  EXPECT_NE(choice->reason.find("approx8 fits in"), std::string::npos) << choice->reason;
  options.budget_bytes = 1024;
  choice = ChooseStrategy(g, options, DefaultCostModel());
  ASSERT_TRUE(choice.ok());
  EXPECT_FALSE(choice->fits);
  EXPECT_EQ(choice->plans.size(), AutoOrder().size());
  EXPECT_NE(choice->reason.find("nothing fits"), std::string::npos) << choice->reason;
}

struct RequestError {
  const char* name;
  void (*mutate)(v1::PlanMemoryRequest&);
  const char* message;
};

class PlanRequestErrorTest : public testing::TestWithParam<RequestError> {};

TEST_P(PlanRequestErrorTest, NamesTheField) {
  v1::PlanMemoryRequest request;
  request.mutable_model()->set_zoo("resnet20");
  request.set_batch_size(8);
  GetParam().mutate(request);
  absl::StatusOr<v1::PlanMemoryResponse> response = AnswerPlanRequest(request, DefaultCostModel());
  ASSERT_FALSE(response.ok());
  EXPECT_NE(std::string(response.status().message()).find(GetParam().message), std::string::npos)
      << response.status();
}

INSTANTIATE_TEST_SUITE_P(
    EveryField, PlanRequestErrorTest,
    testing::Values(
        RequestError{"BatchZero", [](v1::PlanMemoryRequest& r) { r.set_batch_size(0); },
                     "batch_size must be >= 1, got 0"},
        RequestError{"UnknownStrategy", [](v1::PlanMemoryRequest& r) { r.add_strategies("exact"), r.add_strategies("fast"); },
                     "strategies[1]: unknown strategy 'fast'"},
        RequestError{"AutoWithOthers",
                     [](v1::PlanMemoryRequest& r) { r.add_strategies("auto"), r.add_strategies("exact"); },
                     "'auto' must be the only strategy"},
        RequestError{"UnknownDevice", [](v1::PlanMemoryRequest& r) { r.set_device("tpu"); },
                     "device: unknown device 'tpu'; known: cpu, h200"},
        RequestError{"UnknownOptimizer", [](v1::PlanMemoryRequest& r) { r.set_optimizer("lamb"); },
                     "optimizer: unknown optimizer 'lamb'"},
        RequestError{"NegativeBudget", [](v1::PlanMemoryRequest& r) { r.set_budget_bytes(-1); },
                     "budget_bytes must be >= 0, got -1"},
        RequestError{"NoModel", [](v1::PlanMemoryRequest& r) { r.clear_model(); }, "model: set a zoo name"},
        RequestError{"UnknownZoo", [](v1::PlanMemoryRequest& r) { r.mutable_model()->set_zoo("resnet7"); },
                     "unknown zoo model 'resnet7'"},
        RequestError{"HugeAlignment", [](v1::PlanMemoryRequest& r) { r.set_alignment_bytes(int64_t{1} << 62); },
                     "alignment_bytes must be in [0, 1073741824], got 4611686018427387904"},
        RequestError{"NegativeArenaExactSeconds", [](v1::PlanMemoryRequest& r) { r.set_arena_exact_seconds(-1); },
                     "arena_exact_seconds must be in [0, 60], got -1"},
        RequestError{"HugeArenaExactSeconds", [](v1::PlanMemoryRequest& r) { r.set_arena_exact_seconds(61); },
                     "arena_exact_seconds must be in [0, 60], got 61"},
        RequestError{"TooManyStrategies",
                     [](v1::PlanMemoryRequest& r) {
                       for (int i = 0; i < 65; ++i) r.add_strategies("exact");
                     },
                     "strategies: 65 given, at most 64"},
        RequestError{"HugeBatch", [](v1::PlanMemoryRequest& r) { r.set_batch_size(int64_t{1} << 40); },
                     "batch_size: 1099511627776 is outside [1, 16777216] (examples per step)"}),
    [](const testing::TestParamInfo<RequestError>& info) { return info.param.name; });

TEST(PlanRequestTest, DeviceMemoryLessReserveIsTheDefaultBudget) {
  v1::PlanMemoryRequest request;
  request.mutable_model()->set_zoo("resnet20");
  request.set_batch_size(8);
  request.set_device("a100-40gb");
  request.add_strategies("exact");
  absl::StatusOr<v1::PlanMemoryResponse> response = AnswerPlanRequest(request, DefaultCostModel());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->budget_bytes(), (int64_t{40960} << 20) - (int64_t{1} << 30));
  EXPECT_EQ(response->plans(0).device(), "a100-40gb");
  EXPECT_TRUE(response->plans(0).fits());
}

// A real GPU as a target (a server's, or this machine's for a local plan):
// "cuda:N", its memory less what a running backend takes there.
TEST(PlanRequestTest, AGpuTargetIsFoundByNameWithWhatARunningBackendTakesReserved) {
  const DeviceProfile gpu = GpuDevice(1, "NVIDIA H200", int64_t{140} << 30, int64_t{600} << 20, "this server's");
  EXPECT_EQ(gpu.name, "cuda:1");
  EXPECT_TRUE(gpu.gpu);
  EXPECT_EQ(gpu.description, "NVIDIA H200, this server's GPU 1");
  v1::PlanMemoryRequest request;
  request.mutable_model()->set_zoo("resnet20");
  request.set_batch_size(8);
  request.set_device("cuda:1");
  request.add_strategies("exact");
  absl::StatusOr<v1::PlanMemoryResponse> response = AnswerPlanRequest(request, DefaultCostModel(), {gpu});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->budget_bytes(), (int64_t{140} << 30) - (int64_t{600} << 20));
  EXPECT_EQ(response->plans(0).device(), "cuda:1");
  request.set_device("cuda:2");
  EXPECT_EQ(AnswerPlanRequest(request, DefaultCostModel(), {gpu}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace slimtrain::planner
