// parallel.h — the fast CPU kernels' threading and per-channel scratch.
//
// ParallelFor splits a range into contiguous parts, one per thread, with
// OpenMP; the split depends only on the range, the grain and the thread
// count, so per-part partial sums combine in the same order on every call
// and the kernels are deterministic for a fixed thread count.
//
//   ParallelFor(count, /*grain=*/kElementGrain, threads,
//               [&](int64_t begin, int64_t end, int part) { ... });
//
// ChannelPeriod: NHWC tensors put the channel innermost, so element i belongs
// to channel i mod C. Kernels with per-channel constants walk the tensor in
// periods of P = lcm(C, 16) elements (whole rows and whole 16-float vectors)
// and read the constants from arrays replicated to length P: the inner loop
// is a plain aligned-in-phase vector loop for every C.
//
// Scratch: a bump allocator over memory the backend owns (per-channel
// constants and per-thread partial sums; O(channels · threads), never
// activation-sized). FastBackend::Prepare reserves it, so steps do not
// allocate; a kernel given more channels than reserved grows it once.
#ifndef SLIMTRAIN_ENGINE_CPU_PARALLEL_H_
#define SLIMTRAIN_ENGINE_CPU_PARALLEL_H_

#ifndef _OPENMP
#error "engine/cpu/parallel.h needs -fopenmp (see FAST_KERNEL_COPTS in engine/cpu/BUILD)"
#endif

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

// Our own kernels' loops are compiled for AVX-512 (x86-64-v4), AVX2
// (x86-64-v3) and the baseline; the loader picks the best the CPU has.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SLIM_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SLIM_VECTOR_CLONES
#endif

namespace slimtrain::engine::cpu {

// Elements below which a memory-bound loop stays on one thread.
inline constexpr int64_t kElementGrain = 1 << 15;

// Runs fn(begin, end, part) over [0, n) split into at most `threads` parts of
// at least `grain` items each (part = 0, 1, ...; parts run in parallel).
// Returns the number of parts used (0 when n <= 0).
template <typename Fn>
int ParallelFor(int64_t n, int64_t grain, int threads, const Fn& fn) {
  if (n <= 0) return 0;
  const int64_t by_grain = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  const int parts = static_cast<int>(std::min<int64_t>(std::max(threads, 1), by_grain));
  if (parts == 1) {
    fn(int64_t{0}, n, 0);
    return 1;
  }
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int p = 0; p < parts; ++p) {
    const int64_t begin = n * p / parts, end = n * (p + 1) / parts;
    fn(begin, end, p);
  }
  return parts;
}

// The walk over an NHWC tensor in periods of whole rows and whole vectors.
struct ChannelPeriod {
  int64_t channels = 0;  // C
  int64_t period = 0;    // P = lcm(C, 16)
  int64_t elements = 0;  // rows · C
  int64_t blocks = 0;    // ceil(elements / P); the last block may be short

  ChannelPeriod(int64_t rows, int64_t c)
      : channels(c), period(std::lcm<int64_t>(c, 16)), elements(rows * c) {
    blocks = (elements + period - 1) / period;
  }
  int64_t begin(int64_t block) const { return block * period; }
  // Elements in `block` (a multiple of C).
  int64_t length(int64_t block) const { return std::min(period, elements - block * period); }
};

// Per-channel sums from per-part period arrays: out[c] = Σ over parts p and
// positions j ≡ c (mod C) of partial[p·stride + j], in a fixed order.
inline void FoldChannels(const double* partial, int parts, int64_t stride, const ChannelPeriod& cp, double* out) {
  for (int64_t c = 0; c < cp.channels; ++c) out[c] = 0.0;
  for (int p = 0; p < parts; ++p) {
    const double* s = partial + p * stride;
    for (int64_t j = 0; j < cp.period; ++j) out[j % cp.channels] += s[j];
  }
}

// Replicates per-channel values to a period: out[j] = f(j mod C), j < P.
template <typename T, typename F>
void Replicate(const ChannelPeriod& cp, T* out, const F& f) {
  for (int64_t c = 0; c < cp.channels; ++c) {
    const T v = f(c);
    for (int64_t j = c; j < cp.period; j += cp.channels) out[j] = v;
  }
}

// Bump allocator over backend-owned memory; Reset() before each kernel.
class Scratch {
 public:
  // Ensures `bytes` are available without reallocation.
  void Reserve(size_t bytes) {
    if (bytes > storage_.size() * sizeof(Chunk)) storage_.resize((bytes + sizeof(Chunk) - 1) / sizeof(Chunk));
  }
  // Starts over: memory handed out before is free again.
  void Reset() {
    used_ = 0;
    retired_.clear();
  }
  // `count` objects of T, 64-byte aligned, uninitialised. Memory handed out
  // since the last Reset stays valid: growing starts a new block and keeps
  // the old one until the next Reset.
  template <typename T>
  T* Get(int64_t count) {
    const size_t chunks = (static_cast<size_t>(count) * sizeof(T) + sizeof(Chunk) - 1) / sizeof(Chunk);
    if (used_ + chunks > storage_.size()) {
      retired_.push_back(std::move(storage_));
      storage_.assign(std::max(used_ + chunks, 2 * retired_.back().size()), Chunk{});
      used_ = 0;
    }
    T* p = reinterpret_cast<T*>(storage_.data() + used_);
    used_ += chunks;
    return p;
  }
  // Bytes a per-channel kernel over C channels with `threads` parts needs, at
  // most: 32 four-byte arrays of length P (replicated constants, per-channel
  // structs and sums) and 2 double partials of length P per part.
  static size_t BytesFor(int64_t channels, int threads) {
    const size_t period = static_cast<size_t>(std::lcm<int64_t>(channels, 16));
    return 32 * period * 4 + 2 * period * 8 * static_cast<size_t>(std::max(threads, 1)) + 64 * 64;
  }

 private:
  struct alignas(64) Chunk {
    unsigned char bytes[64];
  };
  std::vector<Chunk> storage_;
  std::vector<std::vector<Chunk>> retired_;
  size_t used_ = 0;
};

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_PARALLEL_H_
