// See metrics.h.
#include "server/metrics.h"

#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/support/status.h"
#include "proto/job.pb.h"

namespace slimtrain::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

// A gRPC status code's name ("RESOURCE_EXHAUSTED"): gRPC's codes are
// Abseil's.
std::string CodeName(int code) {
  const std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "UNKNOWN" : name;
}

class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(RpcMetrics* metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_->RecordRpc(method_, methods->GetSendStatus().error_code(), seconds);
    }
    methods->Proceed();
  }

 private:
  RpcMetrics* metrics_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
};

// A number as the format writes it: integers without a fraction.
std::string Number(double v) { return absl::StrFormat("%.17g", v); }

void Family(std::string& out, const char* name, const char* type, const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void RpcMetrics::RecordRpc(absl::string_view method, int code, double seconds) {
  const size_t slash = method.rfind('/');
  const std::string name(slash == absl::string_view::npos ? method : method.substr(slash + 1));
  absl::MutexLock lock(&mu_);
  Series& s = rpcs_[{name, code}];
  ++s.count;
  s.sum += seconds;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++s.buckets[i];
      break;
    }
  }
}

void RpcMetrics::RecordHttp(int status) {
  absl::MutexLock lock(&mu_);
  ++http_[status];
}

std::string RpcMetrics::Text() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  Family(out, "slimtrain_rpc_requests_total", "counter", "RPCs answered, by method and status code.");
  for (const auto& [key, s] : rpcs_) {
    absl::StrAppend(&out, "slimtrain_rpc_requests_total{method=\"", EscapeLabelValue(key.first), "\",code=\"",
                    CodeName(key.second), "\"} ", s.count, "\n");
  }
  Family(out, "slimtrain_rpc_duration_seconds", "histogram",
         "Time from an RPC's start to its status, by method and status code (streams: their whole length).");
  for (const auto& [key, s] : rpcs_) {
    const std::string labels =
        absl::StrCat("method=\"", EscapeLabelValue(key.first), "\",code=\"", CodeName(key.second), "\"");
    int64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += s.buckets[i];
      absl::StrAppend(&out, "slimtrain_rpc_duration_seconds_bucket{", labels, ",le=\"", Number(kBuckets[i]), "\"} ",
                      cumulative, "\n");
    }
    absl::StrAppend(&out, "slimtrain_rpc_duration_seconds_bucket{", labels, ",le=\"+Inf\"} ", s.count, "\n");
    absl::StrAppend(&out, "slimtrain_rpc_duration_seconds_sum{", labels, "} ", Number(s.sum), "\n");
    absl::StrAppend(&out, "slimtrain_rpc_duration_seconds_count{", labels, "} ", s.count, "\n");
  }
  Family(out, "slimtrain_http_requests_total", "counter", "Dashboard and /metrics requests answered, by HTTP status.");
  for (const auto& [status, n] : http_) {
    absl::StrAppend(&out, "slimtrain_http_requests_total{code=\"", status, "\"} ", n, "\n");
  }
  return out;
}

grpc::experimental::Interceptor* MetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new MetricsInterceptor(metrics_, info->method());
}

std::string PrometheusText(const RpcMetrics& rpcs, const JobManager& jobs,
                           const std::function<bool(const std::string& owner)>& may_see) {
  std::string out;
  Family(out, "slimtrain_jobs", "gauge", "Jobs in the database, by state (all users).");
  absl::StatusOr<std::map<int, int64_t>> by_state = jobs.JobsByState();
  for (int state = v1::Job::PENDING; state <= v1::Job::CANCELLED; ++state) {
    const int64_t n = by_state.ok() && by_state->count(state) ? by_state->at(state) : 0;
    absl::StrAppend(&out, "slimtrain_jobs{state=\"", v1::Job::State_Name(static_cast<v1::Job::State>(state)), "\"} ",
                    n, "\n");
  }
  Family(out, "slimtrain_queue_length", "gauge", "Jobs waiting for a device (PENDING).");
  absl::StrAppend(&out, "slimtrain_queue_length ",
                  by_state.ok() && by_state->count(v1::Job::PENDING) ? by_state->at(v1::Job::PENDING) : 0, "\n");
  const JobManager::Counts counts = jobs.counts();
  const std::pair<const char*, int64_t> counters[] = {
      {"submitted", counts.submitted}, {"started", counts.started},     {"resumed", counts.resumed},
      {"succeeded", counts.succeeded}, {"failed", counts.failed},       {"cancelled", counts.cancelled}};
  for (const auto& [what, n] : counters) {
    const std::string name = absl::StrCat("slimtrain_jobs_", what, "_total");
    Family(out, name.c_str(), "counter",
           absl::StrCat("Jobs ", what, " since this server started",
                        std::string(what) == "resumed" ? " (from a checkpoint, after a restart)." : ".")
               .c_str());
    absl::StrAppend(&out, name, " ", n, "\n");
  }
  const std::vector<JobManager::DeviceUse> devices = jobs.Devices();
  Family(out, "slimtrain_device_capacity_bytes", "gauge", "Memory of each device of the pool for training.");
  for (const auto& d : devices) {
    absl::StrAppend(&out, "slimtrain_device_capacity_bytes{device=\"", d.device, "\"} ", d.capacity_bytes, "\n");
  }
  Family(out, "slimtrain_device_planned_bytes", "gauge",
         "Planned peaks of the jobs running on each device (GPUs: with each worker's overhead).");
  for (const auto& d : devices) {
    int64_t planned = 0;
    for (const auto& j : d.jobs) planned += j.planned_bytes + d.overhead_bytes;
    absl::StrAppend(&out, "slimtrain_device_planned_bytes{device=\"", d.device, "\"} ", planned, "\n");
  }
  Family(out, "slimtrain_device_measured_bytes", "gauge",
         "Measured peaks of training's own memory of the jobs running on each device, as their workers report.");
  for (const auto& d : devices) {
    int64_t measured = 0;
    for (const auto& j : d.jobs) measured += j.measured_bytes;
    absl::StrAppend(&out, "slimtrain_device_measured_bytes{device=\"", d.device, "\"} ", measured, "\n");
  }
  Family(out, "slimtrain_job_images_per_second", "gauge",
         "Training throughput of each running job the caller may see, examples/s.");
  for (const auto& d : devices) {
    for (const auto& j : d.jobs) {
      if (!may_see(j.owner)) continue;
      absl::StrAppend(&out, "slimtrain_job_images_per_second{job=\"", EscapeLabelValue(j.id), "\",device=\"",
                      d.device, "\"} ", Number(j.images_per_second), "\n");
    }
  }
  Family(out, "slimtrain_job_step", "gauge", "Steps completed by each running job the caller may see.");
  for (const auto& d : devices) {
    for (const auto& j : d.jobs) {
      if (!may_see(j.owner)) continue;
      absl::StrAppend(&out, "slimtrain_job_step{job=\"", EscapeLabelValue(j.id), "\",device=\"", d.device, "\"} ",
                      j.step, "\n");
    }
  }
  out += rpcs.Text();
  return out;
}

}  // namespace slimtrain::server
