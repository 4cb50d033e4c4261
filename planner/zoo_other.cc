// The zoo's non-residual networks: torchvision's vgg16_bn and DenseNet-BC-100.
//
// Shapes below are per example, (C,H,W) or (F).
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "planner/model_builder.h"
#include "planner/zoo_models.h"

namespace slimtrain::planner::zoo_internal {

// torchvision.models.vgg16_bn: configuration "D" with batch norm. `features`
// is a flat Sequential numbered as torchvision numbers it: each conv (3x3,
// pad 1, with bias) takes three indices (conv, BN, ReLU) and each max pool
// (2x2/2) one, so features.0 is the first conv, features.6 the first pool and
// features.43 the last (512,7,7). torchvision's AdaptiveAvgPool2d((7,7)) is
// the identity at 224x224 input and is left out; the classifier reads the
// flattened 25088 features: classifier.0 linear 4096, .1 ReLU, .2 dropout 0.5,
// .3 linear 4096, .4 ReLU, .5 dropout 0.5, .6 linear 1000.
v1::ModelSpec Vgg16Bn(const std::string& name, const std::string& description) {
  constexpr int kPool = 0;  // a max pool in the configuration
  // clang-format off
  static constexpr int kConfigD[] = {
      64,  64,  kPool,
      128, 128, kPool,
      256, 256, 256, kPool,
      512, 512, 512, kPool,
      512, 512, 512, kPool,
  };
  // clang-format on
  ModelBuilder b(name, description, {3, 224, 224}, 1000);
  std::string x = "input";  // (3,224,224)
  int index = 0;
  auto next = [&index] { return absl::StrCat("features.", index++); };
  for (int channels : kConfigD) {
    if (channels == kPool) {
      x = b.MaxPool(x, next(), 2, 2, 0);  // halves H and W
    } else {
      x = b.Conv(x, next(), channels, 3, 1, 1, true);
      x = b.BatchNorm(x, next());
      x = b.Relu(x, next());
    }
  }
  x = b.Flatten(x, "flatten");  // (512,7,7) -> (25088)
  x = b.Linear(x, "classifier.0", 4096);
  x = b.Relu(x, "classifier.1");
  x = b.Dropout(x, "classifier.2", 0.5);
  x = b.Linear(x, "classifier.3", 4096);
  x = b.Relu(x, "classifier.4");
  x = b.Dropout(x, "classifier.5", 0.5);
  x = b.Linear(x, "classifier.6", 1000);
  b.Loss(x);
  return std::move(b).Finish();
}

// Huang et al. 2017, "Densely Connected Convolutional Networks", DenseNet-BC
// for CIFAR with depth L = 100 and growth rate k = 12: (L - 4) / 6 = 16
// bottleneck layers per dense block, 3 blocks on 32x32/16x16/8x8 maps.
// Stem: a 3x3 conv to 2k = 24 channels. Dense layer on c channels:
// norm1-relu1-conv1 1x1 (4k)-norm2-relu2-conv2 3x3 (k), concatenated after its
// input: (c + k). Transition on c channels: norm-relu-conv 1x1 (c/2)-pool
// avg 2x2/2. Then a final BN-ReLU, global average pool, linear to 10.
// Channels: 24 -> block1 216 -> 108 -> block2 300 -> 150 -> block3 342.
// Names follow torchvision's DenseNet (features.denseblock1.denselayer1.norm1,
// features.transition1.conv, features.norm5, classifier).
v1::ModelSpec DenseNetBc100(const std::string& name, const std::string& description) {
  constexpr int64_t kGrowth = 12;
  constexpr int kLayersPerBlock = 16;  // (100 - 4) / 6
  constexpr int kBlocks = 3;
  ModelBuilder b(name, description, {3, 32, 32}, 10);
  std::string x = b.Conv("input", "features.conv0", 2 * kGrowth, 3, 1, 1, false);  // (24,32,32)
  int64_t channels = 2 * kGrowth;
  for (int block = 1; block <= kBlocks; ++block) {
    for (int layer = 1; layer <= kLayersPerBlock; ++layer) {
      const std::string p = absl::StrCat("features.denseblock", block, ".denselayer", layer, ".");
      std::string y = b.Relu(b.BatchNorm(x, p + "norm1"), p + "relu1");  // (c,H,W)
      y = b.Conv(y, p + "conv1", 4 * kGrowth, 1, 1, 0, false);           // (4k,H,W)
      y = b.Relu(b.BatchNorm(y, p + "norm2"), p + "relu2");
      y = b.Conv(y, p + "conv2", kGrowth, 3, 1, 1, false);  // (k,H,W)
      x = b.Concat({x, y}, p + "concat");                   // (c+k,H,W)
      channels += kGrowth;
    }
    if (block == kBlocks) break;
    const std::string p = absl::StrCat("features.transition", block, ".");
    x = b.Relu(b.BatchNorm(x, p + "norm"), p + "relu");
    channels /= 2;                                        // compression 0.5
    x = b.Conv(x, p + "conv", channels, 1, 1, 0, false);  // (c/2,H,W)
    x = b.AvgPool(x, p + "pool", 2, 2, 0);                // (c/2,H/2,W/2)
  }
  x = b.Relu(b.BatchNorm(x, "features.norm5"), "features.relu5");  // (342,8,8)
  x = b.GlobalAvgPool(x, "avgpool");                               // (342)
  b.Loss(b.Linear(x, "classifier", 10));
  return std::move(b).Finish();
}

}  // namespace slimtrain::planner::zoo_internal
