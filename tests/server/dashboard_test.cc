// The dashboard of a real slimtrain_server on 127.0.0.1 (--http-listen),
// spoken to over HTTP with cpp-httplib's client, beside its gRPC port:
//   - pages ask for a login; /login sets an HttpOnly, SameSite=Strict cookie,
//     and refuses a login posted from another site's page (login CSRF)
//   - a POST with the cookie but without the session's CSRF token is refused,
//     and the job is untouched; with it, the job is cancelled
//   - another user's job is neither listed nor reachable (404 everywhere)
//   - a job named <script>…</script> renders as text; every response has a
//     Content-Security-Policy
//   - the arena picture of resnet164 approx4 (the plan explorer's and a
//     job's) has a rectangle per buffer at its planned offset and steps
//   - /metrics counts the jobs and RPCs, and gives job ids only to those who
//     may see the jobs (under --metrics-public: none without a token);
//     /healthz answers without a token
//   - the plan explorer plans an uploaded ONNX file and names bad fields
//   - weights download as the RPC's bytes; revoked tokens end sessions
// The browser's view (Chromium driving the pages) is dashboard_browser_test.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "proto/service.grpc.pb.h"
#include "render/arena_svg.h"
#include "tests/testing/test_models.h"
#include "tests/testing/test_server.h"

