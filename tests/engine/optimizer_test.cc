// Adam and RMSprop updates (Backend's default loops) against values computed
// by hand from PyTorch's update rules.
#include <cmath>

#include "engine/cpu/reference_backend.h"
#include "engine/lr_schedule.h"
#include "gtest/gtest.h"

namespace slimtrain::engine {
namespace {

TEST(AdamTest, MatchesHandComputedSteps) {
  ReferenceBackend backend(DType::kF64);
  double p = 1.0, g = 0.5, m = 0, v = 0;
  // t=1: m=0.05, v=0.00025; m̂=0.5, v̂=0.25 -> p = 1 - 0.1 * 0.5 / (0.5 + 1e-8).
  backend.AdamUpdate(1, 0.1, 0.9, 0.999, 1e-8, 0.0, 1, &p, &g, &m, &v);
  EXPECT_DOUBLE_EQ(m, 0.05);
  EXPECT_NEAR(v, 0.00025, 1e-15);
  EXPECT_NEAR(p, 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);
  // t=2, same gradient: m̂ and v̂ again 0.5 and 0.25.
  backend.AdamUpdate(1, 0.1, 0.9, 0.999, 1e-8, 0.0, 2, &p, &g, &m, &v);
  EXPECT_NEAR(m, 0.095, 1e-15);
  EXPECT_NEAR(p, 0.8, 1e-7);
}

TEST(AdamTest, WeightDecayIsAddedToTheGradient) {
  ReferenceBackend backend(DType::kF32);
  float p = 1.0f, g = 0.5f, m = 0, v = 0;
  // g' = 0.5 + 0.1 * 1 = 0.6: the first step moves by lr whatever g' is.
  backend.AdamUpdate(1, 0.1, 0.9, 0.999, 1e-8, 0.1, 1, &p, &g, &m, &v);
  EXPECT_NEAR(m, 0.06f, 1e-7);
  EXPECT_NEAR(p, 0.9f, 1e-6);
}

TEST(RmspropTest, MatchesHandComputedStepsWithAndWithoutMomentum) {
  ReferenceBackend backend(DType::kF64);
  double p = 1.0, g = 0.5, sq = 0, buf = 0;
  // sq = 0.01 * 0.25; d = 0.5 / (0.05 + 1e-8); p = 1 - 0.01 d.
  backend.RmspropUpdate(1, 0.01, 0.99, 1e-8, 0.0, 0.0, &p, &g, &sq, &buf);
  EXPECT_NEAR(sq, 0.0025, 1e-15);
  EXPECT_NEAR(p, 1.0 - 0.01 * 0.5 / (0.05 + 1e-8), 1e-15);
  EXPECT_EQ(buf, 0.0);  // untouched without momentum
  p = 1.0, sq = 0, buf = 0;
  backend.RmspropUpdate(1, 0.01, 0.99, 1e-8, 0.0, 0.9, &p, &g, &sq, &buf);
  backend.RmspropUpdate(1, 0.01, 0.99, 1e-8, 0.0, 0.9, &p, &g, &sq, &buf);
  // Step 2: sq = 0.99 * 0.0025 + 0.0025; buf = 0.9 * d1 + d2.
  const double d1 = 0.5 / (0.05 + 1e-8), d2 = 0.5 / (std::sqrt(0.004975) + 1e-8);
  EXPECT_NEAR(buf, 0.9 * d1 + d2, 1e-9);
  EXPECT_NEAR(p, 1.0 - 0.01 * d1 - 0.01 * (0.9 * d1 + d2), 1e-12);
}

TEST(LearningRateTest, StepCosineAndWarmUp) {
  v1::LearningRateSchedule s;
  s.set_kind("step");
  s.add_milestone_epochs(2);
  s.add_milestone_epochs(4);
  s.set_gamma(0.5);
  // 10 steps per epoch: epochs 0-1 base, 2-3 half, 4+ quarter.
  EXPECT_DOUBLE_EQ(LearningRate(s, 0.1, 19, 100, 10), 0.1);
  EXPECT_DOUBLE_EQ(LearningRate(s, 0.1, 20, 100, 10), 0.05);
  EXPECT_DOUBLE_EQ(LearningRate(s, 0.1, 45, 100, 10), 0.025);
  s.Clear();
  s.set_kind("cosine");
  s.set_min_learning_rate(0.001);
  EXPECT_DOUBLE_EQ(LearningRate(s, 0.1, 0, 100, 10), 0.1);
  EXPECT_NEAR(LearningRate(s, 0.1, 50, 100, 10), 0.0505, 1e-12);
  EXPECT_NEAR(LearningRate(s, 0.1, 100, 100, 10), 0.001, 1e-12);
  s.set_warmup_steps(4);
  EXPECT_NEAR(LearningRate(s, 0.1, 0, 100, 10), 0.1 * 0.25, 1e-12);
  // The last warm-up step reaches the cosine rate itself.
  EXPECT_NEAR(LearningRate(s, 0.1, 3, 100, 10), 0.001 + 0.099 * (1 + std::cos(M_PI * 0.03)) / 2, 1e-12);
}

}  // namespace
}  // namespace slimtrain::engine
