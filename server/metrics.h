// metrics.h — the server's Prometheus metrics (GET /metrics).
//
// RpcMetrics counts every RPC by method and status code and keeps a latency
// histogram of each (MetricsInterceptorFactory records them); the dashboard
// counts its HTTP requests by status. PrometheusText renders those with the
// jobs' numbers (JobManager: jobs by state, the queue, each device's planned
// and measured bytes, jobs started, failed and resumed, each running job's
// throughput) in the text exposition format 0.0.4. Series labelled with a
// job id are given only for the jobs the caller may see (its own; an
// admin's: all); the others count in the totals alone, as on /devices.
//
//   auto rpcs = std::make_shared<RpcMetrics>();
//   interceptors.push_back(std::make_unique<MetricsInterceptorFactory>(rpcs.get()));
//   ...
//   std::string body = PrometheusText(*rpcs, jobs, [&](const std::string& owner) { return owner == user; });
#ifndef SLIMTRAIN_SERVER_METRICS_H_
#define SLIMTRAIN_SERVER_METRICS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/server_interceptor.h"
#include "server/job_manager.h"

namespace slimtrain::server {

class RpcMetrics {
 public:
  // Upper bounds of the latency histogram's buckets, in seconds (+Inf last).
  static constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,   0.25,   0.5,   1,    5,     30};

  // `method` as gRPC names it ("/slimtrain.v1.TrainingService/SubmitJob"):
  // the label is its last part ("SubmitJob"); `code` a gRPC status code.
  void RecordRpc(absl::string_view method, int code, double seconds);
  // A dashboard request answered with `status`.
  void RecordHttp(int status);

  // The RPC and HTTP families in the text format.
  std::string Text() const;

 private:
  struct Series {
    int64_t count = 0;
    double sum = 0;
    std::array<int64_t, kBuckets.size()> buckets{};  // not cumulative
  };
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, int>, Series> rpcs_ ABSL_GUARDED_BY(mu_);
  std::map<int, int64_t> http_ ABSL_GUARDED_BY(mu_);
};

// Records each RPC's method, code and time from its start to its status.
class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(RpcMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;

 private:
  RpcMetrics* metrics_;
};

// Everything /metrics answers; series of a running job only where
// `may_see(owner)` (the caller's own jobs, every job for an admin).
std::string PrometheusText(const RpcMetrics& rpcs, const JobManager& jobs,
                           const std::function<bool(const std::string& owner)>& may_see);

// A label value with \, " and newline escaped, as the format requires.
std::string EscapeLabelValue(absl::string_view value);

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_METRICS_H_
