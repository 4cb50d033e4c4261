// slimtrain_worker — runs one training job for the server, in a process of its
// own, so a job that crashes or runs out of memory fails alone.
//
//   slimtrain_worker --job-dir DIR --data-root ROOT [--threads N] [--gpu N]
//   slimtrain_worker --probe-gpus
//   slimtrain_worker --plan < PLAN_TASK > PLAN_TASK_RESULT
//
// Reads the JobSpec (binary protobuf, strategy resolved) from DIR/spec.pb
// and the admitted plan from DIR/plan.pb when the server stored one (on the
// CPU it runs that plan; on a GPU its own plan must fit that plan's peak),
// trains with checkpoints in DIR/checkpoint.safetensors (resuming from it when
// it exists), writes the final weights to DIR/weights.safetensors, and
// reports to the server on stdout as length-delimited v1::JobEvent messages:
// metrics, log lines, and last a state change to SUCCEEDED, FAILED (with the
// reason) or CANCELLED. SIGTERM stops it after a checkpoint (the server uses it
// to cancel and to shut down). The server sets a parent-death signal, so a
// worker never outlives it.
//
// A data-parallel job runs one worker per rank, started by mpirun (the
// server's hosts.h): rank and size come from mpirun's environment, rank 0
// reports the events (mpirun forwards its stdout) and writes the checkpoints
// and weights, the other ranks report nothing but a failure, as a line on
// stderr (hosts.h, RankFailureLine) that the server reads back from mpirun's
// log. SIGUSR1 stops it as SIGTERM does (mpirun forwards SIGUSR1 to every
// rank; its SIGTERM means the job is being killed). Every rank dies with the
// process that started it (mpirun, or OpenMPI's daemon on another host).
//
// With --gpu N it trains on that GPU (the CUDA backend, TF32 as the spec
// says); a GPU that cannot be used fails the job with the reason. A
// data-parallel rank with --gpu N trains on GPU N + its local rank (one GPU
// per rank of a host), summing gradients and broadcasting parameters over
// NCCL (engine::MakeGradientCommunicator) and the step's host scalars over
// MPI.
//
// --probe-gpus: what the server's device pool needs, measured in a process
// like a worker, one line per usable GPU, then exit 0:
//   gpu INDEX TOTAL_BYTES OVERHEAD_BYTES NAME
// OVERHEAD is the device memory in use once this process has a CUDA context
// and the CUDA backend's handles and workspaces: on an otherwise idle GPU
// exactly what each worker takes before its plan; whatever else was on the
// GPU counts too, so a pool that charges it to every job errs on the safe
// side. Without a usable GPU one line "none REASON".
//
// --plan: the server's planning for its CPU (cpu_planner.h): one v1::PlanTask
// on stdin, answered with this CPU's cost model (oneDNN's workspaces, which
// the server does not link), one v1::PlanTaskResult on stdout.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/flags.h"
#include "engine/checkpoint.h"
#include "engine/comm/launch_environment.h"
#include "engine/comm/mpi_communicator.h"
#include "engine/cpu/fast_backend.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/gpu_targets.h"
#include "engine/data_metadata.h"
#include "engine/trainer.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "server/hosts.h"
#include "server/plan_job.h"

