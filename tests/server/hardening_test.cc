// The real slimtrain_server on 127.0.0.1, sent the requests an outside review
// found to crash, stall or fool it (issue 12's ten findings), one test each:
//   1 a huge batch or input shape (SIGFPE in a backend library before)
//   2 a maximal PlanMemory while other RPCs must keep answering
//   3 layer widths of 2^40 (an exception escaped before)
//   4 a 15 MB display name; ListJobs within a stock client's 4 MB
//   5 budget_bytes enforced at submit
//   6 TLS flags all-or-nothing, bad PEM files named
//   7 out-of-range fields and unparsable requests: INVALID_ARGUMENT naming them
//   8 owner-only data directory, database and job files
//   9 the terminal state change is a job's last event
//  10 --help lists the server's flags; dashed flag spellings work
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/service.grpc.pb.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_models.h"
#include "tests/testing/test_server.h"

namespace slimtrain {
namespace {

using test_util::AsUser;
using test_util::kAlice;
using test_util::kBob;
using test_util::TestServer;

constexpr int64_t kTwoTo40 = int64_t{1} << 40;

// A tiny model on synthetic data (256 examples): plans and trains in moments.
v1::SubmitJobRequest TinyJob(int64_t steps = 20) {
  v1::SubmitJobRequest r;
  *r.mutable_spec() = test_util::TinySyntheticJob(steps);
  r.mutable_spec()->mutable_dataset()->set_synthetic_examples(256);
  return r;
}

v1::ModelSpec ReluChain(int relus, int name_bytes = 8) { return test_util::ReluChainModel(relus, name_bytes); }

v1::PlanMemoryRequest SmallPlan() {
  v1::PlanMemoryRequest r;
  r.mutable_model()->set_zoo("fmnist_resnet");
  r.set_batch_size(8);
  r.add_strategies("exact");
  return r;
}

// The server still answers: a small plan succeeds.
void ExpectAlive(TestServer& server) {
  v1::PlanMemoryResponse response;
  const grpc::Status s = server.stub()->PlanMemory(AsUser(kAlice, 60).get(), SmallPlan(), &response);
  EXPECT_TRUE(s.ok()) << "the server stopped answering: " << s.error_message();
}

std::string ReadLog(const std::string& dir) {
  std::ifstream in(dir + "/server.log");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int Mode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : -1;
}

v1::Job GetJob(TestServer& server, const std::string& id) {
  v1::GetJobRequest get;
  get.set_job_id(id);
  v1::Job job;
  EXPECT_TRUE(server.stub()->GetJob(AsUser(kAlice).get(), get, &job).ok());
  return job;
}

// Waits (up to `seconds`) until `done(job)`; returns the last job seen.
v1::Job WaitFor(TestServer& server, const std::string& id, const std::function<bool(const v1::Job&)>& done,
                int seconds = 120) {
  v1::Job job;
  for (int i = 0; i < seconds * 20; ++i) {
    job = GetJob(server, id);
    if (done(job)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return job;
}

bool Finished(const v1::Job& j) {
  return j.state() == v1::Job::SUCCEEDED || j.state() == v1::Job::FAILED || j.state() == v1::Job::CANCELLED;
}

std::vector<v1::JobEvent> AllEvents(TestServer& server, const std::string& id) {
  v1::WatchJobRequest request;
  request.set_job_id(id);
  auto context = AsUser(kAlice);
  auto reader = server.stub()->WatchJob(context.get(), request);
  std::vector<v1::JobEvent> events;
  v1::JobEvent e;
  while (reader->Read(&e)) events.push_back(e);
  EXPECT_TRUE(reader->Finish().ok());
  return events;
}

// Finding 1: the SIGFPE requests.
TEST(HardeningTest, HugeBatchOrInputIsRefusedAndTheServerLives) {
  TestServer server(test_util::MakeServerDir("harden-1"));
  ASSERT_TRUE(server.Start());
  v1::PlanMemoryRequest plan;
  plan.mutable_model()->set_zoo("fmnist_resnet");
  plan.set_batch_size(kTwoTo40);
  plan.add_strategies("exact");
  v1::PlanMemoryResponse planned;
  grpc::Status s = server.stub()->PlanMemory(AsUser(kAlice).get(), plan, &planned);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "batch_size")) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "1099511627776")) << s.error_message();
  ExpectAlive(server);

