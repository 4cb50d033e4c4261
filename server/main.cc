// slimtrain_server — runs training jobs for remote clients (proto/service.proto).
//
//   slimtrain_server                                   # 127.0.0.1:50051, auth on
//   slimtrain_server --listen 0.0.0.0:50051 --tls-cert c.pem --tls-key k.pem
//   slimtrain_server --http-listen 127.0.0.1:8080           # and the web dashboard
//   slimtrain_server --help                            # every flag
//
// Defaults that work out of the box: listens on loopback; keeps its database,
// tokens and job files under $XDG_STATE_HOME/slimtrain (~/.local/state/
// slimtrain), owner-only (it creates everything with umask 077 and refuses a
// data directory others can write to); reads datasets inside
// /usr/share/datasets (Fashion-MNIST at its Debian path). On first start
// without a tokens file it creates one with an admin token (mode 0600) and says
// where. Flags take dashes or underscores (--data-dir, --data_dir). TLS flags
// are all or nothing. SIGHUP re-reads the tokens file;
// SIGTERM or SIGINT shuts down gracefully (NOT_SERVING, running jobs
// checkpoint and stop, in-flight RPCs finish, exit 0); running jobs resume on
// the next start.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/file_util.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "base/units.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "proto/service.grpc.pb.h"
#include "planner/cost_model.h"
#include "server/auth.h"
#include "server/dashboard.h"
#include "server/hosts.h"
#include "server/job_manager.h"
#include "server/job_store.h"
#include "server/metrics.h"
#include "server/request_errors.h"
#include "server/service.h"
#include "server/startup.h"

constexpr char kSummary[] =
    "Runs slimtrain training jobs for remote clients (gRPC, proto/service.proto). Clients plan\n"
    "memory, submit jobs, watch and download them with `slimtrain` (see `slimtrain --help`).\n"
    "Flags take dashes or underscores (--data-dir, --data_dir).";
constexpr char kExample[] =
    "slimtrain_server                                  # 127.0.0.1:50051, data in ~/.local/state/slimtrain\n"
    "  slimtrain_server --listen 0.0.0.0:50051 --tls-cert server.pem --tls-key server.key\n"
    "  slimtrain_server --data-dir /srv/slimtrain --cpu-jobs 2 --max-plan-seconds 60\n"
    "  slimtrain_server --http-listen 127.0.0.1:8080       # the web dashboard, /metrics, /healthz";

namespace {

using slimtrain::server::JobManager;
using slimtrain::server::JobStore;
using slimtrain::server::ServerConfig;
using slimtrain::server::TokenStore;

void Log(const std::string& line) {
  std::fprintf(stderr, "%s slimtrain_server: %s\n", absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::Now(),
                                                                        absl::LocalTimeZone()).c_str(),
               line.c_str());
}

int Die(const std::string& why) {
  Log(why);
  return 1;
}

bool IsLoopback(const std::string& address) {
  return absl::StartsWith(address, "127.") || absl::StartsWith(address, "localhost:") ||
         absl::StartsWith(address, "[::1]:");
}

std::string DefaultDataDir() {
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state != '\0') {
    return std::string(state) + "/slimtrain";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "/tmp") + "/.local/state/slimtrain";
}

// What the flags set beyond the ServerConfig.
struct ServerFlags {
  std::string listen = "127.0.0.1:50051";
  std::string tokens;  // empty: DATA_DIR/tokens
  bool no_auth = false;
  std::string tls_cert, tls_key, tls_client_ca;
  int64_t retention_hours = 24 * 7;
  int max_request_bytes = 16 << 20;
  int max_streams_per_user = 16;
  int max_rpc_threads = 256;
  std::string port_file;
  std::string hosts, hostfile, mpirun_args;
  std::string http_listen, http_port_file;
  bool metrics_public = false;
};

