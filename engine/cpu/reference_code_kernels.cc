// reference_code_kernels.cc — the codes of the other saved tensors
// (kBnInput, kLnInput, kRelu, kBounded, kRange, kGroup and pass-through): engine/quant.h
// element by element, group by group. See reference_kernels.h.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "base/status_macros.h"
#include "engine/cpu/reference_kernels.h"
#include "engine/quant.h"
#include "planner/coding.h"
#include "planner/strategy.h"

namespace slimtrain::engine::reference {
namespace {

using planner::Coding;
constexpr int64_t kGroupSize = planner::kCodeGroupSize;

// The element range [begin, end) of group g of n elements.
struct GroupSpan {
  int64_t begin, end;
};
GroupSpan GroupOf(int64_t g, int64_t n) { return {g * kGroupSize, std::min(n, (g + 1) * kGroupSize)}; }

// The per-group values of a kRelu or kGroup code.
template <typename T>
T* GroupValues(const quant::CodeSpec& spec, void* code) {
  return reinterpret_cast<T*>(static_cast<uint8_t*>(code) + quant::GroupValuesOffset(spec, sizeof(T)));
}
template <typename T>
const T* GroupValues(const quant::CodeSpec& spec, const void* code) {
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(code) + quant::GroupValuesOffset(spec, sizeof(T)));
}

}  // namespace

template <typename T>
void EncodeSaved(const quant::CodeSpec& spec, const T* x, const T* stats, void* code) {
  SLIM_CHECK(quant::ValidCodeSpec(spec));
  const int64_t n = spec.count;
  const int bits = spec.bits;
  if (bits == planner::kPassThroughBits) {
    if (n > 0) std::memcpy(code, x, static_cast<size_t>(n) * sizeof(T));
    return;
  }
  uint8_t* packed = static_cast<uint8_t*>(code);
  std::memset(packed, 0, static_cast<size_t>(quant::GroupValuesOffset(spec, sizeof(T))));
  const T lo = static_cast<T>(spec.lo), hi = static_cast<T>(spec.hi);
  switch (spec.coding) {
    case Coding::kGroup: {
      T* values = GroupValues<T>(spec, code);
      for (int64_t g = 0; g * kGroupSize < n; ++g) {
        const GroupSpan s = GroupOf(g, n);
        T glo, ghi;
        quant::GroupRange(x + s.begin, s.end - s.begin, &glo, &ghi);
        values[2 * g] = glo;
        values[2 * g + 1] = ghi;
        const T step = quant::GroupStep(glo, ghi, bits);
        for (int64_t i = s.begin; i < s.end; ++i)
          quant::PutCode(packed, bits, i, quant::EncodeGroup(x[i], glo, step, bits));
      }
      break;
    }
    case Coding::kRelu: {
      T* values = GroupValues<T>(spec, code);
      for (int64_t g = 0; g * kGroupSize < n; ++g) {
        const GroupSpan s = GroupOf(g, n);
        const T m = quant::ReluGroupMax(x + s.begin, s.end - s.begin);
        values[g] = m;
        const T step = quant::ReluStep(m, bits);
        for (int64_t i = s.begin; i < s.end; ++i) quant::PutCode(packed, bits, i, quant::EncodeRelu(x[i], m, step, bits));
      }
      break;
    }
    case Coding::kBounded: {
      const T w = quant::BoundedWidth(lo, hi, bits);
      for (int64_t i = 0; i < n; ++i) quant::PutCode(packed, bits, i, quant::EncodeBounded(x[i], lo, hi, w, bits));
      break;
    }
    case Coding::kRange: {
      const T w = quant::RangeWidth(lo, hi, bits);
      for (int64_t i = 0; i < n; ++i) quant::PutCode(packed, bits, i, quant::EncodeRange(x[i], lo, w, bits));
      break;
    }
    case Coding::kBnInput: {
      SLIM_CHECK(stats != nullptr || n == 0);
      const int64_t C = spec.channels;
      const T delta = quant::BnInputDelta<T>(bits);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = i % C;
        quant::PutCode(packed, bits, i, quant::EncodeBnInput(x[i], stats[c], stats[C + c], delta, bits));
      }
      break;
    }
    case Coding::kLnInput: {
      SLIM_CHECK(stats != nullptr || n == 0);
      const int64_t D = spec.channels;
      const T delta = quant::BnInputDelta<T>(bits);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = i / D;
        quant::PutCode(packed, bits, i, quant::EncodeBnInput(x[i], stats[2 * r], stats[2 * r + 1], delta, bits));
      }
      break;
    }
    default:
      SLIM_CHECK(false);  // ValidCodeSpec admits no other coding
  }
}

