// kernel_util.cuh — what the CUDA backend's kernel files (kernels.h) share:
// launch shapes, the reference's rounding rule, the per-stream scratch for
// two-level reductions, and the channel-tiled walk over NHWC tensors.
//
// Channel tiles. Every per-channel kernel (batch norm, the quantizer, bias)
// sees its tensor as M rows of U "units" (a unit: one channel, or the 8/K
// channels of one code byte), row-major, and gives each thread ONE unit and
// a strided run of rows, so per-channel constants live in registers and no
// element needs a division to find its channel:
//   - block = 256 threads = tw units × r rows (tw = min(U, 32), r = 256 / tw);
//     with U < 32 a tile is whole rows, so a block reads contiguous memory;
//   - grid = (ceil(U / tw) tiles) × (chunks of rows); thread (tx, ty) of
//     block (bx, by) owns unit bx·tw + tx and rows by·rows_per_chunk + ty,
//     + r, ... up to the chunk's end.
// Reductions over rows are two-level and deterministic (fixed order for a
// given device): each block sums its tile in double and writes one partial
// per unit and chunk to the stream's scratch; a finishing kernel adds the
// chunks in order. No atomics.
#ifndef SLIMTRAIN_ENGINE_CUDA_KERNEL_UTIL_CUH_
#define SLIMTRAIN_ENGINE_CUDA_KERNEL_UTIL_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace slimtrain::engine::cuda {

inline constexpr int kThreads = 256;  // threads per block, every kernel

// Multiprocessors of the current device (asked once per device).
int SmCount();

// Blocks of kThreads for a grid-stride loop over `work` items: enough to fill
// every SM `per_sm` times, never more than the work needs (at least 1).
int64_t StrideBlocks(int64_t work, int per_sm = 8);

// The stream's scratch: at least `min_doubles` doubles of device memory that
// only kernels on `stream` (on the current device) use, so consecutive
// launches on it may reuse it. Allocated on first use (1 MiB, or more when
// asked) and kept for the process's life; growing it frees the old block,
// which synchronises the device (rare: only a larger request than any before).
cudaError_t StreamScratch(cudaStream_t stream, int64_t min_doubles, double** scratch);

// The reference's rounding rule: the value is formed in double and rounded
// to float once; with `accumulate` the old value is added in double first.
__device__ __forceinline__ void Store(float* dst, double v, bool accumulate) {
  *dst = static_cast<float>(accumulate ? static_cast<double>(*dst) + v : v);
}

// Whether p is a multiple of `bytes`.
inline bool Aligned(const void* p, int bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// --- channel tiles (see the top of this file).

struct Tiling {
  int64_t rows = 0;            // M
  int64_t units = 0;           // U
  int tw = 1;                  // units per tile
  int r = 1;                   // rows per step
  int64_t tiles = 0;           // gridDim.x
  int64_t chunks = 0;          // gridDim.y
  int64_t rows_per_chunk = 0;  // rows of one chunk (the last may be short)

  dim3 grid() const { return dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(chunks)); }
};

// The tiling of rows × units with at most `max_chunks` chunks of rows
// (>= 1): as many chunks as fill the device about twice, each thread
// stepping at least `min_steps` times where the rows allow. rows, units > 0.
Tiling MakeTiling(int64_t rows, int64_t units, int64_t max_chunks, int min_steps = 4);

// One thread's share of a Tiling.
struct TileLane {
  int tx = 0, ty = 0;   // position in the block's tw × r grid
  int64_t unit = 0;     // the unit it owns
  int64_t row = 0;      // its first row
  int64_t row_end = 0;  // one past its chunk's last row
  bool active = false;  // false: the thread has no unit (idle)
};

__device__ __forceinline__ TileLane ThisLane(const Tiling& t) {
  TileLane l;
  l.tx = static_cast<int>(threadIdx.x) % t.tw;
  l.ty = static_cast<int>(threadIdx.x) / t.tw;
  l.unit = static_cast<int64_t>(blockIdx.x) * t.tw + l.tx;
  const int64_t chunk_begin = static_cast<int64_t>(blockIdx.y) * t.rows_per_chunk;
  l.row = chunk_begin + l.ty;
  l.row_end = chunk_begin + t.rows_per_chunk < t.rows ? chunk_begin + t.rows_per_chunk : t.rows;
  l.active = l.ty < t.r && l.unit < t.units;
  return l;
}

// Scratch layout of a two-quantity reduction over a Tiling: the finished
// per-unit totals first (2·U doubles: quantity q of unit u at q·U + u), then
// the partials (quantity q, chunk k, unit u at (q·chunks + k)·U + u).
__host__ __device__ inline int64_t ReductionScratchDoubles(const Tiling& t) { return 2 * t.units * (t.chunks + 1); }
__host__ __device__ inline double* Partials(const Tiling& t, double* scratch) { return scratch + 2 * t.units; }

// Chunks a two-quantity reduction over rows × units may use so its scratch
// fits the default scratch size (at least 1).
int64_t MaxReductionChunks(int64_t units);

// The block's threads hold (a, b) for their lane's unit; sums them per unit
// in fixed order (ty = 0, 1, ...) into (*ta, *tb) of the unit's thread with
// ty = 0, and returns true there. Every thread of the block must call it.
__device__ __forceinline__ bool SumLanes(const Tiling& t, const TileLane& l, double a, double b, double* ta,
                                         double* tb) {
  __shared__ double sa[kThreads], sb[kThreads];
  sa[threadIdx.x] = a;
  sb[threadIdx.x] = b;
  __syncthreads();
  if (l.ty != 0 || l.unit >= t.units) return false;
  double x = 0, y = 0;
  for (int k = 0; k < t.r; ++k) {
    x += sa[k * t.tw + l.tx];
    y += sb[k * t.tw + l.tx];
  }
  *ta = x;
  *tb = y;
  return true;
}

// Ends a tiled reduction kernel: the block's threads hold (a, b) for their
// unit over their rows; sums them per unit (SumLanes) and writes the block's
// partials. Every thread of the block must call it.
__device__ __forceinline__ void WriteTilePartials(const Tiling& t, const TileLane& l, double a, double b,
                                                  double* partials) {
  double ta, tb;
  if (!SumLanes(t, l, a, b, &ta, &tb)) return;
  const int64_t k = blockIdx.y;
  partials[k * t.units + l.unit] = ta;
  partials[(t.chunks + k) * t.units + l.unit] = tb;
}

// Finishes a tiled reduction in a launch of t.tiles blocks of kThreads:
// block x sums the partials of tile x's units over the chunks, lane ty of
// each unit taking chunks ty, ty + r, ... in order, then the lanes in order
// (SumLanes), so the result is fixed for a given tiling. Every thread of
// the block must call it. Returns the unit whose totals (a, b) this thread
// holds, or -1 (one thread per unit holds them).
__device__ __forceinline__ int64_t SumTilePartials(const Tiling& t, const double* partials, double* a, double* b) {
  const TileLane l = ThisLane(t);  // one block row: only tx, ty, unit and active matter
  double ta = 0, tb = 0;
  if (l.active) {
    for (int64_t k = l.ty; k < t.chunks; k += t.r) {
      ta += partials[k * t.units + l.unit];
      tb += partials[(t.chunks + k) * t.units + l.unit];
    }
  }
  return SumLanes(t, l, ta, tb, a, b) ? l.unit : -1;
}

}  // namespace slimtrain::engine::cuda

#endif  // SLIMTRAIN_ENGINE_CUDA_KERNEL_UTIL_CUH_
