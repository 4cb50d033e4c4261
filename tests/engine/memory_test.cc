// Memory is real: the difference of the peak resident memory (VmHWM) of a
// training step under two strategies, each in a process of its own, is close
// to the difference of their planned peaks: ResNet-164 exact against approx4
// within 5%; ViT-Tiny (CIFAR) exact against checkpoint and
// checkpoint_optimal within 1% (issue 13; measured 0.07% and 0.12%); so is
// the nanoGPT decoder (token ids in, a loss at every position); and approx4's
// codes of every kind (issue 15) within 2%, and a mixed plan that recomputes
// segments and codes the rest.
#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace slimtrain {
namespace {

struct Measured {
  long long planned = -1, vmhwm = -1, recompute_flops = -1;
  int codes = -1;
};

// `extra`: step_runner's fourth argument ("between": a budget between
// approx2's and checkpoint_optimal's peaks).
Measured RunStepRunner(const std::string& strategy, const std::string& model = "resnet164", int batch = 32,
                       const std::string& extra = "") {
  const test_util::CommandResult r = test_util::RunCommandSplit("tests/engine/step_runner " + model + " " + strategy +
                                                                " " + std::to_string(batch) + " " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  Measured m;
  EXPECT_EQ(std::sscanf(r.stdout_only.c_str(), "planned_peak_bytes=%lld vmhwm_bytes=%lld recompute_flops=%lld codes=%d",
                        &m.planned, &m.vmhwm, &m.recompute_flops, &m.codes),
            4)
      << r.stdout_only;
  return m;
}

TEST(MemoryTest, ResidentMemoryFollowsThePlan) {
  const Measured exact = RunStepRunner("exact");
  const Measured approx4 = RunStepRunner("approx4");
  const double planned = static_cast<double>(exact.planned - approx4.planned);
  const double measured = static_cast<double>(exact.vmhwm - approx4.vmhwm);
  std::printf("ResNet-164, batch 32: planned peaks %.1f / %.1f MiB (difference %.1f MiB); VmHWM %.1f / %.1f MiB "
              "(difference %.1f MiB)\n",
              exact.planned / 1048576.0, approx4.planned / 1048576.0, planned / 1048576.0, exact.vmhwm / 1048576.0,
              approx4.vmhwm / 1048576.0, measured / 1048576.0);
  ASSERT_GT(planned, 0);
  EXPECT_NEAR(measured / planned, 1.0, 0.05);
}

// Issue 15: every coding's memory is what the plan says. ResNet-56
// (post-activation: bn_input, relu and group codes besides the BN→ReLU's),
// MobileNetV2 (BN→ReLU6: bounded codes), ViT-Tiny (LayerNorm, GELU, attention
// and linear inputs: group codes), each approx4 against exact.
TEST(MemoryTest, EveryCodingFollowsThePlan) {
  struct Case {
    const char* model;
    int batch;
  };
  for (const Case& c : {Case{"resnet56", 32}, Case{"mobilenet_v2_cifar", 16}, Case{"vit_tiny_cifar", 32}}) {
    const Measured exact = RunStepRunner("exact", c.model, c.batch);
    const Measured approx4 = RunStepRunner("approx4", c.model, c.batch);
    const double planned = static_cast<double>(exact.planned - approx4.planned);
    const double measured = static_cast<double>(exact.vmhwm - approx4.vmhwm);
    std::printf("%s, batch %d: planned peaks exact %.1f / approx4 %.1f MiB (difference %.1f MiB); VmHWM %.1f / "
                "%.1f MiB (difference %.1f MiB)\n",
                c.model, c.batch, exact.planned / 1048576.0, approx4.planned / 1048576.0, planned / 1048576.0,
                exact.vmhwm / 1048576.0, approx4.vmhwm / 1048576.0, measured / 1048576.0);
    ASSERT_GT(planned, 0) << c.model;
    EXPECT_NEAR(measured / planned, 1.0, 0.02) << c.model;
  }
}

// mixed for a budget between approx2's and checkpoint_optimal's peaks
// recomputes segments of ViT-Tiny and codes the rest; its memory follows
// the plan too.
TEST(MemoryTest, MixedRecomputingAndCodingFollowsThePlan) {
  const Measured exact = RunStepRunner("exact", "vit_tiny_cifar");
  const Measured mixed = RunStepRunner("mixed", "vit_tiny_cifar", 32, "between");
  EXPECT_GT(mixed.recompute_flops, 0);
  EXPECT_GT(mixed.codes, 0);
  const double planned = static_cast<double>(exact.planned - mixed.planned);
  const double measured = static_cast<double>(exact.vmhwm - mixed.vmhwm);
  std::printf("ViT-Tiny CIFAR, batch 32: planned exact %.1f / mixed %.1f MiB (difference %.1f MiB; %d codes, "
              "%.1f GFLOP recomputed); VmHWM %.1f / %.1f MiB (difference %.1f MiB)\n",
              exact.planned / 1048576.0, mixed.planned / 1048576.0, planned / 1048576.0, mixed.codes,
              mixed.recompute_flops / 1e9, exact.vmhwm / 1048576.0, mixed.vmhwm / 1048576.0, measured / 1048576.0);
  ASSERT_GT(planned, 0);
  EXPECT_NEAR(measured / planned, 1.0, 0.02);
}

TEST(MemoryTest, VisionTransformerCheckpointingFollowsThePlan) {
  const Measured exact = RunStepRunner("exact", "vit_tiny_cifar");
  for (const char* strategy : {"checkpoint", "checkpoint_optimal"}) {
    const Measured other = RunStepRunner(strategy, "vit_tiny_cifar");
    const double planned = static_cast<double>(exact.planned - other.planned);
    const double measured = static_cast<double>(exact.vmhwm - other.vmhwm);
    std::printf("ViT-Tiny CIFAR, batch 32: planned exact %.1f / %s %.1f MiB (difference %.1f MiB); VmHWM %.1f / "
                "%.1f MiB (difference %.1f MiB)\n",
                exact.planned / 1048576.0, strategy, other.planned / 1048576.0, planned / 1048576.0,
                exact.vmhwm / 1048576.0, other.vmhwm / 1048576.0, measured / 1048576.0);
    ASSERT_GT(planned, 0) << strategy;
    EXPECT_NEAR(measured / planned, 1.0, 0.01) << strategy;
  }
}

TEST(MemoryTest, GptCheckpointingFollowsThePlan) {
  const Measured exact = RunStepRunner("exact", "nanogpt", 8);
  for (const char* strategy : {"checkpoint", "checkpoint_optimal"}) {
    const Measured other = RunStepRunner(strategy, "nanogpt", 8);
    const double planned = static_cast<double>(exact.planned - other.planned);
    const double measured = static_cast<double>(exact.vmhwm - other.vmhwm);
    std::printf("nanoGPT, batch 8: planned exact %.1f / %s %.1f MiB (difference %.1f MiB); VmHWM %.1f / %.1f MiB "
                "(difference %.1f MiB)\n",
                exact.planned / 1048576.0, strategy, other.planned / 1048576.0, planned / 1048576.0,
                exact.vmhwm / 1048576.0, other.vmhwm / 1048576.0, measured / 1048576.0);
    ASSERT_GT(planned, 0) << strategy;
    EXPECT_NEAR(measured / planned, 1.0, 0.01) << strategy;
  }
}

}  // namespace
}  // namespace slimtrain
