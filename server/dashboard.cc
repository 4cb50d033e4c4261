// See dashboard.h.
#include "server/dashboard.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "httplib.h"
#include "planner/model_io.h"
#include "planner/onnx_import.h"
#include "render/arena_svg.h"
#include "server/dashboard_assets.h"
#include "server/dashboard_pages.h"

namespace slimtrain::server {

struct Dashboard::Caller {
  Identity who;
  std::optional<Session> session;  // none for a bearer token
  bool bearer = false;
};

namespace {

constexpr char kCookie[] = "slimtrain_session";
constexpr char kHtml[] = "text/html; charset=utf-8";
constexpr char kJobPath[] = R"(/jobs/([A-Za-z0-9_.-]{1,64}))";

// Only this server's script and style; no frames, no plugins, forms post
// only here.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

int HttpStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

// What a user is told of job `id`: another user's job is reported as not
// found, as if it did not exist.
absl::Status ForCaller(const absl::Status& s, absl::string_view id) {
  if (absl::IsPermissionDenied(s)) return absl::NotFoundError(absl::StrFormat("job '%s' not found", id));
  return s;
}

std::string CookieValue(const httplib::Request& req, absl::string_view name) {
  for (size_t i = 0; i < req.get_header_value_count("Cookie"); ++i) {
    for (absl::string_view part : absl::StrSplit(req.get_header_value("Cookie", i), ';')) {
      part = absl::StripAsciiWhitespace(part);
      if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) return std::string(part);
    }
  }
  return "";
}

// A form field of a urlencoded or multipart POST.
std::string Field(const httplib::Request& req, const std::string& name) {
  if (req.is_multipart_form_data()) return req.has_file(name) ? req.get_file_value(name).content : "";
  return req.get_param_value(name);
}

// A path to return to after logging in: only this site's, never "//host".
std::string SafeNext(const std::string& next) {
  if (next.empty() || next[0] != '/' || absl::StartsWith(next, "//") || absl::StrContains(next, "\\") ||
      absl::StrContains(next, "\r") || absl::StrContains(next, "\n")) {
    return "/jobs";
  }
  return next;
}

// Whether a POST may come from another site's page: a browser names the
// page's origin ("https://host:port"); it must be this server as the
// request addressed it (Host, or X-Forwarded-Host behind a proxy). No
// Origin (a script, curl) passes; "null" (a sandboxed or opaque page) does not.
bool CrossSite(const httplib::Request& req) {
  if (!req.has_header("Origin")) return false;
  const std::string origin = req.get_header_value("Origin");
  const size_t scheme = origin.find("://");
  if (scheme == std::string::npos) return true;
  const absl::string_view host = absl::string_view(origin).substr(scheme + 3);
  for (const char* header : {"Host", "X-Forwarded-Host"}) {
    if (req.has_header(header) && absl::EqualsIgnoreCase(host, req.get_header_value(header))) return false;
  }
  return true;
}

std::string UrlEncode(absl::string_view s) {
  std::string out;
  for (const unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// The arena picture inside a page.
render::ArenaSvgOptions InlineSvg() {
  render::ArenaSvgOptions options;
  options.element_id = "plan-svg";
  return options;
}

void Redirect(httplib::Response& res, const std::string& to) {
  res.status = 303;
  res.set_header("Location", to);
}

std::string JsonOf(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out, options).ok()) return "null";
  return out;
}

absl::StatusOr<std::pair<std::string, int>> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen: '", listen, "' is not HOST:PORT (e.g. 127.0.0.1:8080; PORT 0: any free port)"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, port);
}

}  // namespace

Dashboard::Dashboard(JobManager* jobs, const TokenStore* tokens, RpcMetrics* metrics, DashboardOptions options)
    : jobs_(jobs), tokens_(tokens), metrics_(metrics), options_(std::move(options)) {}

Dashboard::~Dashboard() { Stop(); }

