// bench/gpu_quant_bench — bandwidth of the CUDA quantizer (engine/cuda/kernels.h)
// against a device-to-device copy, measured the same way in the same run.
//
//   gpu_quant_bench [--iters 20]
//
// For each tensor (N,H,W,C) — ResNet-50's first-stage activation at batch 128
// (128x56x56x256, 411 MB of fp32, far beyond the 60 MB L2 cache) and a
// CIFAR ResNet-164 one (128x32x32x64, 34 MB, partly cache-resident) — it
// times, with CUDA events around `iters` back-to-back launches on one stream
// after two warm-up launches:
//   copy         cudaMemcpyAsync device to device of the fp32 tensor:
//                bytes = 2 × 4 per element (read and written);
//   quantize K   QuantizeBnRelu (the SAVE step's pack of y into K-bit codes,
//                γ ≠ 0 everywhere so x is not read): bytes = 4 + K/8 per
//                element;
//   restore K    RestoreRelu (z' from the codes): bytes = K/8 + 4 per element.
// Bandwidth = bytes / time; "vs copy" is its ratio to the copy's bandwidth;
// the target is quantize ≥ 0.80 of the copy.
// Prints a table and, for tools/device/summary.py, one line per row:
//   RESULT {"bench": "quant", "tensor": ..., "op": ..., "bits": ..., "gbps": ..., "vs_copy": ...}
// Without a GPU, or in a build without the CUDA toolkit, prints
// "no GPU: <reason>" and exits 0.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#ifdef SLIMTRAIN_HAVE_CUDA
#include <cuda_runtime.h>

#include "engine/cuda/kernels.h"
#endif

