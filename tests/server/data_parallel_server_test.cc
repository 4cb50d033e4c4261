// Data-parallel jobs on a real server (issue 16): the server is given this
// host twice in its --hosts list, so a job of two nodes runs one rank on
// each entry, started by mpirun; it trains to SUCCEEDED on both ranks; a rank
// killed outright fails the job with that rank's reason, and a rank that
// hangs fails it within the collective timeout, with no process left behind;
// a server killed with SIGKILL during a 2-rank job takes both ranks with it
// and resumes the job on both from its checkpoint; the admitted plan is a
// rank's, with its gradient buckets; what the server cannot
// run is refused at submission, naming the field.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "gtest/gtest.h"
#include "proto/service.grpc.pb.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_models.h"
#include "tests/testing/test_server.h"

namespace slimtrain {
namespace {

using test_util::AsUser;
using test_util::kAlice;
using Server = test_util::TestServer;

// This host twice; mpirun as tests/engine/comm/mpi_test.sh runs it in the
// sandbox (shared memory without process_vm_readv); a short collective
// timeout.
constexpr char kFlags[] =
    "--hosts localhost:1,127.0.0.1:1 --collective-timeout-seconds 15 "
    "--mpirun-args '--mca btl self,vader --mca btl_vader_single_copy_mechanism none'";

v1::SubmitJobRequest TwoRankJob(int64_t steps) {
  v1::SubmitJobRequest r;
  *r.mutable_spec() = test_util::FashionMnistJob(steps);
  r.mutable_spec()->set_seed(5);
  r.mutable_spec()->mutable_resources()->set_node_count(2);
  return r;
}

std::unique_ptr<Server> StartServer(const std::string& dir, const std::string& extra = "") {
  // OpenMPI's session directory in the test's own temp folder.
  if (const char* tmp = std::getenv("TEST_TMPDIR")) setenv("TMPDIR", tmp, 1);
  auto server = std::make_unique<Server>(dir);
  EXPECT_TRUE(server->Start(std::string(kFlags) + " " + extra));
  return server;
}

v1::Job Get(Server& server, const std::string& id) {
  v1::GetJobRequest get;
  get.set_job_id(id);
  v1::Job job;
  EXPECT_TRUE(server.stub()->GetJob(AsUser(kAlice).get(), get, &job).ok());
  return job;
}

// Polls until `done(job)` or `seconds` pass; returns the last job seen.
template <typename Done>
v1::Job WaitFor(Server& server, const std::string& id, double seconds, Done done) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  v1::Job job;
  while (std::chrono::steady_clock::now() < end) {
    job = Get(server, id);
    if (done(job)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return job;
}

bool Finished(const v1::Job& j) {
  return j.state() == v1::Job::SUCCEEDED || j.state() == v1::Job::FAILED || j.state() == v1::Job::CANCELLED;
}

std::string JobDir(const std::string& dir, const std::string& id) { return dir + "/jobs/" + id; }

// The file's text, or empty when it cannot be read.
std::string ReadText(const std::string& path) { return base::ReadFile(path).value_or(""); }

// The pids of the job's worker ranks (mpirun, whose command line names the
// worker too, has no rank in its environment), by rank.
std::vector<std::pair<int, pid_t>> RankPids(const std::string& job_dir) {
  const test_util::CommandResult r =
      test_util::RunCommand("pgrep -f 'slimtrain_worke[r] --job-dir " + job_dir + " '");
  std::vector<std::pair<int, pid_t>> ranks;
  for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(line, &pid)) continue;
    const std::string environ = ReadText("/proc/" + std::to_string(pid) + "/environ");
    for (absl::string_view var : absl::StrSplit(environ, '\0')) {
      int rank = -1;
      if (absl::ConsumePrefix(&var, "OMPI_COMM_WORLD_RANK=") && absl::SimpleAtoi(var, &rank)) {
        ranks.push_back({rank, pid});
      }
    }
  }
  std::sort(ranks.begin(), ranks.end());
  return ranks;
}

// Processes whose command line names the job's folder (mpirun and ranks).
int ProcessesOf(const std::string& job_dir) {
  const test_util::CommandResult r = test_util::RunCommand("pgrep -c -f 'slimtrain_worke[r] --job-dir " + job_dir + " '");
  int n = 0;
  (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(r.output), &n);
  return n;
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}


TEST(DataParallelServerTest, TwoRankJobRunsToSucceededOnBothHosts) {
  const std::string dir = test_util::MakeServerDir("dp-succeeds");
  std::unique_ptr<Server> server = StartServer(dir);
  v1::SubmitJobResponse submitted;
  const grpc::Status s = server->stub()->SubmitJob(AsUser(kAlice).get(), TwoRankJob(20), &submitted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(submitted.job().ranks(), 2);
  // The admitted plan is one rank's, with its gradient buckets.
  EXPECT_EQ(submitted.job().plan().ranks(), 2);
  EXPECT_GE(submitted.job().plan().allreduce_buckets(), 1);
  EXPECT_GT(submitted.job().plan().allreduce_gradient_bytes_per_step(), 0);
  EXPECT_EQ(submitted.job().plan().sent_bytes_per_step(), submitted.job().plan().allreduce_gradient_bytes_per_step());
  const std::string id = submitted.job().id();
  const v1::Job job = WaitFor(*server, id, 300, Finished);
  ASSERT_EQ(job.state(), v1::Job::SUCCEEDED) << job.failure_reason();
  EXPECT_EQ(job.progress().step(), 20);
  EXPECT_EQ(job.ranks(), 2);
  EXPECT_EQ(job.hosts_size(), 2);
  EXPECT_EQ(job.hosts(0), "localhost");
  EXPECT_EQ(job.hosts(1), "127.0.0.1");
  // Both ranks ran; rank 0 wrote the weights.
  const std::string log = ReadText(JobDir(dir, id) + "/worker.log");
  EXPECT_TRUE(absl::StrContains(log, "rank 0 of 2 started")) << log;
  EXPECT_TRUE(absl::StrContains(log, "rank 1 of 2 started")) << log;
  EXPECT_TRUE(std::ifstream(JobDir(dir, id) + "/weights.safetensors").good());
  // A global batch of 64 over a shard each: 60000 / 2 / 32 steps an epoch.
  EXPECT_EQ(job.progress().total_epochs(), 1);

  // Sync batch norm and small buckets after backward, as the spec asks.
  v1::SubmitJobRequest synced = TwoRankJob(10);
  synced.mutable_spec()->set_strategy("exact");
  synced.mutable_spec()->mutable_data_parallel()->set_sync_batch_norm(true);
  synced.mutable_spec()->mutable_data_parallel()->set_no_overlap(true);
  synced.mutable_spec()->mutable_data_parallel()->set_bucket_bytes(256);
  ASSERT_TRUE(server->stub()->SubmitJob(AsUser(kAlice).get(), synced, &submitted).ok());
  EXPECT_TRUE(submitted.job().plan().sync_batch_norm());
  EXPECT_FALSE(submitted.job().plan().overlap_communication());
  EXPECT_EQ(submitted.job().plan().bucket_bytes(), 256);
  EXPECT_GT(submitted.job().plan().allreduce_buckets(), 1);
  EXPECT_GT(submitted.job().plan().sync_batch_norm_bytes_per_step(), 0);
  const v1::Job synced_job = WaitFor(*server, submitted.job().id(), 300, Finished);
  EXPECT_EQ(synced_job.state(), v1::Job::SUCCEEDED) << synced_job.failure_reason();

  // Cancelled: every rank stops at the same step (mpirun forwards the
  // server's SIGUSR1), rank 0 checkpoints, nothing is left running.
  ASSERT_TRUE(server->stub()->SubmitJob(AsUser(kAlice).get(), TwoRankJob(5000), &submitted).ok());
  const std::string second = submitted.job().id();
  ASSERT_GE(WaitFor(*server, second, 120, [](const v1::Job& j) { return j.progress().step() >= 3; }).progress().step(),
            3);
  v1::CancelJobRequest cancel;
  cancel.set_job_id(second);
  v1::Job cancelled;
  ASSERT_TRUE(server->stub()->CancelJob(AsUser(kAlice).get(), cancel, &cancelled).ok());
  EXPECT_EQ(WaitFor(*server, second, 60, Finished).state(), v1::Job::CANCELLED);
  for (int i = 0; i < 100 && ProcessesOf(JobDir(dir, second)) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(ProcessesOf(JobDir(dir, second)), 0);
  EXPECT_TRUE(std::ifstream(JobDir(dir, second) + "/checkpoint.safetensors").good());
  const std::string second_log = ReadText(JobDir(dir, second) + "/worker.log");
  EXPECT_FALSE(absl::StrContains(second_log, "failed:")) << second_log;
}

TEST(DataParallelServerTest, AKilledRankFailsTheJobWithItsReasonAndAHungOneWithinTheTimeout) {
  const std::string dir = test_util::MakeServerDir("dp-rank-dies");
  std::unique_ptr<Server> server = StartServer(dir);
  for (const int sig : {SIGKILL, SIGSTOP}) {
    v1::SubmitJobResponse submitted;
    ASSERT_TRUE(server->stub()->SubmitJob(AsUser(kAlice).get(), TwoRankJob(5000), &submitted).ok());
    const std::string id = submitted.job().id();
    const v1::Job running = WaitFor(*server, id, 120, [](const v1::Job& j) { return j.progress().step() >= 3; });
    ASSERT_GE(running.progress().step(), 3) << running.DebugString();
    const std::vector<std::pair<int, pid_t>> ranks = RankPids(JobDir(dir, id));
    ASSERT_EQ(ranks.size(), 2u);
    ASSERT_EQ(ranks[1].first, 1);
    const auto killed = std::chrono::steady_clock::now();
    ASSERT_EQ(kill(ranks[1].second, sig), 0);
    // Within the collective timeout (15 s), with a margin for mpirun.
    const v1::Job job = WaitFor(*server, id, 40, Finished);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
    std::printf("signal %d to rank 1: %s after %.1f s: %s\n", sig, v1::Job::State_Name(job.state()).c_str(), seconds,
                job.failure_reason().c_str());
    ASSERT_EQ(job.state(), v1::Job::FAILED);
    EXPECT_LT(seconds, 30);
    if (sig == SIGKILL) {
      // mpirun ends the job at once, naming the rank and its signal.
      EXPECT_TRUE(absl::StartsWith(job.failure_reason(), "rank 1 was killed by signal 9")) << job.failure_reason();
    } else {
      // Rank 0's all-reduce times out and says so.
      EXPECT_TRUE(absl::StartsWith(job.failure_reason(), "rank 0: ")) << job.failure_reason();
      EXPECT_TRUE(absl::StrContains(job.failure_reason(), "did not complete within 15s")) << job.failure_reason();
    }
    EXPECT_TRUE(absl::StrContains(job.failure_reason(), "worker.log")) << job.failure_reason();
    // No rank, and no mpirun, is left.
    for (int i = 0; i < 100 && ProcessesOf(JobDir(dir, id)) > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(ProcessesOf(JobDir(dir, id)), 0);
  }
}

TEST(DataParallelServerTest, AKilledServerResumesTheJobOnBothRanks) {
  const std::string dir = test_util::MakeServerDir("dp-resume");
  std::unique_ptr<Server> server = StartServer(dir);
  v1::SubmitJobResponse submitted;
  // Long enough that the kill below comes well before the end even when a
  // loaded machine delays the polls or the server's reading of the ranks'
  // events (with 60 steps, a full test run once saw the last checkpoint
  // before the kill, so the resumed run had no step left to run).
  ASSERT_TRUE(server->stub()->SubmitJob(AsUser(kAlice).get(), TwoRankJob(200), &submitted).ok());
  const std::string id = submitted.job().id();
  // Past the checkpoint of step 10 (stored once step 11's metrics arrive).
  const v1::Job before = WaitFor(*server, id, 180, [](const v1::Job& j) { return j.checkpoint_step() >= 10; });
  ASSERT_GE(before.checkpoint_step(), 10) << before.DebugString();
  ASSERT_LT(before.checkpoint_step(), 200) << "the job ran to its end before the kill";
  ASSERT_EQ(before.state(), v1::Job::RUNNING);
  server->Kill(SIGKILL);
  // mpirun dies with the server, and the ranks with mpirun.
  for (int i = 0; i < 100 && ProcessesOf(JobDir(dir, id)) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(ProcessesOf(JobDir(dir, id)), 0) << "ranks outlived the server";
  server = StartServer(dir);
  const v1::Job job = WaitFor(*server, id, 300, Finished);
  ASSERT_EQ(job.state(), v1::Job::SUCCEEDED) << job.failure_reason();
  EXPECT_EQ(job.restarts(), 1);
  EXPECT_EQ(job.progress().step(), 200);
  // Both runs started both ranks; the second from the checkpoint.
  const std::string log = ReadText(JobDir(dir, id) + "/worker.log");
  EXPECT_EQ(Count(log, "rank 0 of 2 started"), 2) << log;
  EXPECT_EQ(Count(log, "rank 1 of 2 started"), 2) << log;
  v1::WatchJobRequest watch;
  watch.set_job_id(id);
  auto context = AsUser(kAlice);
  auto reader = server->stub()->WatchJob(context.get(), watch);
  v1::JobEvent e;
  bool resumed = false;
  int64_t first_after = -1;
  while (reader->Read(&e)) {
    if (e.has_state_change() && absl::StrContains(e.state_change().reason(), "resumed")) resumed = true;
    if (resumed && first_after < 0 && e.has_metrics() && !e.metrics().has_eval()) first_after = e.metrics().step();
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(resumed);
  EXPECT_EQ((first_after - 1) % 10, 0) << "the first step after the restart follows a checkpoint: " << first_after;
  EXPECT_GE(first_after, 11);
}

// GPUs of the server's own host, a rank on each: a worker that reports
// three GPUs to the probe (test_util::FakeGpuWorker) shows the pool's
// decisions here; the ranks then fail to use a GPU, as they must without
// one, and the job fails with the first rank's reason.
TEST(DataParallelServerTest, AJobOfSeveralGpusGetsThemAllAtOnce) {
  const std::string dir = test_util::MakeServerDir("dp-gpus");
  std::unique_ptr<Server> server =
      StartServer(dir, "--worker " + test_util::FakeGpuWorker(dir, int64_t{80} << 30, int64_t{1} << 30, 3));
  v1::SubmitJobRequest r = TwoRankJob(10);
  r.mutable_spec()->mutable_resources()->set_node_count(1);
  r.mutable_spec()->mutable_resources()->set_gpu_count(2);
  v1::SubmitJobResponse submitted;
  grpc::Status s = server->stub()->SubmitJob(AsUser(kAlice).get(), r, &submitted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(submitted.job().device(), "cuda");
  EXPECT_EQ(submitted.job().ranks(), 2);
  EXPECT_EQ(submitted.job().plan().ranks(), 2);
  const std::string id = submitted.job().id();
  const v1::Job job = WaitFor(*server, id, 120, Finished);
  EXPECT_EQ(job.device(), "cuda:0,1");
  ASSERT_EQ(job.state(), v1::Job::FAILED);
  // This machine has no usable GPU: the first rank to fail says so.
  EXPECT_TRUE(absl::StartsWith(job.failure_reason(), "rank ")) << job.failure_reason();
  EXPECT_TRUE(absl::StrContains(job.failure_reason(), "cuda:")) << job.failure_reason();
  const std::string log = ReadText(JobDir(dir, id) + "/worker.log");
  EXPECT_TRUE(absl::StrContains(log, "rank 0 of 2 started")) << log;
  EXPECT_TRUE(absl::StrContains(log, "rank 1 of 2 started")) << log;

  // More GPUs than the pool has, or GPUs on several nodes: refused.
  r.mutable_spec()->mutable_resources()->set_gpu_count(4);
  s = server->stub()->SubmitJob(AsUser(kAlice).get(), r, &submitted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "resources.gpu_count: 4, but this server has 3 usable GPUs"))
      << s.error_message();
  r.mutable_spec()->mutable_resources()->set_gpu_count(2);
  r.mutable_spec()->mutable_resources()->set_node_count(2);
  s = server->stub()->SubmitJob(AsUser(kAlice).get(), r, &submitted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "its own GPUs only")) << s.error_message();
}

TEST(DataParallelServerTest, RefusesWhatItCannotRunNamingTheField) {
  const std::string dir = test_util::MakeServerDir("dp-refusals");
  std::unique_ptr<Server> server = StartServer(dir);
  struct Case {
    const char* what;
    void (*change)(v1::JobSpec&);
    grpc::StatusCode code;
    const char* message;
  };
  for (const Case& c : {
           Case{"three nodes", [](v1::JobSpec& s) { s.mutable_resources()->set_node_count(3); },
                grpc::StatusCode::FAILED_PRECONDITION,
                "resources: 1 processes on each of 3 nodes, but this server's hosts (localhost:1,127.0.0.1:1) "
                "have 2"},
           Case{"two per node", [](v1::JobSpec& s) { s.mutable_resources()->set_cpu_ranks(2); },
                grpc::StatusCode::FAILED_PRECONDITION, "2 processes on each of 2 nodes"},
           Case{"GPUs where there are none", [](v1::JobSpec& s) {
                  s.mutable_resources()->set_node_count(1);
                  s.mutable_resources()->set_gpu_count(2);
                },
                grpc::StatusCode::FAILED_PRECONDITION, "resources.gpu_count: 2, but this server has 0 usable GPUs ("},
           Case{"cuda ranks",
                [](v1::JobSpec& s) {
                  s.mutable_resources()->set_device("cuda");
                  s.mutable_resources()->set_cpu_ranks(2);
                },
                grpc::StatusCode::INVALID_ARGUMENT, "resources.cpu_ranks: 2 asks for CPU processes"},
           Case{"negative", [](v1::JobSpec& s) { s.mutable_resources()->set_cpu_ranks(-1); },
                grpc::StatusCode::INVALID_ARGUMENT, "resources.cpu_ranks"},
           Case{"sync BN with codes",
                [](v1::JobSpec& s) { s.mutable_data_parallel()->set_sync_batch_norm(true); },
                grpc::StatusCode::INVALID_ARGUMENT, "data_parallel.sync_batch_norm: with strategy 'approx4'"},
           Case{"ranks in the spec", [](v1::JobSpec& s) { s.mutable_data_parallel()->set_ranks(2); },
                grpc::StatusCode::INVALID_ARGUMENT, "data_parallel.ranks: 2; leave it 0"},
           Case{"a batch over the shard", [](v1::JobSpec& s) { s.set_batch_size(40000); },
                grpc::StatusCode::INVALID_ARGUMENT, "batch_size: 40000 per process is more than the 30000"},
       }) {
    v1::SubmitJobRequest r = TwoRankJob(10);
    c.change(*r.mutable_spec());
    v1::SubmitJobResponse submitted;
    const grpc::Status s = server->stub()->SubmitJob(AsUser(kAlice).get(), r, &submitted);
    EXPECT_EQ(s.error_code(), c.code) << c.what << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), c.message)) << c.what << ": " << s.error_message();
  }
  v1::ListJobsRequest list;
  v1::ListJobsResponse jobs;
  ASSERT_TRUE(server->stub()->ListJobs(AsUser(kAlice).get(), list, &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 0) << "nothing half-submitted";
}

}  // namespace
}  // namespace slimtrain
