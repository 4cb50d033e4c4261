// Planning for the server's CPU in a worker process (server/cpu_planner.h):
// the real slimtrain_worker --plan answers exactly what planning in this
// process with the same oneDNN cost model answers, errors keep their code
// and message, and a stop, a crash or a missing binary fails the one call.
#include "server/cpu_planner.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "engine/cpu/fast_backend.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "planner/plan_request.h"
#include "server/plan_job.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::server {
namespace {

constexpr char kWorker[] = "server/slimtrain_worker";
constexpr int kThreads = 2;

v1::JobSpec Job(const std::string& strategy) {
  v1::JobSpec spec = test_util::FashionMnistJob(/*steps=*/10);
  spec.set_strategy(strategy);
  spec.set_batch_size(32);
  return spec;
}

// A file in the test's temporary folder that runs `script` as the planner.
std::string FakeWorker(const std::string& name, const std::string& script) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  std::ofstream(path) << "#!/bin/sh\n" << script << "\n";
  chmod(path.c_str(), 0700);
  return path;
}

TEST(CpuPlannerTest, AJobsPlanIsTheOneThisProcessMakesWithTheSameCostModel) {
  for (const char* strategy : {"exact", "approx4", "checkpoint", "auto"}) {
    SCOPED_TRACE(strategy);
    const v1::JobSpec spec = Job(strategy);
    ASSERT_OK_AND_ASSIGN(planner::Graph graph, planner::Graph::Build(spec.model().spec()));
    const engine::FastBackend cost(kThreads);
    ASSERT_OK_AND_ASSIGN(v1::MemoryPlan here, PlanJob(graph, spec, int64_t{8} << 30, "cpu", cost, nullptr));
    ASSERT_OK_AND_ASSIGN(v1::MemoryPlan there, PlanJobOnCpu(kWorker, spec, int64_t{8} << 30, kThreads, {}));
    EXPECT_GT(there.buffers_size(), 0);
    EXPECT_EQ(there.SerializeAsString(), here.SerializeAsString());
  }
}

TEST(CpuPlannerTest, APlanRequestsAnswerIsTheOneThisProcessGives) {
  v1::PlanMemoryRequest request;
  request.mutable_model()->set_zoo("resnet20");
  request.set_batch_size(64);
  request.set_max_batch(true);
  request.set_budget_bytes(int64_t{1} << 30);
  std::vector<planner::DeviceProfile> devices(1);
  devices[0] = {"cuda:0", true, int64_t{80} << 30, int64_t{1} << 30, "a GPU of the server"};
  const engine::FastBackend cost(kThreads);
  ASSERT_OK_AND_ASSIGN(v1::PlanMemoryResponse here, planner::AnswerPlanRequest(request, cost, devices));
  ASSERT_OK_AND_ASSIGN(v1::PlanMemoryResponse there, AnswerOnCpu(kWorker, request, kThreads, devices, {}));
  EXPECT_GT(there.plans_size(), 1);
  EXPECT_EQ(there.SerializeAsString(), here.SerializeAsString());

  // A data-parallel request: each plan a rank's, with its buckets, the same
  // on both sides.
  request.mutable_data_parallel()->set_ranks(4);
  request.mutable_data_parallel()->set_bucket_bytes(64 << 10);
  ASSERT_OK_AND_ASSIGN(here, planner::AnswerPlanRequest(request, cost, devices));
  ASSERT_OK_AND_ASSIGN(there, AnswerOnCpu(kWorker, request, kThreads, devices, {}));
  EXPECT_EQ(there.SerializeAsString(), here.SerializeAsString());
  ASSERT_GT(there.plans_size(), 1);
  for (const v1::MemoryPlan& p : there.plans()) {
    EXPECT_EQ(p.ranks(), 4) << p.strategy();
    EXPECT_GT(p.allreduce_buckets(), 1) << p.strategy();
    EXPECT_EQ(p.sent_bytes_per_step(), p.allreduce_gradient_bytes_per_step() * 3 / 2) << p.strategy();
  }
  request.mutable_data_parallel()->set_ranks(-2);
  const absl::Status bad = AnswerOnCpu(kWorker, request, kThreads, devices, {}).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("data_parallel.ranks"), std::string::npos) << bad;
}

