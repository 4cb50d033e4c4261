// bench/gpu_train_bench — slimtrain training on the CUDA backend: the zoo's
// CIFAR ResNet-56 and ResNet-164 at batch 128 on synthetic 3x32x32 data, for
// the strategies exact, approx4 and checkpoint, with TF32 off (true fp32) and
// on. PyTorch's side is bench/torch_gpu_bench.py; tools/device/check.sh runs
// both and prints them side by side.
//
//   gpu_train_bench [--models resnet56,resnet164] [--batch 128] [--steps 10]
//                   [--warmup 3] [--tf32 off,on] [--strategies exact,approx4,checkpoint]
//                   [--profile on]
//
// Per TF32 setting one backend; per model and strategy one executor:
//   images/s   batch × steps / seconds of `steps` training steps after
//              `warmup` steps, the backend synchronized before the clock
//              starts and before it stops;
//   planned    the plan's peak_bytes: arena + parameters + gradients +
//              optimizer state (and the arena alone);
//   measured   CudaDeviceBytesInUse (cudaMemGetInfo's total − free, the
//              whole device) after the timed steps, minus the baseline: the
//              bytes in use after the backend was created and one warm-up
//              executor of the same model and batch (exact) ran a training
//              step and was destroyed, so the CUDA context, the cuDNN and
//              cuBLAS handles and what they allocate on first use are not
//              counted. The device allocates whole 2 MiB pages.
// --profile on: each run also prints the executor's time per step of the
// schedule by kind and op (engine::FormatProfile; every step then waits for
// the device, so images/s is lower).
// Prints a table and, for tools/device/summary.py, one line per run:
//   RESULT {"bench": "slimtrain", "model": ..., "strategy": ..., "tf32": ..., ...}
// Without a GPU (or without CUDA in the build) prints "no GPU: <reason>" and
// exits 0.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "base/units.h"
#include "engine/backend.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/executor.h"
#include "planner/graph.h"
#include "planner/strategy.h"
#include "planner/zoo.h"

namespace slimtrain {
namespace {

using base::FormatBytes;
using planner::Strategy;

struct Options {
  std::vector<std::string> models = {"resnet56", "resnet164"};
  std::vector<Strategy> strategies = {Strategy::kExact, Strategy::kApprox4, Strategy::kCheckpoint};
  std::vector<bool> tf32 = {false, true};
  int64_t batch = 128;
  int steps = 10, warmup = 3;
  bool profile = false;
};

struct Run {
  std::string model;
  Strategy strategy = Strategy::kExact;
  bool tf32 = false;
  double images_per_second = 0, step_ms = 0, loss = 0;
  int64_t planned_peak = 0, arena = 0, measured = 0, baseline = 0;
  std::string error;  // empty when it ran
};

struct Data {
  std::vector<float> images;  // (N,3,32,32)
  std::vector<int32_t> labels;
};

Data Synthetic(const planner::Graph& g, int64_t batch) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  Data d;
  d.images.resize(batch * planner::NumElements(g.node(0).out));
  for (float& v : d.images) v = normal(rng);
  for (int64_t i = 0; i < batch; ++i) d.labels.push_back(static_cast<int32_t>(rng() % 10));
  return d;
}

absl::StatusOr<std::unique_ptr<engine::Executor>> MakeExecutor(const planner::Graph& g, Strategy s, int64_t batch,
                                                               engine::Backend* backend, bool profile = false) {
  engine::ExecutorOptions options;
  options.profile = profile;
  options.optimizer.kind = "sgd";
  options.optimizer.momentum = 0.9;
  return engine::Executor::Create(g, s, batch, backend, options);
}

// One strategy on `backend`, whose baseline is already taken.
Run RunOne(const planner::Graph& g, const Data& data, Strategy s, engine::Backend* backend, int64_t baseline,
           const Options& o) {
  Run r;
  r.strategy = s;
  r.baseline = baseline;
  absl::StatusOr<std::unique_ptr<engine::Executor>> exec = MakeExecutor(g, s, o.batch, backend, o.profile);
  if (!exec.ok()) {
    r.error = std::string(exec.status().message());
    return r;
  }
  auto step = [&]() -> bool {
    absl::StatusOr<engine::StepResult> result = (*exec)->TrainStep(data.images.data(), data.labels.data(), 0.05);
    if (!result.ok()) {
      r.error = std::string(result.status().message());
      return false;
    }
    r.loss = result->loss;
    return true;
  };
  for (int i = 0; i < o.warmup; ++i) {
    if (!step()) return r;
  }
  backend->Synchronize();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < o.steps; ++i) {
    if (!step()) return r;
  }
  backend->Synchronize();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.images_per_second = static_cast<double>(o.batch) * o.steps / seconds;
  r.step_ms = 1e3 * seconds / o.steps;
  r.measured = engine::CudaDeviceBytesInUse(0) - baseline;
  r.planned_peak = (*exec)->plan().peak_bytes();
  r.arena = (*exec)->plan().arena_bytes();
  if (absl::Status error = backend->ConsumeError(); !error.ok()) r.error = std::string(error.message());
  if (o.profile) {
    std::printf("\n%s %s, %d warm-up and %d timed steps:\n%s", g.spec().name().c_str(), planner::StrategyName(s),
                o.warmup, o.steps, engine::FormatProfile((*exec)->profile()).c_str());
  }
  return r;
}