absl::StatusOr<std::unique_ptr<Dashboard>> Dashboard::Start(JobManager* jobs, const TokenStore* tokens,
                                                            RpcMetrics* metrics, DashboardOptions options) {
  SLIM_ASSIGN_OR_RETURN(const auto address, ParseListen(options.listen));
  std::unique_ptr<Dashboard> d(new Dashboard(jobs, tokens, metrics, std::move(options)));
  const DashboardOptions& o = d->options_;
  if (o.tls_cert.empty() != o.tls_key.empty() || (!o.tls_client_ca.empty() && o.tls_cert.empty())) {
    return absl::InvalidArgumentError("the dashboard's TLS needs both --tls-cert and --tls-key");
  }
  if (!o.tls_cert.empty()) {
    auto tls = std::make_unique<httplib::SSLServer>(o.tls_cert.c_str(), o.tls_key.c_str(),
                                                    o.tls_client_ca.empty() ? nullptr : o.tls_client_ca.c_str());
    if (!tls->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat("--tls-cert ", o.tls_cert, " and --tls-key ", o.tls_key,
                                                     ": the dashboard cannot load them"));
    }
    d->http_ = std::move(tls);
  } else {
    d->http_ = std::make_unique<httplib::Server>();
  }
  const int threads = std::max(2, o.threads);
  d->http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  d->http_->set_payload_max_length(o.max_upload_bytes + (64 << 10));
  d->http_->set_default_headers({{"Content-Security-Policy", kContentSecurityPolicy},
                                 {"X-Content-Type-Options", "nosniff"},
                                 {"Referrer-Policy", "same-origin"},
                                 {"Cache-Control", "no-store"}});
  d->Routes();
  d->host_ = address.first;
  if (address.second == 0) {
    d->port_ = d->http_->bind_to_any_port(address.first);
    if (d->port_ <= 0) d->port_ = 0;
  } else if (d->http_->bind_to_port(address.first, address.second)) {
    d->port_ = address.second;
  }
  if (d->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("--http-listen: cannot listen on ", d->options_.listen));
  }
  d->thread_ = std::thread([server = d->http_.get()] { server->listen_after_bind(); });
  return d;
}

std::string Dashboard::url() const {
  const bool v6 = absl::StrContains(host_, ':');
  return absl::StrCat(options_.tls_cert.empty() ? "http" : "https", "://", v6 ? "[" : "", host_, v6 ? "]" : "", ":",
                      port_, "/");
}

void Dashboard::Stop() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<Dashboard::Caller> Dashboard::Authenticate(const httplib::Request& req, httplib::Response& res) {
  Caller c;
  if (req.has_header("Authorization")) {
    if (tokens_ == nullptr) {
      c.who = Identity{"anonymous", Role::kAdmin};
    } else {
      SLIM_ASSIGN_OR_RETURN(c.who, tokens_->Authenticate(req.get_header_value("Authorization")));
    }
    c.bearer = true;
    return c;
  }
  if (std::optional<Session> s = sessions_.Find(CookieValue(req, kCookie)); s.has_value()) {
    if (tokens_ == nullptr) {
      c.who = Identity{"anonymous", Role::kAdmin};
    } else {
      absl::StatusOr<Identity> who = tokens_->Authenticate(absl::StrCat("Bearer ", s->token));
      if (!who.ok()) {
        sessions_.Remove(s->id);  // its token was revoked
        return absl::UnauthenticatedError("the session's token is no longer valid: log in again");
      }
      c.who = *std::move(who);
    }
    c.session = std::move(s);
    return c;
  }
  if (tokens_ == nullptr) {
    SLIM_ASSIGN_OR_RETURN(Session s, sessions_.Create(""));
    SetSessionCookie(res, s);
    c.who = Identity{"anonymous", Role::kAdmin};
    c.session = std::move(s);
    return c;
  }
  return absl::UnauthenticatedError("log in first, or send Authorization: Bearer TOKEN");
}

bool Dashboard::PageCaller(const httplib::Request& req, httplib::Response& res, Caller* caller) {
  absl::StatusOr<Caller> c = Authenticate(req, res);
  if (c.ok()) {
    *caller = *std::move(c);
    return true;
  }
  if (req.has_header("Authorization")) {
    res.status = 401;
    res.set_content(ErrorPage(nullptr, 401, c.status().message()), kHtml);
    return false;
  }
  Redirect(res, absl::StrCat("/login?next=", UrlEncode(req.target.empty() ? req.path : req.target)));
  return false;
}

bool Dashboard::ApiCaller(const httplib::Request& req, httplib::Response& res, Caller* caller) {
  absl::StatusOr<Caller> c = Authenticate(req, res);
  if (c.ok()) {
    *caller = *std::move(c);
    return true;
  }
  res.status = 401;
  res.set_header("WWW-Authenticate", "Bearer realm=\"slimtrain\"");
  res.set_content(absl::StrCat(c.status().message(), "\n"), "text/plain; charset=utf-8");
  return false;
}

