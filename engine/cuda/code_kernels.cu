// kernels.h's EncodeSaved / DecodeSaved: the codes of the other saved tensors
// (planner/coding.h; engine/quant.h's "saved-tensor codes") on the device.
//
// Codes are quant.h's, code for code: every element goes through quant.h's
// own Encode*/Decode* (__host__ __device__ under nvcc), a group's min, max or
// relu maximum comes from quant.h's FoldMin/FoldMax, whose result does not
// depend on the order (so a warp's shuffle tree gives the reference's
// value), and the build has no fused multiply-adds (tools/build_defs/cuda.bzl).
//
// Work: one warp per unit of planner::kCodeGroupSize = 256 elements (a kRelu
// or kGroup group; 256·K/8 code bytes for the other codings), grid-stride
// over units. Lane l owns the unit's elements 8l ... 8l + 7, i.e. K whole
// code bytes, so no two threads write one byte: it reads its 8 floats (two
// float4 loads where aligned and whole), joins the warp's fold for the group
// values, and writes its 8 codes as one K-byte word. Every lane whose bytes
// lie inside the packed codes (PackedCodeBytes) writes them, zero bits for
// elements past the end, which also writes kRelu's and kGroup's padding.
// kBnInput and kLnInput read each element's mean and 1/std from the stats
// (its channel, or its row: one division per lane, then a step per element).
// Pass-through codes are copied with cudaMemcpyAsync.
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/kernels.h"
#include "engine/quant.h"
#include "planner/coding.h"
#include "planner/strategy.h"

namespace slimtrain::engine::cuda {
namespace {

using planner::Coding;

constexpr int kLanes = 32;
constexpr int kPerLane = 8;  // elements per lane: K bytes of codes
constexpr int64_t kUnit = planner::kCodeGroupSize;
static_assert(kUnit == kLanes * kPerLane, "a unit is one warp's 8 elements per lane");

// What every unit of one call shares (computed on the host with quant.h).
struct Consts {
  int64_t count = 0;
  int64_t packed_bytes = 0;  // PackedCodeBytes
  int bits = 0;
  float lo = 0, hi = 0, w = 0;   // kBounded (w), kRange (w)
  float delta = 0;               // kBnInput, kLnInput
  const float* stats = nullptr;  // kBnInput (2, C); kLnInput (rows, 2)
  int64_t channels = 1;          // kBnInput: C; kLnInput: the row length D
  bool aligned = false;          // x 16 bytes and the codes 8 bytes aligned
};

// The per-unit values a coding needs besides Consts: kGroup (lo, step), kRelu (m, step).
struct GroupValues {
  float a = 0, step = 0;
};

// Whether a coding reads the stats (per element, through StatsAt).
constexpr bool UsesStats(Coding c) { return c == Coding::kBnInput || c == Coding::kLnInput; }

// Where an element lies in the stats: kBnInput's channel c = i mod C,
// kLnInput's row r = i / D (c its place in the row); one division at the
// lane's first element, then a step per element. Zero for the other codings.
struct StatsAt {
  int64_t c = 0, r = 0;