// Registers every flag of the server on `flags`: into `config` where it has
// the field (its default is the flag's), else into `out`.
void RegisterFlags(slimtrain::base::FlagSet& flags, ServerConfig* config, ServerFlags* out) {
  config->data_root = "/usr/share/datasets";
  flags.String("listen", &out->listen, "address to listen on, HOST:PORT (PORT 0: any free port)");
  flags.String("data-dir", &config->data_dir, "database, tokens and job files (default: $XDG_STATE_HOME/slimtrain)");
  flags.String("data-root", &config->data_root, "dataset paths in requests are resolved inside this folder");
  flags.String("tokens", &out->tokens,
               "tokens file, lines 'TOKEN USER ROLE', mode 0600 (default: DATA_DIR/tokens, created)");
  flags.Bool("no-auth", &out->no_auth, "accept every request as admin 'anonymous' (loopback addresses only)");
  flags.String("tls-cert", &out->tls_cert, "PEM certificate chain: serve TLS (needs --tls-key)");
  flags.String("tls-key", &out->tls_key, "PEM private key of --tls-cert");
  flags.String("tls-client-ca", &out->tls_client_ca,
               "PEM CA: require client certificates signed by it (mutual TLS; needs --tls-cert)");
  flags.Int("cpu-jobs", &config->cpu_jobs, "jobs training on the CPU at once");
  flags.Int("cpu-threads", &config->cpu_threads, "threads per CPU job (0: cores / cpu-jobs)");
  flags.Int("max-queue", &config->max_queue,
            "jobs pending or running, all users; more are refused (RESOURCE_EXHAUSTED)");
  flags.Int("max-active-per-user", &config->max_active_per_user, "jobs pending or running per user");
  flags.Int("max-run-seconds", &config->max_run_seconds, "a job running longer fails, in seconds");
  flags.Int("retention-hours", &out->retention_hours, "finished jobs and their files are removed after this, in hours");
  flags.Int("max-layers", &config->limits.max_layers, "largest model accepted, in layers");
  flags.Int("max-batch", &config->limits.max_batch_size, "largest batch_size accepted, in examples");
  flags.Int("max-tensor-bytes", &config->limits.max_tensor_bytes,
            "largest tensor a model may have at its batch, in bytes");
  flags.Int("max-model-bytes", &config->max_model_bytes, "largest inline model spec, serialized, in bytes");
  flags.Int("max-request-bytes", &out->max_request_bytes, "largest request accepted, in bytes");
  flags.Double("max-plan-seconds", &config->max_plan_seconds,
               "planning time of one PlanMemory or SubmitJob, in seconds");
  flags.Int("max-plan-work", &config->max_plan_work,
            "planning work of one PlanMemory, in layer-plans (layers x strategies x max-batch probes)");
  flags.Int("max-concurrent-plans", &config->max_concurrent_plans,
            "requests planning at once; more are refused (0: twice the cores)");
  flags.Int("max-streams-per-user", &out->max_streams_per_user,
            "WatchJob and DownloadWeights streams a user may hold open at once");
  flags.Int("max-rpc-threads", &out->max_rpc_threads,
            "threads serving calls at once; calls past them get RESOURCE_EXHAUSTED");
  flags.Int("checkpoint-interval", &config->default_checkpoint_interval,
            "default steps between a job's checkpoints");
  flags.String("hosts", &out->hosts,
               "hosts data-parallel jobs run on, 'name[:slots],...', the same binaries and --data-dir on each "
               "(default: localhost with a slot per core)");
  flags.String("hostfile", &out->hostfile, "the --hosts list as an OpenMPI hostfile: lines 'name slots=N'");
  flags.String("mpirun", &config->mpirun, "OpenMPI's mpirun, which starts data-parallel jobs' ranks");
  flags.String("mpirun-args", &out->mpirun_args,
               "more arguments for mpirun, space-separated (e.g. '--mca btl self,vader,tcp')");
  flags.Double("collective-timeout-seconds", &config->collective_timeout_seconds,
               "a data-parallel job fails when one all-reduce waits longer than this for its other ranks");
  flags.String("worker", &config->worker_path, "the slimtrain_worker binary (default: next to this one)");
  flags.String("port-file", &out->port_file,
               "write the port listened on to this file once serving (with --listen HOST:0)");
  flags.String("http-listen", &out->http_listen,
               "serve the web dashboard, /metrics and /healthz over HTTP at HOST:PORT (off unless given; "
               "HTTPS with --tls-cert)");
  flags.String("http-port-file", &out->http_port_file,
               "write the dashboard's port to this file once serving (with --http-listen HOST:0)");
  flags.Bool("metrics-public", &out->metrics_public, "serve /metrics without a token");
}

// --hosts or --hostfile (not both), default this host; --mpirun-args;
// --collective-timeout-seconds.
absl::Status SetHosts(const ServerFlags& f, ServerConfig* config) {
  if (!f.hosts.empty() && !f.hostfile.empty()) {
    return absl::InvalidArgumentError("--hosts and --hostfile: give one of them");
  }
  if (!f.hosts.empty()) {
    SLIM_ASSIGN_OR_RETURN(config->hosts, slimtrain::server::ParseHostList(f.hosts));
  } else if (!f.hostfile.empty()) {
    SLIM_ASSIGN_OR_RETURN(std::string text, slimtrain::base::ReadFile(f.hostfile));
    absl::StatusOr<std::vector<slimtrain::server::Host>> hosts = slimtrain::server::ParseHostFile(text);
    if (!hosts.ok()) return absl::InvalidArgumentError(absl::StrCat(f.hostfile, ": ", hosts.status().message()));
    config->hosts = *std::move(hosts);
  } else {
    config->hosts = {{"localhost", static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))}};
  }
  config->mpirun_args = absl::StrSplit(f.mpirun_args, ' ', absl::SkipEmpty());
  if (!(config->collective_timeout_seconds > 0) || config->collective_timeout_seconds > 86400) {
    return absl::InvalidArgumentError(absl::StrCat("--collective-timeout-seconds: ",
                                                   config->collective_timeout_seconds, ", must be in (0, 86400]"));
  }
  return absl::OkStatus();
}