bool Dashboard::PostCaller(const httplib::Request& req, httplib::Response& res, Caller* caller) {
  if (!ApiCaller(req, res, caller)) return false;
  if (caller->bearer) return true;  // no ambient credential: nothing to forge
  const std::string sent =
      req.has_header("X-CSRF-Token") ? req.get_header_value("X-CSRF-Token") : Field(req, "csrf");
  if (caller->session.has_value() && SameSecret(sent, caller->session->csrf)) return true;
  res.status = 403;
  res.set_content(ErrorPage(nullptr, 403,
                            sent.empty() ? "this request has no CSRF token (the csrf form field or X-CSRF-Token "
                                           "header): submit it from the dashboard's own page"
                                         : "this request's CSRF token is not its session's: reload the page"),
                  kHtml);
  return false;
}

void Dashboard::SetSessionCookie(httplib::Response& res, const Session& s) const {
  res.set_header("Set-Cookie",
                 absl::StrCat(kCookie, "=", s.id, "; Path=/; Max-Age=", absl::ToInt64Seconds(sessions_.lifetime()),
                              "; HttpOnly; SameSite=Strict", options_.tls_cert.empty() ? "" : "; Secure"));
}

PageContext Dashboard::Context(const Caller& caller) const {
  return PageContext{caller.who.user, caller.who.admin(), caller.session ? caller.session->csrf : "",
                     tokens_ != nullptr, absl::Now()};
}

void Dashboard::Error(const Caller* caller, httplib::Response& res, const absl::Status& status) const {
  res.status = HttpStatus(status);
  const PageContext c = caller != nullptr ? Context(*caller) : PageContext();
  res.set_content(ErrorPage(caller != nullptr ? &c : nullptr, res.status, status.message()), kHtml);
}

void Dashboard::Routes() {
  httplib::Server& s = *http_;
  s.set_logger([this](const httplib::Request&, const httplib::Response& res) { metrics_->RecordHttp(res.status); });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content("internal error\n", "text/plain; charset=utf-8");
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    res.set_content(ErrorPage(nullptr, res.status,
                              res.status == 404 ? absl::StrCat("no page at ", req.path)
                                                : absl::StrCat("HTTP ", res.status)),
                    kHtml);
  });
  s.Get("/", [](const httplib::Request&, httplib::Response& res) { Redirect(res, "/jobs"); });
  s.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    const bool stopping = jobs_->shutting_down();
    res.status = stopping ? 503 : 200;
    res.set_content(stopping ? "shutting down\n" : "ok\n", "text/plain; charset=utf-8");
  });
  s.Get("/static/dashboard.js", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kDashboardJs, "text/javascript; charset=utf-8");
  });
  s.Get("/static/dashboard.css", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kDashboardCss, "text/css; charset=utf-8");
  });
  s.Get("/login", [this](const httplib::Request& req, httplib::Response& res) {
    if (tokens_ == nullptr) return Redirect(res, "/jobs");
    res.set_content(LoginPage("", SafeNext(req.get_param_value("next"))), kHtml);
  });
  s.Post("/login", [this](const httplib::Request& req, httplib::Response& res) { LoginRoute(req, res); });
  s.Post("/logout", [this](const httplib::Request& req, httplib::Response& res) { LogoutRoute(req, res); });
  s.Get("/jobs", [this](const httplib::Request& req, httplib::Response& res) { JobsRoute(req, res); });
  s.Get(kJobPath, [this](const httplib::Request& req, httplib::Response& res) { JobRoute(req, res); });
  s.Get(absl::StrCat(kJobPath, "/plan\\.svg"),
        [this](const httplib::Request& req, httplib::Response& res) { PlanSvgRoute(req, res); });
  s.Get(absl::StrCat(kJobPath, "/weights"),
        [this](const httplib::Request& req, httplib::Response& res) { WeightsRoute(req, res); });
  s.Post(absl::StrCat(kJobPath, "/cancel"),
         [this](const httplib::Request& req, httplib::Response& res) { ActionRoute(req, res, true); });
  s.Post(absl::StrCat(kJobPath, "/delete"),
         [this](const httplib::Request& req, httplib::Response& res) { ActionRoute(req, res, false); });
  s.Get(R"(/api/jobs/([A-Za-z0-9_.-]{1,64})/events)",
        [this](const httplib::Request& req, httplib::Response& res) { EventsRoute(req, res); });
  s.Get("/plan", [this](const httplib::Request& req, httplib::Response& res) { PlanRoute(req, res); });
  s.Post("/plan", [this](const httplib::Request& req, httplib::Response& res) { PlanRoute(req, res); });
  s.Get("/devices", [this](const httplib::Request& req, httplib::Response& res) { DevicesRoute(req, res); });
  s.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) { MetricsRoute(req, res); });
}

