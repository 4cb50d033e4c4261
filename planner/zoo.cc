#include "planner/zoo.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "planner/zoo_models.h"

namespace slimtrain::planner {
namespace {

using zoo_internal::BertBase;
using zoo_internal::CifarResNet;
using zoo_internal::DenseNetBc100;
using zoo_internal::EfficientNetB0;
using zoo_internal::FmnistResNet;
using zoo_internal::FmnistResNetPost;
using zoo_internal::MobileNetV2;
using zoo_internal::NanoGpt;
using zoo_internal::PreActBottleneckResNet;
using zoo_internal::TorchvisionResNet;
using zoo_internal::Vgg16Bn;
using zoo_internal::FmnistVit;
using zoo_internal::VitTiny;

using BuildFn = v1::ModelSpec (*)(const std::string& name, const std::string& description);

struct ZooModelDef {
  const char* name;
  const char* description;
  BuildFn build;
};

// The zoo, in the order ZooModels() lists it.
constexpr ZooModelDef kZoo[] = {
    // Fashion-MNIST.
    {"fmnist_resnet",
     "Fashion-MNIST pre-activation ResNet, 3 stages x 3 basic blocks, widths 16/32/64 "
     "(after He et al. 2016, Identity Mappings); input 1x28x28, 10 classes",
     FmnistResNet},
    {"fmnist_resnet_post",
     "Fashion-MNIST post-activation ResNet, 3 stages x 3 basic blocks, widths 16/32/64, "
     "projection shortcuts (after He et al. 2016, Deep Residual Learning); input 1x28x28, 10 classes",
     FmnistResNetPost},
    {"fmnist_vit",
     "Fashion-MNIST vision transformer in ViT-Tiny's design (Dosovitskiy et al. 2021): patch 4, width 96, "
     "depth 8, 3 heads, MLP 384; input 1x28x28, 10 classes",
     FmnistVit},
    // CIFAR.
    {"resnet20",
     "ResNet-20 for CIFAR-10 (He et al. 2016, Deep Residual Learning, sec. 4.2; option-B "
     "projection shortcuts); input 3x32x32, 10 classes",
     [](const std::string& n, const std::string& d) { return CifarResNet(20, n, d); }},
    {"resnet56",
     "ResNet-56 for CIFAR-10 (He et al. 2016, Deep Residual Learning, sec. 4.2; option-B "
     "projection shortcuts); input 3x32x32, 10 classes",
     [](const std::string& n, const std::string& d) { return CifarResNet(56, n, d); }},
    {"resnet110",
     "ResNet-110 for CIFAR-10 (He et al. 2016, Deep Residual Learning, sec. 4.2; option-B "
     "projection shortcuts); input 3x32x32, 10 classes",
     [](const std::string& n, const std::string& d) { return CifarResNet(110, n, d); }},
    {"resnet164",
     "Pre-activation bottleneck ResNet-164 for CIFAR-10 (He et al. 2016, Identity Mappings "
     "in Deep Residual Networks); input 3x32x32, 10 classes",
     [](const std::string& n, const std::string& d) { return PreActBottleneckResNet(164, n, d); }},
    {"resnet1001",
     "Pre-activation bottleneck ResNet-1001 for CIFAR-10 (He et al. 2016, Identity Mappings "
     "in Deep Residual Networks); input 3x32x32, 10 classes",
     [](const std::string& n, const std::string& d) { return PreActBottleneckResNet(1001, n, d); }},
    {"densenet_bc_100",
     "DenseNet-BC, depth 100, growth rate 12, for CIFAR-10 (Huang et al. 2017, Densely "
     "Connected Convolutional Networks); input 3x32x32, 10 classes",
     DenseNetBc100},
    {"mobilenet_v2_cifar",
     "MobileNetV2 for CIFAR-10: torchvision.models.mobilenet_v2(num_classes=10) with the stem "
     "and the first 24-channel stage at stride 1 (Sandler et al. 2018); input 3x32x32, 10 classes",
     [](const std::string& n, const std::string& d) { return MobileNetV2(/*cifar=*/true, n, d); }},
    {"vit_tiny_cifar",
     "ViT-Tiny for CIFAR-10: width 192, depth 12, 3 heads, MLP 768, patch 4 (65 tokens) "
     "(Dosovitskiy et al. 2021; DeiT-Ti's shape); input 3x32x32, 10 classes",
     [](const std::string& n, const std::string& d) { return VitTiny(/*cifar=*/true, n, d); }},
    // Text.
    {"nanogpt",
     "GPT decoder as Karpathy's nanoGPT for Shakespeare characters (Radford et al. 2019's GPT-2 "
     "block): 6 layers, 6 heads, width 384, context 256, vocabulary 65, weight tying, no biases; "
     "input 256 token ids, a next-token loss at every position",
     NanoGpt},
    // ImageNet.
    {"mobilenet_v2",
     "MobileNetV2 as torchvision.models.mobilenet_v2 (Sandler et al. 2018, width 1.0); input "
     "3x224x224, 1000 classes",
     [](const std::string& n, const std::string& d) { return MobileNetV2(/*cifar=*/false, n, d); }},
    {"efficientnet_b0",
     "EfficientNet-B0 as torchvision.models.efficientnet_b0 (Tan & Le 2019), without stochastic "
     "depth; input 3x224x224, 1000 classes",
     EfficientNetB0},
    {"resnet18",
     "ResNet-18 as torchvision.models.resnet18 (He et al. 2016); input 3x224x224, 1000 classes",
     [](const std::string& n, const std::string& d) { return TorchvisionResNet(18, n, d); }},
    {"resnet34",
     "ResNet-34 as torchvision.models.resnet34 (He et al. 2016); input 3x224x224, 1000 classes",
     [](const std::string& n, const std::string& d) { return TorchvisionResNet(34, n, d); }},
    {"resnet50",
     "ResNet-50 v1.5 as torchvision.models.resnet50 (He et al. 2016); input 3x224x224, "
     "1000 classes",
     [](const std::string& n, const std::string& d) { return TorchvisionResNet(50, n, d); }},
    {"resnet101",
     "ResNet-101 v1.5 as torchvision.models.resnet101 (He et al. 2016); input 3x224x224, "
     "1000 classes",
     [](const std::string& n, const std::string& d) { return TorchvisionResNet(101, n, d); }},
    {"resnet152",
     "ResNet-152 v1.5 as torchvision.models.resnet152 (He et al. 2016); input 3x224x224, "
     "1000 classes",
     [](const std::string& n, const std::string& d) { return TorchvisionResNet(152, n, d); }},
    {"vit_tiny",
     "ViT-Tiny as timm's vit_tiny_patch16_224 (Dosovitskiy et al. 2021, DeiT-Ti's shape): width "
     "192, depth 12, 3 heads, patch 16; input 3x224x224, 1000 classes",
     [](const std::string& n, const std::string& d) { return VitTiny(/*cifar=*/false, n, d); }},
    // Text, for planning.
    {"bert_base",
     "BERT-Base encoder (Devlin et al. 2019: 12 layers, width 768, 12 heads) as Hugging Face's "
     "BertForSequenceClassification without token-type embeddings, for planning; input 512 token "
     "ids of a 30522-word vocabulary, 2 classes",
     BertBase},
    {"vgg16_bn",
     "VGG-16 with batch norm as torchvision.models.vgg16_bn (Simonyan & Zisserman 2015); "
     "input 3x224x224, 1000 classes",
     Vgg16Bn},
};

}  // namespace

const std::vector<ZooEntry>& ZooModels() {
  static const std::vector<ZooEntry>* const kEntries = [] {
    auto* entries = new std::vector<ZooEntry>();
    for (const ZooModelDef& def : kZoo) entries->push_back({def.name, def.description});
    return entries;
  }();
  return *kEntries;
}

absl::StatusOr<v1::ModelSpec> ZooModel(absl::string_view name) {
  for (const ZooModelDef& def : kZoo) {
    if (name == def.name) return def.build(def.name, def.description);
  }
  std::vector<absl::string_view> known;
  for (const ZooModelDef& def : kZoo) known.push_back(def.name);
  return absl::NotFoundError(
      absl::StrCat("unknown zoo model '", name, "'; known: ", absl::StrJoin(known, ", ")));
}

}  // namespace slimtrain::planner