  template <Coding kC>
  __device__ __forceinline__ static StatsAt Of(const Consts& k, int64_t i) {
    StatsAt at;
    if constexpr (UsesStats(kC)) {
      at.c = i % k.channels;
      at.r = i / k.channels;
    }
    return at;
  }
  __device__ __forceinline__ void Next(const Consts& k) {
    if (++c == k.channels) {
      c = 0;
      ++r;
    }
  }
};

template <Coding kC>
__device__ __forceinline__ int EncodeOne(const Consts& k, GroupValues g, float x, StatsAt at) {
  if constexpr (kC == Coding::kGroup) {
    return quant::EncodeGroup(x, g.a, g.step, k.bits);
  } else if constexpr (kC == Coding::kRelu) {
    return quant::EncodeRelu(x, g.a, g.step, k.bits);
  } else if constexpr (kC == Coding::kBounded) {
    return quant::EncodeBounded(x, k.lo, k.hi, k.w, k.bits);
  } else if constexpr (kC == Coding::kRange) {
    return quant::EncodeRange(x, k.lo, k.w, k.bits);
  } else if constexpr (kC == Coding::kBnInput) {
    return quant::EncodeBnInput(x, k.stats[at.c], k.stats[k.channels + at.c], k.delta, k.bits);
  } else {
    static_assert(kC == Coding::kLnInput);
    return quant::EncodeBnInput(x, k.stats[2 * at.r], k.stats[2 * at.r + 1], k.delta, k.bits);
  }
}

template <Coding kC>
__device__ __forceinline__ float DecodeOne(const Consts& k, GroupValues g, int q, StatsAt at) {
  if constexpr (kC == Coding::kGroup) {
    return quant::DecodeGroup(q, g.a, g.step);
  } else if constexpr (kC == Coding::kRelu) {
    return quant::DecodeRelu(q, g.a, g.step, k.bits);
  } else if constexpr (kC == Coding::kBounded) {
    return quant::DecodeBounded(q, k.lo, k.hi, k.w, k.bits);
  } else if constexpr (kC == Coding::kRange) {
    return quant::DecodeRange(q, k.lo, k.w);
  } else if constexpr (kC == Coding::kBnInput) {
    return quant::DecodeBnInput(q, k.stats[at.c], k.stats[k.channels + at.c], k.delta, k.bits);
  } else {
    static_assert(kC == Coding::kLnInput);
    return quant::DecodeBnInput(q, k.stats[2 * at.r], k.stats[2 * at.r + 1], k.delta, k.bits);
  }
}

// The lane's share of a unit: its first element, how many of its 8 exist,
// its first code byte.
struct LaneSpan {
  int64_t begin;
  int n;
  int64_t byte;
};

__device__ __forceinline__ LaneSpan SpanOf(const Consts& k, int64_t unit, int lane) {
  LaneSpan s;
  s.begin = unit * kUnit + lane * kPerLane;
  const int64_t left = k.count - s.begin;
  s.n = left <= 0 ? 0 : left < kPerLane ? static_cast<int>(left) : kPerLane;
  s.byte = s.begin * k.bits / 8;
  return s;
}

// The lane's K code bytes as one word (byte j in bits 8j ...), bytes past
// the packed codes 0.
__device__ __forceinline__ uint64_t LoadWord(const Consts& k, const uint8_t* packed, const LaneSpan& s) {
  const int bytes = k.bits;  // 8 codes of K bits
  if (k.aligned && s.byte + bytes <= k.packed_bytes) {
    if (bytes == 8) return *reinterpret_cast<const uint64_t*>(packed + s.byte);
    if (bytes == 4) return *reinterpret_cast<const uint32_t*>(packed + s.byte);
    return *reinterpret_cast<const uint16_t*>(packed + s.byte);
  }
  uint64_t word = 0;
  for (int j = 0; j < bytes && s.byte + j < k.packed_bytes; ++j)
    word |= static_cast<uint64_t>(packed[s.byte + j]) << (8 * j);
  return word;
}

__device__ __forceinline__ void StoreWord(const Consts& k, uint8_t* packed, const LaneSpan& s, uint64_t word) {
  const int bytes = k.bits;
  if (k.aligned && s.byte + bytes <= k.packed_bytes) {
    if (bytes == 8) {
      *reinterpret_cast<uint64_t*>(packed + s.byte) = word;
    } else if (bytes == 4) {
      *reinterpret_cast<uint32_t*>(packed + s.byte) = static_cast<uint32_t>(word);
    } else {
      *reinterpret_cast<uint16_t*>(packed + s.byte) = static_cast<uint16_t>(word);
    }
    return;
  }
  for (int j = 0; j < bytes && s.byte + j < k.packed_bytes; ++j)
    packed[s.byte + j] = static_cast<uint8_t>(word >> (8 * j));
}

// The warp's fold of every lane's accumulator (FoldMin or FoldMax, so the
// tree's order does not change the result).
template <bool kMin>
__device__ __forceinline__ float WarpFold(float acc) {
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset /= 2) {
    const float other = __shfl_xor_sync(0xffffffffu, acc, offset);
    acc = kMin ? quant::FoldMin(acc, other) : quant::FoldMax(acc, other);
  }
  return acc;
}

template <Coding kC>
__global__ void EncodeKernel(Consts k, const float* x, uint8_t* packed, float* values) {
  const int lane = static_cast<int>(threadIdx.x) % kLanes;
  const int64_t units = (k.count + kUnit - 1) / kUnit;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / kLanes;
  for (int64_t u = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kLanes; u < units; u += warps) {
    const LaneSpan s = SpanOf(k, u, lane);
    float v[kPerLane];
    if (k.aligned && s.n == kPerLane) {
      const float4 a = *reinterpret_cast<const float4*>(x + s.begin);
      const float4 b = *reinterpret_cast<const float4*>(x + s.begin + 4);
      v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) v[j] = j < s.n ? x[s.begin + j] : 0.0f;
    }
    GroupValues g;
    if constexpr (kC == Coding::kGroup) {
      float lo = std::numeric_limits<float>::infinity(), hi = -lo;
      for (int j = 0; j < s.n; ++j) {
        lo = quant::FoldMin(lo, v[j]);
        hi = quant::FoldMax(hi, v[j]);
      }
      lo = WarpFold<true>(lo) + 0.0f;  // + 0: a zero is +0 (quant::GroupRange)
      hi = WarpFold<false>(hi) + 0.0f;
      g = GroupValues{lo, quant::GroupStep(lo, hi, k.bits)};
      if (lane == 0) {
        values[2 * u] = lo;
        values[2 * u + 1] = hi;
      }
    } else if constexpr (kC == Coding::kRelu) {
      float m = 0.0f;
      for (int j = 0; j < s.n; ++j) m = quant::FoldMax(m, v[j]);
      m = WarpFold<false>(m);
      g = GroupValues{m, quant::ReluStep(m, k.bits)};
      if (lane == 0) values[u] = m;
    }
    if (s.byte >= k.packed_bytes) continue;  // past the codes (no padding to write)
    StatsAt at = StatsAt::Of<kC>(k, s.begin);
    uint64_t word = 0;
    for (int j = 0; j < s.n; ++j) {
      word |= static_cast<uint64_t>(EncodeOne<kC>(k, g, v[j], at)) << (j * k.bits);
      if constexpr (UsesStats(kC)) at.Next(k);
    }
    StoreWord(k, packed, s, word);
  }
}