void Dashboard::LoginRoute(const httplib::Request& req, httplib::Response& res) {
  const std::string next = SafeNext(req.get_param_value("next"));
  // Login CSRF: another site's form would sign this browser in as whoever
  // owns the token it posts, and the user's work would land in that account.
  if (CrossSite(req)) {
    res.status = 403;
    res.set_content(LoginPage(absl::StrCat("this login was posted from another site's page (Origin: ",
                                           req.get_header_value("Origin"), "): log in from this page"),
                              next),
                    kHtml);
    return;
  }
  if (tokens_ == nullptr) return Redirect(res, next);
  const std::string token(absl::StripAsciiWhitespace(req.get_param_value("token")));
  absl::StatusOr<Identity> who = tokens_->Authenticate(absl::StrCat("Bearer ", token));
  if (!who.ok()) {
    res.status = 401;
    res.set_content(LoginPage(token.empty() ? "token: missing" : "token: not a token of this server", next), kHtml);
    return;
  }
  absl::StatusOr<Session> s = sessions_.Create(token);
  if (!s.ok()) return Error(nullptr, res, s.status());
  SetSessionCookie(res, *s);
  Redirect(res, next);
}

void Dashboard::LogoutRoute(const httplib::Request& req, httplib::Response& res) {
  Caller c;
  if (!PostCaller(req, res, &c)) return;
  if (c.session.has_value()) sessions_.Remove(c.session->id);
  res.set_header("Set-Cookie", absl::StrCat(kCookie, "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"));
  Redirect(res, tokens_ == nullptr ? "/jobs" : "/login");
}

void Dashboard::JobsRoute(const httplib::Request& req, httplib::Response& res) {
  Caller c;
  if (!PageCaller(req, res, &c)) return;
  v1::ListJobsRequest list;
  const std::string state = req.get_param_value("state");
  if (!state.empty()) {
    v1::Job::State s;
    if (!v1::Job::State_Parse(state, &s) || s == v1::Job::STATE_UNSPECIFIED) {
      return Error(&c, res,
                   absl::InvalidArgumentError(absl::StrCat(
                       "state: '", state, "' is not a job state (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED)")));
    }
    list.add_states(s);
  }
  list.set_page_size(100);
  list.set_page_token(req.get_param_value("page"));
  absl::StatusOr<v1::ListJobsResponse> jobs = jobs_->List(c.who, list);
  if (!jobs.ok()) return Error(&c, res, jobs.status());
  const PageContext pc = Context(c);
  res.set_content(JobsPage(pc, {jobs->jobs().begin(), jobs->jobs().end()}, state, jobs->next_page_token()), kHtml);
}

void Dashboard::JobRoute(const httplib::Request& req, httplib::Response& res) {
  Caller c;
  if (!PageCaller(req, res, &c)) return;
  const std::string id = req.matches[1];
  absl::StatusOr<v1::Job> job = jobs_->Get(c.who, id);
  if (!job.ok()) return Error(&c, res, ForCaller(job.status(), id));
  std::string svg, note;
  absl::StatusOr<v1::MemoryPlan> plan = jobs_->AdmittedPlan(c.who, id);
  if (plan.ok()) {
    svg = render::ArenaSvg(*plan, InlineSvg());
  } else {
    note = absl::IsNotFound(plan.status()) ? "This job was admitted by an older server, which kept no plan."
                                           : std::string(plan.status().message());
  }
  const PageContext pc = Context(c);
  res.set_content(JobPage(pc, *job, svg, note), kHtml);
}

void Dashboard::PlanSvgRoute(const httplib::Request& req, httplib::Response& res) {
  Caller c;
  if (!PageCaller(req, res, &c)) return;
  const std::string id = req.matches[1];
  absl::StatusOr<v1::MemoryPlan> plan = jobs_->AdmittedPlan(c.who, id);
  if (!plan.ok()) return Error(&c, res, ForCaller(plan.status(), id));
  res.set_content(render::ArenaSvg(*plan), "image/svg+xml; charset=utf-8");
}