std::string DefaultWorker() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string dir = ec ? "." : self.parent_path().string();
  // Next to this binary (an install), or in Bazel's tree (bazel-bin/server).
  return dir + "/slimtrain_worker";
}

}  // namespace

int main(int argc, char** argv) {
  // Everything this server and its workers create is the owner's alone.
  umask(077);
  ServerConfig config;
  ServerFlags f;
  slimtrain::base::FlagSet flags("slimtrain_server", kSummary, kExample);
  RegisterFlags(flags, &config, &f);
  if (absl::Status s = flags.Parse(std::vector<std::string>(argv + 1, argv + argc)); !s.ok()) {
    return Die(std::string(s.message()));
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  if (!flags.positional().empty()) {
    return Die(absl::StrCat("unexpected argument '", flags.positional()[0],
                            "': slimtrain_server takes only flags (see slimtrain_server --help)"));
  }
  // Signals are taken by one thread (sigwait); block them before any other
  // thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const std::string& listen = f.listen;
  if (f.no_auth && !IsLoopback(listen)) {
    return Die(absl::StrCat("--no-auth is allowed only on a loopback address, not ", listen));
  }
  // The dashboard can cancel and delete jobs: without auth it too stays on
  // loopback.
  if (f.no_auth && !f.http_listen.empty() && !IsLoopback(f.http_listen)) {
    return Die(absl::StrCat("--no-auth is allowed only on a loopback address, not --http-listen ", f.http_listen));
  }
  if (f.metrics_public && f.http_listen.empty()) {
    return Die("--metrics-public needs --http-listen (where /metrics is served)");
  }
  // TLS first: a half-given TLS setup must never fall back to plaintext.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      slimtrain::server::ServerCredentialsFromFlags(f.tls_cert, f.tls_key, f.tls_client_ca);
  if (!credentials.ok()) return Die(std::string(credentials.status().message()));
  if (config.data_dir.empty()) config.data_dir = DefaultDataDir();
  const std::string& data_dir = config.data_dir;
  std::string note;
  if (absl::Status s = slimtrain::server::PrepareDataDir(data_dir, &note); !s.ok()) return Die(std::string(s.message()));
  if (!note.empty()) Log(note);

  // Tokens.
  std::unique_ptr<TokenStore> tokens;
  if (!f.no_auth) {
    std::string path = f.tokens;
    if (path.empty()) {
      path = data_dir + "/tokens";
      if (!std::filesystem::exists(path)) {
        absl::StatusOr<std::string> created = TokenStore::CreateWithAdmin(path);
        if (!created.ok()) return Die(std::string(created.status().message()));
        Log(absl::StrCat("created an admin token in ", path,
                         " (mode 0600); clients use it with --token-file ", path));
      }
    }
    if (absl::Status s = slimtrain::server::CheckTokensFileMode(path); !s.ok()) return Die(std::string(s.message()));
    absl::StatusOr<std::unique_ptr<TokenStore>> loaded = TokenStore::Load(path);
    if (!loaded.ok()) return Die(std::string(loaded.status().message()));
    tokens = *std::move(loaded);
  }

  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(data_dir + "/slimtrain.db");
  if (!store.ok()) return Die(std::string(store.status().message()));
  if (config.worker_path.empty()) config.worker_path = DefaultWorker();
  config.cpu_jobs = std::max(1, config.cpu_jobs);
  config.retention_seconds = f.retention_hours * 3600;
  if (config.limits.max_layers < 1 || config.limits.max_batch_size < 1 || config.limits.max_tensor_bytes < 1 ||
      config.max_model_bytes < 1 || !(config.max_plan_seconds > 0) || config.max_plan_work < 0 ||
      config.max_concurrent_plans < 0) {
    return Die("--max-layers, --max-batch, --max-tensor-bytes, --max-model-bytes and --max-plan-seconds must be "
               "> 0; --max-plan-work and --max-concurrent-plans >= 0");
  }
  if (absl::Status s = SetHosts(f, &config); !s.ok()) return Die(std::string(s.message()));
  if (access(config.worker_path.c_str(), X_OK) != 0) {
    return Die(absl::StrCat("the worker binary ", config.worker_path, " is missing (--worker)"));
  }
  JobManager jobs(store->get(), config);
  if (absl::Status s = jobs.Start(); !s.ok()) return Die(std::string(s.message()));
  if (jobs.gpus().empty()) {
    Log(absl::StrCat("GPUs: none (", jobs.no_gpu_reason(), "); jobs train on the CPU"));
  }
  for (const JobManager::Gpu& g : jobs.gpus()) {
    Log(absl::StrCat("GPU cuda:", g.index, ": ", g.name, ", ", slimtrain::base::FormatBytes(g.total_bytes), ", ",
                     slimtrain::base::FormatBytes(g.overhead_bytes), " per worker before its plan"));
  }

  if (f.max_streams_per_user < 1 || f.max_rpc_threads < 4) {
    return Die("--max-streams-per-user must be >= 1 and --max-rpc-threads >= 4");
  }
  slimtrain::server::TrainingServiceImpl service(&jobs, tokens.get(), f.max_streams_per_user);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(f.max_request_bytes);
  grpc::ResourceQuota quota("slimtrain_server");
  quota.SetMaxThreads(f.max_rpc_threads);
  builder.SetResourceQuota(quota);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  slimtrain::server::RpcMetrics rpc_metrics;
  interceptors.push_back(std::make_unique<slimtrain::server::RequestErrorInterceptorFactory>());
  interceptors.push_back(std::make_unique<slimtrain::server::MetricsInterceptorFactory>(&rpc_metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) return Die(absl::StrCat("cannot listen on ", listen));
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  // Overall status and the training service's own, as load balancers and
  // grpc_health_probe ask for either.
  health->SetServingStatus(true);
  health->SetServingStatus(slimtrain::v1::TrainingService::service_full_name(), true);
  std::unique_ptr<slimtrain::server::Dashboard> dashboard;
  if (!f.http_listen.empty()) {
    slimtrain::server::DashboardOptions options;
    options.listen = f.http_listen;
    options.tls_cert = f.tls_cert;
    options.tls_key = f.tls_key;
    options.tls_client_ca = f.tls_client_ca;
    options.metrics_public = f.metrics_public;
    options.max_upload_bytes = config.max_model_bytes;
    options.devices.push_back("cpu");
    for (const JobManager::Gpu& g : jobs.gpus()) options.devices.push_back(absl::StrCat("cuda:", g.index));
    for (const slimtrain::planner::DeviceProfile& p : slimtrain::planner::DeviceProfiles()) {
      if (p.gpu) options.devices.push_back(p.name);
    }
    absl::StatusOr<std::unique_ptr<slimtrain::server::Dashboard>> started =
        slimtrain::server::Dashboard::Start(&jobs, tokens.get(), &rpc_metrics, options);
    if (!started.ok()) {
      server->Shutdown();
      jobs.Shutdown();
      return Die(std::string(started.status().message()));
    }
    dashboard = *std::move(started);
    if (!f.http_port_file.empty() &&
        !slimtrain::base::WriteFileAtomically(f.http_port_file, std::to_string(dashboard->port())).ok()) {
      return Die(absl::StrCat("cannot write --http-port-file ", f.http_port_file));
    }
  }
  // The port file says the server is up: written once everything serves.
  if (!f.port_file.empty()) {
    if (!slimtrain::base::WriteFileAtomically(f.port_file, std::to_string(port)).ok()) {
      return Die(absl::StrCat("cannot write --port-file ", f.port_file));
    }
  }
  Log(absl::StrCat("data-parallel jobs run on ", slimtrain::server::HostListString(config.hosts), " (", config.mpirun,
                   ")"));
  Log(absl::StrCat("listening on ", listen, " (port ", port, ", ", f.tls_cert.empty() ? "plaintext" : "TLS",
                   f.no_auth ? ", no auth" : ", auth on", "); data in ", data_dir, "; datasets inside ",
                   config.data_root));
  if (dashboard != nullptr) {
    Log(absl::StrCat("dashboard at ", dashboard->url(), f.no_auth ? "" : " (log in with a token)",
                     "; metrics at ", dashboard->url(), "metrics"));
  }

  // Signals: SIGHUP re-reads tokens; SIGTERM/SIGINT shut down.
  while (true) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      if (tokens == nullptr) continue;
      const absl::Status reloaded = tokens->Reload();
      Log(reloaded.ok() ? absl::StrCat("re-read ", tokens->path())
                        : absl::StrCat("kept the old tokens: ", reloaded.message()));
      continue;
    }
    Log(absl::StrCat("signal ", sig, ": shutting down; running jobs checkpoint and resume on the next start"));
    break;
  }
  health->SetServingStatus(false);
  if (dashboard != nullptr) dashboard->Stop();
  jobs.Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  store->reset();
  Log("stopped");
  return 0;
}
