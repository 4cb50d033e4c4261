// bench/engine_cpu — slimtrain's fast CPU backend against PyTorch 1.13 (CPU),
// training the same CIFAR-shaped ResNet-56 and ResNet-164 at batch 128 on
// synthetic data, at the same thread count, in one run (and, with --models,
// MobileNetV2 and ViT-Tiny for CIFAR, and the nanoGPT decoder on token
// sequences at --sequence-batch).
//
//   tools/setup.sh --bench            # Debian's python3-torch, once
//   bazel run -c opt //bench:engine_cpu_bench -- --threads 2 --steps 5
//
// Each configuration runs in a process of its own (a forked child for
// slimtrain, bench/pytorch_cpu.py for PyTorch, which tries NCHW and
// channels_last and keeps the faster), so each peak resident memory (VmHWM,
// ru_maxrss) is its own. Prints images/s and peak memory side by side with
// the ratios, and the targets: slimtrain exact >= PyTorch (aim 1.2x);
// approx4 within 10% of slimtrain exact; approx4's peak <= 0.25x PyTorch's.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/units.h"
#include "engine/batches.h"
#include "engine/cpu/fast_backend.h"
#include "engine/data.h"
#include "engine/executor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "planner/zoo.h"

namespace slimtrain {
namespace {

struct Result {
  double images_per_second = 0;
  int64_t peak_rss = 0;      // whole process
  int64_t baseline_rss = 0;  // before the first step (libraries, model, data; slimtrain: plus its arena)
  int64_t planned_peak = 0;  // slimtrain only
  std::string note;
};

int64_t VmBytes(const char* key) {
  std::ifstream status("/proc/self/status");
  std::string k;
  while (status >> k) {
    if (k == key) {
      int64_t kib = 0;
      status >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

// Runs in the child: trains `steps` steps after `warmup` and writes a Result.
Result RunSlimtrain(const std::string& model, planner::Strategy strategy, int64_t batch, int threads, int steps,
                    int warmup) {
  Result r;
  const planner::Graph g = planner::Graph::Build(planner::ZooModel(model).value()).value();
  engine::FastBackend backend(threads);
  auto exec = engine::Executor::Create(g, strategy, batch, &backend, {});
  if (!exec.ok()) {
    r.note = std::string(exec.status().message());
    return r;
  }
  // One synthetic batch (token sequences for a language model).
  const engine::Dataset data = engine::SyntheticDatasetFor(g, batch, 1, engine::Split::kTrain);
  engine::BatchIterator batches(data, batch, {}, 1);
  std::vector<float> images(batch * data.example_elements());
  std::vector<int32_t> labels(batch * data.labels_per_example);
  batches.Next(images.data(), labels.data());
  r.baseline_rss = VmBytes("VmRSS:");
  auto start = std::chrono::steady_clock::now();
  // A failed step (a NaN loss) would time a shorter step: it is reported.
  for (int i = 0; i < warmup + steps; ++i) {
    if (i == warmup) start = std::chrono::steady_clock::now();
    if (absl::StatusOr<engine::StepResult> s = (*exec)->TrainStep(images.data(), labels.data(), 0.1); !s.ok()) {
      r.note = absl::StrFormat("step %d failed: %s", i, s.status().message());
      return r;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.images_per_second = batch * steps / seconds;
  r.peak_rss = VmBytes("VmHWM:");
  r.planned_peak = (*exec)->plan().peak_bytes();
  return r;
}

// Forks, runs RunSlimtrain in the child, reads its Result from a pipe.
Result InChild(const std::string& model, planner::Strategy strategy, int64_t batch, int threads, int steps,
               int warmup) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const Result r = RunSlimtrain(model, strategy, batch, threads, steps, warmup);
    const std::string line = absl::StrFormat("%.6f %d %d %d %s\n", r.images_per_second, r.peak_rss,
                                             r.baseline_rss, r.planned_peak, r.note.empty() ? "-" : r.note);
    (void)!write(fds[1], line.data(), line.size());
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, n);
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  Result r;
  long long peak = 0, base = 0, planned = 0;
  char note[256] = "";
  if (std::sscanf(text.c_str(), "%lf %lld %lld %lld %255[^\n]", &r.images_per_second, &peak, &base, &planned,
                  note) >= 4) {
    r.peak_rss = peak;
    r.baseline_rss = base;
    r.planned_peak = planned;
    if (std::strcmp(note, "-") != 0) r.note = note;
  } else {
    r.note = "the child printed nothing";
  }
  return r;
}

Result RunPytorch(const std::string& model, int64_t batch, int threads, int steps, int warmup,
                  const std::string& script, std::string* layout) {
  Result r;
  const std::string command = absl::StrFormat("/usr/bin/python3 %s --model %s --batch %d --threads %d --steps %d "
                                              "--warmup %d 2>&1",
                                              script, model, batch, threads, steps, warmup);
  FILE* pipe = popen(command.c_str(), "r");
  std::string text;
  char buf[4096];
  size_t n;
  while (pipe != nullptr && (n = fread(buf, 1, sizeof(buf), pipe)) > 0) text.append(buf, n);
  if (pipe == nullptr || pclose(pipe) != 0) {
    r.note = "PyTorch run failed (tools/setup.sh --bench installs python3-torch): " + text.substr(0, 300);
    return r;
  }
  google::protobuf::Struct s;
  // The summary is the last line.
  std::string last = text;
  while (!last.empty() && last.back() == '\n') last.pop_back();
  last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
  if (!google::protobuf::util::JsonStringToMessage(last, &s).ok()) {
    r.note = "unreadable output: " + last;
    return r;
  }
  const auto& f = s.fields();
  r.images_per_second = f.at("images_per_second").number_value();
  r.peak_rss = static_cast<int64_t>(f.at("peak_rss_bytes").number_value());
  r.baseline_rss = static_cast<int64_t>(f.at("baseline_rss_bytes").number_value());
  *layout = f.at("best_layout").string_value();
  return r;
}

int Main(int argc, char** argv) {
  int threads = 2, steps = 5, warmup = 2;
  int64_t batch_images = 128, sequence_batch = 8;
  std::string script = "bench/pytorch_cpu.py";
  std::vector<std::string> models = {"resnet56", "resnet164"};
  const char* usage =
      "usage: engine_cpu_bench [--threads N (2)] [--steps N (5)] [--warmup N (2)] [--batch N (128)]\n"
      "                        [--sequence-batch N (8): nanogpt's, 256-token sequences]\n"
      "                        [--models resnet56,resnet164; also mobilenet_v2_cifar, vit_tiny_cifar, nanogpt]\n"
      "                        [--pytorch-script bench/pytorch_cpu.py]\n";
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf("%s", usage);
      return 0;
    }
    const bool known = flag == "--threads" || flag == "--steps" || flag == "--warmup" || flag == "--batch" ||
                       flag == "--pytorch-script" || flag == "--models" || flag == "--sequence-batch";
    if (!known || i + 1 >= argc) {
      std::fprintf(stderr, "engine_cpu_bench: %s '%s'\n%s", known ? "no value for" : "unknown flag", flag.c_str(),
                   usage);
      return 2;
    }
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    if (flag == "--steps") steps = std::atoi(argv[i + 1]);
    if (flag == "--warmup") warmup = std::atoi(argv[i + 1]);
    if (flag == "--batch") batch_images = std::atoll(argv[i + 1]);
    if (flag == "--sequence-batch") sequence_batch = std::atoll(argv[i + 1]);
    if (flag == "--pytorch-script") script = argv[i + 1];
    if (flag == "--models") models = absl::StrSplit(argv[i + 1], ',', absl::SkipEmpty());
  }
  // `bazel run` starts in the runfiles tree; find the script from the workspace.
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY"); ws != nullptr && script[0] != '/') {
    script = std::string(ws) + "/" + script;
  }
  using base::FormatBytes;
  std::printf("batch %lld (language models %lld), %d threads, %d timed steps after %d warm-up steps, synthetic "
              "3x32x32 data (token sequences for language models)\n\n",
              static_cast<long long>(batch_images), static_cast<long long>(sequence_batch), threads, steps, warmup);
  std::printf("%-10s %-26s %10s %9s %11s %9s %12s %12s\n", "model", "trainer", "examples/s", "vs torch",
              "peak RSS", "vs torch", "planned", "RSS at start");
  std::vector<std::string> verdicts;
  for (const std::string& model : models) {
    // A language model's example is a sequence: its rate in tokens too.
    const planner::Graph g = planner::Graph::Build(planner::ZooModel(model).value()).value();
    const int64_t tokens = planner::TokenVocabulary(g) > 0 ? planner::NumElements(g.node(0).out) : 0;
    const int64_t batch = tokens > 0 ? sequence_batch : batch_images;
    std::string layout;
    const Result torch = RunPytorch(model, batch, threads, steps, warmup, script, &layout);
    if (!torch.note.empty()) std::printf("%s: %s\n", model.c_str(), torch.note.c_str());
    std::printf("%-10s %-26s %10.1f %9s %11s %9s %12s %12s\n", model.c_str(),
                ("pytorch 1.13 " + layout).c_str(), torch.images_per_second, "1.00x",
                FormatBytes(torch.peak_rss).c_str(), "1.00x", "-", FormatBytes(torch.baseline_rss).c_str());
    Result exact;
    for (planner::Strategy s :
         {planner::Strategy::kExact, planner::Strategy::kApprox4, planner::Strategy::kCheckpoint}) {
      const Result r = InChild(model, s, batch, threads, steps, warmup);
      if (!r.note.empty()) std::printf("%s %s: %s\n", model.c_str(), planner::StrategyName(s), r.note.c_str());
      if (s == planner::Strategy::kExact) exact = r;
      auto ratio = [](double a, double b) { return b > 0 ? absl::StrFormat("%.2fx", a / b) : std::string("-"); };
      std::printf("%-10s %-26s %10.1f %9s %11s %9s %12s %12s\n", model.c_str(),
                  (std::string("slimtrain ") + planner::StrategyName(s)).c_str(), r.images_per_second,
                  ratio(r.images_per_second, torch.images_per_second).c_str(), FormatBytes(r.peak_rss).c_str(),
                  ratio(static_cast<double>(r.peak_rss), static_cast<double>(torch.peak_rss)).c_str(),
                  FormatBytes(r.planned_peak).c_str(), FormatBytes(r.baseline_rss).c_str());
      if (s == planner::Strategy::kExact && torch.images_per_second > 0) {
        verdicts.push_back(absl::StrFormat("%s: slimtrain exact %.2fx PyTorch's speed (target >= 1.0, aim 1.2)%s",
                                           model, r.images_per_second / torch.images_per_second,
                                           tokens > 0 ? absl::StrFormat("; %.0f against %.0f tokens/s",
                                                                        r.images_per_second * tokens,
                                                                        torch.images_per_second * tokens)
                                                      : std::string()));
      }
      if (s == planner::Strategy::kApprox4) {
        verdicts.push_back(absl::StrFormat("%s: approx4 %.2fx slimtrain exact's speed (target >= 0.90)", model,
                                           r.images_per_second / exact.images_per_second));
        if (torch.peak_rss > 0) {
          verdicts.push_back(absl::StrFormat("%s: approx4 peak RSS %.2fx PyTorch's (target <= 0.25)", model,
                                             static_cast<double>(r.peak_rss) / torch.peak_rss));
        }
      }
    }
  }
  std::printf("\n");
  for (const std::string& v : verdicts) std::printf("%s\n", v.c_str());
  return 0;
}

}  // namespace
}  // namespace slimtrain

int main(int argc, char** argv) { return slimtrain::Main(argc, argv); }
