// zoo_models.h — the builders behind ZooModel(), one per architecture family.
//
// Internal to the zoo: planner/zoo.cc maps names to these. Each builds one
// fresh ModelSpec named `name` with description `description` (the ZooEntry's),
// for a depth the family supports; the depths are fixed by zoo.cc's table, so
// an unsupported depth is a bug in the zoo and aborts.
#ifndef SLIMTRAIN_PLANNER_ZOO_MODELS_H_
#define SLIMTRAIN_PLANNER_ZOO_MODELS_H_

#include <string>
#include <vector>

#include "proto/model.pb.h"

namespace slimtrain::planner::zoo_internal {

// zoo_resnet.cc
// CIFAR ResNet-`depth` (He et al. 2016), post-activation basic blocks,
// depth = 6n + 2; 3x32x32 -> 10 classes.
v1::ModelSpec CifarResNet(int depth, const std::string& name, const std::string& description);
// Pre-activation bottleneck ResNet-`depth` for CIFAR, depth = 9n + 2.
v1::ModelSpec PreActBottleneckResNet(int depth, const std::string& name,
                                     const std::string& description);
// torchvision's ImageNet ResNet-`depth`, depth in {18, 34, 50, 101, 152}.
v1::ModelSpec TorchvisionResNet(int depth, const std::string& name, const std::string& description);
// The Fashion-MNIST pre-activation ResNet, 1x28x28 -> 10 classes.
v1::ModelSpec FmnistResNet(const std::string& name, const std::string& description);
// CifarResNet's post-activation design on another (C,H,W) input.
v1::ModelSpec PostActivationResNet(int depth, const std::vector<int64_t>& input, const std::string& name,
                                   const std::string& description);
// Post-activation basic blocks at fmnist_resnet's size (zoo_resnet.cc).
v1::ModelSpec FmnistResNetPost(const std::string& name, const std::string& description);

// zoo_other.cc
// torchvision's vgg16_bn, 3x224x224 -> 1000 classes.
v1::ModelSpec Vgg16Bn(const std::string& name, const std::string& description);
// DenseNet-BC (Huang et al. 2017) for CIFAR, depth 100, growth rate 12.
v1::ModelSpec DenseNetBc100(const std::string& name, const std::string& description);

// zoo_mobile.cc
// torchvision's mobilenet_v2: 3x224x224 -> 1000 classes, or (cifar) the
// CIFAR strides on 3x32x32 -> 10 classes.
v1::ModelSpec MobileNetV2(bool cifar, const std::string& name, const std::string& description);
// torchvision's efficientnet_b0, 3x224x224 -> 1000 classes.
v1::ModelSpec EfficientNetB0(const std::string& name, const std::string& description);

// zoo_transformer.cc
// ViT-Tiny (timm's vit_tiny_patch16_224): 3x224x224 -> 1000 classes, or
// (cifar) patch 4 on 3x32x32 -> 10 classes.
v1::ModelSpec VitTiny(bool cifar, const std::string& name, const std::string& description);
// A small ViT in ViT-Tiny's design for Fashion-MNIST: 1x28x28, patch 4,
// width 96, depth 8, 3 heads, MLP 384 -> 10 classes.
v1::ModelSpec FmnistVit(const std::string& name, const std::string& description);
// nanoGPT's character-level GPT (6 layers, d 384, context 256, 65 tokens,
// tied embedding, no biases).
v1::ModelSpec NanoGpt(const std::string& name, const std::string& description);
// BERT-Base as a sequence classifier over 512 tokens, for planning.
v1::ModelSpec BertBase(const std::string& name, const std::string& description);

}  // namespace slimtrain::planner::zoo_internal

#endif  // SLIMTRAIN_PLANNER_ZOO_MODELS_H_