template <Coding kC>
__global__ void DecodeKernel(Consts k, const uint8_t* packed, const float* values, float* x) {
  const int lane = static_cast<int>(threadIdx.x) % kLanes;
  const int64_t units = (k.count + kUnit - 1) / kUnit;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / kLanes;
  for (int64_t u = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kLanes; u < units; u += warps) {
    const LaneSpan s = SpanOf(k, u, lane);
    if (s.n == 0) continue;
    GroupValues g;
    if constexpr (kC == Coding::kGroup) {
      g = GroupValues{values[2 * u], quant::GroupStep(values[2 * u], values[2 * u + 1], k.bits)};
    } else if constexpr (kC == Coding::kRelu) {
      g = GroupValues{values[u], quant::ReluStep(values[u], k.bits)};
    }
    const uint64_t word = LoadWord(k, packed, s);
    const unsigned mask = (1u << k.bits) - 1;
    StatsAt at = StatsAt::Of<kC>(k, s.begin);
    float v[kPerLane];  // elements past the end are not decoded (no kLnInput row)
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      v[j] = j < s.n ? DecodeOne<kC>(k, g, static_cast<int>((word >> (j * k.bits)) & mask), at) : 0.0f;
      if constexpr (UsesStats(kC)) at.Next(k);
    }
    if (k.aligned && s.n == kPerLane) {
      *reinterpret_cast<float4*>(x + s.begin) = make_float4(v[0], v[1], v[2], v[3]);
      *reinterpret_cast<float4*>(x + s.begin + 4) = make_float4(v[4], v[5], v[6], v[7]);
    } else {
      for (int j = 0; j < s.n; ++j) x[s.begin + j] = v[j];
    }
  }
}

