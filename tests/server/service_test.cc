// The TrainingService in this process, on 127.0.0.1, with real workers: every
// RPC and every error code of proto/service.proto.
#include "server/service.h"

#include <png.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "engine/safetensors.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/service.grpc.pb.h"
#include "server/auth.h"
#include "server/job_manager.h"
#include "server/job_store.h"
#include "tests/testing/data_files.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_models.h"

namespace slimtrain::server {
namespace {

constexpr char kAlice[] = "alice-token-0123456789", kBob[] = "bob-token-0123456789abc",
               kRoot[] = "root-token-0123456789abc";

using test_util::TinySyntheticJob;

v1::JobSpec TinyJob(int64_t steps = 12) { return TinySyntheticJob(steps); }

class ServiceTest : public testing::Test {
 protected:
  void SetUp() override { Start(ServerConfig{}); }
  void TearDown() override { Stop(); }

  void Start(ServerConfig config) {
    dir_ = test_util::TempPath("server-" + std::to_string(counter_++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/root/inside");
    std::ofstream(dir_ + "/tokens") << "# test tokens\n"
                                    << kAlice << " alice user\n"
                                    << kBob << " bob user\n"
                                    << kRoot << " root admin\n";
    tokens_ = TokenStore::Load(dir_ + "/tokens").value();
    store_ = JobStore::Open(dir_ + "/db").value();
    config.data_dir = dir_;
    config.data_root = dir_ + "/root";
    config.worker_path = "server/slimtrain_worker";
    config.cpu_threads = 1;
    jobs_ = std::make_unique<JobManager>(store_.get(), config);
    ASSERT_TRUE(jobs_->Start().ok());
    service_ = std::make_unique<TrainingServiceImpl>(jobs_.get(), tokens_.get(), max_streams_per_user_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    stub_ = v1::TrainingService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }

  void Stop() {
    if (jobs_) jobs_->Shutdown();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
    service_.reset();
    jobs_.reset();
    store_.reset();
  }

  std::unique_ptr<grpc::ClientContext> As(const char* token) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (token != nullptr) context->AddMetadata("authorization", std::string("Bearer ") + token);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return context;
  }

  grpc::Status Submit(const char* token, const v1::JobSpec& spec, v1::Job* job, const std::string& request = "") {
    v1::SubmitJobRequest request_proto;
    *request_proto.mutable_spec() = spec;
    request_proto.set_client_request_id(request);
    v1::SubmitJobResponse response;
    grpc::Status s = stub_->SubmitJob(As(token).get(), request_proto, &response);
    *job = response.job();
    return s;
  }

  // Watches a job to its end; returns its events.
  std::vector<v1::JobEvent> Watch(const char* token, const std::string& id, int64_t after = 0,
                                  grpc::Status* status = nullptr) {
    v1::WatchJobRequest request;
    request.set_job_id(id);
    request.set_after_sequence(after);
    auto context = As(token);
    auto reader = stub_->WatchJob(context.get(), request);
    std::vector<v1::JobEvent> events;
    v1::JobEvent e;
    while (reader->Read(&e)) events.push_back(e);
    const grpc::Status s = reader->Finish();
    if (status != nullptr) *status = s;
    return events;
  }

  v1::Job Get(const char* token, const std::string& id, grpc::Status* status = nullptr) {
    v1::GetJobRequest request;
    request.set_job_id(id);
    v1::Job job;
    const grpc::Status s = stub_->GetJob(As(token).get(), request, &job);
    if (status != nullptr) *status = s;
    return job;
  }

  static int counter_;
  int max_streams_per_user_ = 16;
  std::string dir_;
  std::unique_ptr<TokenStore> tokens_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<JobManager> jobs_;
  std::unique_ptr<TrainingServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::TrainingService::Stub> stub_;
};

int ServiceTest::counter_ = 0;

TEST_F(ServiceTest, RefusesMissingAndUnknownTokens) {
  v1::Job job;
  EXPECT_EQ(Submit(nullptr, TinyJob(), &job).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Submit("not-a-real-token-at-all", TinyJob(), &job).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::ListJobsResponse list;
  EXPECT_EQ(stub_->ListJobs(As(nullptr).get(), {}, &list).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ServiceTest, SubmitWatchToSucceededAndDownloadWeights) {
  v1::Job job;
  ASSERT_TRUE(Submit(kAlice, TinyJob(), &job).ok());
  EXPECT_EQ(job.state(), v1::Job::PENDING);
  EXPECT_EQ(job.owner(), "alice");
  EXPECT_EQ(job.plan().strategy(), "approx4");
  EXPECT_EQ(job.progress().total_steps(), 12);
  grpc::Status status;
  const std::vector<v1::JobEvent> events = Watch(kAlice, job.id(), 0, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(events.empty());
  int metrics = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), static_cast<int64_t>(i + 1));  // no gaps
    if (events[i].has_metrics() && !events[i].metrics().has_eval()) ++metrics;
  }
  EXPECT_EQ(metrics, 12);
  EXPECT_EQ(events.back().state_change().to(), v1::Job::SUCCEEDED) << events.back().DebugString();
  const v1::Job done = Get(kAlice, job.id());
  EXPECT_EQ(done.state(), v1::Job::SUCCEEDED);
  EXPECT_EQ(done.progress().step(), 12);
  EXPECT_TRUE(done.latest_metrics().has_eval());
  EXPECT_GT(done.latest_metrics().planned_peak_bytes(), 0);
  // Weights: safetensors in chunks, with the model's tensors.
  v1::DownloadWeightsRequest request;
  request.set_job_id(job.id());
  auto context = As(kAlice);
  auto reader = stub_->DownloadWeights(context.get(), request);
  std::string file;
  v1::WeightsChunk chunk;
  while (reader->Read(&chunk)) {
    EXPECT_EQ(chunk.offset(), static_cast<int64_t>(file.size()));
    file += chunk.data();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(static_cast<int64_t>(file.size()), chunk.total_bytes());
  absl::StatusOr<engine::SafetensorsFile> decoded = engine::DecodeSafetensors(file, "download");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->tensors.front().name, "conv1.weight");
  // Resuming a watch after the last sequence gives nothing more and ends.
  EXPECT_TRUE(Watch(kAlice, job.id(), events.back().sequence()).empty());
  EXPECT_EQ(Watch(kAlice, job.id(), 3).front().sequence(), 4);
}

TEST_F(ServiceTest, PlanMemoryAnswersAndNamesBadFields) {
  v1::PlanMemoryRequest request;
  request.mutable_model()->set_zoo("resnet20");
  request.set_batch_size(32);
  request.add_strategies("exact");
  request.add_strategies("approx4");
  v1::PlanMemoryResponse response;
  ASSERT_TRUE(stub_->PlanMemory(As(kBob).get(), request, &response).ok());
  ASSERT_EQ(response.plans_size(), 2);
  EXPECT_LT(response.plans(1).peak_bytes(), response.plans(0).peak_bytes());
  request.set_batch_size(0);
  const grpc::Status bad = stub_->PlanMemory(As(kBob).get(), request, &response);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.error_message(), "batch_size must be >= 1, got 0");
  request.set_batch_size(32);
  request.set_arena_exact_seconds(-2);
  const grpc::Status bad_seconds = stub_->PlanMemory(As(kBob).get(), request, &response);
  EXPECT_EQ(bad_seconds.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad_seconds.error_message(), "arena_exact_seconds must be in [0, 60], got -2");
}

TEST_F(ServiceTest, SameRequestIdSameJobDifferentSpecAlreadyExists) {
  v1::Job first, again, other;
  ASSERT_TRUE(Submit(kAlice, TinyJob(), &first, "req-1").ok());
  ASSERT_TRUE(Submit(kAlice, TinyJob(), &again, "req-1").ok());
  EXPECT_EQ(first.id(), again.id());
  const grpc::Status s = Submit(kAlice, TinyJob(5), &other, "req-1");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(s.error_message().find(first.id()), std::string::npos);
}

TEST_F(ServiceTest, RefusesWhatCannotRunNamingTheProblem) {
  v1::Job job;
  v1::JobSpec huge = TinyJob();
  huge.mutable_model()->set_zoo("resnet1001");
  huge.set_batch_size(1 << 16);
  huge.mutable_dataset()->set_synthetic_examples(1 << 17);
  huge.set_strategy("exact");
  grpc::Status s = Submit(kAlice, huge, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find("the plan needs"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("available"), std::string::npos) << s.error_message();

  // Two GPUs on a server without one.
  v1::JobSpec gpus = TinyJob();
  gpus.mutable_resources()->set_gpu_count(2);
  s = Submit(kAlice, gpus, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("resources.gpu_count: 2, but this server has 0 usable GPUs"), std::string::npos)
      << s.error_message();

  v1::JobSpec bad = TinyJob();
  bad.set_batch_size(0);
  s = Submit(kAlice, bad, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "batch_size: must be in [1, 16777216], got 0");

  v1::JobSpec no_model = TinyJob();
  no_model.clear_model();
  EXPECT_EQ(Submit(kAlice, no_model, &job).error_message(),
            "model: set a zoo name (zoo), an inline spec (spec) or an ONNX model (onnx)");
}

TEST_F(ServiceTest, DatasetPathsStayInsideTheDataRootWithoutSayingWhatExists) {
  v1::Job job;
  std::string messages[3];
  const char* paths[] = {"../../etc", "/etc", "inside/../../.."};
  for (int i = 0; i < 3; ++i) {
    v1::JobSpec spec = TinyJob();
    spec.mutable_dataset()->set_path(paths[i]);
    const grpc::Status s = Submit(kAlice, spec, &job);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << paths[i];
    messages[i] = s.error_message();
  }
  EXPECT_EQ(messages[0], "dataset.path: must be a folder inside the server's data root");
  EXPECT_EQ(messages[0], messages[1]);
  EXPECT_EQ(messages[0], messages[2]);
  // A symbolic link out of the root is refused the same way.
  std::filesystem::create_directory_symlink("/etc", dir_ + "/root/escape");
  v1::JobSpec link = TinyJob();
  link.mutable_dataset()->set_path("escape");
  EXPECT_EQ(Submit(kAlice, link, &job).error_message(), messages[0]);
}

// Inside the root, a dataset folder may still hold a link out of it: the
// worker opens each file, checks where it really is, and fails the job
// naming the file (relative to the root), before reading a byte of it.
TEST_F(ServiceTest, ADatasetFileLinkedFromOutsideTheDataRootFailsTheJobNamingIt) {
  const std::string pets = dir_ + "/root/inside/pets";
  for (const char* cls : {"train/a", "train/b", "test/a"}) std::filesystem::create_directories(pets + "/" + cls);
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(test_util::WritePng(pets + "/train/" + (i % 2 ? "a/" : "b/") + std::to_string(i) + ".png", 8, 8,
                                    PNG_COLOR_TYPE_GRAY, 8, std::vector<uint8_t>(64, i)));
  }
  ASSERT_TRUE(test_util::WritePng(dir_ + "/outside.png", 8, 8, PNG_COLOR_TYPE_GRAY, 8, std::vector<uint8_t>(64, 1)));
  std::filesystem::create_symlink(dir_ + "/outside.png", pets + "/test/a/stolen.png");
  v1::JobSpec spec = TinyJob(2);
  spec.mutable_model()->mutable_spec()->set_num_classes(2);
  spec.mutable_model()->mutable_spec()->mutable_layers(4)->mutable_linear()->set_out_features(2);
  spec.mutable_dataset()->set_name("image-folder");
  spec.mutable_dataset()->set_path("inside/pets");
  v1::Job job;
  ASSERT_TRUE(Submit(kAlice, spec, &job).ok());  // the folder itself is inside the root
  Watch(kAlice, job.id());
  const v1::Job done = Get(kAlice, job.id());
  EXPECT_EQ(done.state(), v1::Job::FAILED);
  EXPECT_EQ(done.failure_reason(),
            "inside/pets/test/a/stolen.png: resolves outside the server's data root (a symbolic link?)");
  // The same folder without the link trains.
  std::filesystem::remove(pets + "/test/a/stolen.png");
  ASSERT_TRUE(test_util::WritePng(pets + "/test/a/0.png", 8, 8, PNG_COLOR_TYPE_GRAY, 8, std::vector<uint8_t>(64, 3)));
  ASSERT_TRUE(Submit(kAlice, spec, &job).ok());
  Watch(kAlice, job.id());
  EXPECT_EQ(Get(kAlice, job.id()).state(), v1::Job::SUCCEEDED) << Get(kAlice, job.id()).failure_reason();
}

TEST_F(ServiceTest, UsersSeeTheirOwnJobsAdminsAll) {
  v1::Job job;
  ASSERT_TRUE(Submit(kAlice, TinyJob(), &job).ok());
  grpc::Status s;
  Get(kBob, job.id(), &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Get(kRoot, job.id(), &s).id(), job.id());
  EXPECT_TRUE(s.ok());
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job.id());
  v1::Job out;
  EXPECT_EQ(stub_->CancelJob(As(kBob).get(), cancel, &out).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::ListJobsResponse bobs, roots;
  ASSERT_TRUE(stub_->ListJobs(As(kBob).get(), {}, &bobs).ok());
  ASSERT_TRUE(stub_->ListJobs(As(kRoot).get(), {}, &roots).ok());
  EXPECT_EQ(bobs.jobs_size(), 0);
  EXPECT_EQ(roots.jobs_size(), 1);
  Get(kAlice, "job-999999", &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, TheWorkerRunsThePlanTheJobWasAdmittedWith) {
  // One CPU job at a time: the second job waits while its admitted plan is
  // replaced by one the planner would never make (1 MiB more arena and
  // peak); its worker must run that plan, so its metrics report it.
  v1::Job blocker, job;
  ASSERT_TRUE(Submit(kAlice, TinyJob(1000000), &blocker).ok());
  ASSERT_TRUE(Submit(kAlice, TinyJob(4), &job).ok());
  absl::StatusOr<std::string> stored = store_->AdmittedPlan(job.id());
  ASSERT_TRUE(stored.ok()) << stored.status();
  v1::MemoryPlan plan;
  ASSERT_TRUE(plan.ParseFromString(*stored));
  ASSERT_GT(plan.buffers_size(), 0);  // the whole plan, not the record's summary
  EXPECT_EQ(plan.peak_bytes(), job.plan().peak_bytes());
  constexpr int64_t kMiB = 1 << 20;
  plan.set_arena_bytes(plan.arena_bytes() + kMiB);
  plan.set_peak_bytes(plan.peak_bytes() + kMiB);
  ASSERT_EQ(Get(kAlice, job.id()).state(), v1::Job::PENDING);
  ASSERT_TRUE(store_->SetAdmittedPlan(job.id(), plan.SerializeAsString()).ok());
  v1::CancelJobRequest cancel;
  cancel.set_job_id(blocker.id());
  v1::Job cancelled;
  ASSERT_TRUE(stub_->CancelJob(As(kAlice).get(), cancel, &cancelled).ok());
  const std::vector<v1::JobEvent> events = Watch(kAlice, job.id());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state_change().to(), v1::Job::SUCCEEDED) << events.back().DebugString();
  int metrics = 0;
  for (const v1::JobEvent& e : events) {
    if (!e.has_metrics()) continue;
    ++metrics;
    EXPECT_EQ(e.metrics().planned_peak_bytes(), plan.peak_bytes());
  }
  EXPECT_GT(metrics, 0);
  // Deleting the job removes its plan with it.
  v1::DeleteJobRequest del;
  del.set_job_id(job.id());
  v1::DeleteJobResponse deleted;
  ASSERT_TRUE(stub_->DeleteJob(As(kAlice).get(), del, &deleted).ok());
  EXPECT_TRUE(absl::IsNotFound(store_->AdmittedPlan(job.id()).status()));
}

TEST_F(ServiceTest, CancelDeleteAndListInPages) {
  v1::Job long_job, other;
  ASSERT_TRUE(Submit(kAlice, TinyJob(1000000), &long_job).ok());
  ASSERT_TRUE(Submit(kAlice, TinyJob(3), &other).ok());
  v1::DeleteJobRequest del;
  del.set_job_id(long_job.id());
  v1::DeleteJobResponse deleted;
  EXPECT_EQ(stub_->DeleteJob(As(kAlice).get(), del, &deleted).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::CancelJobRequest cancel;
  cancel.set_job_id(long_job.id());
  v1::Job cancelled;
  ASSERT_TRUE(stub_->CancelJob(As(kAlice).get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), v1::Job::CANCELLED);
  EXPECT_EQ(stub_->CancelJob(As(kAlice).get(), cancel, &cancelled).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // Pages of one, newest first.
  v1::ListJobsRequest page;
  page.set_page_size(1);
  v1::ListJobsResponse first, second;
  ASSERT_TRUE(stub_->ListJobs(As(kAlice).get(), page, &first).ok());
  ASSERT_EQ(first.jobs_size(), 1);
  EXPECT_EQ(first.jobs(0).id(), other.id());
  page.set_page_token(first.next_page_token());
  ASSERT_TRUE(stub_->ListJobs(As(kAlice).get(), page, &second).ok());
  EXPECT_EQ(second.jobs(0).id(), long_job.id());
  v1::ListJobsRequest only_cancelled;
  only_cancelled.add_states(v1::Job::CANCELLED);
  v1::ListJobsResponse filtered;
  ASSERT_TRUE(stub_->ListJobs(As(kAlice).get(), only_cancelled, &filtered).ok());
  ASSERT_EQ(filtered.jobs_size(), 1);
  EXPECT_EQ(filtered.jobs(0).id(), long_job.id());
  page.set_page_size(5000);
  EXPECT_EQ(stub_->ListJobs(As(kAlice).get(), page, &first).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Delete the cancelled one: gone.
  ASSERT_TRUE(stub_->DeleteJob(As(kAlice).get(), del, &deleted).ok());
  grpc::Status s;
  Get(kAlice, long_job.id(), &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/jobs/" + long_job.id()));
}

TEST_F(ServiceTest, FullQueueAndPerUserLimitAreResourceExhausted) {
  Stop();
  ServerConfig config;
  config.max_queue = 3;
  config.max_active_per_user = 2;
  Start(config);
  v1::Job job;
  ASSERT_TRUE(Submit(kAlice, TinyJob(1000000), &job).ok());
  ASSERT_TRUE(Submit(kAlice, TinyJob(1000000), &job).ok());
  grpc::Status s = Submit(kAlice, TinyJob(1000000), &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("user 'alice' has 2 jobs"), std::string::npos) << s.error_message();
  ASSERT_TRUE(Submit(kBob, TinyJob(1000000), &job).ok());
  s = Submit(kBob, TinyJob(1000000), &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("the queue is full"), std::string::npos) << s.error_message();
}

TEST_F(ServiceTest, OversizedModelIsRefused) {
  Stop();
  ServerConfig config;
  config.limits.max_layers = 3;
  Start(config);
  v1::Job job;
  const grpc::Status s = Submit(kAlice, TinyJob(), &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "model: 6 layers, over the limit of 3");
}

TEST_F(ServiceTest, AUserHoldsAtMostTheLimitOfStreamsOpen) {
  Stop();
  max_streams_per_user_ = 2;
  Start(ServerConfig{});
  v1::Job job;
  ASSERT_TRUE(Submit(kAlice, TinyJob(1000000), &job).ok());
  v1::WatchJobRequest request;
  request.set_job_id(job.id());
  // Two watches of a running job stay open; a third is refused, naming the
  // limit; bob's are his own.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::JobEvent>>> readers;
  v1::JobEvent event;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(As(kAlice));
    readers.push_back(stub_->WatchJob(contexts.back().get(), request));
    ASSERT_TRUE(readers.back()->Read(&event));  // open on the server
  }
  auto third_context = As(kAlice);
  auto third = stub_->WatchJob(third_context.get(), request);
  EXPECT_FALSE(third->Read(&event));
  const grpc::Status refused = third->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("--max-streams-per-user"), std::string::npos) << refused.error_message();
  // One closes: another opens.
  contexts[0]->TryCancel();
  readers[0]->Finish();
  grpc::Status reopened;
  for (int attempt = 0; attempt < 50; ++attempt) {  // the server sees the cancel in its next poll
    auto context = As(kAlice);
    auto reader = stub_->WatchJob(context.get(), request);
    if (reader->Read(&event)) {
      context->TryCancel();
      reopened = grpc::Status::OK;
      reader->Finish();
      break;
    }
    reopened = reader->Finish();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(reopened.ok()) << reopened.error_message();
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job.id());
  v1::Job cancelled;
  ASSERT_TRUE(stub_->CancelJob(As(kAlice).get(), cancel, &cancelled).ok());
  while (readers[1]->Read(&event)) {  // to the end: the CANCELLED state change
  }
  EXPECT_TRUE(readers[1]->Finish().ok());
  EXPECT_EQ(event.state_change().to(), v1::Job::CANCELLED);
}

}  // namespace
}  // namespace slimtrain::server