TEST(CpuPlannerTest, ThePlannersErrorsKeepTheirCodeAndMessage) {
  v1::PlanMemoryRequest request;
  request.mutable_model()->set_zoo("resnet20");
  request.set_batch_size(8);
  request.add_strategies("fast");
  const engine::FastBackend cost(kThreads);
  const absl::Status here = planner::AnswerPlanRequest(request, cost).status();
  const absl::Status there = AnswerOnCpu(kWorker, request, kThreads, {}, {}).status();
  ASSERT_TRUE(absl::IsInvalidArgument(here)) << here;
  EXPECT_EQ(there, here);

  // The bounds travel with the task: a work bound of 1 layer-plan.
  planner::PlanRequestBounds bounds;
  bounds.max_work = 1;
  bounds.max_work_name = "the test's bound";
  request.clear_strategies();
  const absl::Status bounded = AnswerOnCpu(kWorker, request, kThreads, {}, bounds).status();
  EXPECT_TRUE(absl::IsResourceExhausted(bounded)) << bounded;
  EXPECT_NE(bounded.message().find("the test's bound"), std::string::npos) << bounded;

  // Size limits too: a batch over the job's limit.
  bounds = {};
  bounds.limits.max_batch_size = 16;
  v1::JobSpec spec = Job("exact");
  const absl::Status limited = PlanJobOnCpu(kWorker, spec, int64_t{8} << 30, kThreads, bounds).status();
  EXPECT_TRUE(absl::IsInvalidArgument(limited)) << limited;
}

TEST(CpuPlannerTest, AStopEndsThePlanningAndThePlannerProcess) {
  // Planning the largest batch of a deep model for every strategy takes
  // seconds; cancelled after 100 ms it must end at once.
  v1::PlanMemoryRequest request;
  request.mutable_model()->set_zoo("resnet164");
  request.set_batch_size(8);
  request.set_max_batch(true);
  request.set_budget_bytes(int64_t{64} << 30);
  const absl::Time cancel_at = absl::Now() + absl::Milliseconds(100);
  planner::PlanStop stop;
  stop.cancelled = [&] { return absl::Now() > cancel_at; };
  planner::PlanRequestBounds bounds;
  bounds.stop = &stop;
  const absl::Time start = absl::Now();
  const absl::Status status = AnswerOnCpu(kWorker, request, kThreads, {}, bounds).status();
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  // A deadline already past: nothing is started.
  planner::PlanStop past;
  past.deadline = absl::Now() - absl::Seconds(1);
  bounds.stop = &past;
  EXPECT_TRUE(absl::IsDeadlineExceeded(AnswerOnCpu(kWorker, request, kThreads, {}, bounds).status()));

  // A time limit is enforced by the planner process itself, with its reason.
  planner::PlanStop limit;
  limit.time_limit = absl::Now() + absl::Milliseconds(200);
  limit.time_limit_reason = "the test plans for at most 0.2 s";
  bounds.stop = &limit;
  const absl::Status limited = AnswerOnCpu(kWorker, request, kThreads, {}, bounds).status();
  EXPECT_TRUE(absl::IsResourceExhausted(limited)) << limited;
  EXPECT_NE(limited.message().find("at most 0.2 s"), std::string::npos) << limited;
}

TEST(CpuPlannerTest, ACrashOrAMissingPlannerFailsTheCallWithTheReason) {
  const v1::JobSpec spec = Job("exact");
  const absl::Status missing = PlanJobOnCpu("/nonexistent/slimtrain_worker", spec, 1 << 30, 1, {}).status();
  EXPECT_TRUE(absl::IsInternal(missing)) << missing;
  EXPECT_NE(missing.message().find("exit code 127"), std::string::npos) << missing;

  const std::string crash = FakeWorker("crashing_worker", "echo 'planner: out of luck' >&2; kill -SEGV $$");
  const absl::Status crashed = PlanJobOnCpu(crash, spec, 1 << 30, 1, {}).status();
  EXPECT_TRUE(absl::IsInternal(crashed)) << crashed;
  EXPECT_NE(crashed.message().find("signal 11"), std::string::npos) << crashed;
  EXPECT_NE(crashed.message().find("planner: out of luck"), std::string::npos) << crashed;

  // Output that is not a result, and a planner that never reads its input.
  const std::string garbage = FakeWorker("garbage_worker", "printf '\\377\\377\\377'");
  EXPECT_TRUE(absl::IsInternal(PlanJobOnCpu(garbage, spec, 1 << 30, 1, {}).status()));
  v1::JobSpec big = spec;  // more than a pipe holds, so the write must not block
  big.mutable_model()->mutable_spec()->set_description(std::string(1 << 20, 'x'));
  const std::string deaf = FakeWorker("deaf_worker", "exit 3");
  const absl::Status deaf_status = PlanJobOnCpu(deaf, big, 1 << 30, 1, {}).status();
  EXPECT_TRUE(absl::IsInternal(deaf_status)) << deaf_status;
  EXPECT_NE(deaf_status.message().find("exit code 3"), std::string::npos) << deaf_status;
}

TEST(CpuPlannerTest, CallsInParallelEachGetTheirOwnAnswer) {
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<v1::MemoryPlan>> plans(4, absl::UnknownError("not run"));
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([i, &plans] {
      v1::JobSpec spec = Job("exact");
      spec.set_batch_size(8 * (i + 1));
      plans[i] = PlanJobOnCpu(kWorker, spec, int64_t{8} << 30, 1, {});
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(plans[i].ok()) << plans[i].status();
    EXPECT_EQ(plans[i]->batch_size(), 8 * (i + 1));
  }
}

}  // namespace
}  // namespace slimtrain::server
