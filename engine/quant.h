// quant.h — DESIGN.md's K-bit quantizer for a BN→ReLU, one element at a time.
//
// This is the specification every backend's quantize/restore kernels follow;
// the reference backend uses it directly, the fast and CUDA kernels are tested
// against it code for code.
//
// For one channel of a batch_norm with scale γ and shift β, B = 2^K bins of
// width Δ = 6/B (six standard deviations in all):
//   γ ≠ 0: g = |γ|, b = β/g, v = y/g (= sign(γ)·x̂ + b), where y = γ·x̂ + β is
//          the forward's pre-ReLU value; the channel offset
//          s = clamp(B/2 − floor(b/Δ), 1, B − 1) puts v = 0 on a bin edge;
//          y > 0:  q = clamp(floor(v/Δ) + s, s, B − 1)
//          else:   q = clamp(ceil(v/Δ) − 1 + s, 0, s − 1)
//          so the ReLU mask is q >= s, exactly the forward's y > 0 (y = ±0
//          and underflow included: the branch is on y itself).
//   γ = 0: the output is the constant β, so the mask is β > 0 for the whole
//          channel; x̂ is still coded (b = 0, s = B/2, v = x̂) for dγ.
// Restore: v̂ = (q − s + 0.5)·Δ; x̂' = sign(γ)·(v̂ − b) (γ = 0: v̂);
//          z' = g·v̂ where q >= s, else 0 (γ = 0: max(β, 0)).
// Pass-through (K = planner::kPassThroughBits, tests only): the code is y
// itself (γ = 0: x̂), restored exactly.
//
// Packing: element i of the tensor (NHWC order) sits in byte i·K/8 at bit
// (i·K) mod 8, low bits first.
#ifndef SLIMTRAIN_ENGINE_QUANT_H_
#define SLIMTRAIN_ENGINE_QUANT_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "engine/host_device.h"
#include "planner/strategy.h"

// Under nvcc every function here is __host__ __device__, so the CUDA kernels
// run this very code (they compile with --expt-relaxed-constexpr for
// std::clamp and std::max, and without fused multiply-adds); elsewhere the
// macro (engine/host_device.h) is empty and nothing changes.

namespace slimtrain::engine::quant {

// Per-channel constants of the quantizer.
template <typename T>
struct Channel {
  T gamma = 0, beta = 0;
  T g = 0;          // |γ|
  T b = 0;          // β / g (0 when γ = 0)
  T sign = 1;       // sign(γ)
  int s = 0;        // offset: codes >= s are the ReLU's active side
  int bins = 0;     // B
  T delta = 0;      // Δ

  SLIM_HD bool zero_gamma() const { return gamma == T(0); }
};

template <typename T>
SLIM_HD Channel<T> MakeChannel(int bits, T gamma, T beta) {
  Channel<T> c;
  c.gamma = gamma;
  c.beta = beta;
  if (bits == planner::kPassThroughBits) return c;
  c.bins = 1 << bits;
  c.delta = T(6) / T(c.bins);
  if (gamma == T(0)) {
    c.s = c.bins / 2;
    return c;
  }
  c.g = std::fabs(gamma);
  c.b = beta / c.g;
  c.sign = gamma > T(0) ? T(1) : T(-1);
  // Clamp b/Δ in floating point before converting to an integer.
  const T t = std::clamp(std::floor(c.b / c.delta), T(-c.bins), T(c.bins));
  c.s = std::clamp(c.bins / 2 - static_cast<int>(t), 1, c.bins - 1);
  return c;
}

// The code of one element: y is the forward's pre-ReLU value, xhat the
// normalised input (read only when γ = 0).
template <typename T>
SLIM_HD int Encode(const Channel<T>& c, T y, T xhat) {
  const T v = c.zero_gamma() ? xhat : y / c.g;
  const bool positive = c.zero_gamma() ? v > T(0) : y > T(0);
  if (positive) {
    const T f = std::clamp(std::floor(v / c.delta), T(-c.bins), T(c.bins));
    return std::clamp(static_cast<int>(f) + c.s, c.s, c.bins - 1);
  }
  const T f = std::clamp(std::ceil(v / c.delta), T(-c.bins), T(c.bins));
  return std::clamp(static_cast<int>(f) - 1 + c.s, 0, c.s - 1);
}

// The bin centre v̂ of code q.
template <typename T>
SLIM_HD T Center(const Channel<T>& c, int q) {
  return (T(q - c.s) + T(0.5)) * c.delta;
}

// Whether the ReLU was active.
template <typename T>
SLIM_HD bool Mask(const Channel<T>& c, int q) {
  return c.zero_gamma() ? c.beta > T(0) : q >= c.s;
}

// x̂' from code q.
template <typename T>
SLIM_HD T RestoreXhat(const Channel<T>& c, int q) {
  const T v = Center(c, q);
  return c.zero_gamma() ? v : c.sign * (v - c.b);
}

// z' (the ReLU output) from code q.
template <typename T>
SLIM_HD T RestoreRelu(const Channel<T>& c, int q) {
  if (c.zero_gamma()) return std::max(c.beta, T(0));
  return q >= c.s ? c.g * Center(c, q) : T(0);
}

// Pass-through: the stored value is y (γ = 0: x̂).
template <typename T>
SLIM_HD T PassThroughValue(const Channel<T>& c, T y, T xhat) {
  return c.zero_gamma() ? xhat : y;
}
template <typename T>
SLIM_HD bool PassThroughMask(const Channel<T>& c, T stored) {
  return c.zero_gamma() ? c.beta > T(0) : stored > T(0);
}
template <typename T>
SLIM_HD T PassThroughXhat(const Channel<T>& c, T stored) {
  return c.zero_gamma() ? stored : (stored - c.beta) / c.gamma;
}
template <typename T>
SLIM_HD T PassThroughRelu(const Channel<T>& c, T stored) {
  return c.zero_gamma() ? std::max(c.beta, T(0)) : std::max(stored, T(0));
}

// Packed K-bit codes (K = 8, 4, 2).
SLIM_HD inline int GetCode(const uint8_t* codes, int bits, int64_t i) {
  const int64_t bit = i * bits;
  return (codes[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1);
}
// Sets element i's code; the caller zeroes the bytes first or writes every
// element of a byte in turn.
SLIM_HD inline void PutCode(uint8_t* codes, int bits, int64_t i, int q) {
  const int64_t bit = i * bits;
  const int shift = static_cast<int>(bit & 7);
  const uint8_t mask = static_cast<uint8_t>(((1 << bits) - 1) << shift);
  codes[bit >> 3] = static_cast<uint8_t>((codes[bit >> 3] & ~mask) | ((q << shift) & mask));
}

}  // namespace slimtrain::engine::quant

#endif  // SLIMTRAIN_ENGINE_QUANT_H_