void Dashboard::WeightsRoute(const httplib::Request& req, httplib::Response& res) {
  Caller c;
  if (!PageCaller(req, res, &c)) return;
  const std::string id = req.matches[1];
  int64_t step = 0;
  absl::StatusOr<std::string> path = jobs_->WeightsFile(c.who, id, &step);
  if (!path.ok()) return Error(&c, res, ForCaller(path.status(), id));
  struct stat st;
  if (stat(path->c_str(), &st) != 0) return Error(&c, res, absl::InternalError("the job's weights file is missing"));
  res.set_header("Content-Disposition",
                 absl::StrFormat("attachment; filename=\"%s-step%d.safetensors\"", id, step));
  auto file = std::make_shared<std::ifstream>(*path, std::ios::binary);
  res.set_content_provider(static_cast<size_t>(st.st_size), "application/octet-stream",
                           [file](size_t offset, size_t length, httplib::DataSink& sink) {
                             std::string buffer(std::min<size_t>(length, 1 << 20), '\0');
                             file->seekg(static_cast<std::streamoff>(offset));
                             if (!file->read(buffer.data(), static_cast<std::streamsize>(buffer.size()))) return false;
                             return sink.write(buffer.data(), buffer.size());
                           });
}

void Dashboard::EventsRoute(const httplib::Request& req, httplib::Response& res) {
  Caller c;
  if (!ApiCaller(req, res, &c)) return;
  const std::string id = req.matches[1];
  int64_t after = 0;
  if (req.has_param("after") && !absl::SimpleAtoi(req.get_param_value("after"), &after)) {
    res.status = 400;
    res.set_content(absl::StrCat("after: '", req.get_param_value("after"), "' is not an integer\n"), "text/plain");
    return;
  }
  bool done = false;
  absl::StatusOr<std::vector<v1::JobEvent>> events = jobs_->Events(c.who, id, after, absl::ZeroDuration(), &done);
  absl::StatusOr<v1::Job> job = events.ok() ? jobs_->Get(c.who, id) : events.status();
  if (!job.ok()) {
    const absl::Status s = ForCaller(job.status(), id);
    res.status = HttpStatus(s);
    res.set_content(absl::StrCat(s.message(), "\n"), "text/plain; charset=utf-8");
    return;
  }
  std::string json = absl::StrCat("{\"state\": \"", v1::Job::State_Name(job->state()), "\", \"done\": ",
                                  done ? "true" : "false", ", \"more\": ",
                                  static_cast<int>(events->size()) >= JobManager::kEventBatch ? "true" : "false",
                                  ", \"progress\": ", JsonOf(job->progress()), ", \"events\": [");
  for (size_t i = 0; i < events->size(); ++i) absl::StrAppend(&json, i ? ",\n" : "\n", JsonOf((*events)[i]));
  json += "]}\n";
  res.set_content(json, "application/json");
}

void Dashboard::ActionRoute(const httplib::Request& req, httplib::Response& res, bool cancel) {
  Caller c;
  if (!PostCaller(req, res, &c)) return;
  const std::string id = req.matches[1];
  const absl::Status s = cancel ? jobs_->Cancel(c.who, id).status() : jobs_->Delete(c.who, id);
  if (!s.ok()) return Error(&c, res, ForCaller(s, id));
  if (c.bearer) {
    res.set_content(absl::StrCat(cancel ? "cancelled " : "deleted ", id, "\n"), "text/plain; charset=utf-8");
    return;
  }
  Redirect(res, cancel ? absl::StrCat("/jobs/", id) : "/jobs");
}