  v1::SubmitJobRequest submit = TinyJob();
  submit.mutable_spec()->mutable_model()->set_zoo("fmnist_resnet");
  submit.mutable_spec()->mutable_dataset()->set_name("fashion-mnist");
  submit.mutable_spec()->set_batch_size(kTwoTo40);
  v1::SubmitJobResponse submitted;
  s = server.stub()->SubmitJob(AsUser(kAlice).get(), submit, &submitted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "batch_size")) << s.error_message();
  ExpectAlive(server);

  // An inline model whose input alone is 2^93 elements.
  v1::ModelSpec huge = ReluChain(1);
  huge.mutable_input()->clear_dims();
  for (int i = 0; i < 3; ++i) huge.mutable_input()->add_dims(int64_t{1} << 31);
  v1::PlanMemoryRequest inline_plan;
  *inline_plan.mutable_model()->mutable_spec() = huge;
  inline_plan.set_batch_size(1);
  s = server.stub()->PlanMemory(AsUser(kAlice).get(), inline_plan, &planned);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "input")) << s.error_message();
  ExpectAlive(server);
  // A model that is valid but can never fit: FAILED_PRECONDITION with bytes.
  // (2^20 channels of 8x8 at batch 2048: 512 GiB a tensor, within the size
  // limits.)
  submit = TinyJob();
  submit.mutable_spec()->mutable_model()->mutable_spec()->mutable_layers(0)->mutable_conv2d()->set_out_channels(
      int64_t{1} << 20);
  submit.mutable_spec()->set_batch_size(2048);
  submit.mutable_spec()->mutable_dataset()->set_synthetic_examples(4096);
  s = server.stub()->SubmitJob(AsUser(kAlice).get(), submit, &submitted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "bytes")) << s.error_message();
  ExpectAlive(server);
}