namespace {

std::atomic<bool> g_stop{false};
// This process's rank in a data-parallel job (0 alone): only rank 0 reports.
int g_rank = 0;

void OnTerm(int) { g_stop = true; }

// Writes one event to stdout, length-delimited, and flushes (rank 0).
void Emit(const slimtrain::v1::JobEvent& event) {
  if (g_rank != 0) return;
  static google::protobuf::io::FileOutputStream out(STDOUT_FILENO);
  google::protobuf::util::SerializeDelimitedToZeroCopyStream(event, &out);
  out.Flush();
}

void Finish(slimtrain::v1::Job::State state, const std::string& reason) {
  if (state == slimtrain::v1::Job::FAILED) {
    std::fprintf(stderr, "%s\n", slimtrain::server::RankFailureLine(g_rank, reason).c_str());
  }
  slimtrain::v1::JobEvent e;
  e.mutable_state_change()->set_from(slimtrain::v1::Job::RUNNING);
  e.mutable_state_change()->set_to(state);
  e.mutable_state_change()->set_reason(reason);
  Emit(e);
}

int ProbeGpus() {
  namespace engine = slimtrain::engine;
  absl::StatusOr<std::vector<engine::UsableGpu>> gpus = engine::ProbeUsableGpus();
  if (!gpus.ok()) {
    std::printf("none %s\n", std::string(gpus.status().message()).c_str());
    return 0;
  }
  for (const engine::UsableGpu& g : *gpus) {
    std::printf("gpu %d %lld %lld %s\n", g.index, static_cast<long long>(g.total_bytes),
                static_cast<long long>(g.overhead_bytes), g.name.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  namespace engine = slimtrain::engine;
  namespace v1 = slimtrain::v1;
  signal(SIGTERM, OnTerm);
  signal(SIGUSR1, OnTerm);
  signal(SIGPIPE, SIG_IGN);
  std::string dir, data_root;
  int threads = 0, gpu = -1;
  double collective_timeout = 300;
  bool probe_gpus = false, plan = false;
  slimtrain::base::FlagSet flags(
      "slimtrain_worker",
      "Runs one training job for slimtrain_server, in a process of its own, and reports on stdout\n"
      "as length-delimited JobEvent messages (server/worker_main.cc). The server starts it.",
      "slimtrain_worker --job-dir DIR --data-root ROOT [--threads N] [--gpu N]\n"
      "  slimtrain_worker --probe-gpus\n"
      "  slimtrain_worker --plan < PLAN_TASK > PLAN_TASK_RESULT");
  flags.String("job-dir", &dir, "the job's folder: spec.pb, plan.pb, checkpoints and weights (required)");
  flags.String("data-root", &data_root, "dataset paths in the spec are resolved inside this folder");
  flags.Int("threads", &threads, "CPU threads (0: the machine's cores)");
  flags.Int("gpu", &gpu, "train on this CUDA device (-1: on the CPU)");
  flags.Double("collective-timeout-seconds", &collective_timeout,
               "data-parallel (under mpirun): a collective waiting longer than this for the other ranks fails the job");
  flags.Bool("probe-gpus", &probe_gpus, "print each usable GPU's memory and a worker's overhead on it, and exit");
  flags.Bool("plan", &plan, "answer the server's planning task on stdin with this CPU's cost model, and exit");
  auto usage_error = [&](const std::string& why) {
    std::fprintf(stderr, "slimtrain_worker: %s\n\n%s", why.c_str(), flags.Usage().c_str());
    return 2;
  };
  if (absl::Status s = flags.Parse(std::vector<std::string>(argv + 1, argv + argc)); !s.ok()) {
    return usage_error(std::string(s.message()));
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  if (!flags.positional().empty()) return usage_error("unexpected argument '" + flags.positional()[0] + "'");
  if (probe_gpus) return ProbeGpus();
  if (plan) {
    return slimtrain::server::ServePlanTask(
        [](int threads) { return std::make_unique<engine::FastBackend>(threads, /*plan_only=*/true); });
  }
  if (dir.empty()) return usage_error("--job-dir is required (or --probe-gpus, --plan)");
  // A rank of a data-parallel job: die with mpirun (or its daemon), and
  // join the others.
  const pid_t launcher = getppid();
  absl::StatusOr<engine::comm::LaunchInfo> launch =
      engine::comm::ParseLaunchEnvironment(engine::comm::ProcessEnvironment());
  if (launch.ok() && launch->launched()) {
    g_rank = launch->rank;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != launcher) return 1;
  }
  if (!launch.ok()) {
    Finish(v1::Job::FAILED, std::string(launch.status().message()));
    return 1;
  }
  if (!(collective_timeout > 0)) {
    return usage_error(absl::StrCat("--collective-timeout-seconds: ", collective_timeout, ", must be above 0"));
  }
  engine::comm::CommunicatorOptions comm_options;
  comm_options.timeout = absl::Seconds(collective_timeout);
  absl::StatusOr<std::unique_ptr<engine::comm::Communicator>> comm =
      engine::comm::CommunicatorFromEnvironment(comm_options);
  if (!comm.ok()) {
    Finish(v1::Job::FAILED, absl::StrCat("data-parallel: ", comm.status().message()));
    return 1;
  }
  if ((*comm)->size() > 1) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    std::fprintf(stderr, "slimtrain_worker: rank %d of %d started on %s (pid %d, %d threads)\n", (*comm)->rank(),
                 (*comm)->size(), host, static_cast<int>(getpid()), threads);
  }
  absl::StatusOr<std::string> bytes = slimtrain::base::ReadFile(dir + "/spec.pb");
  v1::JobSpec spec;
  if (!bytes.ok() || !spec.ParseFromString(*bytes)) {
    Finish(v1::Job::FAILED, "the worker could not read the job's spec");
    return 1;
  }
  std::unique_ptr<engine::Backend> backend;
  if (gpu >= 0 && (*comm)->size() > 1) gpu += (*comm)->local_rank();  // one GPU per rank of this host
  if (gpu >= 0) {
    absl::StatusOr<std::unique_ptr<engine::Backend>> cuda = engine::NewCudaBackend({gpu, spec.allow_tf32()});
    if (!cuda.ok()) {
      Finish(v1::Job::FAILED, absl::StrCat("cuda:", gpu, ": ", cuda.status().message()));
      return 1;
    }
    backend = *std::move(cuda);
  } else {
    backend = std::make_unique<engine::FastBackend>(threads);
  }
  engine::TrainerOptions options;
  // The plan the server admitted (DIR/plan.pb): a CPU job runs it as it is.
  // A GPU job plans again with the workspaces this GPU's cuDNN chose (the
  // server holds no CUDA context and admitted every workspace at its bound,
  // engine/cuda/workspace_bounds.h), and that plan must fit the admitted
  // peak or the job fails with both numbers.
  v1::MemoryPlan admitted;
  if (absl::StatusOr<std::string> plan = slimtrain::base::ReadFile(dir + "/plan.pb"); plan.ok()) {
    if (!admitted.ParseFromString(*plan)) {
      Finish(v1::Job::FAILED, "the worker could not read the job's admitted plan");
      return 1;
    }
    if (gpu < 0) {
      options.plan = &admitted;
    } else {
      options.admitted_peak_bytes = admitted.peak_bytes();
    }
  }
  options.data_root = data_root;
  options.confine_to_data_root = true;
  options.checkpoint_path = dir + "/checkpoint.safetensors";
  options.resume = true;
  options.communicator = comm->get();
  // A GPU rank's gradients and parameters go over NCCL (declared before the
  // trainer: it outlives the trainer's collectives).
  absl::StatusOr<std::unique_ptr<engine::comm::Communicator>> gradients =
      engine::MakeGradientCommunicator(*backend, **comm, std::max(gpu, 0), comm_options);
  if (!gradients.ok()) {
    Finish(v1::Job::FAILED, absl::StrCat("data-parallel: ", gradients.status().message()));
    return 1;
  }
  options.gradient_communicator = gradients->get();
  absl::StatusOr<std::unique_ptr<engine::Trainer>> trainer = engine::Trainer::Create(spec, backend.get(), options);
  if (!trainer.ok()) {
    Finish(v1::Job::FAILED, std::string(trainer.status().message()));
    return 1;
  }
  engine::TrainerCallbacks callbacks;
  callbacks.on_metrics = [](const v1::Metrics& m) {
    v1::JobEvent e;
    *e.mutable_metrics() = m;
    Emit(e);
  };
  callbacks.on_log = [](const std::string& line) {
    v1::JobEvent e;
    e.mutable_log()->set_level(v1::LogLine::INFO);
    e.mutable_log()->set_text(line);
    Emit(e);
  };
  callbacks.should_stop = [] { return g_stop.load(); };
  const absl::Status run = (*trainer)->Run(callbacks);
  if (g_rank != 0) {  // rank 0 reports and writes the weights
    if (!run.ok() && run.code() != absl::StatusCode::kCancelled) {
      Finish(v1::Job::FAILED, std::string(run.message()));
      return 1;
    }
    return 0;
  }
  if (run.code() == absl::StatusCode::kCancelled) {
    Finish(v1::Job::CANCELLED, absl::StrCat("stopped at step ", (*trainer)->step(), " after a checkpoint"));
    return 0;
  }
  if (!run.ok()) {
    Finish(v1::Job::FAILED, std::string(run.message()));
    return 1;
  }
  const absl::Status written =
      engine::WriteWeights(dir + "/weights.safetensors", (*trainer)->executor().params(),
                           (*trainer)->executor().steps_run(), engine::MetadataEntries((*trainer)->data_metadata()));
  if (!written.ok()) {
    Finish(v1::Job::FAILED, std::string(written.message()));
    return 1;
  }
  Finish(v1::Job::SUCCEEDED, absl::StrCat("trained ", (*trainer)->step(), " steps"));
  return 0;
}
