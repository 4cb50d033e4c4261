// dashboard.h — the server's web dashboard and Prometheus endpoint over HTTP
// (cpp-httplib), beside the gRPC service and on the same JobManager.
//
//   DashboardOptions options;
//   options.listen = "127.0.0.1:8080";
//   SLIM_ASSIGN_OR_RETURN(auto dashboard, Dashboard::Start(&jobs, tokens, &rpc_metrics, options));
//   Log(absl::StrCat("dashboard at ", dashboard->url()));
//   ...
//   dashboard->Stop();
//
// Pages (dashboard_pages.h): /jobs, /jobs/ID (live curves, events, spec,
// weights, the memory plan's picture), /plan (the plan explorer), /devices;
// /login and /logout. Data: /api/jobs/ID/events, /jobs/ID/plan.svg,
// /jobs/ID/weights. /metrics (Prometheus text format) and /healthz.
//
// Authentication: the gRPC tokens, as "Authorization: Bearer TOKEN" or a
// session cookie from /login (web_sessions.h); state-changing requests with
// a cookie carry the session's CSRF token. Authorization is the JobManager's
// (the RPCs' path): a user's request for another user's job answers 404.
// Every response carries a Content-Security-Policy that allows only this
// server's own script and style.
#ifndef SLIMTRAIN_SERVER_DASHBOARD_H_
#define SLIMTRAIN_SERVER_DASHBOARD_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/auth.h"
#include "server/dashboard_pages.h"
#include "server/job_manager.h"
#include "server/metrics.h"
#include "server/web_sessions.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace slimtrain::server {

struct DashboardOptions {
  std::string listen;  // HOST:PORT; PORT 0: any free port
  // TLS (all or none, as the gRPC port's): PEM certificate chain and key;
  // with client_ca, clients must present a certificate it signed.
  std::string tls_cert, tls_key, tls_client_ca;
  bool metrics_public = false;  // /metrics without a token
  int threads = 16;             // requests served at once
  int64_t max_upload_bytes = 2 << 20;  // the plan explorer's model files
  std::vector<std::string> devices;    // what the plan explorer offers: the pool's and profiles
};

class Dashboard {
 public:
  // Binds and starts serving. `tokens` null: no authentication (everyone
  // is admin "anonymous"). INVALID_ARGUMENT for a malformed address or
  // unreadable TLS files; UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Dashboard>> Start(JobManager* jobs, const TokenStore* tokens,
                                                          RpcMetrics* metrics, DashboardOptions options);
  ~Dashboard();

  int port() const { return port_; }
  // "http://127.0.0.1:8080/" (https with TLS).
  std::string url() const;
  // Stops accepting and waits for requests in flight.
  void Stop();

 private:
  struct Caller;
  Dashboard(JobManager* jobs, const TokenStore* tokens, RpcMetrics* metrics, DashboardOptions options);
  void Routes();
  // Who sent the request: a bearer token, or a session cookie (under
  // --no-auth, a new anonymous session). UNAUTHENTICATED otherwise.
  absl::StatusOr<Caller> Authenticate(const httplib::Request& req, httplib::Response& res);
  // A page's caller, or a redirect to /login (false).
  bool PageCaller(const httplib::Request& req, httplib::Response& res, Caller* caller);
  // An API caller, or 401 (false).
  bool ApiCaller(const httplib::Request& req, httplib::Response& res, Caller* caller);
  // A POST's caller with its CSRF token checked, or 401/403 (false).
  bool PostCaller(const httplib::Request& req, httplib::Response& res, Caller* caller);
  void SetSessionCookie(httplib::Response& res, const Session& s) const;
  void Error(const Caller* caller, httplib::Response& res, const absl::Status& status) const;
  // What a page shows of its caller.
  PageContext Context(const Caller& caller) const;

  void JobsRoute(const httplib::Request& req, httplib::Response& res);
  void JobRoute(const httplib::Request& req, httplib::Response& res);
  void PlanSvgRoute(const httplib::Request& req, httplib::Response& res);
  void WeightsRoute(const httplib::Request& req, httplib::Response& res);
  void EventsRoute(const httplib::Request& req, httplib::Response& res);
  void ActionRoute(const httplib::Request& req, httplib::Response& res, bool cancel);
  void PlanRoute(const httplib::Request& req, httplib::Response& res);
  void DevicesRoute(const httplib::Request& req, httplib::Response& res);
  void MetricsRoute(const httplib::Request& req, httplib::Response& res);
  void LoginRoute(const httplib::Request& req, httplib::Response& res);
  void LogoutRoute(const httplib::Request& req, httplib::Response& res);

  JobManager* jobs_;
  const TokenStore* tokens_;
  RpcMetrics* metrics_;
  const DashboardOptions options_;
  SessionStore sessions_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
};

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_DASHBOARD_H_
