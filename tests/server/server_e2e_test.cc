// The real slimtrain_server binary on 127.0.0.1 with a temp data directory:
// a Fashion-MNIST job watched to SUCCEEDED with its weights downloaded; a
// server killed with SIGKILL mid-training whose job resumes from its last
// checkpoint after a restart and finishes once; auth refusals; a dataset path
// outside the data root; graceful shutdown on SIGTERM; every RPC the
// contract declares answered (none UNIMPLEMENTED).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "engine/cuda/cuda_backend.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "proto/service.grpc.pb.h"
#include "tests/server/health.grpc.pb.h"
#include "tests/server/reflection.pb.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_models.h"
#include "tests/testing/test_server.h"

namespace slimtrain {
namespace {

using test_util::kAlice;
using test_util::kBob;
using Server = test_util::TestServer;

std::unique_ptr<grpc::ClientContext> As(const char* token, int seconds = 120) {
  return test_util::AsUser(token, seconds);
}

std::string MakeDir(const std::string& name) { return test_util::MakeServerDir(name); }

// test_models.h's small Fashion-MNIST job (one conv block, pooled, a
// classifier), seed 5.
v1::SubmitJobRequest Request(int64_t steps) {
  v1::SubmitJobRequest r;
  *r.mutable_spec() = test_util::FashionMnistJob(steps);
  r.mutable_spec()->set_seed(5);
  return r;
}

std::vector<v1::JobEvent> WatchAll(v1::TrainingService::Stub* stub, const std::string& id, int64_t after,
                                   grpc::Status* status) {
  v1::WatchJobRequest request;
  request.set_job_id(id);
  request.set_after_sequence(after);
  auto context = As(kAlice);
  auto reader = stub->WatchJob(context.get(), request);
  std::vector<v1::JobEvent> events;
  v1::JobEvent e;
  while (reader->Read(&e)) events.push_back(e);
  *status = reader->Finish();
  return events;
}

TEST(ServerE2eTest, FashionMnistJobToSucceededWithWeightsAndAuthRefusals) {
  const std::string dir = MakeDir("e2e-basic");
  Server server(dir);
  ASSERT_TRUE(server.Start());
  v1::SubmitJobResponse submitted;
  // Auth: no token, a bad token.
  EXPECT_EQ(server.stub()->SubmitJob(As(nullptr).get(), Request(30), &submitted).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(server.stub()->SubmitJob(As("bad-token-bad-token").get(), Request(30), &submitted).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // A dataset path outside the data root, existing or not, gets one answer.
  v1::SubmitJobRequest outside = Request(30);
  outside.mutable_spec()->mutable_dataset()->set_path("../../../etc");
  const grpc::Status refused = server.stub()->SubmitJob(As(kAlice).get(), outside, &submitted);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(refused.error_message(), "dataset.path: must be a folder inside the server's data root");
  outside.mutable_spec()->mutable_dataset()->set_path("../../../no/such/folder");
  EXPECT_EQ(server.stub()->SubmitJob(As(kAlice).get(), outside, &submitted).error_message(),
            refused.error_message());

  ASSERT_TRUE(server.stub()->SubmitJob(As(kAlice).get(), Request(30), &submitted).ok());
  const std::string id = submitted.job().id();
  v1::Job other;
  v1::GetJobRequest get;
  get.set_job_id(id);
  EXPECT_EQ(server.stub()->GetJob(As(kBob).get(), get, &other).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  grpc::Status watched;
  const std::vector<v1::JobEvent> events = WatchAll(server.stub(), id, 0, &watched);
  ASSERT_TRUE(watched.ok()) << watched.error_message();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state_change().to(), v1::Job::SUCCEEDED) << events.back().DebugString();
  v1::DownloadWeightsRequest download;
  download.set_job_id(id);
  auto context = As(kAlice);
  auto reader = server.stub()->DownloadWeights(context.get(), download);
  int64_t bytes = 0;
  v1::WeightsChunk chunk;
  while (reader->Read(&chunk)) bytes += chunk.data().size();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_GT(bytes, 1000);
  EXPECT_EQ(bytes, chunk.total_bytes());
  // SIGTERM: a graceful exit with status 0.
  const int status = server.Kill(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

using test_util::FakeGpuWorker;

v1::Job Finished(Server& server, const std::string& id) {
  grpc::Status watched;
  const std::vector<v1::JobEvent> events = WatchAll(server.stub(), id, 0, &watched);
  EXPECT_TRUE(watched.ok()) << watched.error_message();
  v1::GetJobRequest get;
  get.set_job_id(id);
  v1::Job job;
  EXPECT_TRUE(server.stub()->GetJob(As(kAlice).get(), get, &job).ok());
  return job;
}

// An ONNX model (PyTorch's training-mode export of a small CNN, 2.4 KB)
// travels as its bytes, trains to SUCCEEDED from its initializers; one with
// nodes slimtrain cannot import is refused at submit, listing them all; one
// over --max-model-bytes is refused naming the limit.
TEST(ServerE2eTest, OnnxModelsTrainOrAreRefusedAtSubmit) {
  const std::string dir = MakeDir("e2e-onnx");
  Server server(dir);
  ASSERT_TRUE(server.Start());
  std::ifstream file("tests/fuzz/corpus/model/tiny_cnn.onnx", std::ios::binary);
  const std::string onnx((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  ASSERT_GT(onnx.size(), 1000u);
  v1::SubmitJobRequest r = Request(6);
  r.mutable_spec()->mutable_model()->mutable_onnx()->set_model(onnx);
  r.mutable_spec()->mutable_dataset()->set_name("synthetic");
  r.mutable_spec()->mutable_dataset()->set_synthetic_examples(256);
  r.set_client_request_id("onnx-once");
  v1::SubmitJobResponse submitted;
  const grpc::Status ok = server.stub()->SubmitJob(As(kAlice).get(), r, &submitted);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  // Answers leave the model's bytes out and give its size.
  EXPECT_TRUE(submitted.job().spec().model().onnx().model().empty());
  EXPECT_EQ(submitted.job().spec().model().onnx().size_bytes(), static_cast<int64_t>(onnx.size()));
  const v1::Job job = Finished(server, submitted.job().id());
  EXPECT_EQ(job.state(), v1::Job::SUCCEEDED) << job.DebugString();
  EXPECT_EQ(job.plan().parameter_count(), 279);  // PyTorch's count
  EXPECT_TRUE(job.spec().model().onnx().model().empty());
  EXPECT_EQ(job.spec().model().onnx().size_bytes(), static_cast<int64_t>(onnx.size()));
  v1::ListJobsRequest list_request;
  v1::ListJobsResponse listed;
  ASSERT_TRUE(server.stub()->ListJobs(As(kAlice).get(), list_request, &listed).ok());
  ASSERT_EQ(listed.jobs_size(), 1);
  EXPECT_TRUE(listed.jobs(0).spec().model().onnx().model().empty());
  EXPECT_EQ(listed.jobs(0).spec().model().onnx().size_bytes(), static_cast<int64_t>(onnx.size()));
  // The same request again (its client_request_id) is the same job: the
  // server compares what it kept, bytes included.
  v1::SubmitJobResponse again;
  ASSERT_TRUE(server.stub()->SubmitJob(As(kAlice).get(), r, &again).ok());
  EXPECT_EQ(again.job().id(), submitted.job().id());
  // Unsupported nodes: all of them, at submit.
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(onnx));
  int changed = 0;
  for (onnx::NodeProto& n : *model.mutable_graph()->mutable_node()) {
    if (n.op_type() != "Clip" && n.op_type() != "MaxPool") continue;
    n.set_op_type(n.op_type() == "Clip" ? "Erf" : "Floor");  // real ONNX ops slimtrain does not map
    n.clear_attribute();
    while (n.input_size() > 1) n.mutable_input()->RemoveLast();
    ++changed;
  }
  ASSERT_EQ(changed, 2);
  const std::string bad = model.SerializeAsString();
  v1::SubmitJobRequest refused = r;
  refused.clear_client_request_id();
  refused.mutable_spec()->mutable_model()->mutable_onnx()->set_model(bad);
  const grpc::Status no = server.stub()->SubmitJob(As(kAlice).get(), refused, &submitted);
  EXPECT_NE(no.error_code(), grpc::StatusCode::OK);
  EXPECT_NE(no.error_message().find("2 node(s) slimtrain cannot import"), std::string::npos) << no.error_message();
  EXPECT_NE(no.error_message().find("(Erf, opset 13)"), std::string::npos) << no.error_message();
  EXPECT_NE(no.error_message().find("(Floor, opset 13)"), std::string::npos) << no.error_message();
  // Over the size limit.
  v1::SubmitJobRequest big = r;
  big.clear_client_request_id();
  big.mutable_spec()->mutable_model()->mutable_onnx()->set_model(std::string(3 << 20, '\x08'));
  const grpc::Status too_big = server.stub()->SubmitJob(As(kAlice).get(), big, &submitted);
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(too_big.error_message().find("model.onnx: 3145728 bytes"), std::string::npos) << too_big.error_message();
}

TEST(ServerE2eTest, GpuJobsGoToTheServersGpuAndTrainOrFailWithTheReason) {
  // Without a GPU, a job that asks for one is refused, saying why.
  {
    const std::string dir = MakeDir("e2e-nogpu");
    Server server(dir);
    ASSERT_TRUE(server.Start());
    v1::SubmitJobRequest cuda = Request(4);
    cuda.mutable_spec()->mutable_resources()->set_device("cuda");
    v1::SubmitJobResponse submitted;
    const grpc::Status refused = server.stub()->SubmitJob(As(kAlice).get(), cuda, &submitted);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(refused.error_message().find("this server has no usable GPU ("), std::string::npos)
        << refused.error_message();
    // "any" trains on the CPU.
    v1::SubmitJobRequest any = Request(4);
    ASSERT_TRUE(server.stub()->SubmitJob(As(kAlice).get(), any, &submitted).ok());
    const v1::Job job = Finished(server, submitted.job().id());
    EXPECT_EQ(job.device(), "cpu");
    EXPECT_EQ(job.state(), v1::Job::SUCCEEDED) << job.failure_reason();
  }
  // A server whose probe reports an 80 GiB GPU with 512 MiB per worker.
  const std::string dir = MakeDir("e2e-gpu");
  Server server(dir);
  ASSERT_TRUE(server.Start("--worker " + FakeGpuWorker(dir, int64_t{80} << 30, int64_t{512} << 20)));
  // Its GPU is a planning target: the budget is its memory less a worker's overhead.
  v1::PlanMemoryRequest plan;
  plan.mutable_model()->set_zoo("resnet56");
  plan.set_batch_size(128);
  plan.add_strategies("approx4");
  plan.set_device("cuda:0");
  v1::PlanMemoryResponse planned;
  ASSERT_TRUE(server.stub()->PlanMemory(As(kAlice).get(), plan, &planned).ok());
  EXPECT_EQ(planned.budget_bytes(), (int64_t{80} << 30) - (int64_t{512} << 20));
  ASSERT_EQ(planned.plans_size(), 1);
  EXPECT_EQ(planned.plans(0).device(), "cuda:0");
  v1::SubmitJobRequest any = Request(4);
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(server.stub()->SubmitJob(As(kAlice).get(), any, &submitted).ok());
  EXPECT_EQ(submitted.job().device(), "cuda");  // queued for a GPU
  const v1::Job job = Finished(server, submitted.job().id());
  EXPECT_EQ(job.device(), "cuda:0");
  if (engine::NewCudaBackend().ok()) {
    EXPECT_EQ(job.state(), v1::Job::SUCCEEDED) << job.failure_reason();
  } else {
    // The worker cannot use the GPU the probe made up here: the job fails
    // alone, with the CUDA backend's reason.
    EXPECT_EQ(job.state(), v1::Job::FAILED);
    EXPECT_TRUE(absl::StartsWith(job.failure_reason(), "cuda:0: ")) << job.failure_reason();
  }
  // The CPU stays available: a job that asks for it trains there.
  v1::SubmitJobRequest cpu = Request(4);
  cpu.mutable_spec()->mutable_resources()->set_device("cpu");
  ASSERT_TRUE(server.stub()->SubmitJob(As(kAlice).get(), cpu, &submitted).ok());
  const v1::Job on_cpu = Finished(server, submitted.job().id());
  EXPECT_EQ(on_cpu.device(), "cpu");
  EXPECT_EQ(on_cpu.state(), v1::Job::SUCCEEDED) << on_cpu.failure_reason();
}

TEST(ServerE2eTest, AJobLargerThanTheGpuIsRefusedOrGoesToTheCpu) {
  const std::string dir = MakeDir("e2e-small-gpu");
  Server server(dir);
  // 520 MiB in all, 512 of them per worker: 8 MiB for a plan.
  ASSERT_TRUE(server.Start("--worker " + FakeGpuWorker(dir, int64_t{520} << 20, int64_t{512} << 20)));
  v1::SubmitJobRequest big = Request(4);
  big.mutable_spec()->set_batch_size(4096);
  big.mutable_spec()->set_strategy("exact");
  big.mutable_spec()->mutable_resources()->set_device("cuda");
  v1::SubmitJobResponse submitted;
  const grpc::Status refused = server.stub()->SubmitJob(As(kAlice).get(), big, &submitted);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(refused.error_message().find("the largest GPU of this server, cuda:0 (Test GPU), has 8.0 MiB"),
            std::string::npos)
      << refused.error_message();
  // For any device the CPU takes it.
  big.mutable_spec()->mutable_resources()->set_device("any");
  ASSERT_TRUE(server.stub()->SubmitJob(As(kAlice).get(), big, &submitted).ok()) << refused.error_message();
  EXPECT_EQ(submitted.job().device(), "cpu");
}

TEST(ServerE2eTest, KilledServerResumesTheJobFromItsLastCheckpoint) {
  const std::string dir = MakeDir("e2e-resume");
  Server server(dir);
  ASSERT_TRUE(server.Start());
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(server.stub()->SubmitJob(As(kAlice).get(), Request(400), &submitted).ok());
  const std::string id = submitted.job().id();
  // Wait until the job is past a checkpoint, then kill the server outright.
  v1::Job job;
  v1::GetJobRequest get;
  get.set_job_id(id);
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(server.stub()->GetJob(As(kAlice).get(), get, &job).ok());
    if (job.progress().step() >= 25) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GE(job.progress().step(), 25);
  ASSERT_EQ(job.state(), v1::Job::RUNNING);
  const int64_t killed_at = job.progress().step();
  server.Kill(SIGKILL);
  ASSERT_TRUE(server.Start());
  grpc::Status watched;
  const std::vector<v1::JobEvent> events = WatchAll(server.stub(), id, 0, &watched);
  ASSERT_TRUE(watched.ok()) << watched.error_message();
  ASSERT_TRUE(server.stub()->GetJob(As(kAlice).get(), get, &job).ok());
  EXPECT_EQ(job.state(), v1::Job::SUCCEEDED);
  EXPECT_EQ(job.restarts(), 1);
  // After the "resumed" state change, the first step is the checkpoint's + 1.
  int resumed_at = -1, succeeded = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const v1::JobEvent& e = events[i];
    if (e.has_state_change() && e.state_change().reason().find("resumed") != std::string::npos) resumed_at = i;
    if (e.has_state_change() && e.state_change().to() == v1::Job::SUCCEEDED) ++succeeded;
  }
  ASSERT_GE(resumed_at, 0);
  EXPECT_EQ(succeeded, 1);  // it finished once
  int64_t seen_before = 0;  // the last step a watcher could see before the kill
  for (int i = 0; i < resumed_at; ++i) {
    if (events[i].has_metrics()) seen_before = std::max(seen_before, events[i].metrics().step());
  }
  int64_t first_after = -1;
  for (size_t i = resumed_at + 1; i < events.size(); ++i) {
    if (!events[i].has_metrics() || events[i].metrics().has_eval()) continue;
    const int64_t step = events[i].metrics().step();
    if (first_after < 0) first_after = step;
    // Steps a watcher may already have seen are marked replayed; new ones not.
    if (step <= seen_before) {
      EXPECT_TRUE(events[i].replayed()) << step;
    }
    if (step > seen_before + 1) {
      EXPECT_FALSE(events[i].replayed()) << step;
    }
  }
  // Checkpoints every 10 steps and the server was killed at step >= 25: the
  // first step after the restart is the last checkpoint's + 1, above 0.
  EXPECT_GE(first_after, 11) << "killed at " << killed_at;
  EXPECT_EQ((first_after - 1) % 10, 0) << first_after;
  // Usually the checkpoint's step was stored before the kill; when the kill
  // lost the metrics still in the worker's pipe, the server says so.
  if (first_after - 1 > seen_before) {
    const std::string gap =
        absl::StrFormat(" to %d were trained before the server stopped, but their metrics were lost", first_after - 1);
    EXPECT_TRUE(std::any_of(events.begin(), events.end(), [&](const v1::JobEvent& e) {
      return e.has_log() && e.log().level() == v1::LogLine::WARNING && absl::StrContains(e.log().text(), gap);
    })) << "no warning '..." << gap << "'";
  }
  EXPECT_EQ(events.back().state_change().to(), v1::Job::SUCCEEDED);
  server.Kill(SIGTERM);
}

// Whether a worker process for `job_dir` is running.
bool WorkerRunning(const std::string& job_dir) {
  // "worke[r]" keeps pgrep from matching the shell running it.
  return test_util::RunCommand("pgrep -f 'slimtrain_worke[r] --job-dir " + job_dir + "'").exit_code == 0;
}

// Sends one request on gRPC's reflection stream and reads one response, with
// the async generic API; each step waits for its completion-queue tag.
bool ReflectionExchange(const std::shared_ptr<grpc::Channel>& channel,
                        const google::protobuf::Message& request, google::protobuf::Message* response) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto call = stub.PrepareCall(&context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                               &queue);
  intptr_t next_tag = 1;
  auto await = [&]() {
    void* tag = nullptr;
    bool ok = false;
    return queue.Next(&tag, &ok) && ok && reinterpret_cast<intptr_t>(tag) == next_tag++;
  };
  call->StartCall(reinterpret_cast<void*>(next_tag));
  if (!await()) return false;
  grpc::ByteBuffer out;
  bool own_buffer = false;
  if (!grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::Message>(request, &out, &own_buffer)
           .ok()) {
    return false;
  }
  call->Write(out, reinterpret_cast<void*>(next_tag));
  if (!await()) return false;
  call->WritesDone(reinterpret_cast<void*>(next_tag));
  if (!await()) return false;
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(next_tag));
  if (!await()) return false;
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(next_tag));
  if (!await() || !status.ok()) return false;
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
  }
  return grpc::GenericDeserialize<grpc::ProtoBufferReader, google::protobuf::Message>(&in, response).ok();
}

TEST(ServerE2eTest, OffersHealthCheckingAndReflection) {
  const std::string dir = MakeDir("e2e-health");
  Server server(dir);
  ASSERT_TRUE(server.Start());
  auto health = grpc::health::v1::Health::NewStub(server.channel());
  for (const char* service : {"", "slimtrain.v1.TrainingService"}) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  // Reflection: one list_services exchange on the bidi stream, made through a
  // generic stub so that only the method name ties it to gRPC's package.
  testproto::ServerReflectionRequest list;
  list.set_list_services("*");
  testproto::ServerReflectionResponse response;
  ASSERT_TRUE(ReflectionExchange(server.channel(), list, &response));
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
  EXPECT_NE(std::find(names.begin(), names.end(), "slimtrain.v1.TrainingService"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "grpc.health.v1.Health"), names.end());
  server.Kill(SIGTERM);
}

// Sends `request` (a serialized message) as the one message of a generic call
// to `method` ("/package.Service/Method"), reads every response and returns
// the call's status: the same exchange for a unary and a server-streaming RPC.
grpc::Status CallAnyRpc(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                        const std::string& request, grpc::ClientContext* context) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue queue;
  auto call = stub.PrepareCall(context, method, &queue);
  void* tag = nullptr;
  bool ok = false;
  // One operation at a time: each waits for its own completion.
  auto done = [&] { return queue.Next(&tag, &ok) && ok; };
  call->StartCall(nullptr);
  if (done()) {
    grpc::Slice slice(request);
    grpc::ByteBuffer out(&slice, 1);
    call->Write(out, nullptr);
    if (done()) {
      call->WritesDone(nullptr);
      done();
    }
    grpc::ByteBuffer in;
    do {
      call->Read(&in, nullptr);
    } while (done());
  }
  grpc::Status status;
  call->Finish(&status, nullptr);
  queue.Next(&tag, &ok);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return status;
}

// Every RPC service.proto declares for TrainingService (the methods of the
// descriptor pool, not a list kept here) is served by the real server: an
// empty request gets an answer, OK or a refusal of the request, never
// UNIMPLEMENTED, gRPC's answer for a method the server has no handler for
// (as a name the contract does not declare shows).
TEST(ServerE2eTest, ServesEveryRpcTheContractDeclares) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("slimtrain.v1.TrainingService");
  ASSERT_NE(service, nullptr);
  ASSERT_GE(service->method_count(), 8);
  const std::string dir = MakeDir("e2e-every-rpc");
  Server server(dir);
  ASSERT_TRUE(server.Start());
  for (int i = 0; i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* method = service->method(i);
    const std::string path = "/" + service->full_name() + "/" + method->name();
    const grpc::Status status = CallAnyRpc(server.channel(), path, "", As(kAlice, 30).get());
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << path << ": " << status.error_message();
    EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << path << ": no answer";
  }
  const std::string undeclared = "/" + service->full_name() + "/NoSuchRpc";
  ASSERT_EQ(service->FindMethodByName("NoSuchRpc"), nullptr);
  EXPECT_EQ(CallAnyRpc(server.channel(), undeclared, "", As(kAlice, 30).get()).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  server.Kill(SIGTERM);
}

TEST(ServerE2eTest, CancelStopsTheWorker) {
  const std::string dir = MakeDir("e2e-cancel");
  Server server(dir);
  ASSERT_TRUE(server.Start());
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(server.stub()->SubmitJob(As(kAlice).get(), Request(1000000), &submitted).ok());
  const std::string id = submitted.job().id(), job_dir = dir + "/jobs/" + id;
  for (int i = 0; i < 100 && !WorkerRunning(job_dir); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(WorkerRunning(job_dir));
  v1::CancelJobRequest cancel;
  cancel.set_job_id(id);
  v1::Job job;
  ASSERT_TRUE(server.stub()->CancelJob(As(kAlice).get(), cancel, &job).ok());
  EXPECT_EQ(job.state(), v1::Job::CANCELLED);
  bool stopped = false;
  for (int i = 0; i < 100 && !stopped; ++i) {
    stopped = !WorkerRunning(job_dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(stopped) << "the worker kept training after the cancel";
  server.Kill(SIGTERM);
}

}  // namespace
}  // namespace slimtrain
