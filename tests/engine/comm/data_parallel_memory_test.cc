// Each rank's memory is its plan's (issue 16), as tests/engine/memory_test.cc
// checks one process's: ResNet-34 under approx4 at batch 1 (its 83 MiB of
// gradients against an arena of 7 MiB alone: the buckets make most of the
// data-parallel arena), trained under `mpirun -np 2` alone (MPI initialised,
// the plan of one process) and data-parallel, its 4 gradient buckets summed
// after backward (all alive from the last backward step) or while it runs.
// On each rank the difference of VmHWM between the data-parallel and the
// alone run is the difference of their planned peaks within 5% (as
// memory_test's ResNet-164), and above it by less than 3 MiB: the MPI
// communicator's own scratch, which the plan leaves out (1 MiB messages one
// at a time, engine/comm/communicator.h: about 1.4 MiB; summing a 25 MiB
// bucket whole would add about 25 MiB), and the runs' own spread (up to
// 1 MiB between runs of one configuration). Measured: planned +73.3 MiB in
// both modes; VmHWM +74.4 to +74.8 MiB in four runs under Bazel (1.01x to
// 1.02x, 1.1 to 1.5 MiB over), up to +75.6 MiB (2.2 MiB over) in runs by
// hand. Under exact the buckets
// overlap more of the activations' memory: planned +47.7 MiB after
// backward, +63.9 MiB overlapped, measured 1.3 to 2.4 MiB over. Where the
// buckets fit in memory the activations left, the plan does not grow at
// all: MobileNetV2 and EfficientNet-B0 (exact, batch 1) plan +0 and measure
// +1.4 and +1.3 MiB, MPI's scratch alone.
#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace slimtrain {
namespace {

constexpr double kMiB = 1048576.0;

struct Rank {
  long long planned = -1, vmhwm = -1, bucket_bytes = -1;
  int buckets = -1;
};

// memory_check's lines, by rank, from a run of both ranks in `mode`.
std::map<int, Rank> RunRanks(const std::string& mode) {
  const test_util::CommandResult r = test_util::RunCommand(
      "command -v mpirun >/dev/null || { echo 'no mpirun on PATH: install openmpi-bin (tools/setup.sh)'; exit 1; }; "
      "TMPDIR=\"${TEST_TMPDIR:-/tmp}\" timeout -k 5 240 mpirun -np 2 --oversubscribe --allow-run-as-root "
      "--mca btl self,vader --mca btl_vader_single_copy_mechanism none tests/engine/comm/memory_check resnet34 approx4 1 " +
      mode);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::map<int, Rank> ranks;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    int rank = -1;
    Rank m;
    if (std::sscanf(line.c_str(), "memory_check rank %d: planned_peak_bytes=%lld vmhwm_bytes=%lld buckets=%d "
                    "bucket_bytes=%lld",
                    &rank, &m.planned, &m.vmhwm, &m.buckets, &m.bucket_bytes) == 5) {
      ranks[rank] = m;
    }
  }
  EXPECT_EQ(ranks.size(), 2u) << r.output;
  return ranks;
}

TEST(DataParallelMemoryTest, EachRanksResidentMemoryFollowsItsPlan) {
  const std::map<int, Rank> alone = RunRanks("alone");
  for (const char* mode : {"no-overlap", "overlap"}) {
    const std::map<int, Rank> ranked = RunRanks(mode);
    for (int rank : {0, 1}) {
      if (!alone.count(rank) || !ranked.count(rank)) continue;  // RunRanks failed the test
      const Rank& a = alone.at(rank);
      const Rank& d = ranked.at(rank);
      const double planned = static_cast<double>(d.planned - a.planned);
      const double measured = static_cast<double>(d.vmhwm - a.vmhwm);
      std::printf("ResNet-34, approx4, batch 1, rank %d, %s: planned peaks %.1f MiB alone / %.1f MiB with %d buckets "
                  "(difference %.1f MiB); VmHWM %.1f / %.1f MiB (difference %.1f MiB, %.2fx; %.2f MiB over)\n",
                  rank, mode, a.planned / kMiB, d.planned / kMiB, d.buckets, planned / kMiB, a.vmhwm / kMiB,
                  d.vmhwm / kMiB, measured / kMiB, measured / planned, (measured - planned) / kMiB);
      EXPECT_EQ(a.buckets, 0);
      EXPECT_EQ(d.buckets, 4) << mode;
      // The buckets move the plan by several MiB...
      ASSERT_GT(planned, 8 * kMiB) << mode;
      // ...and the memory by as much: within 5%, and over it by MPI's scratch at most.
      EXPECT_NEAR(measured / planned, 1.0, 0.05) << mode << ", rank " << rank;
      EXPECT_LT(measured - planned, 3 * kMiB) << mode << ", rank " << rank;
    }
  }
}

}  // namespace
}  // namespace slimtrain
