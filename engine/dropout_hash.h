// dropout_hash.h — dropout's keep/drop decision, one pure function of
// (seed, step, node, element) shared by every backend: backend.cc's
// DropoutKeep calls it on the CPU and the CUDA kernels call it on the device
// (its functions are __host__ __device__ under nvcc), so all backends keep
// exactly the same elements and backward/recomputation regenerate the mask
// without storing it.
//
//   h = Mix(Mix(Mix(seed ^ golden) + step) + (node << 40) + i)   (SplitMix64)
//   keep when u >= p, u = the top 53 bits of h as a double in [0, 1).
// Every operation is integer or exact in double, so host and device agree
// bit for bit.
#ifndef SLIMTRAIN_ENGINE_DROPOUT_HASH_H_
#define SLIMTRAIN_ENGINE_DROPOUT_HASH_H_

#include <cstdint>

#include "engine/host_device.h"


namespace slimtrain::engine::dropout {

// SplitMix64's finaliser: a well-mixed 64-bit hash.
SLIM_HD inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The part of the hash that depends on the call only (not on the element).
SLIM_HD inline uint64_t Base(uint64_t seed, int64_t step, int node) {
  return Mix(Mix(seed ^ 0x9e3779b97f4a7c15ULL) + static_cast<uint64_t>(step)) + (static_cast<uint64_t>(node) << 40);
}

// Whether element i is kept, given Base(seed, step, node).
SLIM_HD inline bool KeepAt(uint64_t base, int64_t i, double p) {
  const uint64_t h = Mix(base + static_cast<uint64_t>(i));
  // Top 53 bits as a uniform double in [0, 1).
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  return u >= p;
}

}  // namespace slimtrain::engine::dropout

#endif  // SLIMTRAIN_ENGINE_DROPOUT_HASH_H_