namespace slimtrain {
namespace {

#ifdef SLIMTRAIN_HAVE_CUDA

using engine::cuda::Nhwc;

// Exits (0: this is a benchmark, not a test) with the failed call named.
#define BENCH_CUDA(expr)                                                                                       \
  do {                                                                                                         \
    const cudaError_t bench_err_ = (expr);                                                                     \
    if (bench_err_ != cudaSuccess) {                                                                           \
      std::printf("CUDA error at %s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(bench_err_)); \
      std::exit(1);                                                                                            \
    }                                                                                                          \
  } while (0)

struct Row {
  std::string tensor, op;
  int bits = 0;
  double bytes = 0, us = 0, gbps = 0, vs_copy = 0;
};

// Mean microseconds of one launch over `iters` back-to-back launches.
template <typename Launch>
double TimeUs(cudaStream_t stream, int iters, Launch launch) {
  cudaEvent_t start, stop;
  BENCH_CUDA(cudaEventCreate(&start));
  BENCH_CUDA(cudaEventCreate(&stop));
  for (int i = 0; i < 2; ++i) BENCH_CUDA(launch());
  BENCH_CUDA(cudaEventRecord(start, stream));
  for (int i = 0; i < iters; ++i) BENCH_CUDA(launch());
  BENCH_CUDA(cudaEventRecord(stop, stream));
  BENCH_CUDA(cudaEventSynchronize(stop));
  float ms = 0;
  BENCH_CUDA(cudaEventElapsedTime(&ms, start, stop));
  BENCH_CUDA(cudaEventDestroy(start));
  BENCH_CUDA(cudaEventDestroy(stop));
  return 1e3 * ms / iters;
}

std::vector<Row> Measure(const char* name, Nhwc shape, int iters) {
  const int64_t count = shape.count(), c = shape.c;
  cudaStream_t stream;
  BENCH_CUDA(cudaStreamCreate(&stream));
  // y: a cheap pseudo-random fill in [-3, 3) (values only steer branches).
  std::vector<float> host(count);
  uint32_t state = 12345;
  for (float& v : host) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / 16777216.0f * 6.0f - 3.0f;
  }
  std::vector<float> gamma(c), beta(c), stats(2 * c);
  for (int64_t i = 0; i < c; ++i) {
    gamma[i] = (i % 2 == 0 ? 1.0f : -1.0f) * (0.5f + 0.01f * static_cast<float>(i % 100));
    beta[i] = 0.02f * static_cast<float>(i % 50) - 0.5f;
    stats[i] = 0.0f;      // mean
    stats[c + i] = 1.0f;  // 1/sqrt(var + eps)
  }
  float *y = nullptr, *z = nullptr, *dst = nullptr, *g = nullptr, *b = nullptr, *s = nullptr;
  void* code = nullptr;
  BENCH_CUDA(cudaMalloc(&y, count * 4));
  BENCH_CUDA(cudaMalloc(&z, count * 4));
  BENCH_CUDA(cudaMalloc(&dst, count * 4));
  BENCH_CUDA(cudaMalloc(&code, count));  // 8 bits per element at most
  BENCH_CUDA(cudaMalloc(&g, c * 4));
  BENCH_CUDA(cudaMalloc(&b, c * 4));
  BENCH_CUDA(cudaMalloc(&s, 2 * c * 4));
  BENCH_CUDA(cudaMemcpy(y, host.data(), count * 4, cudaMemcpyHostToDevice));
  BENCH_CUDA(cudaMemcpy(g, gamma.data(), c * 4, cudaMemcpyHostToDevice));
  BENCH_CUDA(cudaMemcpy(b, beta.data(), c * 4, cudaMemcpyHostToDevice));
  BENCH_CUDA(cudaMemcpy(s, stats.data(), 2 * c * 4, cudaMemcpyHostToDevice));

  std::vector<Row> rows;
  Row copy{name, "copy", 0, 2.0 * 4 * count};
  copy.us = TimeUs(stream, iters, [&] { return cudaMemcpyAsync(dst, y, count * 4, cudaMemcpyDeviceToDevice, stream); });
  rows.push_back(copy);
  for (const int bits : {8, 4, 2}) {
    const double code_bytes = static_cast<double>((count * bits + 7) / 8);
    Row q{name, "quantize", bits, 4.0 * count + code_bytes};
    q.us =
        TimeUs(stream, iters, [&] { return engine::cuda::QuantizeBnRelu(shape, bits, y, y, g, b, s, code, stream); });
    rows.push_back(q);
    Row r{name, "restore", bits, code_bytes + 4.0 * count};
    r.us = TimeUs(stream, iters, [&] { return engine::cuda::RestoreRelu(shape, bits, code, g, b, z, stream); });
    rows.push_back(r);
  }
  for (Row& r : rows) {
    r.gbps = r.bytes / (r.us * 1e-6) / 1e9;
  }
  for (Row& r : rows) r.vs_copy = r.gbps / rows[0].gbps;
  for (void* p : {static_cast<void*>(y), static_cast<void*>(z), static_cast<void*>(dst), code, static_cast<void*>(g),
                  static_cast<void*>(b), static_cast<void*>(s)}) {
    BENCH_CUDA(cudaFree(p));
  }
  BENCH_CUDA(cudaStreamDestroy(stream));
  return rows;
}

int Main(int argc, char** argv) {
  int iters = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--iters") iters = std::atoi(argv[i + 1]);
  }
  if (iters <= 0) iters = 20;
  int devices = 0;
  const cudaError_t err = cudaGetDeviceCount(&devices);
  if (err != cudaSuccess || devices == 0) {
    std::printf("no GPU: %s\n", err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device");
    return 0;
  }
  cudaDeviceProp prop;
  BENCH_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("quantizer bandwidth on %s, %d launches per row (CUDA events)\n\n", prop.name, iters);
  std::printf("%-22s %-9s %4s %12s %10s %9s %8s\n", "tensor (N,H,W,C)", "op", "bits", "MB moved", "us", "GB/s",
              "vs copy");
  std::vector<Row> all;
  const struct {
    const char* name;
    Nhwc shape;
  } tensors[] = {{"128x56x56x256", Nhwc{128, 56, 56, 256}}, {"128x32x32x64", Nhwc{128, 32, 32, 64}}};
  for (const auto& t : tensors) {
    for (const Row& r : Measure(t.name, t.shape, iters)) {
      const std::string bits = r.bits > 0 ? std::to_string(r.bits) : "-";
      std::printf("%-22s %-9s %4s %12.1f %10.1f %9.1f %7.2fx\n", r.tensor.c_str(), r.op.c_str(), bits.c_str(),
                  r.bytes / 1e6, r.us, r.gbps, r.vs_copy);
      all.push_back(r);
    }
  }
  std::printf("\n");
  for (const Row& r : all) {
    std::printf(
        "RESULT {\"bench\": \"quant\", \"tensor\": \"%s\", \"op\": \"%s\", \"bits\": %d, \"bytes\": %.0f, "
        "\"us\": %.3f, \"gbps\": %.3f, \"vs_copy\": %.4f}\n",
        r.tensor.c_str(), r.op.c_str(), r.bits, r.bytes, r.us, r.gbps, r.vs_copy);
  }
  return 0;
}

#else  // no CUDA toolkit in this build

int Main(int, char**) {
  std::printf("no GPU: this build has no CUDA toolkit (CPU-only build)\n");
  return 0;
}

#endif

}  // namespace
}  // namespace slimtrain

int main(int argc, char** argv) { return slimtrain::Main(argc, argv); }
