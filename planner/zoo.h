// zoo.h — the model zoo: published architectures as ModelSpecs.
//
// Each zoo model is built fresh on request; nothing is cached or registered at
// run time. Users list them with `slimtrain zoo list`, export one to a file
// (planner/model_io.h), edit it, and pass it back with --model-file.
//
//   for (const ZooEntry& e : ZooModels()) std::printf("%s  %s\n", ...);
//   absl::StatusOr<v1::ModelSpec> spec = ZooModel("resnet56");
//   if (!spec.ok()) return spec.status();  // NOT_FOUND "unknown zoo model ..."
//   SLIM_ASSIGN_OR_RETURN(Graph graph, Graph::Build(*spec));
//
// The models (input per example, (C,H,W)):
//   fmnist_resnet                  Fashion-MNIST, 1x28x28: pre-activation ResNet,
//                                  3 stages x 3 basic blocks, widths 16/32/64
//   fmnist_resnet_post             the same size, post-activation blocks with
//                                  projection shortcuts (as resnet20 ... below)
//   resnet20, resnet56, resnet110  CIFAR, 3x32x32: He et al. 2016, basic blocks,
//                                  post-activation; 1x1 conv + BN projection
//                                  shortcuts (option B) where the shape changes
//   resnet164, resnet1001          CIFAR, 3x32x32: He et al. 2016 "Identity
//                                  Mappings", pre-activation bottlenecks
//   densenet_bc_100                CIFAR, 3x32x32: Huang et al. 2017, DenseNet-BC,
//                                  depth 100, growth rate 12
//   resnet18 ... resnet152         ImageNet, 3x224x224: torchvision's ResNets (v1.5)
//   vgg16_bn                       ImageNet, 3x224x224: torchvision's vgg16_bn
//
// Layer names. Layers with parameters in the torchvision models carry
// torchvision's module names ("layer1.0.conv1", "layer1.0.downsample.0",
// "features.0", "classifier.6", "fc"), so `<layer>.weight`, `<layer>.bias`,
// `<layer>.running_mean`, `<layer>.running_var` are PyTorch state_dict keys.
// The CIFAR ResNets use the same scheme (conv1/bn1, layerS.B.*, fc); the
// DenseNet uses torchvision's DenseNet names (features.denseblockD.denselayerL.
// norm1, ..., features.transitionT.conv, features.norm5, classifier).
// Layers without parameters get descriptive unique names ("layer1.0.relu1",
// "layer1.0.add", "maxpool", "avgpool"). The model input is "input" and the
// last layer is the softmax cross-entropy "loss". A conv followed by BN has no
// bias; VGG's convs have one, as in torchvision.
#ifndef SLIMTRAIN_PLANNER_ZOO_H_
#define SLIMTRAIN_PLANNER_ZOO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/model.pb.h"

namespace slimtrain::planner {

struct ZooEntry {
  std::string name;         // e.g. "resnet56"; what ZooModel() takes
  std::string description;  // one line: the source and the input size
};

// Every zoo model, smallest data set first (Fashion-MNIST, CIFAR, ImageNet),
// then by family and depth. The order is stable across releases; new models
// are appended to their group. The returned reference is valid forever.
const std::vector<ZooEntry>& ZooModels();

// Builds the zoo model `name` (exact, case-sensitive). Its name and
// description equal its ZooEntry's. NOT_FOUND "unknown zoo model 'x'; known:
// fmnist_resnet, resnet20, ..." for any other name.
absl::StatusOr<v1::ModelSpec> ZooModel(absl::string_view name);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_ZOO_H_