// Finding 2 (and acceptance 2): a maximal PlanMemory runs while every other
// RPC answers; it ends within the server's bound.
TEST(HardeningTest, AMaximalPlanStallsNothingAndEndsWithinItsBound) {
  TestServer server(test_util::MakeServerDir("harden-2"));
  ASSERT_TRUE(server.Start("--max-plan-seconds 5"));
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(server.stub()->SubmitJob(AsUser(kAlice).get(), TinyJob(100000), &submitted).ok());
  const std::string id = submitted.job().id();

  v1::PlanMemoryRequest maximal;
  *maximal.mutable_model()->mutable_spec() = ReluChain(9997);
  maximal.set_batch_size(1);
  maximal.add_strategies("checkpoint_optimal");
  maximal.set_max_batch(true);
  std::atomic<bool> planning{true};
  grpc::Status plan_status;
  double plan_seconds = 0;
  std::thread planner([&] {
    v1::PlanMemoryResponse response;
    const auto start = std::chrono::steady_clock::now();
    plan_status = server.stub()->PlanMemory(AsUser(kBob, 60).get(), maximal, &response);
    plan_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    planning = false;
  });
  // Give the plan time to start, then ask every other kind of RPC.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int answered_while_planning = 0;
  while (planning) {
    v1::GetJobRequest get;
    get.set_job_id(id);
    v1::Job job;
    const grpc::Status got = server.stub()->GetJob(AsUser(kAlice, 1).get(), get, &job);
    if (!planning) break;
    EXPECT_TRUE(got.ok()) << "GetJob during planning: " << got.error_message();
    v1::PlanMemoryResponse small;
    const grpc::Status other_plan = server.stub()->PlanMemory(AsUser(kAlice, 5).get(), SmallPlan(), &small);
    EXPECT_TRUE(other_plan.ok()) << "another PlanMemory during planning: " << other_plan.error_message();
    v1::SubmitJobResponse second;
    const grpc::Status submit = server.stub()->SubmitJob(AsUser(kAlice, 5).get(), TinyJob(), &second);
    EXPECT_TRUE(submit.ok()) << "SubmitJob during planning: " << submit.error_message();
    if (submit.ok()) {
      v1::CancelJobRequest cancel;
      cancel.set_job_id(second.job().id());
      v1::Job cancelled;
      const grpc::Status c = server.stub()->CancelJob(AsUser(kAlice, 5).get(), cancel, &cancelled);
      EXPECT_TRUE(c.ok()) << "CancelJob during planning: " << c.error_message();
    }
    if (planning) ++answered_while_planning;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  planner.join();
  EXPECT_GE(answered_while_planning, 1) << "the plan ended before any other RPC could be tried";
  EXPECT_TRUE(plan_status.ok() || plan_status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
      << plan_status.error_code() << ": " << plan_status.error_message();
  if (!plan_status.ok()) {
    EXPECT_TRUE(absl::StrContains(plan_status.error_message(), "max-plan-seconds")) << plan_status.error_message();
  }
  EXPECT_LT(plan_seconds, 5 + 10) << "the bound is 5 s";
  ExpectAlive(server);
}

// Finding 3: widths of 2^40.
TEST(HardeningTest, HugeLayerWidthsAreInvalidArgumentNamingTheLayer) {
  TestServer server(test_util::MakeServerDir("harden-3"));
  ASSERT_TRUE(server.Start());
  struct Case {
    const char* layer;
    std::function<void(v1::ModelSpec&)> edit;
  };
  const std::vector<Case> cases = {
      {"conv1", [](v1::ModelSpec& m) { m.mutable_layers(0)->mutable_conv2d()->set_out_channels(kTwoTo40); }},
      {"fc", [](v1::ModelSpec& m) { m.mutable_layers(4)->mutable_linear()->set_out_features(kTwoTo40); }},
      {"conv1", [](v1::ModelSpec& m) { m.mutable_layers(0)->mutable_conv2d()->set_padding(kTwoTo40); }},
      {"conv1", [](v1::ModelSpec& m) { m.mutable_layers(0)->mutable_conv2d()->set_dilation(kTwoTo40); }},
  };
  for (const Case& c : cases) {
    v1::SubmitJobRequest submit = TinyJob();
    c.edit(*submit.mutable_spec()->mutable_model()->mutable_spec());
    v1::PlanMemoryRequest plan;
    *plan.mutable_model() = submit.spec().model();
    plan.set_batch_size(16);
    v1::PlanMemoryResponse planned;
    grpc::Status s = server.stub()->PlanMemory(AsUser(kAlice).get(), plan, &planned);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), absl::StrCat("layer '", c.layer, "'"))) << s.error_message();
    v1::SubmitJobResponse submitted;
    s = server.stub()->SubmitJob(AsUser(kAlice).get(), submit, &submitted);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), absl::StrCat("layer '", c.layer, "'"))) << s.error_message();
  }
  ExpectAlive(server);
}

// Finding 4: a 15 MB display name is refused; ListJobs pages stay within a
// stock client's 4 MB even when jobs carry large inline models.
TEST(HardeningTest, LongStringsAreRefusedAndListJobsFitsAStockClient) {
  const std::string dir = test_util::MakeServerDir("harden-4");
  std::ofstream(dir + "/tokens", std::ios::app) << "root-token-0123456789abc root admin\n";
  TestServer server(dir);
  ASSERT_TRUE(server.Start("--max_active_per_user 20 --cpu_jobs 1"));
  v1::SubmitJobRequest named = TinyJob();
  named.mutable_spec()->set_display_name(std::string(15 << 20, 'n'));
  v1::SubmitJobResponse submitted;
  grpc::Status s = server.stub()->SubmitJob(AsUser(kAlice).get(), named, &submitted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message().substr(0, 200);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "display_name")) << s.error_message().substr(0, 200);
  EXPECT_LT(s.error_message().size(), 1000u);
  named.mutable_spec()->set_display_name(std::string(100, 'n'));
  EXPECT_TRUE(server.stub()->SubmitJob(AsUser(kAlice).get(), named, &submitted).ok());
  // Six jobs of about 0.8 MB each: 4.8 MB in all.
  v1::SubmitJobRequest big = TinyJob(1000000);
  big.mutable_spec()->mutable_dataset()->set_synthetic_examples(64);
  *big.mutable_spec()->mutable_model()->mutable_spec() = ReluChain(3000, 250);
  ASSERT_GT(big.ByteSizeLong(), 700000u);
  std::vector<std::string> ids = {submitted.job().id()};
  for (int i = 0; i < 6; ++i) {
    s = server.stub()->SubmitJob(AsUser(kAlice).get(), big, &submitted);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ids.push_back(submitted.job().id());
  }
  for (const char* token : {kAlice, "root-token-0123456789abc"}) {
    v1::ListJobsRequest list;
    int seen = 0, pages = 0;
    do {
      v1::ListJobsResponse page;
      s = server.stub()->ListJobs(AsUser(token).get(), list, &page);  // a stock 4 MB client
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_LE(page.ByteSizeLong(), 4u << 20);
      EXPECT_GE(page.jobs_size(), 1);
      seen += page.jobs_size();
      ++pages;
      list.set_page_token(page.next_page_token());
    } while (!list.page_token().empty() && pages < 20);
    EXPECT_EQ(seen, static_cast<int>(ids.size())) << token;
    EXPECT_GE(pages, 2) << "4.8 MB of jobs cannot fit one page";
  }
  for (const std::string& id : ids) {
    v1::CancelJobRequest cancel;
    cancel.set_job_id(id);
    v1::Job job;
    server.stub()->CancelJob(AsUser(kAlice).get(), cancel, &job);
  }
}

