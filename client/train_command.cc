// slimtrain train: trains a model locally, without a server.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/flags.h"
#include "base/units.h"
#include "client/backend_choice.h"
#include "client/commands.h"
#include "client/job_flags.h"
#include "engine/checkpoint.h"
#include "engine/comm/communicator.h"
#include "engine/comm/launch_environment.h"
#include "engine/comm/mpi_communicator.h"
#include "engine/data_metadata.h"
#include "engine/trainer.h"
#include "google/protobuf/util/json_util.h"
#include "planner/graph.h"

namespace slimtrain::client {
namespace {

// "rank 1: " on a data-parallel job's ranks but the first, whose output is
// otherwise quiet.
std::string g_rank_prefix;

int Fail(const absl::Status& status) {
  std::cerr.clear();  // a quiet rank still reports its failure
  std::cerr << "\nslimtrain train: " << g_rank_prefix << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

std::string Duration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

// `slimtrain train --ranks N` outside a launcher: this command again as N
// ranks under mpirun on this host (--ranks left out: the ranks find their
// number in mpirun's environment). Returns only when mpirun cannot start.
int RunUnderMpirun(int64_t ranks, const std::vector<std::string>& args) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return Fail(absl::InternalError("--ranks: cannot find this program (/proc/self/exe)"));
  self[n] = '\0';
  std::vector<std::string> argv = {"mpirun", "-np", std::to_string(ranks), "--oversubscribe", "--bind-to", "none"};
  // OpenMPI refuses to start as root unless told.
  if (geteuid() == 0) argv.push_back("--allow-run-as-root");
  argv.push_back(self);
  argv.push_back("train");
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--ranks") {
      ++i;  // and its value
    } else if (!absl::StartsWith(args[i], "--ranks=")) {
      argv.push_back(args[i]);
    }
  }
  std::vector<char*> pointers;
  for (std::string& a : argv) pointers.push_back(a.data());
  pointers.push_back(nullptr);
  std::cerr << "slimtrain train: " << absl::StrJoin(argv, " ") << "\n";
  execvp("mpirun", pointers.data());
  return Fail(absl::FailedPreconditionError(absl::StrCat(
      "--ranks ", ranks, ": cannot run mpirun (", strerror(errno), "); install openmpi-bin (tools/setup.sh)")));
}

// ",\n  \"profile\": [...]" of the summary's JSON (empty without --profile):
// each (step kind, op) with its seconds and calls, largest first.
std::string ProfileJson(const std::vector<engine::ProfileEntry>& entries) {
  if (entries.empty()) return "";
  std::string out = ",\n  \"profile\": [";
  for (size_t i = 0; i < entries.size(); ++i) {
    absl::StrAppendFormat(&out, "%s\n    {\"what\": \"%s\", \"seconds\": %.6f, \"calls\": %d}", i > 0 ? "," : "",
                          entries[i].what, entries[i].seconds, entries[i].calls);
  }
  return out + "\n  ]";
}

}  // namespace