Consts MakeConsts(const quant::CodeSpec& spec, const float* stats, const void* x, const void* code) {
  Consts k;
  k.count = spec.count;
  k.bits = spec.bits;
  k.packed_bytes = quant::GroupValuesOffset(spec, sizeof(float));
  k.lo = static_cast<float>(spec.lo);
  k.hi = static_cast<float>(spec.hi);
  if (spec.coding == Coding::kBounded) k.w = quant::BoundedWidth(k.lo, k.hi, k.bits);
  if (spec.coding == Coding::kRange) k.w = quant::RangeWidth(k.lo, k.hi, k.bits);
  k.delta = quant::BnInputDelta<float>(k.bits);
  k.stats = stats;
  k.channels = spec.channels;
  k.aligned = Aligned(x, 16) && Aligned(code, 8);
  return k;
}

// One warp per unit, 8 units per block of kThreads.
unsigned BlocksFor(int64_t count) {
  const int64_t units = (count + kUnit - 1) / kUnit;
  return static_cast<unsigned>(StrideBlocks(units * kLanes));
}

// Calls f(std::integral_constant<Coding, C>) for the coding of a valid spec.
template <typename F>
cudaError_t WithCoding(Coding coding, const F& f) {
  switch (coding) {
    case Coding::kGroup:
      return f(std::integral_constant<Coding, Coding::kGroup>{});
    case Coding::kRelu:
      return f(std::integral_constant<Coding, Coding::kRelu>{});
    case Coding::kBounded:
      return f(std::integral_constant<Coding, Coding::kBounded>{});
    case Coding::kRange:
      return f(std::integral_constant<Coding, Coding::kRange>{});
    case Coding::kBnInput:
      return f(std::integral_constant<Coding, Coding::kBnInput>{});
    case Coding::kLnInput:
      return f(std::integral_constant<Coding, Coding::kLnInput>{});
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t EncodeSaved(const quant::CodeSpec& spec, const float* x, const float* stats, void* code,
                        cudaStream_t stream) {
  if (!quant::ValidCodeSpec(spec)) return cudaErrorInvalidValue;
  if (spec.count == 0) return cudaSuccess;
  if (spec.bits == planner::kPassThroughBits) {
    return cudaMemcpyAsync(code, x, static_cast<size_t>(spec.count) * sizeof(float), cudaMemcpyDeviceToDevice, stream);
  }
  if ((spec.coding == Coding::kBnInput || spec.coding == Coding::kLnInput) && stats == nullptr) {
    return cudaErrorInvalidValue;
  }
  const Consts k = MakeConsts(spec, stats, x, code);
  uint8_t* packed = static_cast<uint8_t*>(code);
  float* values = reinterpret_cast<float*>(packed + k.packed_bytes);
  return WithCoding(spec.coding, [&](auto coding) {
    EncodeKernel<decltype(coding)::value><<<BlocksFor(spec.count), kThreads, 0, stream>>>(k, x, packed, values);
    return cudaGetLastError();
  });
}

cudaError_t DecodeSaved(const quant::CodeSpec& spec, const void* code, const float* stats, float* x,
                        cudaStream_t stream) {
  if (!quant::ValidCodeSpec(spec)) return cudaErrorInvalidValue;
  if (spec.count == 0) return cudaSuccess;
  if (spec.bits == planner::kPassThroughBits) {
    return cudaMemcpyAsync(x, code, static_cast<size_t>(spec.count) * sizeof(float), cudaMemcpyDeviceToDevice, stream);
  }
  if ((spec.coding == Coding::kBnInput || spec.coding == Coding::kLnInput) && stats == nullptr) {
    return cudaErrorInvalidValue;
  }
  const Consts k = MakeConsts(spec, stats, x, code);
  const uint8_t* packed = static_cast<const uint8_t*>(code);
  const float* values = reinterpret_cast<const float*>(packed + k.packed_bytes);
  return WithCoding(spec.coding, [&](auto coding) {
    DecodeKernel<decltype(coding)::value><<<BlocksFor(spec.count), kThreads, 0, stream>>>(k, packed, values, x);
    return cudaGetLastError();
  });
}

}  // namespace slimtrain::engine::cuda