// Finding 5: budget_bytes is a promise the plan must keep.
TEST(HardeningTest, BudgetIsEnforcedAtSubmitForEveryStrategy) {
  TestServer server(test_util::MakeServerDir("harden-5"));
  ASSERT_TRUE(server.Start());
  for (const char* strategy : {"exact", "approx4", "naive8", "checkpoint", "checkpoint_optimal", "auto"}) {
    v1::SubmitJobRequest r = TinyJob();
    r.mutable_spec()->set_strategy(strategy);
    r.mutable_spec()->set_budget_bytes(1000);
    v1::SubmitJobResponse submitted;
    const grpc::Status s = server.stub()->SubmitJob(AsUser(kAlice).get(), r, &submitted);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << strategy << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "1000 bytes")) << strategy << ": " << s.error_message();
  }
  // A token model (an embedding on the input) cannot train on the image
  // datasets: refused at submit, naming the field, not failed by a worker.
  {
    v1::SubmitJobRequest r = TinyJob();
    r.mutable_spec()->mutable_dataset()->set_name("fashion-mnist");
    v1::ModelSpec* m = r.mutable_spec()->mutable_model()->mutable_spec();
    m->Clear();
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
      name: "tokens" input { dims: 8 } num_classes: 3
      layers { name: "wte" inputs: "input" embedding { num_embeddings: 16 embedding_dim: 4 } }
      layers { name: "flat" inputs: "wte" flatten {} }
      layers { name: "fc" inputs: "flat" linear { out_features: 3 } }
      layers { name: "loss" inputs: "fc" softmax_cross_entropy {} })pb", m));
    v1::SubmitJobResponse submitted;
    const grpc::Status s = server.stub()->SubmitJob(AsUser(kAlice).get(), r, &submitted);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "dataset.name: model 'tokens' reads token ids"))
        << s.error_message();
  }
  v1::ListJobsResponse list;
  ASSERT_TRUE(server.stub()->ListJobs(AsUser(kAlice).get(), v1::ListJobsRequest(), &list).ok());
  EXPECT_EQ(list.jobs_size(), 0) << "a refused job left a record";
}