int RunTrainCommand(const std::vector<std::string>& args) {
  JobFlags job;
  std::string backend_name = "fast", checkpoint, output, format = "table", metrics_out;
  int64_t threads = 0, ranks = 0;
  DataParallelFlags data_parallel;
  bool resume = false, profile = false;
  base::FlagSet flags("slimtrain train",
                      "Trains a model on this machine with a memory strategy, showing progress, and prints a summary:\n"
                      "test accuracy, time, images/s, and planned against measured memory. --checkpoint with\n"
                      "--resume continues an interrupted run exactly; --output exports the weights as\n"
                      "safetensors with PyTorch's state_dict names.",
                      "slimtrain train --model zoo:fmnist_resnet --dataset fashion-mnist --strategy approx4 "
                      "--epochs 3");
  job.Register(flags);
  flags.String("backend", &backend_name, kBackendHelp);
  flags.Int("threads", &threads, "CPU threads (default: the machine's cores)");
  flags.String("checkpoint", &checkpoint, "write checkpoints to this file");
  flags.Bool("resume", &resume, "continue from --checkpoint when it exists");
  flags.String("output", &output, "export the trained weights to this .safetensors file");
  flags.String("format", &format, "summary as table or json");
  flags.String("metrics-out", &metrics_out, "append every step's and evaluation's metrics to this file, JSON lines");
  flags.Bool("profile", &profile,
             "time every step of the schedule by kind and op and print where the time went (waits for the "
             "device after each step: slower on a GPU)");
  flags.Int("ranks", &ranks,
            "data-parallel processes on this host, run with mpirun; each takes --batch examples a step "
            "(default: one, or as many as mpirun -np or srun started)");
  data_parallel.Register(flags);
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (format != "table" && format != "json") {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--format: '", format, "' is not table or json")));
  }
  if (resume && checkpoint.empty()) return Fail(absl::InvalidArgumentError("--resume needs --checkpoint FILE"));
  if (ranks < 0 || ranks > 4096) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--ranks: ", ranks, ", must be in [1, 4096] (or 0: as many as the launcher started)")));
  }
  if (absl::Status s = data_parallel.Check(); !s.ok()) return Fail(s);
  // This process's place in a data-parallel job: mpirun's or srun's, or
  // alone. `--ranks N` outside a launcher starts mpirun with N of us.
  absl::StatusOr<engine::comm::LaunchInfo> launch =
      engine::comm::ParseLaunchEnvironment(engine::comm::ProcessEnvironment());
  if (!launch.ok()) return Fail(launch.status());
  if (ranks > 1 && !launch->launched()) return RunUnderMpirun(ranks, args);
  if (ranks > 0 && launch->launched() && ranks != launch->size) {
    return Fail(absl::InvalidArgumentError(absl::StrFormat("--ranks: %d, but %s started %d ranks", ranks,
                                                           launch->launcher, launch->size)));
  }
  absl::StatusOr<std::unique_ptr<engine::comm::Communicator>> comm =
      engine::comm::CommunicatorFromEnvironment(engine::comm::CommunicatorOptions());
  if (!comm.ok()) return Fail(comm.status());
  const bool lead = (*comm)->rank() == 0;  // prints, writes the weights and the metrics
  if (!lead) {  // the other ranks report only failures
    g_rank_prefix = absl::StrCat("rank ", (*comm)->rank(), ": ");
    std::cerr.setstate(std::ios::failbit);
  }
  if (threads == 0 && (*comm)->size() > 1) {  // the cores shared among this host's ranks
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    const int64_t here = local != nullptr ? std::max(1, std::atoi(local)) : (*comm)->size();
    threads = CoresPerRank(here);
  }
  absl::StatusOr<v1::JobSpec> spec = job.ToSpec();
  if (!spec.ok()) return Fail(spec.status());
  // A data-parallel rank on a GPU takes its local rank's: one GPU per rank.
  const int device = (*comm)->size() > 1 ? (*comm)->local_rank() : 0;
  absl::StatusOr<std::unique_ptr<engine::Backend>> backend =
      MakeBackend(backend_name, threads, spec->allow_tf32(), device);
  if (!backend.ok()) return Fail(backend.status());
  // Its gradients and parameters then go over NCCL, its step's scalars over
  // MPI (declared before the trainer, which it outlives).
  absl::StatusOr<std::unique_ptr<engine::comm::Communicator>> gradients =
      engine::MakeGradientCommunicator(**backend, **comm, device, engine::comm::CommunicatorOptions());
  if (!gradients.ok()) return Fail(gradients.status());

  engine::TrainerOptions options;
  options.checkpoint_path = checkpoint;
  options.resume = resume;
  options.communicator = comm->get();
  options.gradient_communicator = gradients->get();
  options.bucket_bytes = data_parallel.bucket_mib << 20;
  options.overlap_communication = data_parallel.overlap;
  options.sync_batch_norm = data_parallel.sync_bn;
  options.profile = profile;
  std::cerr << "slimtrain train: loading data and planning memory"
            << (spec->strategy() == "mixed" && spec->sensitivity().tensors_size() == 0
                    ? " (mixed: first measuring each saved tensor's sensitivity on 2 batches, 3 passes per tensor)"
                    : "")
            << "...\n";
  absl::StatusOr<std::unique_ptr<engine::Trainer>> trainer = engine::Trainer::Create(*spec, backend->get(), options);
  if (!trainer.ok()) return Fail(trainer.status());
  engine::Trainer& t = **trainer;
  if (spec->model().has_onnx() && t.step() == 0) {  // the trainer set them
    std::cerr << absl::StrFormat("initial weights: %s's initializers\n", job.model_file);
  }
  const v1::MemoryPlan& plan = t.executor().plan();
  std::cerr << absl::StrFormat("%s, %s, batch %d on %s (%s): %d steps, %d per epoch; plan: arena %s, peak %s\n",
                               t.graph().spec().name(), plan.strategy(), spec->batch_size(),
                               (*backend)->host_addressable() ? "the CPU" : "the GPU", (*backend)->name(), t.total_steps(),
                               t.steps_per_epoch(), base::FormatBytes(plan.arena_bytes()),
                               base::FormatBytes(plan.peak_bytes()));
  if (!plan.choice().empty()) std::cerr << plan.strategy() << ": " << plan.choice() << "\n";

  if ((*comm)->size() > 1) {
    std::cerr << absl::StrFormat("data-parallel: %d ranks (%s), %d examples a step in all; gradients in %d buckets\n",
                                 (*comm)->size(), launch->launcher, spec->batch_size() * (*comm)->size(),
                                 t.executor().gradient_buckets().size());
  }
  std::ofstream metrics_file;
  if (!metrics_out.empty() && lead) {
    metrics_file.open(metrics_out, std::ios::app);
    if (!metrics_file) return Fail(absl::NotFoundError(absl::StrCat("--metrics-out: cannot open ", metrics_out)));
  }
  const bool tty = isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  const int64_t first_step = t.step();
  double last_loss = 0, last_accuracy = 0, rate = 0, eval_loss = -1, eval_accuracy = -1;
  int64_t measured = 0;
  const int64_t every = std::max<int64_t>(1, t.total_steps() / 20);
  // A regression (mse_loss) has a loss and no accuracy.
  const bool regression = planner::TargetsPerExample(t.graph()) > 0;
  auto accuracy_text = [regression](double accuracy, const char* format) {
    return regression ? std::string() : absl::StrFormat(format, 100 * accuracy);
  };
  // A language model's examples are sequences: its rate in tokens.
  const int64_t tokens = planner::TokenVocabulary(t.graph()) > 0 ? planner::NumElements(t.graph().node(0).out) : 0;
  auto rate_text = [tokens](double per_second, bool brief) {
    if (tokens == 0) return absl::StrFormat(brief ? "%.0f img/s" : "%.0f images/s", per_second);
    const double token_rate = per_second * static_cast<double>(tokens);
    return brief ? absl::StrFormat("%.0f tok/s", token_rate)
                 : absl::StrFormat("%.1f sequences/s (%.0f tokens/s)", per_second, token_rate);
  };
  engine::TrainerCallbacks callbacks;
  callbacks.on_metrics = [&](const v1::Metrics& m) {
    measured = std::max(measured, m.measured_peak_bytes());
    if (metrics_file.is_open()) {
      std::string line;
      google::protobuf::util::JsonPrintOptions print;
      print.preserve_proto_field_names = true;
      (void)google::protobuf::util::MessageToJsonString(m, &line, print);
      metrics_file << line << "\n" << std::flush;
    }
    if (m.has_eval()) {  // the trainer's log line says it
      eval_loss = m.eval_loss();
      eval_accuracy = m.eval_accuracy();
      return;
    }
    last_loss = m.loss();
    last_accuracy = m.accuracy();
    rate = m.images_per_second();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double eta = elapsed / std::max<int64_t>(1, m.step() - first_step) * (t.total_steps() - m.step());
    const int width = 20, filled = static_cast<int>(width * m.step() / std::max<int64_t>(1, t.total_steps()));
    const std::string line = absl::StrFormat(
        "step %*d/%d [%s%s] %3d%% | epoch %d/%d | loss %.4f%s | %s | ETA %s",
        static_cast<int>(absl::StrCat(t.total_steps()).size()), m.step(), t.total_steps(), std::string(filled, '#'),
        std::string(width - filled, '-'), static_cast<int>(100 * m.step() / std::max<int64_t>(1, t.total_steps())),
        m.epoch() + 1, std::max<int64_t>(1, (t.total_steps() + t.steps_per_epoch() - 1) / t.steps_per_epoch()),
        m.loss(), accuracy_text(m.accuracy(), " | acc %5.1f%%"), rate_text(rate, true),
        Duration(eta));
    if (tty) {
      std::cerr << "\r\033[K" << line << std::flush;
    } else if (m.step() % every == 0 || m.step() == t.total_steps()) {
      std::cerr << line << "\n";
    }
  };
  callbacks.on_log = [&](const std::string& line) { std::cerr << (tty ? "\r\033[K" : "") << line << "\n"; };
  const absl::Status run = t.Run(callbacks);
  if (tty) std::cerr << "\n";
  if (!run.ok()) return Fail(run);
  if (!lead) return 0;  // rank 0 writes the weights and the summary
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!output.empty()) {
    if (absl::Status s = engine::WriteWeights(output, t.executor().params(), t.executor().steps_run(),
                                              engine::MetadataEntries(t.data_metadata()));
        !s.ok()) {
      return Fail(s);
    }
  }
  const int64_t steps_done = t.step() - first_step;
  if (format == "json") {
    std::cout << absl::StrFormat(
        "{\n  \"model\": \"%s\",\n  \"strategy\": \"%s\",\n  \"steps\": %d,\n  \"seconds\": %.3f,\n"
        "  \"images_per_second\": %.1f,\n  \"train_loss\": %.6f,\n  \"train_accuracy\": %.6f,\n"
        "  \"test_loss\": %.6f,\n  \"test_accuracy\": %.6f,\n  \"planned_peak_bytes\": %d,\n"
        "  \"arena_bytes\": %d,\n  \"measured_peak_bytes\": %d,\n  \"other_bytes\": %d,\n  \"weights\": \"%s\",\n"
        "  \"ranks\": %d,\n  \"communication_wait_seconds\": %.3f,\n  \"communication_exposed_seconds\": %.3f%s\n}\n",
        t.graph().spec().name(), plan.strategy(), t.step(), seconds, rate, last_loss, last_accuracy, eval_loss,
        eval_accuracy, plan.peak_bytes(), plan.arena_bytes(), measured, t.other_bytes(), output, (*comm)->size(),
        t.communication_wait_seconds(), t.communication_exposed_seconds(), ProfileJson(t.executor().profile()));
  } else {
    std::cout << absl::StrFormat("trained %s with %s: %d steps in %s, training at %s\n", t.graph().spec().name(),
                                 plan.strategy(), steps_done, Duration(seconds), rate_text(rate, false));
    if ((*comm)->size() > 1) {
      std::cout << absl::StrFormat(
          "data-parallel: %d ranks; %.1f%% of the time waiting for gradient sums after backward, %.1f%% not hidden "
          "by backward on any rank\n",
          (*comm)->size(), 100 * t.communication_wait_seconds() / std::max(seconds, 1e-9),
          100 * t.communication_exposed_seconds() / std::max(seconds, 1e-9));
    }
    std::cout << absl::StrFormat("last batch: loss %.4f%s\n", last_loss,
                                 accuracy_text(last_accuracy, ", accuracy %.2f%%"));
    if (eval_accuracy >= 0) {
      std::cout << absl::StrFormat("test set: loss %.4f%s\n", eval_loss, accuracy_text(eval_accuracy, ", accuracy %.2f%%"));
    }
    std::cout << absl::StrFormat(
        "memory: planned peak %s (arena %s), measured %s for training, %s more before it (code, libraries, data; "
        "peak resident %s)\n",
        base::FormatBytes(plan.peak_bytes()), base::FormatBytes(plan.arena_bytes()),
        base::FormatBytes(std::max<int64_t>(0, measured - t.other_bytes())), base::FormatBytes(t.other_bytes()),
        base::FormatBytes(measured));
    if (!output.empty()) std::cout << "weights: " << output << "\n";
    if (!checkpoint.empty()) std::cout << "checkpoint: " << checkpoint << "\n";
    if (profile) {
      std::cout << "\ntime per step of the schedule, training and evaluation (--profile):\n"
                << engine::FormatProfile(t.executor().profile());
    }
  }
  return 0;
}

}  // namespace slimtrain::client
