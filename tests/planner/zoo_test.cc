// The zoo's models are valid graphs with the published architectures.
//
// What is proved, per model: it builds and validates with Graph::Build; its
// parameter count equals torchvision's exactly (ImageNet models) or the count
// derived by hand from the paper's architecture (CIFAR models; derivations
// below), and lies near the paper's rounded figure; key layers have the
// paper's shapes; layer names follow torchvision where the model comes from
// torchvision; the last layer is the loss.
#include "planner/zoo.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "proto/model.pb.h"

namespace slimtrain::planner {
namespace {

// A Graph per model, built once for the whole test binary (resnet1001 has
// 3,000 layers).
const Graph* ZooGraph(const std::string& name) {
  static auto* const cache = new std::map<std::string, std::unique_ptr<Graph>>();
  auto it = cache->find(name);
  if (it != cache->end()) return it->second.get();
  absl::StatusOr<v1::ModelSpec> spec = ZooModel(name);
  if (!spec.ok()) return nullptr;
  absl::StatusOr<Graph> graph = Graph::Build(*spec);
  if (!graph.ok()) return nullptr;
  auto& slot = (*cache)[name];
  slot = std::make_unique<Graph>(*std::move(graph));
  return slot.get();
}

TEST(ZooTest, ListsEveryModelInAStableOrder) {
  std::vector<std::string> names;
  for (const ZooEntry& e : ZooModels()) names.push_back(e.name);
  const std::vector<std::string> expected = {
      "fmnist_resnet", "fmnist_resnet_post", "fmnist_vit", "resnet20", "resnet56", "resnet110", "resnet164",
      "resnet1001",    "densenet_bc_100", "mobilenet_v2_cifar", "vit_tiny_cifar", "nanogpt",
      "mobilenet_v2",  "efficientnet_b0", "resnet18",   "resnet34",        "resnet50",
      "resnet101",     "resnet152",    "vit_tiny",     "bert_base",        "vgg16_bn"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(&ZooModels(), &ZooModels());
}

TEST(ZooTest, UnknownNameIsNotFoundAndListsTheKnownOnes) {
  for (const char* name : {"resnet57", "ResNet50", "", "resnet50 "}) {
    absl::StatusOr<v1::ModelSpec> spec = ZooModel(name);
    ASSERT_FALSE(spec.ok()) << "'" << name << "'";
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(spec.status().message(),
              "unknown zoo model '" + std::string(name) +
                  "'; known: fmnist_resnet, fmnist_resnet_post, fmnist_vit, resnet20, resnet56, resnet110, resnet164, "
                  "resnet1001, densenet_bc_100, mobilenet_v2_cifar, vit_tiny_cifar, nanogpt, mobilenet_v2, "
                  "efficientnet_b0, resnet18, resnet34, resnet50, resnet101, resnet152, vit_tiny, bert_base, "
                  "vgg16_bn");
  }
}

class EveryZooModelTest : public testing::TestWithParam<ZooEntry> {};

TEST_P(EveryZooModelTest, BuildsAValidGraphEndingInTheLoss) {
  const ZooEntry& entry = GetParam();
  absl::StatusOr<v1::ModelSpec> spec = ZooModel(entry.name);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), entry.name);
  EXPECT_EQ(spec->description(), entry.description);
  EXPECT_EQ(entry.description.find('\n'), std::string::npos);
  EXPECT_NE(entry.description.find("input "), std::string::npos) << entry.description;
  ASSERT_GT(spec->layers_size(), 0);
  EXPECT_EQ(spec->layers(spec->layers_size() - 1).name(), "loss");
  EXPECT_EQ(spec->layers(spec->layers_size() - 1).op_case(), v1::Layer::kSoftmaxCrossEntropy);

  const Graph* graph = ZooGraph(entry.name);
  ASSERT_NE(graph, nullptr) << Graph::Build(*spec).status();
  EXPECT_EQ(graph->size(), spec->layers_size() + 1);  // + the input node
  const Node& loss = graph->node(graph->loss());
  EXPECT_EQ(loss.name, "loss");
  EXPECT_EQ(loss.kind, OpKind::kSoftmaxCrossEntropy);
  ASSERT_EQ(loss.input_dims.size(), 1u);
  // Logits per example, or per position for a language model.
  EXPECT_EQ(loss.input_dims[0].back(), spec->num_classes());
  EXPECT_EQ(loss.input_dims[0].size(), entry.name == "nanogpt" ? 2u : 1u);

