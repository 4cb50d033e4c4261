// The zoo's mobile networks: torchvision's MobileNetV2 (at ImageNet input
// and adapted to CIFAR) and EfficientNet-B0.
//
// Shapes below are per example, (C,H,W) or (F).
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "planner/model_builder.h"
#include "planner/zoo_models.h"

namespace slimtrain::planner::zoo_internal {

// Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear
// Bottlenecks", as torchvision.models.mobilenet_v2 (width 1.0), and named as
// its modules are, so exported weights load into it:
//   features.0      conv 3x3/2 to 32, BN, ReLU6 ("features.0.0", ".1", ".2")
//   features.1..17  inverted residual blocks, settings (t, c, n, s):
//                   (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1)
//                   (6,160,3,2) (6,320,1,1); a block of expansion t on c_in
//                   channels: [1x1 conv to t·c_in, BN, ReLU6] (t > 1) →
//                   depthwise 3x3/s, BN, ReLU6 → 1x1 conv to c, BN (linear),
//                   plus its input when s = 1 and c_in = c. torchvision's
//                   names: with t > 1 conv.0 (expand: .0 conv, .1 BN, .2
//                   ReLU6), conv.1 (depthwise), conv.2 (project), conv.3 (BN);
//                   with t = 1 conv.0 (depthwise), conv.1, conv.2.
//   features.18     conv 1x1 to 1280, BN, ReLU6
//   classifier      global average pool, dropout 0.2, linear.
// ImageNet: 3x224x224, 1000 classes, 7x7 before the pool. CIFAR: 3x32x32, 10
// classes, with the usual CIFAR change of strides (the stem and the first
// 24-channel stage at stride 1, so the maps are 32→…→4x4 instead of 1x1);
// strides change no parameter, so its count is torchvision's
// mobilenet_v2(num_classes=10).
v1::ModelSpec MobileNetV2(bool cifar, const std::string& name, const std::string& description) {
  struct Stage {
    int64_t t, c, n, s;
  };
  constexpr Stage kStages[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                               {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  ModelBuilder b(name, description, cifar ? std::vector<int64_t>{3, 32, 32} : std::vector<int64_t>{3, 224, 224},
                 cifar ? 10 : 1000);
  std::string x = b.Conv("input", "features.0.0", 32, 3, cifar ? 1 : 2, 1, false);
  x = b.Relu6(b.BatchNorm(x, "features.0.1"), "features.0.2");  // (32,112,112); CIFAR (32,32,32)
  int64_t channels = 32;
  int index = 1;
  for (const Stage& stage : kStages) {
    for (int64_t i = 0; i < stage.n; ++i, ++index) {
      const int64_t stride = i > 0 ? 1 : (cifar && stage.c == 24 ? 1 : stage.s);
      const std::string p = absl::StrCat("features.", index, ".conv.");
      const int64_t hidden = channels * stage.t;
      std::string y = x;
      int part = 0;
      if (stage.t != 1) {
        const std::string e = absl::StrCat(p, part++, ".");
        y = b.Conv(y, e + "0", hidden, 1, 1, 0, false);
        y = b.Relu6(b.BatchNorm(y, e + "1"), e + "2");  // (hidden,H,W)
      }
      const std::string d = absl::StrCat(p, part++, ".");
      y = b.Conv(y, d + "0", hidden, 3, stride, 1, false, /*groups=*/hidden);  // depthwise
      y = b.Relu6(b.BatchNorm(y, d + "1"), d + "2");                           // (hidden,H/s,W/s)
      y = b.Conv(y, absl::StrCat(p, part++), stage.c, 1, 1, 0, false);
      y = b.BatchNorm(y, absl::StrCat(p, part++));  // (c,H/s,W/s), no activation
      x = stride == 1 && channels == stage.c ? b.Add({y, x}, absl::StrCat("features.", index, ".add")) : y;
      channels = stage.c;
    }
  }
  x = b.Conv(x, "features.18.0", 1280, 1, 1, 0, false);
  x = b.Relu6(b.BatchNorm(x, "features.18.1"), "features.18.2");  // (1280,7,7); CIFAR (1280,4,4)
  x = b.GlobalAvgPool(x, "avgpool");                              // (1280)
  x = b.Dropout(x, "classifier.0", 0.2);
  b.Loss(b.Linear(x, "classifier.1", cifar ? 10 : 1000));
  return std::move(b).Finish();
}

// Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional
// Neural Networks", B0, as torchvision.models.efficientnet_b0 and named as
// its modules are:
//   features.0     conv 3x3/2 to 32, BN, SiLU
//   features.1..7  stages of MBConv blocks, (expansion, kernel, stride,
//                  channels, blocks): (1,3,1,16,1) (6,3,2,24,2) (6,5,2,40,2)
//                  (6,3,2,80,3) (6,5,1,112,3) (6,5,2,192,4) (6,3,1,320,1);
//                  a block on c_in channels: [1x1 conv to e·c_in, BN, SiLU]
//                  (e > 1) → depthwise k×k/s (padding (k-1)/2), BN, SiLU →
//                  squeeze-and-excite (spatial mean, 1x1 conv with bias to
//                  max(1, c_in/4), SiLU, 1x1 conv with bias back, sigmoid,
//                  times the features) → 1x1 conv to c, BN; plus its input
//                  when s = 1 and c_in = c. Names: features.<stage>.<block>.
//                  block.<i>, i counting expand, depthwise, SE (fc1, fc2),
//                  project.
//   features.8     conv 1x1 to 1280, BN, SiLU
//   classifier     spatial mean, dropout 0.2, linear to 1000.
// Not modelled: torchvision's stochastic depth (each residual branch
// dropped per example with probability 0.2·block/16 in training; it has no
// parameters and changes no tensor's size); the blocks add their branch
// always, as torchvision does in inference.
v1::ModelSpec EfficientNetB0(const std::string& name, const std::string& description) {
  struct Stage {
    int64_t expand, kernel, stride, channels, blocks;
  };
  constexpr Stage kStages[] = {{1, 3, 1, 16, 1}, {6, 3, 2, 24, 2}, {6, 5, 2, 40, 2}, {6, 3, 2, 80, 3},
                               {6, 5, 1, 112, 3}, {6, 5, 2, 192, 4}, {6, 3, 1, 320, 1}};
  ModelBuilder b(name, description, {3, 224, 224}, 1000);
  std::string x = b.Conv("input", "features.0.0", 32, 3, 2, 1, false);
  x = b.Silu(b.BatchNorm(x, "features.0.1"), "features.0.2");  // (32,112,112)
  int64_t channels = 32;
  int stage_index = 1;
  for (const Stage& stage : kStages) {
    for (int64_t i = 0; i < stage.blocks; ++i) {
      const int64_t stride = i == 0 ? stage.stride : 1;
      const std::string p = absl::StrCat("features.", stage_index, ".", i, ".block.");
      const int64_t hidden = channels * stage.expand;
      std::string y = x;
      int part = 0;
      if (stage.expand != 1) {
        const std::string e = absl::StrCat(p, part++, ".");
        y = b.Silu(b.BatchNorm(b.Conv(y, e + "0", hidden, 1, 1, 0, false), e + "1"), e + "2");
      }
      const std::string d = absl::StrCat(p, part++, ".");
      y = b.Conv(y, d + "0", hidden, stage.kernel, stride, (stage.kernel - 1) / 2, false, /*groups=*/hidden);
      y = b.Silu(b.BatchNorm(y, d + "1"), d + "2");  // (hidden,H/s,W/s)
      const std::string se = absl::StrCat(p, part++, ".");
      std::string g = b.SpatialMean(y, se + "avgpool");  // (hidden,1,1)
      g = b.Silu(b.Conv(g, se + "fc1", std::max<int64_t>(1, channels / 4), 1, 1, 0, true), se + "activation");
      g = b.Sigmoid(b.Conv(g, se + "fc2", hidden, 1, 1, 0, true), se + "scale_activation");
      y = b.Mul(y, g, se + "scale");  // (hidden,H/s,W/s) times (hidden,1,1)
      const std::string pr = absl::StrCat(p, part++, ".");
      y = b.BatchNorm(b.Conv(y, pr + "0", stage.channels, 1, 1, 0, false), pr + "1");
      x = stride == 1 && channels == stage.channels
              ? b.Add({y, x}, absl::StrCat("features.", stage_index, ".", i, ".add"))
              : y;
      channels = stage.channels;
    }
    ++stage_index;
  }
  x = b.Silu(b.BatchNorm(b.Conv(x, "features.8.0", 1280, 1, 1, 0, false), "features.8.1"), "features.8.2");
  x = b.GlobalAvgPool(x, "avgpool");  // (1280)
  x = b.Dropout(x, "classifier.0", 0.2);
  b.Loss(b.Linear(x, "classifier.1", 1000));
  return std::move(b).Finish();
}

}  // namespace slimtrain::planner::zoo_internal