template <typename T>
void DecodeSaved(const quant::CodeSpec& spec, const void* code, const T* stats, T* x) {
  SLIM_CHECK(quant::ValidCodeSpec(spec));
  const int64_t n = spec.count;
  const int bits = spec.bits;
  if (bits == planner::kPassThroughBits) {
    if (n > 0) std::memcpy(x, code, static_cast<size_t>(n) * sizeof(T));
    return;
  }
  const uint8_t* packed = static_cast<const uint8_t*>(code);
  const T lo = static_cast<T>(spec.lo), hi = static_cast<T>(spec.hi);
  switch (spec.coding) {
    case Coding::kGroup: {
      const T* values = GroupValues<T>(spec, code);
      for (int64_t g = 0; g * kGroupSize < n; ++g) {
        const GroupSpan s = GroupOf(g, n);
        const T glo = values[2 * g], step = quant::GroupStep(glo, values[2 * g + 1], bits);
        for (int64_t i = s.begin; i < s.end; ++i) x[i] = quant::DecodeGroup(quant::GetCode(packed, bits, i), glo, step);
      }
      break;
    }
    case Coding::kRelu: {
      const T* values = GroupValues<T>(spec, code);
      for (int64_t g = 0; g * kGroupSize < n; ++g) {
        const GroupSpan s = GroupOf(g, n);
        const T m = values[g], step = quant::ReluStep(m, bits);
        for (int64_t i = s.begin; i < s.end; ++i) x[i] = quant::DecodeRelu(quant::GetCode(packed, bits, i), m, step, bits);
      }
      break;
    }
    case Coding::kBounded: {
      const T w = quant::BoundedWidth(lo, hi, bits);
      for (int64_t i = 0; i < n; ++i) x[i] = quant::DecodeBounded(quant::GetCode(packed, bits, i), lo, hi, w, bits);
      break;
    }
    case Coding::kRange: {
      const T w = quant::RangeWidth(lo, hi, bits);
      for (int64_t i = 0; i < n; ++i) x[i] = quant::DecodeRange(quant::GetCode(packed, bits, i), lo, w);
      break;
    }
    case Coding::kBnInput: {
      SLIM_CHECK(stats != nullptr || n == 0);
      const int64_t C = spec.channels;
      const T delta = quant::BnInputDelta<T>(bits);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = i % C;
        x[i] = quant::DecodeBnInput(quant::GetCode(packed, bits, i), stats[c], stats[C + c], delta, bits);
      }
      break;
    }
    case Coding::kLnInput: {
      SLIM_CHECK(stats != nullptr || n == 0);
      const int64_t D = spec.channels;
      const T delta = quant::BnInputDelta<T>(bits);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = i / D;
        x[i] = quant::DecodeBnInput(quant::GetCode(packed, bits, i), stats[2 * r], stats[2 * r + 1], delta, bits);
      }
      break;
    }
    default:
      SLIM_CHECK(false);
  }
}

template void EncodeSaved<float>(const quant::CodeSpec&, const float*, const float*, void*);
template void EncodeSaved<double>(const quant::CodeSpec&, const double*, const double*, void*);
template void DecodeSaved<float>(const quant::CodeSpec&, const void*, const float*, float*);
template void DecodeSaved<double>(const quant::CodeSpec&, const void*, const double*, double*);

}  // namespace slimtrain::engine::reference
