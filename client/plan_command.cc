// slimtrain plan: memory plans of a model at a batch size, per strategy.
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/flags.h"
#include "base/units.h"
#include "client/backend_choice.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/job_flags.h"
#include "client/model_flags.h"
#include "client/plan_render.h"
#include "planner/cost_model.h"
#include "planner/data_parallel.h"
#include "planner/plan_request.h"
#include "planner/planner.h"
#include "planner/strategy.h"

namespace slimtrain::client {
namespace {

// --threads above this is a typo, not a machine.
constexpr int64_t kMaxThreads = 4096;

int Fail(const absl::Status& status) {
  std::cerr << "slimtrain plan: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int RunPlanCommand(const std::vector<std::string>& args) {
  std::string model, model_file, strategies = "all", optimizer = planner::kDefaultOptimizer, budget, device = "cpu", format = "table",
                                  svg, arena_csv, sensitivity;
  int64_t batch = 0, alignment = 0, ranks = 1, threads = 0;
  double arena_exact_seconds = planner::PlanOptions().arena_exact_seconds;
  DataParallelFlags data_parallel;
  bool max_batch = false, buffers = false;
  base::FlagSet flags("slimtrain plan",
                      "Computes, before any training, the memory one training step of a model takes at a batch\n"
                      "size under each strategy: every buffer packed into one arena, plus parameters, gradients\n"
                      "and optimizer state. The budget is the device's memory less its reserve unless --budget\n"
                      "is given.",
                      "slimtrain plan --model zoo:resnet164 --batch 128 --strategies exact,approx8,approx4,checkpoint\n"
                      "  slimtrain plan --server 127.0.0.1:50051 --token-file TOKENS --model zoo:resnet56 --batch 64");
  flags.String("model", &model, "zoo model, e.g. zoo:resnet164 (slimtrain zoo list)");
  flags.String("model-file", &model_file, "model file: protobuf text format, JSON or ONNX (detected by content)");
  flags.Int("batch", &batch, "examples per step (required; each rank's with --ranks)");
  flags.String("strategies", &strategies,
               "comma-separated: exact, approx8, approx4, approx2, naive8, naive4, checkpoint, "
               "checkpoint_optimal, mixed; 'all'; or 'auto' to choose one for the budget");
  flags.String("optimizer", &optimizer, "optimizer whose state is counted: sgd, adam, rmsprop");
  flags.String("budget", &budget, "memory to fit, e.g. 16GiB (default: the device's memory less its reserve)");
  flags.String("device", &device,
               "target: cpu, h200, a100-80gb, a100-40gb, v100-16gb, t4, or a GPU by number (cuda:0, ...): this "
               "machine's, or with --server the server's");
  flags.Bool("max-batch", &max_batch, "also find the largest batch that fits the budget, per strategy");
  flags.String("format", &format, "table or json");
  flags.String("svg", &svg, "write the arena picture to this file (one per strategy if several)");
  flags.String("arena-csv", &arena_csv,
               "write the buffers the arena packs to this CSV file, as `slimtrain arena --input` reads\n"
               "them: id,lower,upper,size,offset (one per strategy if several)");
  flags.Bool("buffers", &buffers, "json: include every buffer and step");
  flags.String("sensitivity", &sensitivity,
               "mixed: a `slimtrain calibrate` table to choose bits from (default: sensitivities assumed)");
  flags.Int("alignment", &alignment,
            "arena alignment in bytes (default: the cost model's: 64 on the CPU, as oneDNN's kernels, 256 on a "
            "GPU)");
  flags.Double("arena-exact-seconds", &arena_exact_seconds,
               "the arena's exact search per plan, on plans more than 0.5% above the lower bound, in [0, 60] "
               "(as a node budget: the same plan on any machine this fast or faster); 0: off");
  flags.Int("ranks", &ranks,
            "data-parallel: plan each of this many ranks (as `slimtrain train --ranks`): its gradient buckets in "
            "the arena and the bytes it communicates per step");
  flags.Int("threads", &threads,
            "CPU plans: the threads oneDNN's kernels run with, as `slimtrain train --threads` (their workspaces "
            "depend on it; default: the machine's cores, shared among --ranks); not with --server, which plans "
            "with its own");
  data_parallel.Register(flags);
  Connection conn;
  conn.Register(flags);  // with --server: the server plans
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (format != "table" && format != "json") {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--format: '", format, "' is not table or json")));
  }
  if (!flags.WasSet("batch")) return Fail(absl::InvalidArgumentError("--batch is required, e.g. --batch 128"));
  if (ranks < 1 || ranks > planner::kMaxRanks) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--ranks: ", ranks, ", must be in [1, ", planner::kMaxRanks, "]")));
  }
  if (absl::Status s = data_parallel.Check(); !s.ok()) return Fail(s);
  if (threads < 0 || threads > kMaxThreads) {
    return Fail(
        absl::InvalidArgumentError(absl::StrCat("--threads: ", threads, ", must be in [0, ", kMaxThreads, "]")));
  }
  if (flags.WasSet("threads") && flags.WasSet("server")) {
    return Fail(absl::InvalidArgumentError(
        "--threads: the server plans its CPU jobs with its own threads (its --cpu_threads); drop --threads or "
        "--server"));
  }
  if (flags.WasSet("threads") && device != "cpu") {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--threads: is for CPU plans; --device ", device, " plans count cuDNN's workspaces at their bounds")));
  }
  // "cuda:N" here: this machine's GPU N, planned as a server plans its own.
  std::vector<planner::DeviceProfile> local_gpus;
  if (absl::StartsWith(device, "cuda:") && !flags.WasSet("server")) {
    int index = -1;
    if (!absl::SimpleAtoi(device.substr(5), &index) || index < 0 || absl::StrCat("cuda:", index) != device) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--device ", device, ": not a GPU number (cuda:0, cuda:1, ...)")));
    }
    absl::StatusOr<planner::DeviceProfile> gpu = LocalGpuTarget(index);
    if (absl::IsNotFound(gpu.status())) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--device ", device, ": ", gpu.status().message())));
    }
    if (!gpu.ok()) {
      std::vector<std::string> profiles;
      for (const planner::DeviceProfile& p : planner::DeviceProfiles()) {
        if (p.gpu) profiles.push_back(p.name);
      }
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--device ", device, ": cannot plan for this machine's GPU ", index, " (", gpu.status().message(),
          "); add --server to plan for a server's GPU, or plan for a GPU profile (", absl::StrJoin(profiles, ", "),
          ")")));
    }
    local_gpus.push_back(*std::move(gpu));
  }
  if (!(arena_exact_seconds >= 0 && arena_exact_seconds <= planner::kMaxArenaExactSeconds)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--arena-exact-seconds: ", arena_exact_seconds,
                                                        ", must be in [0, ", planner::kMaxArenaExactSeconds, "]")));
  }
  v1::PlanMemoryRequest request;
  if (ranks > 1) {
    *request.mutable_data_parallel() = data_parallel.ToPlanning();
    request.mutable_data_parallel()->set_ranks(static_cast<int32_t>(ranks));
  }
  absl::StatusOr<v1::ModelRef> ref = ModelRefFromFlags(model, model_file);
  if (!ref.ok()) return Fail(ref.status());
  *request.mutable_model() = *ref;
  request.set_batch_size(batch);
  if (strategies != "all") {
    for (absl::string_view s : absl::StrSplit(strategies, ',', absl::SkipWhitespace())) {
      request.add_strategies(std::string(s));
    }
  }
  request.set_optimizer(optimizer);
  if (!budget.empty()) {
    absl::StatusOr<int64_t> bytes = base::ParseBytes(budget, "--budget");
    if (!bytes.ok()) return Fail(bytes.status());
    if (*bytes <= 0) return Fail(absl::InvalidArgumentError("--budget must be more than 0 bytes"));
    request.set_budget_bytes(*bytes);
  }
  request.set_device(device);
  request.set_max_batch(max_batch);
  for (const auto& [path, flag] : {std::pair(svg, "--svg"), std::pair(arena_csv, "--arena-csv")}) {
    if (absl::Status s = base::CheckOutputDirectory(path, flag); !s.ok()) return Fail(s);
  }
  request.set_include_buffers(buffers || !svg.empty() || !arena_csv.empty());
  request.set_alignment_bytes(alignment);
  if (flags.WasSet("arena-exact-seconds")) request.set_arena_exact_seconds(arena_exact_seconds);
  if (!sensitivity.empty()) {
    absl::StatusOr<v1::SensitivityTable> table = ReadSensitivityFile(sensitivity, "--sensitivity");
    if (!table.ok()) return Fail(table.status());
    *request.mutable_sensitivity() = *std::move(table);
  }

  if (max_batch) std::cerr << "slimtrain plan: searching the largest batch per strategy...\n";
  absl::StatusOr<v1::PlanMemoryResponse> response;
  if (flags.WasSet("server")) {
    absl::StatusOr<std::unique_ptr<v1::TrainingService::Stub>> stub = conn.Connect();
    if (!stub.ok()) return Fail(stub.status());
    v1::PlanMemoryResponse remote;
    const grpc::Status s = (*stub)->PlanMemory(conn.Context(absl::Minutes(5)).get(), request, &remote);
    if (!s.ok()) return Fail(conn.Explain(s));
    response = std::move(remote);
  } else {
    response = planner::AnswerPlanRequest(request, *MakePlanCostModel(device, threads, ranks), local_gpus);
  }
  if (!response.ok()) return Fail(response.status());
  RenderOptions render;
  render.format = format;
  render.max_batch = max_batch;
  render.buffers = buffers;
  render.svg = svg;
  render.arena_csv = arena_csv;
  if (absl::Status s = PrintPlans(*response, render, std::cout, std::cerr); !s.ok()) return Fail(s);
  return 0;
}

}  // namespace slimtrain::client