  // A conv whose output goes only to a BN needs no bias (the BN's β is one).
  for (const Node& n : graph->nodes()) {
    if (n.kind != OpKind::kConv2d) continue;
    const bool feeds_bn =
        n.consumers.size() == 1 && graph->node(n.consumers[0]).kind == OpKind::kBatchNorm;
    if (entry.name == "vgg16_bn") {
      EXPECT_TRUE(n.bias) << n.name;  // as torchvision
    } else if (feeds_bn) {
      EXPECT_FALSE(n.bias) << n.name;
    }
  }

  // Each call builds the same model afresh.
  absl::StatusOr<v1::ModelSpec> again = ZooModel(entry.name);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*spec, *again));
}

INSTANTIATE_TEST_SUITE_P(Zoo, EveryZooModelTest, testing::ValuesIn(ZooModels()),
                         [](const testing::TestParamInfo<ZooEntry>& info) {
                           return info.param.name;
                         });

// Parameter counts (weights, biases, BN γ and β; not BN running statistics).
//
// torchvision's counts (sum of p.numel() over model.parameters()) must be met
// exactly. For the CIFAR models the exact count follows from the architecture:
//   CIFAR ResNet-(6n+2), option B: 432 + 32 (stem) + 4672 n (stage 1)
//     + 14,528 + 18,560 (n-1) (stage 2, with the 1x1 projection 512 + BN 64)
//     + 57,728 + 73,984 (n-1) (stage 3, projection 2048 + BN 128) + 650 (fc);
//     option A (the paper's) has 2,752 fewer.
//   Pre-activation bottleneck ResNet-(9n+2): 432 (stem)
//     + 4704 + 4544 (n-1) + 23,808 + 17,792 (n-1) + 94,720 + 70,400 (n-1)
//     + 512 (final BN) + 2570 (fc).
//   DenseNet-BC-100, k = 12: a dense layer on c channels has 50c + 5280;
//     648 (stem) + 175,680 (block 1) + 23,760 (transition 1) + 242,880
//     + 45,600 + 276,480 + 684 (final BN) + 3430 (fc) = 769,162.
//   fmnist_resnet: 144 (stem) + 14,016 + 51,552 + 205,504 + 128 + 650.
struct ParamCase {
  const char* model;
  int64_t exact;
};

class ParameterCountTest : public testing::TestWithParam<ParamCase> {};

TEST_P(ParameterCountTest, EqualsTheReferenceCount) {
  const ParamCase& c = GetParam();
  const Graph* graph = ZooGraph(c.model);
  ASSERT_NE(graph, nullptr) << c.model;
  EXPECT_EQ(graph->parameter_count(), c.exact) << c.model;
}