// Finding 6: TLS flags are all-or-nothing; bad PEM files are named.
TEST(HardeningTest, TlsFlagsAreAllOrNothingAndBadPemFilesAreNamed) {
  const std::string data = "tests/server/testdata/";
  const std::string dir = test_util::MakeServerDir("harden-6");
  std::ofstream(dir + "/garbage.pem") << "this is not a certificate\n";
  struct Case {
    std::string flags;
    std::string expect_in_log;
  };
  const std::vector<Case> cases = {
      {"--tls_key " + data + "tls_a.key", "--tls-key needs --tls-cert"},
      {"--tls-client-ca " + data + "tls_a.crt", "--tls-client-ca needs --tls-cert"},
      {"--tls_cert " + data + "tls_a.crt", "--tls-cert needs --tls-key"},
      {"--tls_cert " + dir + "/garbage.pem --tls_key " + data + "tls_a.key", dir + "/garbage.pem"},
      {"--tls_cert " + data + "tls_a.crt --tls_key " + dir + "/garbage.pem", dir + "/garbage.pem"},
      {"--tls_cert " + data + "tls_a.crt --tls_key " + data + "tls_b.key", "tls_b.key"},
      {"--tls_cert " + data + "tls_a.crt --tls_key " + data + "tls_a.key --tls_client_ca " + dir + "/garbage.pem",
       dir + "/garbage.pem"},
      {"--tls_cert " + data + "tls_a.crt --tls_key " + dir + "/missing.key", dir + "/missing.key"},
  };
  for (const Case& c : cases) {
    std::filesystem::remove(dir + "/server.log");
    TestServer server(dir);
    EXPECT_FALSE(server.Start(c.flags)) << c.flags << ": the server started";
    const std::string log = ReadLog(dir);
    EXPECT_TRUE(absl::StrContains(log, c.expect_in_log)) << c.flags << "\nlog: " << log;
    EXPECT_FALSE(absl::StrContains(log, "plaintext")) << c.flags << "\nlog: " << log;
  }
  // A matching pair serves TLS, and only TLS.
  TestServer server(dir);
  ASSERT_TRUE(server.Start("--tls-cert " + data + "tls_a.crt --tls-key " + data + "tls_a.key"));
  std::ifstream ca_file(data + "tls_a.crt");
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = std::string(std::istreambuf_iterator<char>(ca_file), {});
  auto channel = grpc::CreateChannel(absl::StrCat("localhost:", server.port()), grpc::SslCredentials(ssl));
  auto stub = v1::TrainingService::NewStub(channel);
  v1::PlanMemoryResponse response;
  const grpc::Status s = stub->PlanMemory(AsUser(kAlice).get(), SmallPlan(), &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(server.stub()->PlanMemory(AsUser(kAlice, 5).get(), SmallPlan(), &response).ok())
      << "a plaintext client was served";
}

// Finding 7: every out-of-range field named; unparsable requests too.
TEST(HardeningTest, OutOfRangeFieldsAndUnparsableRequestsAreNamed) {
  TestServer server(test_util::MakeServerDir("harden-7"));
  ASSERT_TRUE(server.Start());
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    std::string field;
    std::function<void(v1::JobSpec&)> edit;
  };
  const std::vector<Case> cases = {
      {"optimizer.learning_rate", [&](v1::JobSpec& s) { s.mutable_optimizer()->set_learning_rate(inf); }},
      {"optimizer.learning_rate", [](v1::JobSpec& s) { s.mutable_optimizer()->set_learning_rate(1e308); }},
      {"optimizer.momentum", [&](v1::JobSpec& s) { s.mutable_optimizer()->set_momentum(nan); }},
      {"optimizer.beta1",
       [](v1::JobSpec& s) {
         s.mutable_optimizer()->set_kind("adam");
         s.mutable_optimizer()->set_momentum(0);
         s.mutable_optimizer()->set_beta1(1.5);
       }},
      {"optimizer.epsilon",
       [](v1::JobSpec& s) {
         s.mutable_optimizer()->set_kind("adam");
         s.mutable_optimizer()->set_momentum(0);
         s.mutable_optimizer()->set_epsilon(-1);
       }},
      {"optimizer.alpha",
       [&](v1::JobSpec& s) {
         s.mutable_optimizer()->set_kind("rmsprop");
         s.mutable_optimizer()->set_alpha(inf);
       }},
      {"optimizer.weight_decay", [&](v1::JobSpec& s) { s.mutable_optimizer()->set_weight_decay(nan); }},
      {"learning_rate_schedule.milestone_epochs",
       [](v1::JobSpec& s) {
         s.mutable_learning_rate_schedule()->set_kind("step");
         s.mutable_learning_rate_schedule()->add_milestone_epochs(-1);
       }},
      {"learning_rate_schedule.min_learning_rate",
       [&](v1::JobSpec& s) {
         s.mutable_learning_rate_schedule()->set_kind("cosine");
         s.mutable_learning_rate_schedule()->set_min_learning_rate(nan);
       }},
      {"dataset.synthetic_examples", [](v1::JobSpec& s) { s.mutable_dataset()->set_synthetic_examples(-1); }},
      {"dataset.synthetic_examples", [](v1::JobSpec& s) { s.mutable_dataset()->set_synthetic_examples(kTwoTo40); }},
      {"dataset.random_crop_padding", [](v1::JobSpec& s) { s.mutable_dataset()->set_random_crop_padding(kTwoTo40); }},
      {"steps", [](v1::JobSpec& s) { s.set_steps(int64_t{1} << 62); }},
      {"epochs",
       [](v1::JobSpec& s) {
         s.set_steps(0);
         s.set_epochs(int64_t{1} << 62);
       }},
      {"resources.cpu_threads", [](v1::JobSpec& s) { s.mutable_resources()->set_cpu_threads(100000); }},
      {"checkpoint_interval_steps", [](v1::JobSpec& s) { s.set_checkpoint_interval_steps(-1); }},
      {"eval_interval_steps", [](v1::JobSpec& s) { s.set_eval_interval_steps(-1); }},
      {"budget_bytes", [](v1::JobSpec& s) { s.set_budget_bytes(-1); }},
  };
  for (const Case& c : cases) {
    v1::SubmitJobRequest r = TinyJob();
    c.edit(*r.mutable_spec());
    v1::SubmitJobResponse submitted;
    const grpc::Status s = server.stub()->SubmitJob(AsUser(kAlice).get(), r, &submitted);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field << ": " << s.error_message();
    EXPECT_TRUE(absl::StartsWith(s.error_message(), c.field + ":")) << c.field << ": " << s.error_message();
  }
  // Bytes that are not a SubmitJobRequest: truncated, and a string field
  // holding invalid UTF-8.
  std::string valid;
  ASSERT_TRUE(TinyJob().SerializeToString(&valid));
  std::string bad_utf8;
  {
    v1::SubmitJobRequest r;
    r.mutable_spec()->set_display_name("x");  // field 1 of the spec: patch its byte
    ASSERT_TRUE(r.SerializeToString(&bad_utf8));
    bad_utf8.back() = '\xff';
  }
  for (const std::string& bytes : {valid.substr(0, valid.size() / 2), bad_utf8}) {
    grpc::GenericStub generic(server.channel());
    grpc::CompletionQueue queue;
    auto context = AsUser(kAlice);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    auto call = generic.PrepareUnaryCall(context.get(), "/slimtrain.v1.TrainingService/SubmitJob", request, &queue);
    call->StartCall();
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(queue.Next(&tag, &ok));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), "SubmitJobRequest")) << status.error_message();
    queue.Shutdown();
    while (queue.Next(&tag, &ok)) {
    }
  }
  v1::ListJobsResponse list;
  ASSERT_TRUE(server.stub()->ListJobs(AsUser(kAlice).get(), v1::ListJobsRequest(), &list).ok());
  EXPECT_EQ(list.jobs_size(), 0) << "a refused job left a record";
}