namespace slimtrain {
namespace {

using test_util::AsUser;
using test_util::kAlice;
using test_util::kBob;
using test_util::TestServer;

constexpr char kAdmin[] = "admin-token-0123456789";

// The file's text, "" while it does not exist yet.
std::string ReadText(const std::string& path) { return base::ReadFile(path).value_or(""); }

// The dashboard's port, once the server has written dir/http_port (0 when
// it does not within 10 s).
int WaitForHttpPort(const std::string& dir) {
  int port = 0;
  for (int i = 0; i < 100 && port == 0; ++i) {
    absl::SimpleAtoi(ReadText(dir + "/http_port"), &port);
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return port;
}

// A browser's session: its cookie and the CSRF token its pages carry.
struct Login {
  std::string cookie;  // "slimtrain_session=..."
  std::string csrf;
};

class DashboardTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = test_util::MakeServerDir("dashboard");
    std::ofstream(dir + "/tokens", std::ios::app) << kAdmin << " root admin\n";
    server_ = new TestServer(dir);
    ASSERT_TRUE(server_->Start("--cpu_jobs 1 --http-listen 127.0.0.1:0 --http-port-file " + dir + "/http_port"))
        << ReadText(dir + "/server.log");
    http_port_ = WaitForHttpPort(dir);
    ASSERT_GT(http_port_, 0) << ReadText(dir + "/server.log");
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static httplib::Client Http() {
    httplib::Client c("127.0.0.1", http_port_);
    c.set_read_timeout(120, 0);
    return c;
  }

  static httplib::Headers Cookie(const Login& login) { return {{"Cookie", login.cookie}}; }
  static httplib::Headers Bearer(const char* token) { return {{"Authorization", absl::StrCat("Bearer ", token)}}; }

  // Logs in as a browser does and reads the CSRF token from the jobs page.
  static Login LogIn(const char* token) {
    httplib::Client c = Http();
    httplib::Result r = c.Post("/login", httplib::Params{{"token", token}, {"next", "/jobs"}});
    EXPECT_TRUE(r) << "no answer";
    if (!r) return {};
    EXPECT_EQ(r->status, 303);
    const std::string set_cookie = r->get_header_value("Set-Cookie");
    Login login;
    login.cookie = set_cookie.substr(0, set_cookie.find(';'));
    httplib::Result page = c.Get("/jobs", Cookie(login));
    EXPECT_TRUE(page && page->status == 200);
    std::smatch m;
    if (page && std::regex_search(page->body, m, std::regex("name=\"csrf-token\" content=\"([0-9a-f]+)\""))) {
      login.csrf = m[1];
    }
    EXPECT_FALSE(login.csrf.empty());
    return login;
  }

  static v1::Job Submit(const char* token, v1::JobSpec spec) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = std::move(spec);
    v1::SubmitJobResponse response;
    const grpc::Status s = server_->stub()->SubmitJob(AsUser(token).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.job();
  }

  static v1::Job Get(const std::string& id) {
    v1::GetJobRequest request;
    request.set_job_id(id);
    v1::Job job;
    EXPECT_TRUE(server_->stub()->GetJob(AsUser(kAdmin).get(), request, &job).ok());
    return job;
  }

  static v1::Job WaitFor(const std::string& id, bool (*until)(const v1::Job&), int seconds = 120) {
    v1::Job job;
    for (int i = 0; i < seconds * 10; ++i) {
      job = Get(id);
      if (until(job)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return job;
  }

  static TestServer* server_;
  static int http_port_;
};

TestServer* DashboardTest::server_ = nullptr;
int DashboardTest::http_port_ = 0;

bool Finished(const v1::Job& j) {
  return j.state() == v1::Job::SUCCEEDED || j.state() == v1::Job::FAILED || j.state() == v1::Job::CANCELLED;
}
bool Running(const v1::Job& j) { return j.state() == v1::Job::RUNNING; }

TEST_F(DashboardTest, PagesAskForALoginAndTheLoginSetsAStrictHttpOnlyCookie) {
  httplib::Client c = Http();
  httplib::Result r = c.Get("/jobs");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(r->get_header_value("Location"), "/login?next=/jobs");
  r = c.Get("/api/jobs/job-000001/events");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(c.Get("/metrics")->status, 401);
  EXPECT_EQ(c.Get("/jobs", Bearer("not-a-token-of-this-server"))->status, 401);
  r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");

  r = c.Post("/login", httplib::Params{{"token", "wrong-token-0123456789"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_TRUE(absl::StrContains(r->body, "id=\"login-error\"")) << r->body;
  EXPECT_FALSE(r->has_header("Set-Cookie"));

  // Login CSRF: a login form posted from another site's page is refused
  // (it would sign this browser in as the token's owner); this site's passes.
  for (const char* origin : {"http://evil.example", "null", "http://127.0.0.1.evil.example"}) {
    r = c.Post("/login", {{"Origin", origin}}, httplib::Params{{"token", kAlice}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << origin;
    EXPECT_FALSE(r->has_header("Set-Cookie")) << origin;
    EXPECT_TRUE(absl::StrContains(r->body, "posted from another site")) << r->body;
  }
  r = c.Post("/login", {{"Origin", absl::StrCat("http://127.0.0.1:", http_port_)}},
             httplib::Params{{"token", kAlice}, {"next", "//evil.example/"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(r->get_header_value("Location"), "/jobs") << "an open redirect";
  const std::string cookie = r->get_header_value("Set-Cookie");
  EXPECT_TRUE(absl::StartsWith(cookie, "slimtrain_session=")) << cookie;
  EXPECT_TRUE(absl::StrContains(cookie, "HttpOnly")) << cookie;
  EXPECT_TRUE(absl::StrContains(cookie, "SameSite=Strict")) << cookie;
  EXPECT_FALSE(absl::StrContains(cookie, "Secure")) << "plain HTTP: a Secure cookie would never come back";
  r = c.Get("/jobs", {{"Cookie", cookie.substr(0, cookie.find(';'))}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(absl::StrContains(r->body, "<span class=\"who\" id=\"user\">alice</span>")) << r->body;
}

TEST_F(DashboardTest, APostWithoutTheSessionsCsrfTokenIsRefusedAndWithItCancels) {
  const v1::Job job = Submit(kAlice, test_util::TinySyntheticJob(1000000));
  const Login alice = LogIn(kAlice);
  httplib::Client c = Http();
  const std::string path = absl::StrCat("/jobs/", job.id(), "/cancel");
  httplib::Result r = c.Post(path, Cookie(alice), httplib::Params{});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(absl::StrContains(r->body, "CSRF")) << r->body;
  r = c.Post(path, Cookie(alice), httplib::Params{{"csrf", std::string(alice.csrf.size(), '0')}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  const v1::Job untouched = Get(job.id());
  EXPECT_TRUE(untouched.state() == v1::Job::PENDING || untouched.state() == v1::Job::RUNNING)
      << v1::Job::State_Name(untouched.state());

  r = c.Post(path, Cookie(alice), httplib::Params{{"csrf", alice.csrf}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(r->get_header_value("Location"), absl::StrCat("/jobs/", job.id()));
  EXPECT_EQ(Get(job.id()).state(), v1::Job::CANCELLED);
  r = c.Get(absl::StrCat("/jobs/", job.id()), Cookie(alice));
  ASSERT_TRUE(r);
  EXPECT_TRUE(absl::StrContains(r->body, "<strong id=\"job-state\">CANCELLED</strong>")) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "id=\"delete-form\""));

  // A script with a bearer token needs no CSRF token (it carries no ambient
  // credential a page could borrow).
  WaitFor(job.id(), Finished);
  for (int i = 0; i < 100; ++i) {
    r = c.Post(absl::StrCat("/jobs/", job.id(), "/delete"), Bearer(kAlice), httplib::Params{});
    if (r && r->status != 409) break;  // its worker is still writing its last checkpoint
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(c.Get(absl::StrCat("/jobs/", job.id()), Bearer(kAlice))->status, 404);
}

TEST_F(DashboardTest, AnotherUsersJobIsNeitherListedNorReachable) {
  const v1::Job bobs = Submit(kBob, test_util::TinySyntheticJob(1000000));
  const Login alice = LogIn(kAlice);
  httplib::Client c = Http();
  httplib::Result r = c.Get("/jobs", Cookie(alice));
  ASSERT_TRUE(r);
  EXPECT_FALSE(absl::StrContains(r->body, bobs.id())) << r->body;
  for (const std::string& path : {absl::StrCat("/jobs/", bobs.id()), absl::StrCat("/jobs/", bobs.id(), "/plan.svg"),
                                  absl::StrCat("/jobs/", bobs.id(), "/weights"),
                                  absl::StrCat("/api/jobs/", bobs.id(), "/events")}) {
    r = c.Get(path, Cookie(alice));
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_FALSE(absl::StrContains(r->body, "another user")) << path << ": " << r->body;
  }
  r = c.Post(absl::StrCat("/jobs/", bobs.id(), "/cancel"), Cookie(alice), httplib::Params{{"csrf", alice.csrf}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_FALSE(Finished(Get(bobs.id())));
  // An admin sees it; bob cancels it.
  const Login root = LogIn(kAdmin);
  r = c.Get("/jobs", Cookie(root));
  ASSERT_TRUE(r);
  EXPECT_TRUE(absl::StrContains(r->body, absl::StrCat("data-job-id=\"", bobs.id(), "\"")));
  const Login bob = LogIn(kBob);
  r = c.Post(absl::StrCat("/jobs/", bobs.id(), "/cancel"), Cookie(bob), httplib::Params{{"csrf", bob.csrf}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(Get(bobs.id()).state(), v1::Job::CANCELLED);
  // Bob's CSRF token is his session's alone.
  EXPECT_EQ(c.Post("/logout", Cookie(alice), httplib::Params{{"csrf", bob.csrf}})->status, 403);
}

TEST_F(DashboardTest, UserStringsAreEscapedAndEveryResponseHasAContentSecurityPolicy) {
  v1::JobSpec spec = test_util::TinySyntheticJob(4);
  spec.set_display_name("<script>alert(1)</script>\"'&");
  const v1::Job job = Submit(kAlice, spec);
  const Login alice = LogIn(kAlice);
  httplib::Client c = Http();
  for (const std::string& path : {std::string("/jobs"), absl::StrCat("/jobs/", job.id())}) {
    httplib::Result r = c.Get(path, Cookie(alice));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(absl::StrContains(r->body, "<script>alert")) << path;
    EXPECT_TRUE(absl::StrContains(r->body, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;")) << path;
    const std::string csp = r->get_header_value("Content-Security-Policy");
    EXPECT_TRUE(absl::StrContains(csp, "script-src 'self'")) << path << ": " << csp;
    EXPECT_TRUE(absl::StrContains(csp, "default-src 'none'")) << csp;
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  }
  for (const char* path : {"/login", "/healthz", "/static/dashboard.js", "/no-such-page"}) {
    httplib::Result r = c.Get(path);
    ASSERT_TRUE(r);
    EXPECT_TRUE(absl::StrContains(r->get_header_value("Content-Security-Policy"), "default-src 'none'")) << path;
  }
  // No inline script anywhere: the policy would block it.
  httplib::Result page = c.Get(absl::StrCat("/jobs/", job.id()), Cookie(alice));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->body.find("<script>"), std::string::npos);
}

// Every <rect data-buffer=...> of an arena picture, by name.
std::map<std::string, std::map<std::string, double>> Rects(const std::string& svg) {
  std::map<std::string, std::map<std::string, double>> rects;
  const std::regex rect("<rect ([^>]*data-buffer=\"([^\"]*)\"[^>]*)>");
  const std::regex attribute("([a-z-]+)=\"([-0-9.]+)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), rect); it != std::sregex_iterator(); ++it) {
    const std::string attributes = (*it)[1];
    auto& values = rects[(*it)[2]];
    for (auto a = std::sregex_iterator(attributes.begin(), attributes.end(), attribute); a != std::sregex_iterator();
         ++a) {
      values[(*a)[1]] = std::stod((*a)[2]);
    }
  }
  return rects;
}

// The picture has each of the plan's buffers at its offset and steps, drawn
// where the geometry puts them.
void ExpectPictureOfPlan(const std::string& svg, const v1::MemoryPlan& plan) {
  using G = render::ArenaSvgGeometry;
  const auto rects = Rects(svg);
  ASSERT_EQ(static_cast<int>(rects.size()), plan.buffers_size()) << "one rectangle per buffer";
  int steps = 1;
  for (const v1::Step& s : plan.steps()) steps = std::max(steps, s.index() + 1);
  for (const v1::Buffer& b : plan.buffers()) steps = std::max(steps, b.last_step() + 1);
  const double xs = G::kWidth / steps, ys = G::kHeight / std::max<double>(1, plan.arena_bytes());
  int checked = 0;
  for (const v1::Buffer& b : plan.buffers()) {
    auto it = rects.find(b.name());
    ASSERT_NE(it, rects.end()) << b.name();
    const auto& r = it->second;
    EXPECT_EQ(r.at("data-offset"), b.offset_bytes()) << b.name();
    EXPECT_EQ(r.at("data-size"), b.size_bytes()) << b.name();
    EXPECT_EQ(r.at("data-first"), b.first_step()) << b.name();
    EXPECT_EQ(r.at("data-last"), b.last_step()) << b.name();
    EXPECT_NEAR(r.at("x"), G::kLeft + b.first_step() * xs, 0.01) << b.name();
    // The rectangle's bottom edge is the buffer's offset.
    EXPECT_NEAR(r.at("y") + r.at("height"), G::kTop + G::kHeight - b.offset_bytes() * ys, 0.02) << b.name();
    if (b.size_bytes() * ys >= 0.5) {
      EXPECT_NEAR(r.at("height"), b.size_bytes() * ys, 0.01) << b.name();
    }
    ++checked;
  }
  EXPECT_GT(checked, 1000) << "resnet164 has thousands of buffers";
}

TEST_F(DashboardTest, TheArenaPictureOfResnet164Approx4HasEveryBufferAtItsPlannedOffset) {
  v1::PlanMemoryRequest request;
  request.mutable_model()->set_zoo("resnet164");
  request.set_batch_size(128);
  request.add_strategies("approx4");
  request.set_include_buffers(true);
  v1::PlanMemoryResponse planned;
  const grpc::Status s = server_->stub()->PlanMemory(AsUser(kAlice).get(), request, &planned);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(planned.plans_size(), 1);
  const v1::MemoryPlan& plan = planned.plans(0);

  const Login alice = LogIn(kAlice);
  httplib::Client c = Http();
  // The plan explorer's picture.
  httplib::Result r = c.Get("/plan?model=resnet164&batch=128&show=approx4", Cookie(alice));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 2000);
  EXPECT_TRUE(absl::StrContains(r->body, "<tr data-strategy=\"approx4\" class=\"shown\">"));
  EXPECT_TRUE(absl::StrContains(r->body, "id=\"plan-svg\""));
  ExpectPictureOfPlan(r->body, plan);

  // A job's: queued behind a running one (one CPU job at a time), its
  // admitted plan is the same plan.
  const v1::Job blocker = Submit(kAlice, test_util::TinySyntheticJob(1000000));
  WaitFor(blocker.id(), Running);
  v1::JobSpec spec = test_util::FashionMnistJob(10);
  spec.mutable_model()->set_zoo("resnet164");
  spec.set_batch_size(128);
  spec.set_strategy("approx4");
  const v1::Job job = Submit(kAlice, spec);
  r = c.Get(absl::StrCat("/jobs/", job.id(), "/plan.svg"), Cookie(alice));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_TRUE(absl::StartsWith(r->get_header_value("Content-Type"), "image/svg+xml"));
  ExpectPictureOfPlan(r->body, plan);
  int64_t live = 0;
  const int peak = render::PeakStep(plan, &live);
  EXPECT_TRUE(absl::StrContains(r->body, absl::StrCat("class=\"peak\" data-step=\"", peak, "\""))) << "peak marked";
  for (const v1::Job& j : {job, blocker}) {
    v1::CancelJobRequest cancel;
    cancel.set_job_id(j.id());
    v1::Job ignored;
    server_->stub()->CancelJob(AsUser(kAlice).get(), cancel, &ignored);
  }
}

// The value of the sample `line` ("name{labels}") in a /metrics text; -1 when absent.
double Sample(const std::string& text, const std::string& line) {
  const size_t at = text.find("\n" + line + " ");
  if (at == std::string::npos) return -1;
  const size_t begin = at + line.size() + 2;
  return std::stod(text.substr(begin, text.find('\n', begin) - begin));
}

TEST_F(DashboardTest, MetricsCountJobsAndRpcs) {
  httplib::Client c = Http();
  httplib::Result before = c.Get("/metrics", Bearer(kAlice));
  ASSERT_TRUE(before);
  ASSERT_EQ(before->status, 200);
  EXPECT_TRUE(absl::StartsWith(before->get_header_value("Content-Type"), "text/plain; version=0.0.4"));
  const double submitted = Sample(before->body, "slimtrain_jobs_submitted_total");
  const double succeeded = Sample(before->body, "slimtrain_jobs_succeeded_total");
  ASSERT_GE(submitted, 0) << before->body;
  const v1::Job job = Submit(kAlice, test_util::TinySyntheticJob(4));
  ASSERT_EQ(WaitFor(job.id(), Finished).state(), v1::Job::SUCCEEDED);
  httplib::Result after = c.Get("/metrics", Bearer(kAlice));
  ASSERT_TRUE(after);
  EXPECT_EQ(Sample(after->body, "slimtrain_jobs_submitted_total"), submitted + 1);
  EXPECT_EQ(Sample(after->body, "slimtrain_jobs_succeeded_total"), succeeded + 1);
  EXPECT_GE(Sample(after->body, "slimtrain_rpc_requests_total{method=\"SubmitJob\",code=\"OK\"}"), 1) << after->body;
  EXPECT_GE(Sample(after->body,
                   "slimtrain_rpc_duration_seconds_count{method=\"SubmitJob\",code=\"OK\"}"),
            1);
  EXPECT_GE(Sample(after->body, "slimtrain_jobs{state=\"SUCCEEDED\"}"), 1);
  EXPECT_GE(Sample(after->body, "slimtrain_device_capacity_bytes{device=\"cpu\"}"), 1);
  EXPECT_GE(Sample(after->body, "slimtrain_http_requests_total{code=\"200\"}"), 1);
}

TEST_F(DashboardTest, WeightsDownloadAsTheRpcsBytes) {
  const v1::Job job = Submit(kAlice, test_util::TinySyntheticJob(4));
  ASSERT_EQ(WaitFor(job.id(), Finished).state(), v1::Job::SUCCEEDED);
  v1::DownloadWeightsRequest request;
  request.set_job_id(job.id());
  auto context = AsUser(kAlice);
  auto reader = server_->stub()->DownloadWeights(context.get(), request);
  std::string rpc_bytes;
  v1::WeightsChunk chunk;
  while (reader->Read(&chunk)) rpc_bytes += chunk.data();
  ASSERT_TRUE(reader->Finish().ok());
  const Login alice = LogIn(kAlice);
  httplib::Client c = Http();
  httplib::Result r = c.Get(absl::StrCat("/jobs/", job.id(), "/weights"), Cookie(alice));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->body, rpc_bytes);
  EXPECT_TRUE(absl::StrContains(r->get_header_value("Content-Disposition"), ".safetensors"));
  r = c.Get(absl::StrCat("/jobs/", job.id()), Cookie(alice));
  ASSERT_TRUE(r);
  EXPECT_TRUE(absl::StrContains(r->body, "id=\"weights\"")) << "a succeeded job offers its weights";
}

TEST_F(DashboardTest, ThePlanExplorerPlansAnUploadedOnnxFileAndNamesBadFields) {
  const Login alice = LogIn(kAlice);
  httplib::Client c = Http();
  httplib::Result r = c.Get("/plan", Cookie(alice));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(absl::StrContains(r->body, "<option value=\"resnet164\""));
  EXPECT_FALSE(absl::StrContains(r->body, "id=\"strategies\"")) << "nothing planned before the form is sent";

  r = c.Get("/plan?model=resnet56&batch=64&budget=100", Cookie(alice));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  for (const char* strategy : {"exact", "approx4", "checkpoint_optimal"}) {
    EXPECT_TRUE(absl::StrContains(r->body, absl::StrCat("<tr data-strategy=\"", strategy, "\""))) << strategy;
  }
  EXPECT_TRUE(absl::StrContains(r->body, "class=\"max-batch\">")) << "the largest batch per strategy";
  // Whether each arena is optimal (approx4's is at its lower bound), with
  // what the exact search did.
  EXPECT_TRUE(absl::StrContains(
      r->body, "class=\"arena-optimal\" title=\"exact search: not needed: at the lower bound\">yes</td>"));
  // Whose workspaces the plans count: this server's CPU, oneDNN's.
  EXPECT_TRUE(absl::StrContains(r->body, "<p id=\"workspaces\">Counted with oneDNN&#39;s workspaces on cpu.</p>"))
      << r->body.substr(0, 4000);

  r = c.Get("/plan?model=resnet56&batch=0", Cookie(alice));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(absl::StrContains(r->body, "batch: &#39;0&#39;")) << r->body;
  r = c.Get("/plan?model=no_such_model&batch=8", Cookie(alice));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(absl::StrContains(r->body, "no_such_model")) << r->body;

  const std::string onnx = ReadText("tests/fuzz/corpus/model/tiny_cnn.onnx");
  ASSERT_FALSE(onnx.empty());
  httplib::MultipartFormDataItems form = {{"csrf", alice.csrf, "", ""},
                                          {"file", onnx, "tiny_cnn.onnx", "application/octet-stream"},
                                          {"batch", "16", "", ""}};
  r = c.Post("/plan", Cookie(alice), form);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body.substr(0, 3000);
  EXPECT_TRUE(absl::StrContains(r->body, "<tr data-strategy=\"approx4\""));
  EXPECT_TRUE(absl::StrContains(r->body, "id=\"plan-svg\""));

  form = {{"csrf", alice.csrf, "", ""}, {"spec", "name: \"x\"\nlayers { nonsense: 1 }", "", ""}};
  r = c.Post("/plan", Cookie(alice), form);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(absl::StrContains(r->body, "nonsense")) << r->body;
  // Without the CSRF token the upload is refused like any POST.
  form = {{"spec", "name: \"x\"", "", ""}};
  r = c.Post("/plan", Cookie(alice), form);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
}

TEST_F(DashboardTest, TheDevicesPageAndMetricsShowRunningJobsAndHideOtherUsersIds) {
  const v1::Job job = Submit(kAlice, test_util::TinySyntheticJob(1000000));
  ASSERT_EQ(WaitFor(job.id(), Running).state(), v1::Job::RUNNING);
  httplib::Client c = Http();
  httplib::Result r = c.Get("/devices", Bearer(kAlice));
  ASSERT_TRUE(r);
  EXPECT_TRUE(absl::StrContains(r->body, "<section class=\"device\" data-device=\"cpu\">"));
  EXPECT_TRUE(absl::StrContains(r->body, absl::StrCat("<rect data-job-id=\"", job.id(), "\""))) << r->body;
  r = c.Get("/devices", Bearer(kBob));
  ASSERT_TRUE(r);
  EXPECT_FALSE(absl::StrContains(r->body, job.id()));
  EXPECT_TRUE(absl::StrContains(r->body, "another user&#39;s job"));
  // /metrics: the job's own series for its owner and an admin; for another
  // user only the device's totals, which count it all the same.
  const std::string step = absl::StrCat("slimtrain_job_step{job=\"", job.id(), "\",device=\"cpu\"}");
  const std::string planned = "slimtrain_device_planned_bytes{device=\"cpu\"}";
  for (const char* token : {kAlice, kAdmin}) {
    r = c.Get("/metrics", Bearer(token));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_GE(Sample(r->body, step), 0) << token << ":\n" << r->body;
    EXPECT_GT(Sample(r->body, planned), 0) << r->body;
  }
  r = c.Get("/metrics", Bearer(kBob));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_FALSE(absl::StrContains(r->body, job.id())) << r->body;
  EXPECT_GT(Sample(r->body, planned), 0) << r->body;
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job.id());
  v1::Job ignored;
  EXPECT_TRUE(server_->stub()->CancelJob(AsUser(kAlice).get(), cancel, &ignored).ok());
}

TEST_F(DashboardTest, TheEventsApiGivesWhatWatchJobStreams) {
  const v1::Job job = Submit(kAlice, test_util::TinySyntheticJob(4));
  WaitFor(job.id(), Finished);
  httplib::Client c = Http();
  httplib::Result r = c.Get(absl::StrCat("/api/jobs/", job.id(), "/events?after=0"), Bearer(kAlice));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_TRUE(absl::StartsWith(r->body, "{\"state\": \"SUCCEEDED\", \"done\": true")) << r->body.substr(0, 200);
  v1::WatchJobRequest request;
  request.set_job_id(job.id());
  auto context = AsUser(kAlice);
  auto reader = server_->stub()->WatchJob(context.get(), request);
  v1::JobEvent e;
  int events = 0;
  while (reader->Read(&e)) {
    ++events;
    EXPECT_TRUE(absl::StrContains(r->body, absl::StrCat("\"sequence\":\"", e.sequence(), "\""))) << e.sequence();
  }
  EXPECT_GT(events, 4);
  r = c.Get(absl::StrCat("/api/jobs/", job.id(), "/events?after=x"), Bearer(kAlice));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(absl::StrContains(r->body, "after: 'x'"));
}

TEST_F(DashboardTest, LoggingOutOrRevokingTheTokenEndsTheSession) {
  httplib::Client c = Http();
  const Login alice = LogIn(kAlice);
  httplib::Result r = c.Post("/logout", Cookie(alice), httplib::Params{{"csrf", alice.csrf}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(c.Get("/jobs", Cookie(alice))->status, 303) << "back to the login page";

  // Bob's token leaves the tokens file; the server re-reads it on SIGHUP.
  const Login bob = LogIn(kBob);
  EXPECT_EQ(c.Get("/jobs", Cookie(bob))->status, 200);
  const std::string tokens = server_->dir() + "/tokens";
  const std::string before = ReadText(tokens);
  std::string without_bob;
  for (const auto& line : absl::StrSplit(before, '\n')) {
    if (!absl::StartsWith(line, kBob) && !line.empty()) absl::StrAppend(&without_bob, line, "\n");
  }
  std::ofstream(tokens, std::ios::trunc) << without_bob;
  kill(server_->pid(), SIGHUP);
  int status = 0;
  for (int i = 0; i < 50 && (status = c.Get("/jobs", Cookie(bob))->status) == 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 303);
  std::ofstream(tokens, std::ios::trunc) << before;
  kill(server_->pid(), SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

// Flags that would expose the dashboard without a token, or that mean
// nothing, refuse to start, naming the flag and value.
TEST(DashboardFlagsTest, NoAuthOffLoopbackAndPublicMetricsWithoutHttpRefuseToStart) {
  const std::string dir = test_util::MakeServerDir("dashboard_flags");
  for (const auto& [flags, message] : std::vector<std::pair<std::string, std::string>>{
           {"--no-auth --http-listen 0.0.0.0:0",
            "--no-auth is allowed only on a loopback address, not --http-listen 0.0.0.0:0"},
           {"--metrics-public", "--metrics-public needs --http-listen"},
           {"--http-listen 127.0.0.1:99999", "--http-listen: '127.0.0.1:99999' is not HOST:PORT"}}) {
    std::filesystem::remove(dir + "/server.log");
    TestServer server(dir);
    EXPECT_FALSE(server.Start(flags)) << flags;
    const std::string log = ReadText(dir + "/server.log");
    EXPECT_TRUE(absl::StrContains(log, message)) << flags << ": " << log;
  }
}

// Under --metrics-public a scrape without credentials (or with a stale
// session cookie) gets the totals but no job's id; a token sent is still
// checked, and the job's owner sees its series by token or session.
TEST(DashboardPublicMetricsTest, WithoutATokenNoJobIdsAndABadTokenIsRefused) {
  const std::string dir = test_util::MakeServerDir("dashboard_public_metrics");
  TestServer server(dir);
  ASSERT_TRUE(server.Start("--cpu_jobs 1 --metrics-public --http-listen 127.0.0.1:0 --http-port-file " + dir +
                           "/http_port"))
      << ReadText(dir + "/server.log");
  const int port = WaitForHttpPort(dir);
  ASSERT_GT(port, 0) << ReadText(dir + "/server.log");
  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = test_util::TinySyntheticJob(1000000);
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(server.stub()->SubmitJob(test_util::AsUser(kAlice).get(), submit, &submitted).ok());
  const std::string id = submitted.job().id();
  v1::GetJobRequest get;
  get.set_job_id(id);
  v1::Job job;
  for (int i = 0; i < 1200 && job.state() != v1::Job::RUNNING; ++i) {
    ASSERT_TRUE(server.stub()->GetJob(test_util::AsUser(kAlice).get(), get, &job).ok());
    if (job.state() != v1::Job::RUNNING) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(job.state(), v1::Job::RUNNING);
  httplib::Client c("127.0.0.1", port);
  httplib::Result r = c.Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_FALSE(absl::StrContains(r->body, id)) << r->body;
  EXPECT_EQ(Sample(r->body, "slimtrain_jobs{state=\"RUNNING\"}"), 1) << r->body;
  EXPECT_GT(Sample(r->body, "slimtrain_device_planned_bytes{device=\"cpu\"}"), 0) << r->body;
  r = c.Get("/metrics", {{"Authorization", "Bearer not-a-token-of-this-server"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = c.Get("/metrics", {{"Cookie", "slimtrain_session=0123456789abcdef"}});  // no such session: public
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(absl::StrContains(r->body, id)) << r->body;
  // A browser logged in as the job's owner sees its series.
  r = c.Post("/login", httplib::Params{{"token", kAlice}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 303);
  const std::string cookie = r->get_header_value("Set-Cookie");
  r = c.Get("/metrics", {{"Cookie", cookie.substr(0, cookie.find(';'))}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_TRUE(absl::StrContains(r->body, id)) << r->body;
  r = c.Get("/metrics", {{"Authorization", absl::StrCat("Bearer ", kAlice)}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_GE(Sample(r->body, absl::StrCat("slimtrain_job_step{job=\"", id, "\",device=\"cpu\"}")), 0) << r->body;
  v1::CancelJobRequest cancel;
  cancel.set_job_id(id);
  v1::Job ignored;
  EXPECT_TRUE(server.stub()->CancelJob(test_util::AsUser(kAlice).get(), cancel, &ignored).ok());
}

// With --tls-cert the dashboard serves HTTPS only, and its cookie is Secure.
TEST(DashboardTlsTest, ServesHttpsWithSecureCookies) {
  const std::string dir = test_util::MakeServerDir("dashboard_tls");
  const std::string data = "tests/server/testdata/";
  TestServer server(dir);
  ASSERT_TRUE(server.Start(absl::StrCat("--tls_cert ", data, "tls_a.crt --tls_key ", data,
                                        "tls_a.key --http-listen 127.0.0.1:0 --http-port-file ", dir, "/http_port")))
      << ReadText(dir + "/server.log");
  const int port = WaitForHttpPort(dir);
  ASSERT_GT(port, 0) << ReadText(dir + "/server.log");
  EXPECT_TRUE(absl::StrContains(ReadText(dir + "/server.log"), absl::StrCat("dashboard at https://127.0.0.1:", port)));
  httplib::SSLClient tls("127.0.0.1", port);
  tls.set_ca_cert_path((data + "tls_a.crt").c_str());
  tls.enable_server_certificate_verification(true);
  httplib::Result r = tls.Post("/login", httplib::Params{{"token", kAlice}});
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 303);
  EXPECT_TRUE(absl::StrContains(r->get_header_value("Set-Cookie"), "; Secure")) << r->get_header_value("Set-Cookie");
  // A certificate it does not trust fails, and plain HTTP gets no page.
  httplib::SSLClient untrusting("127.0.0.1", port);
  untrusting.set_ca_cert_path((data + "tls_b.crt").c_str());
  untrusting.enable_server_certificate_verification(true);
  EXPECT_FALSE(untrusting.Get("/healthz"));
  httplib::Client plain("127.0.0.1", port);
  httplib::Result p = plain.Get("/healthz");
  EXPECT_TRUE(!p || p->status != 200);
}

}  // namespace
}  // namespace slimtrain
