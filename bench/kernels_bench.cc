// kernels_bench — per-op time of the fast CPU backend against the reference
// backend on ResNet-56's layers (CIFAR, 16/32/64 channels on 32x32/16x16/8x8)
// at batch 128, printed side by side.
//
//   bazel run //bench:kernels_bench -- [--batch=128] [--threads=0]
//       [--reference=true] [--min-seconds=0.3]
//
// Rates: GFLOP/s for conv2d and linear (2 per multiply-add); GB/s for the
// memory-bound ops, counting each tensor read or written once (e.g. BN
// forward 8 bytes per element, the 4-bit quantizer 4.5). Each time is the
// best of as many runs as fit in --min-seconds after one untimed warm-up
// (the reference's convolutions, about a second each, run once). Workspaces
// are exactly FastBackend::WorkspaceBytes for the layer in the ResNet-56
// graph.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "engine/backend.h"
#include "engine/cpu/fast_backend.h"
#include "engine/cpu/quant_kernels.h"
#include "engine/cpu/reference_backend.h"
#include "planner/graph.h"
#include "planner/zoo.h"

namespace slimtrain {
namespace {

using engine::Backend;
using engine::BatchNormMode;
using engine::Workspace;
using planner::Graph;
using planner::Node;
using planner::Pass;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The flags.
struct Options {
  int64_t batch = 128;
  int threads = 0;
  bool reference = true;
  double min_seconds = 0.3;
};

// Best time of fn over `budget` seconds (warm-up first when `warm`).
double Time(const std::function<void()>& fn, bool warm, double budget) {
  if (warm) fn();
  double best = 1e30, total = 0;
  int runs = 0;
  while (runs == 0 || (total < budget && runs < 1000)) {
    const double t0 = Now();
    fn();
    const double t = Now() - t0;
    best = std::min(best, t);
    total += t;
    ++runs;
  }
  return best;
}

std::vector<float> Random(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

struct Row {
  std::string op, layer, shape;
  double fast = 0, ref = -1;  // seconds; ref < 0: not measured
  double work = 0;            // FLOPs or bytes per run
  bool flops = true;
};

class Bench {
 public:
  Bench(const Graph& g, const Options& options)
      : g_(g),
        batch_(options.batch),
        fast_(options.threads),
        ref_(engine::DType::kF32),
        with_ref_(options.reference),
        min_seconds_(options.min_seconds) {}

  void Add(const std::string& op, const Node& n, double work, bool flops, const std::function<void(Backend&)>& fn) {
    Row r;
    r.op = op;
    r.layer = n.name;
    r.shape = absl::StrFormat("%s -> %s", planner::DimsString(n.input_dims.empty() ? n.out : n.input_dims[0]),
                              planner::DimsString(n.out));
    r.work = work;
    r.flops = flops;
    r.fast = Time([&] { fn(fast_); }, true, min_seconds_);
    if (with_ref_) r.ref = Time([&] { fn(ref_); }, false, min_seconds_);
    std::fprintf(stderr, "  %-22s %-24s done\n", op.c_str(), n.name.c_str());
    rows_.push_back(r);
  }

  const Node& N(const std::string& name) const {
    const int id = g_.Find(name);
    if (id < 0) {
      std::fprintf(stderr, "no layer %s in resnet56\n", name.c_str());
      std::exit(1);
    }
    return g_.node(id);
  }
  int64_t Elements(const Node& n) const { return batch_ * planner::NumElements(n.out); }
  int64_t InputElements(const Node& n) const { return batch_ * planner::NumElements(n.input_dims[0]); }
  Workspace Ws(const Node& n, Pass pass) {
    const int64_t bytes = fast_.WorkspaceBytes(g_, n, batch_, pass);
    workspaces_.emplace_back(static_cast<size_t>(bytes / 4 + 16));
    const uintptr_t p = reinterpret_cast<uintptr_t>(workspaces_.back().data());
    return Workspace{reinterpret_cast<void*>((p + 63) / 64 * 64), bytes};  // 64-byte aligned, as the arena
  }
  engine::FastBackend& fast() { return fast_; }
  int64_t batch() const { return batch_; }

  void Print() const {
    std::printf("\n%-22s %-22s %-24s %10s %10s %8s %14s %14s\n", "op", "layer", "shape (C,H,W per example)",
                "fast ms", "ref ms", "speedup", "fast rate", "ref rate");
    for (const Row& r : rows_) {
      const char* unit = r.flops ? "GFLOP/s" : "GB/s";
      const std::string ref_ms = r.ref < 0 ? "-" : absl::StrFormat("%.3f", r.ref * 1e3);
      const std::string speedup = r.ref < 0 ? "-" : absl::StrFormat("%.0fx", r.ref / r.fast);
      const std::string ref_rate = r.ref < 0 ? "-" : absl::StrFormat("%.2f %s", r.work / r.ref / 1e9, unit);
      std::printf("%-22s %-22s %-24s %10.3f %10s %8s %14s %14s\n", r.op.c_str(), r.layer.c_str(), r.shape.c_str(),
                  r.fast * 1e3, ref_ms.c_str(), speedup.c_str(),
                  absl::StrFormat("%.1f %s", r.work / r.fast / 1e9, unit).c_str(), ref_rate.c_str());
    }
  }

 private:
  const Graph& g_;
  int64_t batch_;
  engine::FastBackend fast_;
  engine::ReferenceBackend ref_;
  bool with_ref_;
  double min_seconds_;
  std::vector<Row> rows_;
  std::vector<std::vector<float>> workspaces_;
};

void Convs(Bench& b) {
  const int64_t batch = b.batch();
  for (const char* name : {"conv1", "layer1.0.conv1", "layer2.0.conv1", "layer2.0.downsample.0", "layer2.1.conv1",
                           "layer3.1.conv1"}) {
    const Node& n = b.N(name);
    const std::vector<float> x = Random(b.InputElements(n), 1), dy = Random(b.Elements(n), 2);
    const std::vector<float> w = Random(n.parameter_count, 3, -0.1f, 0.1f);
    std::vector<float> y(b.Elements(n)), dx(b.InputElements(n)), dw(n.parameter_count);
    const double flops = 2.0 * static_cast<double>(b.Elements(n)) * static_cast<double>(n.input_dims[0][0]) *
                         static_cast<double>(n.kernel_h * n.kernel_w);
    const Workspace fws = b.Ws(n, Pass::kForward), bws = b.Ws(n, Pass::kBackward);
    b.Add("conv2d forward", n, flops, true,
          [&](Backend& be) { be.Conv2dForward(n, batch, x.data(), w.data(), nullptr, y.data(), fws); });
    if (n.inputs[0] != 0) {
      b.Add("conv2d backward-data", n, flops, true,
            [&](Backend& be) { be.Conv2dBackwardData(n, batch, dy.data(), w.data(), dx.data(), false, bws); });
      if (std::string(name) == "layer1.0.conv1") {  // its input gradient is accumulated (the shortcut's first)
        b.Add("conv2d bwd-data accum.", n, flops, true,
              [&](Backend& be) { be.Conv2dBackwardData(n, batch, dy.data(), w.data(), dx.data(), true, bws); });
      }
    }
    b.Add("conv2d backward-weights", n, flops, true,
          [&](Backend& be) { be.Conv2dBackwardWeights(n, batch, x.data(), dy.data(), dw.data(), nullptr, bws); });
    std::printf("%-22s workspace fwd %lld B, bwd %lld B: %s\n", name, static_cast<long long>(fws.bytes),
                static_cast<long long>(bws.bytes), b.fast().DescribeOp(n, batch).c_str());
  }
  const Node& fc = b.N("fc");
  const std::vector<float> x = Random(b.InputElements(fc), 4), dy = Random(b.Elements(fc), 5);
  const std::vector<float> w = Random(fc.parameter_count, 6, -0.1f, 0.1f);
  std::vector<float> y(b.Elements(fc)), dx(b.InputElements(fc)), dw(fc.parameter_count), db(fc.out_features);
  const double flops = 2.0 * static_cast<double>(b.InputElements(fc)) * static_cast<double>(fc.out_features);
  const Workspace fws = b.Ws(fc, Pass::kForward), bws = b.Ws(fc, Pass::kBackward);
  const float* bias = w.data();  // any (O) values
  b.Add("linear forward", fc, flops, true,
        [&](Backend& be) { be.LinearForward(fc, batch, x.data(), w.data(), bias, y.data(), fws); });
  b.Add("linear backward", fc, 2 * flops, true, [&](Backend& be) {
    be.LinearBackwardData(fc, batch, dy.data(), w.data(), dx.data(), false, bws);
    be.LinearBackwardWeights(fc, batch, x.data(), dy.data(), dw.data(), db.data(), bws);
  });
}

void Memory(Bench& b) {
  const int64_t batch = b.batch();
  for (const char* name : {"bn1", "layer3.1.bn1"}) {
    const Node& n = b.N(name);
    const int64_t count = b.Elements(n), c = n.out[0];
    const std::vector<float> x = Random(count, 7, 0.0f, 2.0f), dy = Random(count, 8);
    const std::vector<float> gamma = Random(c, 9), beta = Random(c, 10);
    std::vector<float> y(count), dx(count), stats(2 * c), rm(c), rv(c, 1.0f), dg(c), db(c);
    const double bytes = 4.0 * static_cast<double>(count);
    b.Add("batch_norm forward", n, 2 * bytes, false, [&](Backend& be) {
      be.BatchNormForward(n, batch, BatchNormMode::kTrain, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                          y.data(), stats.data());
    });
    b.Add("batch_norm backward", n, 3 * bytes, false, [&](Backend& be) {
      be.BatchNormBackward(n, batch, dy.data(), x.data(), gamma.data(), stats.data(), dx.data(), false, dg.data(),
                           db.data());
    });
    if (std::string(name) != "bn1") continue;
    for (int bits : {8, 4, 2}) {
      std::vector<uint8_t> code((count * bits + 7) / 8);
      const double code_bytes = static_cast<double>(code.size());
      const std::string k = absl::StrFormat(" %d-bit", bits);
      b.Add("quantize" + k, n, bytes + code_bytes, false, [&](Backend& be) {
        be.QuantizeBnRelu(n, batch, bits, x.data(), y.data(), gamma.data(), beta.data(), stats.data(), code.data());
      });
      if (bits != 4) continue;
      b.Add("restore relu" + k, n, bytes + code_bytes, false, [&](Backend& be) {
        be.RestoreRelu(n, batch, bits, code.data(), gamma.data(), beta.data(), dx.data());
      });
      b.Add("relu backward code" + k, n, 2 * bytes + code_bytes, false, [&](Backend& be) {
        be.ReluBackwardFromCode(n, batch, bits, dy.data(), code.data(), gamma.data(), beta.data(), dx.data(), false);
      });
      b.Add("bn backward code" + k, n, 2 * bytes + code_bytes, false, [&](Backend& be) {
        be.BatchNormBackwardFromCode(n, batch, bits, dy.data(), code.data(), gamma.data(), beta.data(),
                                     stats.data(), dx.data(), false, dg.data(), db.data());
      });
    }
  }
  const Node& relu = b.N("layer1.0.relu1");
  const int64_t count = b.Elements(relu);
  const std::vector<float> x = Random(count, 11), dy = Random(count, 12), x2 = Random(count, 13);
  std::vector<float> y(count), dx(count);
  const double bytes = 4.0 * static_cast<double>(count);
  b.Add("relu forward", relu, 2 * bytes, false, [&](Backend& be) { be.ReluForward(count, x.data(), y.data()); });
  b.Add("relu backward", relu, 3 * bytes, false,
        [&](Backend& be) { be.ReluBackward(count, x.data(), dy.data(), dx.data(), false); });
  const Node& add = b.N("layer1.0.add");
  const void* inputs[] = {x.data(), x2.data()};
  b.Add("add forward", add, 3 * bytes, false, [&](Backend& be) { be.AddForward(count, inputs, y.data()); });
  b.Add("copy accumulate", add, 3 * bytes, false,
        [&](Backend& be) { be.Copy(count, x.data(), dx.data(), true); });

  const Node& pool = b.N("avgpool");
  const int64_t in = b.InputElements(pool);
  const std::vector<float> px = Random(in, 14), pdy = Random(b.Elements(pool), 15);
  std::vector<float> py(b.Elements(pool)), pdx(in);
  b.Add("global_avg_pool fwd", pool, 4.0 * static_cast<double>(in), false,
        [&](Backend& be) { be.GlobalAvgPoolForward(pool, batch, px.data(), py.data()); });
  b.Add("global_avg_pool bwd", pool, 4.0 * static_cast<double>(in), false,
        [&](Backend& be) { be.GlobalAvgPoolBackward(pool, batch, pdy.data(), pdx.data(), false); });

  const Node& loss = b.N("loss");
  const int64_t logits = batch * loss.input_dims[0][0];
  const std::vector<float> z = Random(logits, 16);
  std::vector<int32_t> labels(batch);
  for (int64_t i = 0; i < batch; ++i) labels[i] = static_cast<int32_t>(i % 10);
  std::vector<float> probs(logits), l(1), dz(logits);
  b.Add("softmax xent fwd+bwd", loss, 12.0 * static_cast<double>(logits), false, [&](Backend& be) {
    be.SoftmaxCrossEntropyForward(loss, batch, z.data(), labels.data(), probs.data(), l.data());
    be.SoftmaxCrossEntropyBackward(loss, batch, probs.data(), labels.data(), dz.data(), false);
  });
}

int Main(const Options& options) {
  const int64_t batch = options.batch;
  absl::StatusOr<v1::ModelSpec> spec = planner::ZooModel("resnet56");
  absl::StatusOr<Graph> g = spec.ok() ? Graph::Build(*spec) : absl::StatusOr<Graph>(spec.status());
  if (!g.ok()) {
    std::fprintf(stderr, "%s\n", g.status().ToString().c_str());
    return 1;
  }
  Bench b(*g, options);
  if (absl::Status s = b.fast().Prepare(*g, batch); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("kernels_bench: ResNet-56 layers, batch %lld, fast backend %d threads, quantizer %s\n",
              static_cast<long long>(batch), b.fast().threads(),
              engine::cpu::QuantUsesAvx512() ? "AVX-512" : "portable");
  std::printf("oneDNN implementations and planned workspaces:\n");
  Convs(b);
  Memory(b);
  const int64_t params = g->parameter_count();
  std::vector<float> p = Random(params, 17), grad = Random(params, 18), buf(params);
  Node whole;
  whole.name = "all parameters";
  whole.out = {params};
  b.Add("sgd momentum", whole, 5 * 4.0 * static_cast<double>(params), false, [&](Backend& be) {
    be.SgdUpdate(params, 0.1, 0.9, 5e-4, false, p.data(), grad.data(), buf.data());
  });
  b.Print();
  return 0;
}

}  // namespace
}  // namespace slimtrain

int main(int argc, char** argv) {
  slimtrain::Options options;
  slimtrain::base::FlagSet flags("kernels_bench",
                                 "Per-op time of the fast CPU backend against the reference backend on ResNet-56's\n"
                                 "layers, side by side (bench/kernels_bench.cc).",
                                 "bazel run //bench:kernels_bench -- --batch=128 --reference=false");
  flags.Int("batch", &options.batch, "batch size");
  flags.Int("threads", &options.threads, "fast backend threads (0: the machine's cores)");
  flags.Bool("reference", &options.reference, "also time the reference backend (slow: ~1 s per convolution)");
  flags.Double("min-seconds", &options.min_seconds, "time budget per measurement");
  if (absl::Status s = flags.Parse(std::vector<std::string>(argv + 1, argv + argc)); !s.ok()) {
    std::fprintf(stderr, "kernels_bench: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  if (!flags.positional().empty()) {
    std::fprintf(stderr, "kernels_bench: unexpected argument '%s'\n", flags.positional()[0].c_str());
    return 2;
  }
  return slimtrain::Main(options);
}
