// See kernel_util.cuh.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <utility>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/kernels.h"

namespace slimtrain::engine::cuda {
namespace {

constexpr int kMaxDevices = 64;
constexpr int64_t kDefaultScratchDoubles = (int64_t{1} << 20) / sizeof(double);  // 1 MiB

struct Scratch {
  double* data = nullptr;
  int64_t doubles = 0;
};

}  // namespace

int SmCount() {
  static std::atomic<int> counts[kMaxDevices] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kMaxDevices) return 1;
  int n = counts[device].load(std::memory_order_relaxed);
  if (n == 0) {
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || n <= 0) n = 1;
    counts[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

int64_t StrideBlocks(int64_t work, int per_sm) {
  const int64_t needed = (work + kThreads - 1) / kThreads;
  return std::max<int64_t>(1, std::min<int64_t>(needed, static_cast<int64_t>(SmCount()) * per_sm));
}

cudaError_t StreamScratch(cudaStream_t stream, int64_t min_doubles, double** scratch) {
  static std::mutex mu;
  using Key = std::pair<int, cudaStream_t>;  // (device, stream)
  static auto* buffers = new std::map<Key, Scratch>;  // never destroyed: kernels may outlive static destructors
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  std::lock_guard<std::mutex> lock(mu);
  Scratch& s = (*buffers)[{device, stream}];
  if (s.doubles < min_doubles || s.data == nullptr) {
    if (s.data != nullptr) {
      // The stream's earlier kernels may still read the old block; cudaFree
      // waits for the device.
      err = cudaFree(s.data);
      s = Scratch();
      if (err != cudaSuccess) return err;
    }
    const int64_t doubles = std::max(kDefaultScratchDoubles, min_doubles);
    void* p = nullptr;
    err = cudaMalloc(&p, static_cast<size_t>(doubles) * sizeof(double));
    if (err != cudaSuccess) return err;
    s.data = static_cast<double*>(p);
    s.doubles = doubles;
  }
  *scratch = s.data;
  return cudaSuccess;
}

cudaError_t ReserveScratch(cudaStream_t stream, int64_t min_doubles) {
  double* unused = nullptr;
  return StreamScratch(stream, std::max(kDefaultScratchDoubles, min_doubles), &unused);
}

int64_t ScratchDoublesFor(int64_t units, int64_t rows) {
  // A two-quantity reduction takes 2·U·(chunks + 1) doubles with chunks <=
  // MaxReductionChunks(U): within the default block, or 4·U when even one
  // chunk does not fit it. The loss keeps one double per row.
  return std::max({kDefaultScratchDoubles, 4 * std::max<int64_t>(units, 0), rows});
}

int64_t MaxReductionChunks(int64_t units) {
  return std::max<int64_t>(1, kDefaultScratchDoubles / (2 * std::max<int64_t>(units, 1)) - 1);
}

Tiling MakeTiling(int64_t rows, int64_t units, int64_t max_chunks, int min_steps) {
  Tiling t;
  t.rows = rows;
  t.units = units;
  t.tw = static_cast<int>(std::min<int64_t>(units, 32));
  t.r = kThreads / t.tw;
  t.tiles = (units + t.tw - 1) / t.tw;
  // About two waves of full blocks (2048 resident threads per SM).
  const int64_t target_blocks = 2 * static_cast<int64_t>(SmCount()) * (2048 / kThreads);
  int64_t chunks = (target_blocks + t.tiles - 1) / t.tiles;
  const int64_t rows_per_block = static_cast<int64_t>(std::max(min_steps, 1)) * t.r;
  chunks = std::min(chunks, (rows + rows_per_block - 1) / rows_per_block);
  chunks = std::min({chunks, max_chunks, int64_t{65535}});
  chunks = std::max<int64_t>(chunks, 1);
  t.rows_per_chunk = (rows + chunks - 1) / chunks;
  t.chunks = (rows + t.rows_per_chunk - 1) / t.rows_per_chunk;
  return t;
}

}  // namespace slimtrain::engine::cuda
