// slimtrain_server — runs training jobs for remote clients (proto/service.proto).
//
//   slimtrain_server                                   # 127.0.0.1:50051, auth on
//   slimtrain_server --listen 0.0.0.0:50051 --tls-cert c.pem --tls-key k.pem
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

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "proto/service.grpc.pb.h"
#include "base/file_util.h"
#include "base/units.h"
#include "server/auth.h"
#include "server/job_manager.h"
#include "server/job_store.h"
#include "server/request_errors.h"
#include "server/service.h"
#include "server/startup.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "address to listen on, HOST:PORT (PORT 0: any free port)");
ABSL_FLAG(std::string, data_dir, "", "database, tokens and job files (default: $XDG_STATE_HOME/slimtrain)");
ABSL_FLAG(std::string, data_root, "/usr/share/datasets", "dataset paths in requests are resolved inside this folder");
ABSL_FLAG(std::string, tokens, "", "tokens file, lines 'TOKEN USER ROLE', mode 0600 (default: DATA_DIR/tokens, created)");
ABSL_FLAG(bool, no_auth, false, "accept every request as admin 'anonymous' (loopback addresses only)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: serve TLS (needs --tls-key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "", "PEM CA: require client certificates signed by it (mutual TLS; needs --tls-cert)");
ABSL_FLAG(int, cpu_jobs, 1, "jobs training on the CPU at once");
ABSL_FLAG(int, cpu_threads, 0, "threads per CPU job (0: cores / cpu-jobs)");
ABSL_FLAG(int, max_queue, 100, "jobs pending or running, all users; more are refused (RESOURCE_EXHAUSTED)");
ABSL_FLAG(int, max_active_per_user, 4, "jobs pending or running per user");
ABSL_FLAG(int64_t, max_run_seconds, 24 * 3600, "a job running longer fails, in seconds");
ABSL_FLAG(int64_t, retention_hours, 24 * 7, "finished jobs and their files are removed after this, in hours");
ABSL_FLAG(int64_t, max_layers, 10000, "largest model accepted, in layers");
ABSL_FLAG(int64_t, max_batch, int64_t{1} << 24, "largest batch_size accepted, in examples");
ABSL_FLAG(int64_t, max_tensor_bytes, int64_t{1} << 40, "largest tensor a model may have at its batch, in bytes");
ABSL_FLAG(int64_t, max_model_bytes, 2 << 20, "largest inline model spec, serialized, in bytes");
ABSL_FLAG(int, max_request_bytes, 16 << 20, "largest request accepted, in bytes");
ABSL_FLAG(double, max_plan_seconds, 30, "planning time of one PlanMemory or SubmitJob, in seconds");
ABSL_FLAG(int64_t, max_plan_work, 2000000,
          "planning work of one PlanMemory, in layer-plans (layers x strategies x max-batch probes)");
ABSL_FLAG(int, max_concurrent_plans, 0, "requests planning at once; more are refused (0: twice the cores)");
ABSL_FLAG(int, max_streams_per_user, 16, "WatchJob and DownloadWeights streams a user may hold open at once");
ABSL_FLAG(int, max_rpc_threads, 256, "threads serving calls at once; calls past them get RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, checkpoint_interval, 200, "default steps between a job's checkpoints");
ABSL_FLAG(std::string, worker, "", "the slimtrain_worker binary (default: next to this one)");
ABSL_FLAG(std::string, port_file, "", "write the port listened on to this file once serving (with --listen HOST:0)");

constexpr char kSummary[] =
    "slimtrain_server: runs slimtrain training jobs for remote clients (gRPC, proto/service.proto).\n"
    "Clients plan memory, submit jobs, watch and download them with `slimtrain` (see `slimtrain --help`).";
constexpr char kExample[] =
    "Examples:\n"
    "  slimtrain_server                                  # 127.0.0.1:50051, data in ~/.local/state/slimtrain\n"
    "  slimtrain_server --listen 0.0.0.0:50051 --tls-cert server.pem --tls-key server.key\n"
    "  slimtrain_server --data-dir /srv/slimtrain --cpu-jobs 2 --max-plan-seconds 60";

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
  std::vector<std::string> args = slimtrain::server::NormalizeFlagSpellings(argc, argv);
  if (slimtrain::server::AsksForHelp(args)) {
    std::printf("%s", slimtrain::server::FlagHelp(kSummary, "server/main.cc", kExample).c_str());
    return 0;
  }
  std::vector<char*> arg_pointers;
  for (std::string& a : args) arg_pointers.push_back(a.data());
  absl::SetProgramUsageMessage("runs slimtrain training jobs for remote clients; see --help");
  absl::ParseCommandLine(static_cast<int>(arg_pointers.size()), arg_pointers.data());
  // Signals are taken by one thread (sigwait); block them before any other
  // thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const std::string listen = absl::GetFlag(FLAGS_listen);
  const bool no_auth = absl::GetFlag(FLAGS_no_auth);
  if (no_auth && !IsLoopback(listen)) {
    return Die(absl::StrCat("--no-auth is allowed only on a loopback address, not ", listen));
  }
  // TLS first: a half-given TLS setup must never fall back to plaintext.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      slimtrain::server::ServerCredentialsFromFlags(absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                                                    absl::GetFlag(FLAGS_tls_client_ca));
  if (!credentials.ok()) return Die(std::string(credentials.status().message()));
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir).empty() ? DefaultDataDir() : absl::GetFlag(FLAGS_data_dir);
  std::string note;
  if (absl::Status s = slimtrain::server::PrepareDataDir(data_dir, &note); !s.ok()) return Die(std::string(s.message()));
  if (!note.empty()) Log(note);

  // Tokens.
  std::unique_ptr<TokenStore> tokens;
  if (!no_auth) {
    std::string path = absl::GetFlag(FLAGS_tokens);
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
  ServerConfig config;
  config.data_dir = data_dir;
  config.data_root = absl::GetFlag(FLAGS_data_root);
  config.worker_path = absl::GetFlag(FLAGS_worker).empty() ? DefaultWorker() : absl::GetFlag(FLAGS_worker);
  config.cpu_jobs = std::max(1, absl::GetFlag(FLAGS_cpu_jobs));
  config.cpu_threads = absl::GetFlag(FLAGS_cpu_threads);
  config.max_queue = absl::GetFlag(FLAGS_max_queue);
  config.max_active_per_user = absl::GetFlag(FLAGS_max_active_per_user);
  config.max_run_seconds = absl::GetFlag(FLAGS_max_run_seconds);
  config.retention_seconds = absl::GetFlag(FLAGS_retention_hours) * 3600;
  config.limits.max_layers = absl::GetFlag(FLAGS_max_layers);
  config.limits.max_batch_size = absl::GetFlag(FLAGS_max_batch);
  config.limits.max_tensor_bytes = absl::GetFlag(FLAGS_max_tensor_bytes);
  config.max_model_bytes = absl::GetFlag(FLAGS_max_model_bytes);
  config.max_plan_seconds = absl::GetFlag(FLAGS_max_plan_seconds);
  config.max_plan_work = absl::GetFlag(FLAGS_max_plan_work);
  config.max_concurrent_plans = absl::GetFlag(FLAGS_max_concurrent_plans);
  if (config.limits.max_layers < 1 || config.limits.max_batch_size < 1 || config.limits.max_tensor_bytes < 1 ||
      config.max_model_bytes < 1 || !(config.max_plan_seconds > 0) || config.max_plan_work < 0 ||
      config.max_concurrent_plans < 0) {
    return Die("--max-layers, --max-batch, --max-tensor-bytes, --max-model-bytes and --max-plan-seconds must be "
               "> 0; --max-plan-work and --max-concurrent-plans >= 0");
  }
  config.default_checkpoint_interval = absl::GetFlag(FLAGS_checkpoint_interval);
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

  if (absl::GetFlag(FLAGS_max_streams_per_user) < 1 || absl::GetFlag(FLAGS_max_rpc_threads) < 4) {
    return Die("--max-streams-per-user must be >= 1 and --max-rpc-threads >= 4");
  }
  slimtrain::server::TrainingServiceImpl service(&jobs, tokens.get(), absl::GetFlag(FLAGS_max_streams_per_user));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_request_bytes));
  grpc::ResourceQuota quota("slimtrain_server");
  quota.SetMaxThreads(absl::GetFlag(FLAGS_max_rpc_threads));
  builder.SetResourceQuota(quota);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<slimtrain::server::RequestErrorInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) return Die(absl::StrCat("cannot listen on ", listen));
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  // Overall status and the training service's own, as load balancers and
  // grpc_health_probe ask for either.
  health->SetServingStatus(true);
  health->SetServingStatus(slimtrain::v1::TrainingService::service_full_name(), true);
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    if (!slimtrain::base::WriteFileAtomically(absl::GetFlag(FLAGS_port_file), std::to_string(port)).ok()) {
      return Die(absl::StrCat("cannot write --port-file ", absl::GetFlag(FLAGS_port_file)));
    }
  }
  Log(absl::StrCat("listening on ", listen, " (port ", port, ", ", absl::GetFlag(FLAGS_tls_cert).empty() ? "plaintext" : "TLS",
                   no_auth ? ", no auth" : ", auth on", "); data in ", data_dir, "; datasets inside ",
                   config.data_root));

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
  jobs.Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  store->reset();
  Log("stopped");
  return 0;
}