// Finding 8: what the server creates only its owner can read; it refuses a
// data directory others can write to.
TEST(HardeningTest, DataDirectoryDatabaseAndJobFilesAreOwnerOnly) {
  // The server's log and port file stay in `base`; its data directory is new.
  const std::string base = test_util::MakeServerDir("harden-8");
  const std::string dir = base + "/created-by-the-server";
  const std::string flags = "--data-dir " + dir;
  TestServer server(base);
  ASSERT_TRUE(server.Start(flags));
  EXPECT_EQ(Mode(dir), 0700);
  EXPECT_EQ(Mode(dir + "/slimtrain.db"), 0600);
  EXPECT_EQ(Mode(dir + "/jobs"), 0700);
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(server.stub()->SubmitJob(AsUser(kAlice).get(), TinyJob(), &submitted).ok());
  const v1::Job job = WaitFor(server, submitted.job().id(), Finished);
  ASSERT_EQ(job.state(), v1::Job::SUCCEEDED) << job.failure_reason();
  const std::string job_dir = dir + "/jobs/" + job.id();
  EXPECT_EQ(Mode(job_dir), 0700);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(job_dir)) {
    EXPECT_EQ(Mode(entry.path()) & 077, 0) << entry.path() << " is readable by others";
    ++files;
  }
  EXPECT_GE(files, 3);  // spec, log, weights at least
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(Mode(entry.path()) & 077, 0) << entry.path() << " is readable by others";
  }
  server.Kill(SIGTERM);
  // Others may write to it: refused, naming the directory and its mode.
  chmod(dir.c_str(), 0777);
  std::filesystem::remove(base + "/server.log");
  EXPECT_FALSE(server.Start(flags));
  const std::string log = ReadLog(base);
  EXPECT_TRUE(absl::StrContains(log, dir)) << log;
  EXPECT_TRUE(absl::StrContains(log, "0777")) << log;
  chmod(dir.c_str(), 0770);
  EXPECT_FALSE(server.Start(flags)) << "group-writable";
  // Readable by others (as an older server left it): made owner-only.
  chmod(dir.c_str(), 0755);
  ASSERT_TRUE(server.Start(flags));
  EXPECT_EQ(Mode(dir), 0700);
  // A tokens file others can read is refused.
  server.Kill(SIGTERM);
  chmod((base + "/tokens").c_str(), 0644);
  EXPECT_FALSE(server.Start(flags));
  EXPECT_TRUE(absl::StrContains(ReadLog(base), "chmod 600")) << ReadLog(base);
}

