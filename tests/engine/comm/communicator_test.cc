// The single-process communicator, the argument and option checks every
// communicator shares, and reading a launcher's environment (table-driven,
// one row per environment). MPI on real ranks: mpi_test.sh.
#include "engine/comm/communicator.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/comm/launch_environment.h"
#include "engine/comm/mpi_communicator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_assertions.h"

namespace slimtrain::engine::comm {
namespace {

using ::testing::HasSubstr;

TEST(LocalCommunicatorTest, IsRankZeroOfOneAndLeavesBuffersAsTheyAre) {
  LocalCommunicator comm;
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.size(), 1);
  EXPECT_EQ(comm.local_rank(), 0);
  EXPECT_EQ(comm.buffer_memory(), BufferMemory::kEither);

  std::vector<float> f = {1.5f, -2.0f, 3.0f};
  EXPECT_TRUE(comm.AllReduceSum(f.data(), 3).ok());
  EXPECT_EQ(f, (std::vector<float>{1.5f, -2.0f, 3.0f}));
  std::vector<double> d = {0.25, 7.0};
  std::unique_ptr<PendingCollective> pending = comm.StartAllReduceSum(d.data(), 2);
  EXPECT_TRUE(pending->Wait().ok());
  EXPECT_TRUE(pending->Wait().ok()) << "a second Wait returns the same result";
  EXPECT_EQ(d, (std::vector<double>{0.25, 7.0}));
  char bytes[4] = {'a', 'b', 'c', 'd'};
  EXPECT_TRUE(comm.Broadcast(bytes, 4, 0).ok());
  EXPECT_EQ(std::string(bytes, 4), "abcd");
  EXPECT_TRUE(comm.Barrier().ok());
  EXPECT_TRUE(comm.AllReduceSum(static_cast<float*>(nullptr), 0).ok()) << "nothing to sum needs no buffer";
}

// The checks of Communicator's public methods, before any implementation.
TEST(CommunicatorTest, InvalidArgumentsAreRefusedNamingTheValue) {
  LocalCommunicator comm;
  float x = 1.0f;
  const absl::Status negative = comm.AllReduceSum(&x, -3);
  EXPECT_EQ(negative.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(negative.message(),
              HasSubstr("all-reduce (sum) of -3 float32 on rank 0: the count -3 is negative"));

  const absl::Status null = comm.StartAllReduceSum(static_cast<double*>(nullptr), 5)->Wait();
  EXPECT_EQ(null.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(null.message(), HasSubstr("of 5 float64 on rank 0: the buffer is null"));

  char byte = 0;
  const absl::Status root = comm.Broadcast(&byte, 1, 1);
  EXPECT_EQ(root.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(root.message(),
              HasSubstr("broadcast of 1 bytes from rank 1 on rank 0: root 1 is not a rank of 1"));
  EXPECT_EQ(comm.Broadcast(&byte, 1, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.Broadcast(&byte, -1, 0).code(), absl::StatusCode::kInvalidArgument);

  EXPECT_TRUE(comm.AllReduceSum(&x, 1).ok()) << "invalid arguments break nothing";
}

TEST(CommunicatorOptionsTest, OutOfRangeFieldsAreNamed) {
  EXPECT_TRUE(CheckCommunicatorOptions(CommunicatorOptions{}).ok());
  CommunicatorOptions no_time;
  no_time.timeout = absl::ZeroDuration();
  EXPECT_EQ(CheckCommunicatorOptions(no_time).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(CheckCommunicatorOptions(no_time).message(),
              HasSubstr("CommunicatorOptions.timeout 0 is not above zero"));
  CommunicatorOptions tiny;
  tiny.max_message_bytes = 4;
  EXPECT_THAT(CheckCommunicatorOptions(tiny).message(),
              HasSubstr("CommunicatorOptions.max_message_bytes 4 is below 8"));
  CommunicatorOptions none_in_flight;
  none_in_flight.max_operations_in_flight = 0;
  EXPECT_THAT(CheckCommunicatorOptions(none_in_flight).message(),
              HasSubstr("CommunicatorOptions.max_operations_in_flight 0 is below 1"));

  // MpiCommunicator::Create checks them before it touches MPI.
  LaunchInfo launch;
  launch.launcher = "OpenMPI mpirun";
  launch.size = 2;
  EXPECT_EQ(MpiCommunicator::Create(launch, no_time).status().code(), absl::StatusCode::kInvalidArgument);
}

struct LaunchCase {
  std::string name;
  Environment env;
  absl::StatusCode code;  // kOk: then launcher, rank, size, local_rank
  std::string launcher;   // or, for an error, a part of its message
  int rank = 0, size = 1, local_rank = 0;
};

TEST(LaunchEnvironmentTest, EachLauncherIsReadAndBadValuesNamed) {
  const absl::StatusCode kOk = absl::StatusCode::kOk;
  const absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
  const absl::StatusCode kUnimplemented = absl::StatusCode::kUnimplemented;
  const std::vector<LaunchCase> cases = {
      {"no launcher", {{"HOME", "/root"}}, kOk, "", 0, 1, 0},
      {"an sbatch script outside srun",
       {{"SLURM_JOB_ID", "77"}, {"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "0"}},
       kOk,
       "",
       0,
       1,
       0},
      {"OpenMPI mpirun",
       {{"OMPI_COMM_WORLD_SIZE", "4"},
        {"OMPI_COMM_WORLD_RANK", "2"},
        {"OMPI_COMM_WORLD_LOCAL_RANK", "0"},
        {"PMIX_RANK", "2"}},
       kOk,
       "OpenMPI mpirun",
       2,
       4,
       0},
      {"Slurm srun",
       {{"SLURM_STEP_NUM_TASKS", "8"},
        {"SLURM_PROCID", "5"},
        {"SLURM_LOCALID", "1"},
        {"SLURM_NTASKS", "8"},
        {"PMIX_RANK", "5"}},
       kOk,
       "Slurm srun",
       5,
       8,
       1},
      {"mpirun inside a Slurm allocation: mpirun's ranks",
       {{"OMPI_COMM_WORLD_SIZE", "2"},
        {"OMPI_COMM_WORLD_RANK", "1"},
        {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
        {"SLURM_STEP_NUM_TASKS", "1"},
        {"SLURM_PROCID", "0"},
        {"SLURM_LOCALID", "0"}},
       kOk,
       "OpenMPI mpirun",
       1,
       2,
       1},
      {"one process under mpirun",
       {{"OMPI_COMM_WORLD_SIZE", "1"}, {"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}},
       kOk,
       "OpenMPI mpirun",
       0,
       1,
       0},
      {"rank missing",
       {{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}},
       kInvalid,
       "launched by OpenMPI mpirun, but OMPI_COMM_WORLD_RANK is not set"},
      {"size not a number",
       {{"OMPI_COMM_WORLD_SIZE", "two"}, {"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}},
       kInvalid,
       "OMPI_COMM_WORLD_SIZE=\"two\" (from OpenMPI mpirun) is not an integer"},
      {"size zero",
       {{"OMPI_COMM_WORLD_SIZE", "0"}, {"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}},
       kInvalid,
       "OMPI_COMM_WORLD_SIZE=0 (from OpenMPI mpirun) is below 1"},
      {"rank not below size",
       {{"SLURM_STEP_NUM_TASKS", "4"}, {"SLURM_PROCID", "4"}, {"SLURM_LOCALID", "0"}},
       kInvalid,
       "SLURM_PROCID=4 (from Slurm srun) is not in [0, SLURM_STEP_NUM_TASKS=4)"},
      {"negative local rank",
       {{"SLURM_STEP_NUM_TASKS", "4"}, {"SLURM_PROCID", "1"}, {"SLURM_LOCALID", "-1"}},
       kInvalid,
       "SLURM_LOCALID=-1 (from Slurm srun) is not in [0, SLURM_STEP_NUM_TASKS=4)"},
      {"MPICH's mpiexec",
       {{"PMI_SIZE", "4"}, {"PMI_RANK", "1"}},
       kUnimplemented,
       "PMI_SIZE=4 says this process is one rank of a job, started by a launcher slimtrain cannot join"},
      {"PMIx alone", {{"PMIX_RANK", "3"}}, kUnimplemented, "PMIX_RANK=3 says this process is one rank"},
  };
  for (const LaunchCase& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::StatusOr<LaunchInfo> info = ParseLaunchEnvironment(c.env);
    ASSERT_EQ(info.status().code(), c.code) << info.status();
    if (c.code != kOk) {
      EXPECT_THAT(info.status().message(), HasSubstr(c.launcher));
      continue;
    }
    EXPECT_EQ(info->launcher, c.launcher);
    EXPECT_EQ(info->launched(), !c.launcher.empty());
    EXPECT_EQ(info->rank, c.rank);
    EXPECT_EQ(info->size, c.size);
    EXPECT_EQ(info->local_rank, c.local_rank);
  }
}

TEST(LaunchEnvironmentTest, ProcessEnvironmentSplitsAtTheFirstEquals) {
  ASSERT_EQ(setenv("SLIMTRAIN_COMM_TEST", "a=b", 1), 0);
  const Environment env = ProcessEnvironment();
  ASSERT_EQ(env.count("SLIMTRAIN_COMM_TEST"), 1u);
  EXPECT_EQ(env.at("SLIMTRAIN_COMM_TEST"), "a=b");
  unsetenv("SLIMTRAIN_COMM_TEST");
}

// A test is not started by a launcher: its communicator is the local one,
// and MPI is never initialised.
TEST(CommunicatorFromEnvironmentTest, WithoutALauncherIsLocal) {
  ASSERT_OK_AND_ASSIGN(const LaunchInfo launch, ParseLaunchEnvironment(ProcessEnvironment()));
  if (launch.launched()) GTEST_SKIP() << "this test was started by " << launch.launcher;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Communicator> comm, CommunicatorFromEnvironment({}));
  EXPECT_NE(dynamic_cast<LocalCommunicator*>(comm.get()), nullptr);
  EXPECT_EQ(comm->size(), 1);
}

}  // namespace
}  // namespace slimtrain::engine::comm
