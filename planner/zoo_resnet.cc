// The zoo's residual networks: CIFAR ResNets (post-activation basic blocks),
// pre-activation bottleneck ResNets, the Fashion-MNIST pre-activation ResNet,
// and torchvision's ImageNet ResNets.
//
// Shapes below are per example, (C,H,W). Every 3x3 conv pads by 1 and every
// 1x1 conv by 0, so a stride-1 conv keeps H and W and a stride-2 conv halves
// them (rounding up, as PyTorch: floor((H + 2 - 3) / 2) + 1).
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "planner/model_builder.h"
#include "planner/zoo_models.h"

namespace slimtrain::planner::zoo_internal {
namespace {

// "layer2.0." — the prefix of block `block` (0-based) of stage `stage`
// (1-based), as torchvision names them.
std::string BlockPrefix(int stage, int block) {
  return absl::StrCat("layer", stage, ".", block, ".");
}

// The classifier head shared by every ResNet here: global average pool and a
// linear layer to the classes, then the loss. `x` is (C,H,W).
void Head(const std::string& x, int64_t num_classes, ModelBuilder* b) {
  std::string pooled = b->GlobalAvgPool(x, "avgpool");  // (C)
  b->Loss(b->Linear(pooled, "fc", num_classes));        // (num_classes) -> loss
}

}  // namespace

// He et al. 2016, "Deep Residual Learning for Image Recognition", section 4.2:
// a 3x3 conv to 16 channels, then 3 stages of n basic blocks at widths
// 16/32/64 on 32x32/16x16/8x8 maps, global average pool, linear to 10.
// Block (post-activation): conv3x3-bn-relu-conv3x3-bn, add the shortcut, relu.
// The paper's option-A shortcut (identity with zero-padded channels) has no op
// here, so where the shape changes the shortcut is option B: 1x1 conv with
// stride 2, then BN (2,752 parameters more in all than option A).
v1::ModelSpec CifarResNet(int depth, const std::string& name, const std::string& description) {
  return PostActivationResNet(depth, {3, 32, 32}, name, description);
}

v1::ModelSpec PostActivationResNet(int depth, const std::vector<int64_t>& input, const std::string& name,
                                   const std::string& description) {
  SLIM_CHECK(depth >= 8 && (depth - 2) % 6 == 0);
  const int n = (depth - 2) / 6;
  ModelBuilder b(name, description, input, 10);
  std::string x = b.Conv("input", "conv1", 16, 3, 1, 1, false);  // (16,H,W)
  x = b.Relu(b.BatchNorm(x, "bn1"), "relu");
  int64_t in_channels = 16;
  for (int stage = 1; stage <= 3; ++stage) {
    const int64_t width = int64_t{16} << (stage - 1);  // 16, 32, 64
    for (int block = 0; block < n; ++block) {
      const int64_t stride = (stage > 1 && block == 0) ? 2 : 1;
      const std::string p = BlockPrefix(stage, block);
      // (width, H/stride, W/stride) from here on.
      std::string y = b.Conv(x, p + "conv1", width, 3, stride, 1, false);
      y = b.Relu(b.BatchNorm(y, p + "bn1"), p + "relu1");
      y = b.Conv(y, p + "conv2", width, 3, 1, 1, false);
      y = b.BatchNorm(y, p + "bn2");
      std::string shortcut = x;
      if (stride != 1 || in_channels != width) {
        shortcut = b.Conv(x, p + "downsample.0", width, 1, stride, 0, false);
        shortcut = b.BatchNorm(shortcut, p + "downsample.1");
      }
      x = b.Relu(b.Add({y, shortcut}, p + "add"), p + "relu2");
      in_channels = width;
    }
  }
  Head(x, 10, &b);  // x is (64, H/4, W/4)
  return std::move(b).Finish();
}

// He et al. 2016, "Identity Mappings in Deep Residual Networks" (ResNet-164,
// ResNet-1001 on CIFAR): a 3x3 conv to 16 channels, then 3 stages of n
// pre-activation bottleneck blocks with bottleneck widths w = 16/32/64 and
// outputs 4w = 64/128/256 on 32x32/16x16/8x8 maps, a final BN-ReLU, global
// average pool, linear to 10.
// Block: a = relu(bn1(x)); conv1x1(w)(a)-bn2-relu2-conv3x3(w, stride)-bn3-
// relu3-conv1x1(4w), plus the shortcut: x itself, or, on the first block of
// each stage (channels or size change), a 1x1 conv with the stride applied to
// the pre-activated input a (as the paper's code does).
v1::ModelSpec PreActBottleneckResNet(int depth, const std::string& name,
                                     const std::string& description) {
  SLIM_CHECK(depth >= 11 && (depth - 2) % 9 == 0);
  const int n = (depth - 2) / 9;
  ModelBuilder b(name, description, {3, 32, 32}, 10);
  std::string x = b.Conv("input", "conv1", 16, 3, 1, 1, false);  // (16,32,32)
  int64_t in_channels = 16;
  for (int stage = 1; stage <= 3; ++stage) {
    const int64_t width = int64_t{16} << (stage - 1);  // 16, 32, 64
    const int64_t out_channels = 4 * width;            // 64, 128, 256
    for (int block = 0; block < n; ++block) {
      const int64_t stride = (stage > 1 && block == 0) ? 2 : 1;
      const std::string p = BlockPrefix(stage, block);
      const std::string a = b.Relu(b.BatchNorm(x, p + "bn1"), p + "relu1");  // (in,H,W)
      std::string y = b.Conv(a, p + "conv1", width, 1, 1, 0, false);         // (w,H,W)
      y = b.Relu(b.BatchNorm(y, p + "bn2"), p + "relu2");
      y = b.Conv(y, p + "conv2", width, 3, stride, 1, false);  // (w,H/s,W/s)
      y = b.Relu(b.BatchNorm(y, p + "bn3"), p + "relu3");
      y = b.Conv(y, p + "conv3", out_channels, 1, 1, 0, false);  // (4w,H/s,W/s)
      std::string shortcut = x;
      if (stride != 1 || in_channels != out_channels) {
        shortcut = b.Conv(a, p + "downsample.0", out_channels, 1, stride, 0, false);
      }
      x = b.Add({y, shortcut}, p + "add");
      in_channels = out_channels;
    }
  }
  x = b.Relu(b.BatchNorm(x, "bn"), "relu");  // (256,8,8)
  Head(x, 10, &b);
  return std::move(b).Finish();
}

// The Fashion-MNIST model: the pre-activation design above with basic blocks.
// A 3x3 conv to 16 channels, 3 stages x 3 blocks at widths 16/32/64 on
// 28x28/14x14/7x7 maps, a final BN-ReLU, global average pool, linear to 10.
// Block: a = relu(bn1(x)); conv3x3(w, stride)(a)-bn2-relu2-conv3x3(w), plus
// x, or on entering stages 2 and 3 a 1x1 conv with stride 2 applied to a.
v1::ModelSpec FmnistResNet(const std::string& name, const std::string& description) {
  constexpr int kBlocks = 3;
  ModelBuilder b(name, description, {1, 28, 28}, 10);
  std::string x = b.Conv("input", "conv1", 16, 3, 1, 1, false);  // (16,28,28)
  int64_t in_channels = 16;
  for (int stage = 1; stage <= 3; ++stage) {
    const int64_t width = int64_t{16} << (stage - 1);  // 16, 32, 64
    for (int block = 0; block < kBlocks; ++block) {
      const int64_t stride = (stage > 1 && block == 0) ? 2 : 1;
      const std::string p = BlockPrefix(stage, block);
      const std::string a = b.Relu(b.BatchNorm(x, p + "bn1"), p + "relu1");  // (in,H,W)
      std::string y = b.Conv(a, p + "conv1", width, 3, stride, 1, false);    // (w,H/s,W/s)
      y = b.Relu(b.BatchNorm(y, p + "bn2"), p + "relu2");
      y = b.Conv(y, p + "conv2", width, 3, 1, 1, false);
      std::string shortcut = x;
      if (stride != 1 || in_channels != width) {
        shortcut = b.Conv(a, p + "downsample.0", width, 1, stride, 0, false);
      }
      x = b.Add({y, shortcut}, p + "add");
      in_channels = width;
    }
  }
  x = b.Relu(b.BatchNorm(x, "bn"), "relu");  // (64,7,7)
  Head(x, 10, &b);
  return std::move(b).Finish();
}

// The post-activation Fashion-MNIST model: CifarResNet's design at
// fmnist_resnet's size (1x28x28 input: maps of 28x28/14x14/7x7).
v1::ModelSpec FmnistResNetPost(const std::string& name, const std::string& description) {
  return PostActivationResNet(20, {1, 28, 28}, name, description);
}

// torchvision.models.resnet{18,34,50,101,152} (torchvision's "v1.5": in a
// bottleneck the stride sits on the 3x3 conv). Stem: conv1 7x7/2 pad 3 to 64,
// bn1, relu, maxpool 3x3/2 pad 1 (224 -> 112 -> 56). Stages layer1..layer4 at
// planes 64/128/256/512 on 56/28/14/7 maps, stride 2 entering layer2..4.
// BasicBlock (expansion 1): conv1 3x3(s)-bn1-relu1-conv2 3x3-bn2, add, relu2.
// Bottleneck (expansion 4): conv1 1x1-bn1-relu1-conv2 3x3(s)-bn2-relu2-
// conv3 1x1(4 planes)-bn3, add, relu3.
// Shortcut where stride or channels change: downsample.0 (1x1 conv, stride s)
// and downsample.1 (BN). Then avgpool and fc to 1000.
v1::ModelSpec TorchvisionResNet(int depth, const std::string& name,
                                const std::string& description) {
  struct Config {
    int depth;
    bool bottleneck;
    int blocks[4];
  };
  static constexpr Config kConfigs[] = {
      {18, false, {2, 2, 2, 2}},  {34, false, {3, 4, 6, 3}},  {50, true, {3, 4, 6, 3}},
      {101, true, {3, 4, 23, 3}}, {152, true, {3, 8, 36, 3}},
  };
  const Config* config = nullptr;
  for (const Config& c : kConfigs) {
    if (c.depth == depth) config = &c;
  }
  SLIM_CHECK(config != nullptr);
  const int64_t expansion = config->bottleneck ? 4 : 1;

  ModelBuilder b(name, description, {3, 224, 224}, 1000);
  std::string x = b.Conv("input", "conv1", 64, 7, 2, 3, false);  // (64,112,112)
  x = b.Relu(b.BatchNorm(x, "bn1"), "relu");
  x = b.MaxPool(x, "maxpool", 3, 2, 1);  // (64,56,56)
  int64_t in_channels = 64;
  for (int stage = 1; stage <= 4; ++stage) {
    const int64_t planes = int64_t{64} << (stage - 1);  // 64, 128, 256, 512
    const int64_t out_channels = planes * expansion;
    for (int block = 0; block < config->blocks[stage - 1]; ++block) {
      const int64_t stride = (stage > 1 && block == 0) ? 2 : 1;
      const std::string p = BlockPrefix(stage, block);
      std::string y;
      std::string last_relu;
      if (config->bottleneck) {
        y = b.Conv(x, p + "conv1", planes, 1, 1, 0, false);  // (planes,H,W)
        y = b.Relu(b.BatchNorm(y, p + "bn1"), p + "relu1");
        y = b.Conv(y, p + "conv2", planes, 3, stride, 1, false);  // (planes,H/s,W/s)
        y = b.Relu(b.BatchNorm(y, p + "bn2"), p + "relu2");
        y = b.Conv(y, p + "conv3", out_channels, 1, 1, 0, false);  // (4 planes,H/s,W/s)
        y = b.BatchNorm(y, p + "bn3");
        last_relu = p + "relu3";
      } else {
        y = b.Conv(x, p + "conv1", planes, 3, stride, 1, false);  // (planes,H/s,W/s)
        y = b.Relu(b.BatchNorm(y, p + "bn1"), p + "relu1");
        y = b.Conv(y, p + "conv2", planes, 3, 1, 1, false);
        y = b.BatchNorm(y, p + "bn2");
        last_relu = p + "relu2";
      }
      std::string shortcut = x;
      if (stride != 1 || in_channels != out_channels) {
        shortcut = b.Conv(x, p + "downsample.0", out_channels, 1, stride, 0, false);
        shortcut = b.BatchNorm(shortcut, p + "downsample.1");
      }
      x = b.Relu(b.Add({y, shortcut}, p + "add"), last_relu);
      in_channels = out_channels;
    }
  }
  Head(x, 1000, &b);  // x is (512 expansion,7,7)
  return std::move(b).Finish();
}

}  // namespace slimtrain::planner::zoo_internal