constexpr ParamCase kParamCases[] = {
    // torchvision (torchvision.models.<name>(), sum of numel()).
    {"resnet18", 11'689'512},
    {"resnet34", 21'797'672},
    {"resnet50", 25'557'032},
    {"resnet101", 44'549'160},
    {"resnet152", 60'192'808},
    {"vgg16_bn", 138'365'992},
    {"mobilenet_v2", 3'504'872},
    {"mobilenet_v2_cifar", 2'236'682},  // torchvision.models.mobilenet_v2(num_classes=10)
    {"efficientnet_b0", 5'288'548},
    // torchvision.models.vision_transformer.VisionTransformer(image_size, patch_size, num_layers=12,
    // num_heads=3, hidden_dim=192, mlp_dim=768, num_classes); 224/16/1000 is timm's vit_tiny_patch16_224.
    {"vit_tiny", 5'717'416},
    {"vit_tiny_cifar", 5'362'762},
    // nanoGPT (model.py, bias=False, config/train_shakespeare_char.py): it reports "number of parameters:
    // 10.65M", which leaves out the position table (get_num_params(non_embedding=True)): 10,646,784 +
    // 256x384 = 10,745,088; lm_head's weight is wte's, counted once.
    {"nanogpt", 10'745'088},
    // Hugging Face's BertModel(bert-base-uncased) has 109,482,240 parameters; its
    // BertForSequenceClassification (num_labels=2) 109,483,778, less the 2x768 token-type table
    // this model does not have (one input).
    {"bert_base", 109'482'242},
    // Derived above.
    {"resnet20", 272'474},
    {"resnet56", 855'770},
    {"resnet110", 1'730'714},
    {"resnet164", 1'703'258},
    {"resnet1001", 10'327'706},
    {"densenet_bc_100", 769'162},
    {"fmnist_resnet", 271'994},
    {"fmnist_resnet_post", 272'186},  // resnet20's less the stem's 2 input channels (288)
    // patch conv 1*16*96 + 96, class token 96, positions 50*96; per block
    // two layer norms 2*192, q/k/v/proj 4*(96*96 + 96), fc1 96*384 + 384,
    // fc2 384*96 + 96 (111,840, eight of them); final norm 192, head 970.
    {"fmnist_vit", 902'410},
};

INSTANTIATE_TEST_SUITE_P(Zoo, ParameterCountTest, testing::ValuesIn(kParamCases),
                         [](const testing::TestParamInfo<ParamCase>& info) {
                           return std::string(info.param.model);
                         });

// The papers print rounded counts. Each row's tolerance is 1% unless the
// paper's own rounding is coarser, in which case the row says why.
struct PublishedCase {
  const char* model;
  double published;
  double tolerance;  // relative
  const char* note;
};

class PublishedParameterCountTest : public testing::TestWithParam<PublishedCase> {};

TEST_P(PublishedParameterCountTest, IsNearThePapersFigure) {
  const PublishedCase& c = GetParam();
  const Graph* graph = ZooGraph(c.model);
  ASSERT_NE(graph, nullptr) << c.model;
  const double count = static_cast<double>(graph->parameter_count());
  EXPECT_LE(std::abs(count - c.published) / c.published, c.tolerance)
      << c.model << ": " << graph->parameter_count() << " parameters, paper " << c.published << " ("
      << c.note << ")";
}

constexpr PublishedCase kPublishedCases[] = {
    {"resnet20", 0.27e6, 0.01, "He et al. 2016, Table 6"},
    {"resnet56", 0.85e6, 0.01, "He et al. 2016, Table 6"},
    // The paper's option-A count is 1,727,962, itself 1.6% above "1.7M".
    {"resnet110", 1.7e6, 0.02, "Table 6; 1.7M is rounded"},
    {"resnet164", 1.7e6, 0.01, "Identity Mappings, Table 3"},
    // 10.2M is the count without BN's γ and β (10,178,490); with them the
    // architecture has 10,327,706 (1.25% more).
    {"resnet1001", 10.2e6, 0.015, "Identity Mappings, Table 3"},
    // Huang et al. print 0.8M; the architecture has 769,162 (as every
    // reimplementation reports), which rounds to 0.8M.
    {"densenet_bc_100", 0.8e6, 0.04, "DenseNet, Table 2; rounded"},
    // Devlin et al. 2019, section 3: BERT_BASE (L=12, H=768, A=12) "Total
    // Parameters=110M"; exactly, Hugging Face's BertModel has 109,482,240 and
    // this classifier 109,482,242 (its 2x768 token-type table left out, the
    // pooler's classifier 768x2 + 2 in).
    {"bert_base", 110e6, 0.01, "BERT, section 3; rounded"},
    // nanoGPT prints "number of parameters: 10.65M", without the position
    // table (256x384): 10,646,784.
    {"nanogpt", 10.65e6 + 256 * 384, 0.001, "nanoGPT's train_shakespeare_char log, plus wpe"},
};

INSTANTIATE_TEST_SUITE_P(Zoo, PublishedParameterCountTest, testing::ValuesIn(kPublishedCases),
                         [](const testing::TestParamInfo<PublishedCase>& info) {
                           return std::string(info.param.model);
                         });

// Output shapes, per example, at layers the papers and torchvision fix.
struct ShapeCase {
  const char* model;
  const char* layer;
  Dims out;
};

class LayerShapeTest : public testing::TestWithParam<ShapeCase> {};

TEST_P(LayerShapeTest, MatchesTheArchitecture) {
  const ShapeCase& c = GetParam();
  const Graph* graph = ZooGraph(c.model);
  ASSERT_NE(graph, nullptr) << c.model;
  const int id = graph->Find(c.layer);
  ASSERT_GE(id, 0) << c.model << " has no layer '" << c.layer << "'";
  EXPECT_EQ(graph->node(id).out, c.out)
      << c.model << " " << c.layer << ": " << DimsString(graph->node(id).out);
}

const ShapeCase kShapeCases[] = {
    // torchvision ResNets: 224 -> 112 (conv1) -> 56 (maxpool) -> 28 -> 14 -> 7.
    {"resnet18", "conv1", {64, 112, 112}},
    {"resnet18", "maxpool", {64, 56, 56}},
    {"resnet18", "layer1.1.relu2", {64, 56, 56}},
    {"resnet18", "layer4.1.relu2", {512, 7, 7}},
    {"resnet34", "layer3.5.relu2", {256, 14, 14}},
    {"resnet50", "layer1.2.relu3", {256, 56, 56}},
    {"resnet50", "layer2.0.conv1", {128, 56, 56}},  // v1.5: no stride here,
    {"resnet50", "layer2.0.conv2", {128, 28, 28}},  // but here
    {"resnet50", "layer2.0.downsample.1", {512, 28, 28}},
    {"resnet50", "layer4.2.relu3", {2048, 7, 7}},
    {"resnet50", "avgpool", {2048}},
    {"resnet50", "fc", {1000}},
    {"resnet101", "layer3.22.relu3", {1024, 14, 14}},
    {"resnet152", "layer2.7.relu3", {512, 28, 28}},
    {"resnet152", "layer3.35.relu3", {1024, 14, 14}},
    // vgg16_bn: features.N as torchvision numbers them.
    {"vgg16_bn", "features.0", {64, 224, 224}},
    {"vgg16_bn", "features.6", {64, 112, 112}},
    {"vgg16_bn", "features.42", {512, 14, 14}},
    {"vgg16_bn", "features.43", {512, 7, 7}},
    {"vgg16_bn", "flatten", {25088}},
    {"vgg16_bn", "classifier.0", {4096}},
    {"vgg16_bn", "classifier.6", {1000}},
    // MobileNetV2: 224 -> 112 (stem) -> 56 (features.2) -> 28 -> 14 -> 7; CIFAR
    // 32 -> 32 (stem, stride 1) -> 32 (features.2, stride 1) -> 16 -> 8 -> 4.
    {"mobilenet_v2", "features.0.2", {32, 112, 112}},
    {"mobilenet_v2", "features.1.conv.2", {16, 112, 112}},
    {"mobilenet_v2", "features.2.conv.1.0", {96, 56, 56}},
    {"mobilenet_v2", "features.3.add", {24, 56, 56}},
    {"mobilenet_v2", "features.13.add", {96, 14, 14}},
    {"mobilenet_v2", "features.17.conv.3", {320, 7, 7}},
    {"mobilenet_v2", "features.18.2", {1280, 7, 7}},
    {"mobilenet_v2", "classifier.1", {1000}},
    {"mobilenet_v2_cifar", "features.0.2", {32, 32, 32}},
    {"mobilenet_v2_cifar", "features.3.add", {24, 32, 32}},
    {"mobilenet_v2_cifar", "features.6.add", {32, 16, 16}},
    {"mobilenet_v2_cifar", "features.18.2", {1280, 4, 4}},
    {"mobilenet_v2_cifar", "classifier.1", {10}},
    // EfficientNet-B0: 112 (stem) -> 112 -> 56 -> 28 -> 14 -> 14 -> 7 -> 7.
    {"efficientnet_b0", "features.0.2", {32, 112, 112}},
    {"efficientnet_b0", "features.1.0.block.1.avgpool", {32, 1, 1}},
    {"efficientnet_b0", "features.1.0.block.1.fc1", {8, 1, 1}},
    {"efficientnet_b0", "features.1.0.block.1.scale", {32, 112, 112}},
    {"efficientnet_b0", "features.2.0.block.2.fc1", {4, 1, 1}},
    {"efficientnet_b0", "features.2.1.add", {24, 56, 56}},
    {"efficientnet_b0", "features.3.1.block.1.0", {240, 28, 28}},
    {"efficientnet_b0", "features.6.3.add", {192, 7, 7}},
    {"efficientnet_b0", "features.8.2", {1280, 7, 7}},
    // ViT-Tiny: 14x14 patches + the class token; CIFAR 8x8 + 1.
    {"vit_tiny", "patch_embed.proj", {192, 14, 14}},
    {"vit_tiny", "pos_embed", {197, 192}},
    {"vit_tiny", "blocks.0.mlp.act", {197, 768}},
    {"vit_tiny", "blocks.11.add2", {197, 192}},
    {"vit_tiny", "head", {1000}},
    {"vit_tiny_cifar", "cls_token", {65, 192}},
    {"vit_tiny_cifar", "blocks.11.attn.attention", {65, 192}},
    {"vit_tiny_cifar", "head", {10}},
    // nanoGPT: 256 positions of 384, a 1536-wide MLP, 65 logits per position.
    {"nanogpt", "transformer.wpe", {256, 384}},
    {"nanogpt", "transformer.h.5.mlp.gelu", {256, 1536}},
    {"nanogpt", "lm_head", {256, 65}},
    {"bert_base", "bert.encoder.layer.11.output.LayerNorm", {512, 768}},
    {"bert_base", "classifier", {2}},
    // CIFAR ResNets: 32x32, 16x16, 8x8.
    {"resnet20", "layer1.2.relu2", {16, 32, 32}},
    {"resnet20", "layer2.0.downsample.1", {32, 16, 16}},
    {"resnet20", "layer3.2.relu2", {64, 8, 8}},
    {"resnet56", "layer3.8.relu2", {64, 8, 8}},
    {"resnet110", "layer3.17.relu2", {64, 8, 8}},
    {"resnet164", "layer1.0.downsample.0", {64, 32, 32}},
    {"resnet164", "layer2.0.conv2", {32, 16, 16}},
    {"resnet164", "layer2.17.add", {128, 16, 16}},
    {"resnet164", "relu", {256, 8, 8}},
    {"resnet1001", "layer3.110.add", {256, 8, 8}},
    {"resnet1001", "avgpool", {256}},
    // Fashion-MNIST: 28x28, 14x14, 7x7.
    {"fmnist_resnet", "layer1.2.add", {16, 28, 28}},
    {"fmnist_resnet", "layer2.0.add", {32, 14, 14}},
    {"fmnist_resnet", "layer3.2.add", {64, 7, 7}},
    {"fmnist_resnet", "relu", {64, 7, 7}},
    // DenseNet-BC-100: 24 + 16 * 12 = 216 -> 108 + 192 = 300 -> 150 + 192 = 342.
    {"densenet_bc_100", "features.conv0", {24, 32, 32}},
    {"densenet_bc_100", "features.denseblock1.denselayer1.concat", {36, 32, 32}},
    {"densenet_bc_100", "features.denseblock1.denselayer16.concat", {216, 32, 32}},
    {"densenet_bc_100", "features.transition1.pool", {108, 16, 16}},
    {"densenet_bc_100", "features.denseblock2.denselayer16.concat", {300, 16, 16}},
    {"densenet_bc_100", "features.transition2.pool", {150, 8, 8}},
    {"densenet_bc_100", "features.denseblock3.denselayer16.concat", {342, 8, 8}},
    {"densenet_bc_100", "avgpool", {342}},
};

INSTANTIATE_TEST_SUITE_P(Zoo, LayerShapeTest, testing::ValuesIn(kShapeCases),
                         [](const testing::TestParamInfo<ShapeCase>& info) {
                           std::string name =
                               std::string(info.param.model) + "_" + info.param.layer;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

// How many layers of each parameterised kind a model has; for torchvision
// models these are the counts of nn.Conv2d, nn.BatchNorm2d, nn.Linear modules.
struct LayerCountCase {
  const char* model;
  int convs, batch_norms, linears, max_pools;
};

class LayerCountTest : public testing::TestWithParam<LayerCountCase> {};

TEST_P(LayerCountTest, MatchesTheReference) {
  const LayerCountCase& c = GetParam();
  const Graph* graph = ZooGraph(c.model);
  ASSERT_NE(graph, nullptr) << c.model;
  int convs = 0, batch_norms = 0, linears = 0, max_pools = 0;
  for (const Node& n : graph->nodes()) {
    convs += n.kind == OpKind::kConv2d;
    batch_norms += n.kind == OpKind::kBatchNorm;
    linears += n.kind == OpKind::kLinear;
    max_pools += n.kind == OpKind::kMaxPool;
  }
  EXPECT_EQ(convs, c.convs) << c.model;
  EXPECT_EQ(batch_norms, c.batch_norms) << c.model;
  EXPECT_EQ(linears, c.linears) << c.model;
  EXPECT_EQ(max_pools, c.max_pools) << c.model;
}

constexpr LayerCountCase kLayerCountCases[] = {
    // 1 + 2 per basic block + 3 downsample convs; 1 + 3 per bottleneck + 4.
    {"resnet18", 20, 20, 1, 1},
    {"resnet34", 36, 36, 1, 1},
    {"resnet50", 53, 53, 1, 1},
    {"resnet101", 104, 104, 1, 1},
    {"resnet152", 155, 155, 1, 1},
    {"vgg16_bn", 13, 13, 3, 5},
    // stem + 2 (the t = 1 block) + 3 × 16 blocks + features.18
    {"mobilenet_v2", 52, 52, 1, 0},
    {"mobilenet_v2_cifar", 52, 52, 1, 0},
    // stem + (2 + 2 SE) for the e = 1 block + (3 + 2 SE) × 15 blocks + features.8
    {"efficientnet_b0", 1 + 4 + 5 * 15 + 1, 1 + 2 + 3 * 15 + 1, 1, 0},
    // depth = weighted layers: convs + fc, plus the projections.
    {"resnet20", 19 + 2, 19 + 2, 1, 0},
    {"resnet110", 109 + 2, 109 + 2, 1, 0},
    {"resnet164", 163 + 3, 163, 1, 0},
    {"resnet1001", 1000 + 3, 1000, 1, 0},
    // 1 + 2 per dense layer (48) + 2 transitions; a BN before every conv but
    // the stem, and the final one.
    {"densenet_bc_100", 99, 99, 1, 0},
    {"fmnist_resnet", 19 + 2, 19, 1, 0},
    {"fmnist_resnet_post", 19 + 2, 19 + 2, 1, 0},
};

INSTANTIATE_TEST_SUITE_P(Zoo, LayerCountTest, testing::ValuesIn(kLayerCountCases),
                         [](const testing::TestParamInfo<LayerCountCase>& info) {
                           return std::string(info.param.model);
                         });

// Attributes torchvision fixes and a shape alone would not catch.
TEST(ZooTest, TorchvisionAttributes) {
  const Graph* resnet = ZooGraph("resnet50");
  ASSERT_NE(resnet, nullptr);
  struct Want {
    const char* layer;
    OpKind kind;
    int64_t kernel, stride, padding;
  };
  for (const Want& w :
       {Want{"conv1", OpKind::kConv2d, 7, 2, 3}, Want{"maxpool", OpKind::kMaxPool, 3, 2, 1},
        Want{"layer1.0.downsample.0", OpKind::kConv2d, 1, 1, 0},
        Want{"layer3.0.conv2", OpKind::kConv2d, 3, 2, 1},
        Want{"layer3.0.downsample.0", OpKind::kConv2d, 1, 2, 0}}) {
    const int id = resnet->Find(w.layer);
    ASSERT_GE(id, 0) << w.layer;
    const Node& n = resnet->node(id);
    EXPECT_EQ(n.kind, w.kind) << w.layer;
    EXPECT_EQ(n.kernel_h, w.kernel) << w.layer;
    EXPECT_EQ(n.kernel_w, w.kernel) << w.layer;
    EXPECT_EQ(n.stride_h, w.stride) << w.layer;
    EXPECT_EQ(n.stride_w, w.stride) << w.layer;
    for (int64_t pad : {n.pad_top, n.pad_left, n.pad_bottom, n.pad_right}) EXPECT_EQ(pad, w.padding) << w.layer;
  }
  const int downsample_bn = resnet->Find("layer1.0.downsample.1");
  ASSERT_GE(downsample_bn, 0);
  EXPECT_EQ(resnet->node(downsample_bn).kind, OpKind::kBatchNorm);

  const Graph* vgg = ZooGraph("vgg16_bn");
  ASSERT_NE(vgg, nullptr);
  struct VggWant {
    const char* layer;
    OpKind kind;
  };
  for (const VggWant& w :
       {VggWant{"features.0", OpKind::kConv2d}, VggWant{"features.1", OpKind::kBatchNorm},
        VggWant{"features.2", OpKind::kRelu}, VggWant{"features.6", OpKind::kMaxPool},
        VggWant{"features.40", OpKind::kConv2d}, VggWant{"features.43", OpKind::kMaxPool},
        VggWant{"classifier.0", OpKind::kLinear}, VggWant{"classifier.1", OpKind::kRelu},
        VggWant{"classifier.2", OpKind::kDropout}, VggWant{"classifier.5", OpKind::kDropout},
        VggWant{"classifier.6", OpKind::kLinear}}) {
    const int id = vgg->Find(w.layer);
    ASSERT_GE(id, 0) << w.layer;
    EXPECT_EQ(vgg->node(id).kind, w.kind) << w.layer;
  }
  EXPECT_EQ(vgg->node(vgg->Find("classifier.2")).dropout_p, 0.5);
  EXPECT_EQ(vgg->Find("features.44"), -1);
}

}  // namespace
}  // namespace slimtrain::planner
