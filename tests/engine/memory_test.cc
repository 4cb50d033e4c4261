// Memory is real: the difference of the peak resident memory (VmHWM) of a
// training step under exact and under approx4, each in a process of its own,
// is within 5% of the difference of their planned peaks.
#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace slimtrain {
namespace {

struct Measured {
  long long planned = -1, vmhwm = -1;
};

Measured RunStepRunner(const std::string& strategy) {
  const test_util::CommandResult r =
      test_util::RunCommandSplit("tests/engine/step_runner resnet164 " + strategy + " 32");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  Measured m;
  EXPECT_EQ(std::sscanf(r.stdout_only.c_str(), "planned_peak_bytes=%lld vmhwm_bytes=%lld", &m.planned, &m.vmhwm),
            2)
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

}  // namespace
}  // namespace slimtrain
