// coding.h — how a tensor kept for backward is coded under approx-K, and how
// many bytes its code takes. The planner chooses a Coding per saved tensor
// (schedule.h says which and why); engine/quant.h specifies each coding's
// encoder and decoder element by element, and every backend follows it.
//
//   kBnRelu    a BN→ReLU's pre-ReLU value on the statistics grid, exact mask
//              (docs/DESIGN.md "The BN→ReLU code"; quant.h's Channel/Encode). ceil(n·K/8) bytes.
//   kBnInput   a batch_norm's input x as x̂ = (x − mean)·invstd on the same
//              ±3σ grid, decoded with the batch_norm's statistics to
//              mean + x̂'/invstd. ceil(n·K/8) bytes.
//              The grid on x̂ (these three codings): uniform, Δ = 6/2^K over
//              ±3σ, at K = 8 and 4; at K = 2 the Lloyd-Max quantizer of
//              N(0, 1) (cuts 0, ±0.9816, levels ±0.4528, ±1.5104; kBnRelu
//              with the cut nearest its ReLU edge moved onto it), mean
//              squared error 0.1175 on N(0, 1) against the uniform grid's
//              0.1898. engine/quant.h gives the numbers and how.
//   kLnInput   a layer_norm's input as x̂ = (x − mean)·rstd of its row on the
//              same grid, decoded with the row's statistics (rows of
//              `channels` contiguous elements). ceil(n·K/8) bytes.
//   kRelu      a relu output: code 0 exactly where the value is 0 (the mask
//              is exact), codes 1..B−1 on (0, max] per group of
//              kCodeGroupSize elements. Codes, then one max per group.
//   kBounded   an output clamped to a known [lo, hi] (relu6, clip,
//              hardsigmoid): codes 0 and B−1 exactly at lo and hi, B−2 bins
//              between (the backward's mask lo < y < hi is exact).
//              ceil(n·K/8) bytes.
//   kRange     an output in a known [lo, hi] (sigmoid, tanh): B bins.
//              ceil(n·K/8) bytes.
//   kGroup     anything else: per group of kCodeGroupSize elements, B levels
//              from the group's min to its max. Codes, then min and max per
//              group.
// Codes are packed (element i at bit i·K, low bits first) and padded to a
// multiple of kCodeHeaderAlign bytes; the per-group values follow in the
// element type. Pass-through (K = kPassThroughBits, tests only) keeps every
// value exactly: n elements of the element type, no per-group values.
//
// Header-only and free of absl: nvcc compiles it too (engine/quant.h).
#ifndef SLIMTRAIN_PLANNER_CODING_H_
#define SLIMTRAIN_PLANNER_CODING_H_

#include <cstdint>

#include "planner/strategy.h"

namespace slimtrain::planner {

enum class Coding {
  kExact,
  kBnRelu,
  kBnInput,
  kLnInput,
  kRelu,
  kBounded,
  kRange,
  kGroup,
};

// Elements per group of kRelu and kGroup codes (contiguous, in the arena's
// element order; the last group may be shorter).
inline constexpr int64_t kCodeGroupSize = 256;
// Packed codes are padded to this many bytes before the per-group values.
inline constexpr int64_t kCodeHeaderAlign = 16;

// Per-group values of a coding: 0, 1 (kRelu: max) or 2 (kGroup: min, max).
inline constexpr int CodingGroupValues(Coding c) {
  return c == Coding::kRelu ? 1 : c == Coding::kGroup ? 2 : 0;
}

inline constexpr int64_t CodeGroups(int64_t count) { return (count + kCodeGroupSize - 1) / kCodeGroupSize; }

// Bytes of the packed codes of `count` elements, before the per-group values
// (padded when there are any).
inline constexpr int64_t PackedCodeBytes(Coding c, int bits, int64_t count, int64_t element_bytes) {
  if (bits == kPassThroughBits) return count * element_bytes;
  const int64_t packed = (count * bits + 7) / 8;
  if (CodingGroupValues(c) == 0) return packed;
  return (packed + kCodeHeaderAlign - 1) / kCodeHeaderAlign * kCodeHeaderAlign;
}

// Bytes of a whole code: packed codes and per-group values.
inline constexpr int64_t CodeBytes(Coding c, int bits, int64_t count, int64_t element_bytes) {
  if (bits == kPassThroughBits) return count * element_bytes;
  return PackedCodeBytes(c, bits, count, element_bytes) +
         CodeGroups(count) * CodingGroupValues(c) * element_bytes;
}

// "bn_relu", "bn_input", "ln_input", "relu", "bounded", "range", "group"
// ("exact").
inline const char* CodingName(Coding c) {
  switch (c) {
    case Coding::kExact: return "exact";
    case Coding::kBnRelu: return "bn_relu";
    case Coding::kBnInput: return "bn_input";
    case Coding::kLnInput: return "ln_input";
    case Coding::kRelu: return "relu";
    case Coding::kBounded: return "bounded";
    case Coding::kRange: return "range";
    case Coding::kGroup: return "group";
  }
  return "unknown";
}

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_CODING_H_