std::string Json(const Run& r, int64_t batch) {
  return absl::StrFormat(R"({"bench": "slimtrain", "model": "%s", "strategy": "%s", "tf32": %s, "batch": %d, )"
                         R"("images_per_second": %.3f, "step_ms": %.4f, "planned_peak_bytes": %d, "arena_bytes": %d, )"
                         R"("measured_bytes": %d, "baseline_bytes": %d, "loss": %.6f, "error": "%s"})",
                         r.model, planner::StrategyName(r.strategy), r.tf32 ? "true" : "false", batch,
                         r.images_per_second, r.step_ms, r.planned_peak, r.arena, r.measured, r.baseline, r.loss,
                         absl::StrReplaceAll(r.error, {{"\"", "'"}}));
}

bool ParseFlags(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", flag.c_str());
      return false;
    }
    const std::string value = argv[i + 1];
    if (flag == "--models") {
      o->models = absl::StrSplit(value, ',', absl::SkipEmpty());
    } else if (flag == "--batch") {
      o->batch = std::atoll(value.c_str());
    } else if (flag == "--steps") {
      o->steps = std::atoi(value.c_str());
    } else if (flag == "--warmup") {
      o->warmup = std::atoi(value.c_str());
    } else if (flag == "--tf32") {
      o->tf32.clear();
      for (absl::string_view v : absl::StrSplit(value, ',', absl::SkipEmpty())) o->tf32.push_back(v == "on");
    } else if (flag == "--profile") {
      if (value != "on" && value != "off") {
        std::fprintf(stderr, "--profile: '%s' is not on or off\n", value.c_str());
        return false;
      }
      o->profile = value == "on";
    } else if (flag == "--strategies") {
      o->strategies.clear();
      for (absl::string_view v : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        absl::StatusOr<Strategy> s = planner::ParseStrategy(v);
        if (!s.ok()) {
          std::fprintf(stderr, "--strategies: %s\n", std::string(s.status().message()).c_str());
          return false;
        }
        o->strategies.push_back(*s);
      }
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return false;
    }
  }
  if (o->batch <= 0 || o->steps <= 0 || o->warmup < 0) {
    std::fprintf(stderr, "--batch and --steps must be positive, --warmup not negative\n");
    return false;
  }
  return true;
}

int Main(int argc, char** argv) {
  Options o;
  if (!ParseFlags(argc, argv, &o)) return 2;
  {
    absl::StatusOr<std::unique_ptr<engine::Backend>> probe = engine::NewCudaBackend({});
    if (!probe.ok()) {
      std::printf("no GPU: %s\n", std::string(probe.status().message()).c_str());
      return 0;
    }
  }
  std::printf(
      "slimtrain on the CUDA backend: batch %lld, %d timed steps after %d warm-up steps, SGD momentum 0.9, "
      "synthetic data\n\n",
      static_cast<long long>(o.batch), o.steps, o.warmup);
  std::printf("%-10s %-11s %-5s %10s %9s %12s %12s %12s %8s\n", "model", "strategy", "tf32", "images/s", "step ms",
              "planned", "arena", "measured", "loss");
  std::vector<Run> runs;
  // One backend per TF32 setting (creating one loads cuDNN and cuBLAS).
  for (const bool tf32 : o.tf32) {
    absl::StatusOr<std::unique_ptr<engine::Backend>> backend = engine::NewCudaBackend({0, tf32});
    if (!backend.ok()) {
      std::printf("tf32 %s: %s\n", tf32 ? "on" : "off", std::string(backend.status().message()).c_str());
      continue;
    }
    for (const std::string& model : o.models) {
      absl::StatusOr<v1::ModelSpec> spec = planner::ZooModel(model);
      if (!spec.ok()) {
        std::printf("%s: %s\n", model.c_str(), std::string(spec.status().message()).c_str());
        continue;
      }
      const planner::Graph g = planner::Graph::Build(*spec).value();
      const Data data = Synthetic(g, o.batch);
      {  // Warm-up: first-use allocations of cuDNN and cuBLAS belong to the baseline.
        absl::StatusOr<std::unique_ptr<engine::Executor>> warm =
            MakeExecutor(g, Strategy::kExact, o.batch, backend->get());
        if (warm.ok()) (void)(*warm)->TrainStep(data.images.data(), data.labels.data(), 0.05);
        (*backend)->Synchronize();
        (void)(*backend)->ConsumeError();
      }
      for (const Strategy s : o.strategies) {
        const int64_t baseline = engine::CudaDeviceBytesInUse(0);
        Run r = RunOne(g, data, s, backend->get(), baseline, o);
        r.model = model;
        r.tf32 = tf32;
        std::printf("%-10s %-11s %-5s %10.1f %9.2f %12s %12s %12s %8.4f%s\n", model.c_str(), planner::StrategyName(s),
                    tf32 ? "on" : "off", r.images_per_second, r.step_ms, FormatBytes(r.planned_peak).c_str(),
                    FormatBytes(r.arena).c_str(), FormatBytes(r.measured).c_str(), r.loss,
                    r.error.empty() ? "" : ("  ERROR " + r.error).c_str());
        std::fflush(stdout);
        runs.push_back(r);
      }
    }
  }
  std::printf("\n");
  for (const Run& r : runs) std::printf("RESULT %s\n", Json(r, o.batch).c_str());
  return 0;
}

}  // namespace
}  // namespace slimtrain

int main(int argc, char** argv) { return slimtrain::Main(argc, argv); }