void Dashboard::PlanRoute(const httplib::Request& req, httplib::Response& res) {
  Caller c;
  if (req.method == "POST") {
    if (!PostCaller(req, res, &c)) return;
  } else if (!PageCaller(req, res, &c)) {
    return;
  }
  const PageContext pc = Context(c);
  const bool post = req.method == "POST";
  PlanForm form;
  auto field = [&](const char* name) { return post ? Field(req, name) : req.get_param_value(name); };
  const bool asked = post || req.has_param("model");
  std::string error;
  if (!field("model").empty()) form.model = field("model");
  if (!field("device").empty()) form.device = field("device");
  if (!field("optimizer").empty()) form.optimizer = field("optimizer");
  form.show = field("show");
  if (!field("batch").empty() && (!absl::SimpleAtoi(field("batch"), &form.batch) || form.batch < 1)) {
    error = absl::StrCat("batch: '", field("batch"), "' is not a whole number >= 1");
  }
  if (!field("budget").empty() && (!absl::SimpleAtod(field("budget"), &form.budget_mib) || !(form.budget_mib >= 0) ||
                                   form.budget_mib > 1e12)) {
    error = absl::StrCat("budget: '", field("budget"), "' is not a number of MiB >= 0");
  }
  v1::PlanMemoryRequest request;
  if (post) {
    std::string bytes = Field(req, "spec");
    std::string label = "the pasted ModelSpec";
    if (req.has_file("file") && !req.get_file_value("file").content.empty()) {
      bytes = req.get_file_value("file").content;
      label = req.get_file_value("file").filename.empty() ? "the uploaded file" : req.get_file_value("file").filename;
    }
    form.uploaded = label;
    if (bytes.empty()) {
      error = "file: choose an ONNX or ModelSpec file, or paste a ModelSpec";
    } else if (planner::LooksLikeOnnx(bytes)) {
      request.mutable_model()->mutable_onnx()->set_model(std::move(bytes));
    } else {
      absl::StatusOr<v1::ModelSpec> spec =
          planner::ParseModel(bytes, planner::DetectModelFormat(label, bytes), label);
      if (spec.ok()) {
        *request.mutable_model()->mutable_spec() = *std::move(spec);
      } else {
        error = std::string(spec.status().message());
      }
    }
  } else {
    request.mutable_model()->set_zoo(form.model);
  }
  std::vector<std::string> devices = options_.devices;
  if (devices.empty()) devices = {"cpu"};
  if (!asked || !error.empty()) {
    if (!error.empty()) res.status = 400;
    res.set_content(PlanPage(pc, form, devices, nullptr, error, "", ""), kHtml);
    return;
  }
  request.set_batch_size(form.batch);
  request.set_budget_bytes(static_cast<int64_t>(form.budget_mib * (1 << 20)));
  request.set_device(form.device);
  request.set_optimizer(form.optimizer);
  request.set_max_batch(true);
  planner::PlanStop stop;
  absl::StatusOr<v1::PlanMemoryResponse> plans = jobs_->Plan(request, stop);
  if (!plans.ok()) {
    // A model the server does not know is a bad field of this form, not a
    // missing page.
    res.status = absl::IsNotFound(plans.status()) ? 400 : HttpStatus(plans.status());
    res.set_content(PlanPage(pc, form, devices, nullptr, plans.status().message(), "", ""), kHtml);
    return;
  }
  // The plan drawn: the one asked for, else the first that fits.
  std::string shown = form.show;
  bool known = false;
  for (const v1::MemoryPlan& p : plans->plans()) known |= p.strategy() == shown;
  if (!known) {
    shown = plans->plans().empty() ? "" : plans->plans(0).strategy();
    for (const v1::MemoryPlan& p : plans->plans()) {
      if (p.fits()) {
        shown = p.strategy();
        break;
      }
    }
  }
  std::string svg;
  if (!shown.empty()) {
    v1::PlanMemoryRequest one = request;
    one.clear_strategies();
    one.add_strategies(shown);
    one.set_max_batch(false);
    one.set_include_buffers(true);
    absl::StatusOr<v1::PlanMemoryResponse> drawn = jobs_->Plan(one, stop);
    if (drawn.ok() && drawn->plans_size() == 1) {
      svg = render::ArenaSvg(drawn->plans(0), InlineSvg());
    } else if (!drawn.ok()) {
      error = absl::StrCat("the picture of ", shown, ": ", drawn.status().message());
    }
  }
  res.set_content(PlanPage(pc, form, devices, &*plans, error, svg, shown), kHtml);
}

void Dashboard::DevicesRoute(const httplib::Request& req, httplib::Response& res) {
  Caller c;
  if (!PageCaller(req, res, &c)) return;
  const PageContext pc = Context(c);
  res.set_content(DevicesPage(pc, jobs_->Devices()), kHtml);
}

void Dashboard::MetricsRoute(const httplib::Request& req, httplib::Response& res) {
  // Job ids only to those who may see the jobs: a caller its own, an admin
  // every one. Under --metrics-public a bearer token sent is still checked,
  // a browser's valid session shows its user's jobs, and anything else gets
  // the totals alone (an expired session's cookie too).
  std::optional<Identity> viewer;
  if (options_.metrics_public && tokens_ != nullptr && !req.has_header("Authorization")) {
    if (absl::StatusOr<Caller> c = Authenticate(req, res); c.ok()) viewer = c->who;
  } else {
    Caller c;
    if (!ApiCaller(req, res, &c)) return;
    viewer = c.who;
  }
  auto may_see = [&viewer](const std::string& owner) {
    return viewer.has_value() && (viewer->admin() || owner == viewer->user);
  };
  res.set_content(PrometheusText(*metrics_, *jobs_, may_see), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace slimtrain::server