// Finding 9: no event after the terminal CANCELLED.
TEST(HardeningTest, CancelledIsTheLastEventOfAJob) {
  TestServer server(test_util::MakeServerDir("harden-9"));
  ASSERT_TRUE(server.Start("--cpu_jobs 1"));
  std::string previous;
  for (int attempt = 0; attempt < 4; ++attempt) {
    v1::SubmitJobResponse submitted;
    ASSERT_TRUE(server.stub()->SubmitJob(AsUser(kAlice).get(), TinyJob(100000), &submitted).ok());
    const std::string id = submitted.job().id();
    // RUNNING with steps done: the metrics pipe is busy when the cancel comes.
    const v1::Job running = WaitFor(server, id, [](const v1::Job& j) { return j.progress().step() >= 3; });
    ASSERT_EQ(running.state(), v1::Job::RUNNING);
    v1::CancelJobRequest cancel;
    cancel.set_job_id(id);
    v1::Job cancelled;
    ASSERT_TRUE(server.stub()->CancelJob(AsUser(kAlice).get(), cancel, &cancelled).ok());
    // With one CPU job at a time, the next job runs only once this one's
    // worker is gone and its reports are all read.
    if (!previous.empty()) {
      const std::vector<v1::JobEvent> events = AllEvents(server, previous);
      ASSERT_FALSE(events.empty());
      EXPECT_TRUE(events.back().has_state_change()) << "attempt " << attempt << ": " << events.back().DebugString();
      EXPECT_EQ(events.back().state_change().to(), v1::Job::CANCELLED);
    }
    previous = id;
  }
  v1::SubmitJobResponse last;
  ASSERT_TRUE(server.stub()->SubmitJob(AsUser(kAlice).get(), TinyJob(2), &last).ok());
  ASSERT_EQ(WaitFor(server, last.job().id(), Finished).state(), v1::Job::SUCCEEDED);
  const std::vector<v1::JobEvent> events = AllEvents(server, previous);
  EXPECT_EQ(events.back().state_change().to(), v1::Job::CANCELLED) << events.back().DebugString();
}

// Finding 10: --help shows the server's own flags; dashed spellings work
// beside the underscored ones.
TEST(HardeningTest, HelpListsTheServerFlagsAndDashedSpellingsWork) {
  const test_util::CommandResult help = test_util::RunCommand("server/slimtrain_server --help");
  EXPECT_EQ(help.exit_code, 0) << help.output;
  for (const char* flag : {"--listen", "--data-dir", "--tls-cert", "--max-plan-seconds", "--max-layers"}) {
    EXPECT_TRUE(absl::StrContains(help.output, flag)) << flag << "\n" << help.output;
  }
  EXPECT_TRUE(absl::StrContains(help.output, "\nexample:\n  slimtrain_server")) << help.output;
  const test_util::CommandResult unknown = test_util::RunCommand("server/slimtrain_server --no-such-flag");
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_TRUE(absl::StrContains(unknown.output, "no-such-flag")) << unknown.output;

  const std::string dir = test_util::MakeServerDir("harden-10");
  TestServer server(dir);
  // TestServer passes --data_dir and --port_file; these are dashed.
  ASSERT_TRUE(server.Start("--cpu-jobs 1 --max-active-per-user=2 --checkpoint-interval 7"));
  ExpectAlive(server);
}

}  // namespace
}  // namespace slimtrain
