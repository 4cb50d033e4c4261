// See code_kernels.h. One coder per coding performs quant.h's operations on
// one element (portable: quant.h itself) or on 16 (AVX-512: the same IEEE
// operations as intrinsics, one for one); the unit walks below run a coder
// over units of 256 elements in parallel.
#include "engine/cpu/code_kernels.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <type_traits>

#include "base/status_macros.h"
#include "engine/cpu/avx512_codes.h"
#include "engine/cpu/parallel.h"
#include "engine/cpu/quant_kernels.h"
#include "engine/quant.h"
#include "planner/coding.h"
#include "planner/strategy.h"

namespace slimtrain::engine::cpu {
namespace {

using planner::Coding;
constexpr int64_t kUnit = planner::kCodeGroupSize;
constexpr int kVectors = static_cast<int>(kUnit / 16);  // 16-float vectors per unit
static_assert(kUnit % 16 == 0);

// ---------------------------------------------------------------- AVX-512 pieces

// quant::ClampCode of 16 whole numbers: maxps(f, lo) (NaN to lo), minps, cvt.
SLIM_AVX512 inline __m512i ClampCode16(__m512 f, int lo, int hi) {
  const __m512 c = _mm512_max_ps(f, _mm512_set1_ps(static_cast<float>(lo)));
  return _mm512_cvttps_epi32(_mm512_min_ps(c, _mm512_set1_ps(static_cast<float>(hi))));
}
SLIM_AVX512 inline __m512 Floor16(__m512 v) {
  return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
}
SLIM_AVX512 inline __m512 Ceil16(__m512 v) {
  return _mm512_roundscale_ps(v, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
}

// quant::GroupRange of 256 floats: lane-wise folds, then across lanes (no
// NaN is left by then, and + 0 makes a zero +0, so the order is free).
SLIM_AVX512 void GroupRange256(const float* x, float* lo, float* hi) {
  __m512 a = _mm512_set1_ps(std::numeric_limits<float>::infinity()), b = _mm512_sub_ps(_mm512_setzero_ps(), a);
  for (int v = 0; v < kVectors; ++v) {
    const __m512 xv = _mm512_loadu_ps(x + 16 * v);
    a = _mm512_min_ps(xv, a);  // xv < a ? xv : a, quant::FoldMin
    b = _mm512_max_ps(xv, b);  // xv > b ? xv : b, quant::FoldMax
  }
  *lo = _mm512_reduce_min_ps(a) + 0.0f;
  *hi = _mm512_reduce_max_ps(b) + 0.0f;
}

// quant::ReluGroupMax of 256 floats.
SLIM_AVX512 float ReluGroupMax256(const float* x) {
  __m512 m = _mm512_setzero_ps();
  for (int v = 0; v < kVectors; ++v) m = _mm512_max_ps(_mm512_loadu_ps(x + 16 * v), m);
  return _mm512_reduce_max_ps(m);
}

// quant::EncodeNormal2 of 16 values: one per cut −τ, 0, τ strictly below.
SLIM_AVX512 inline __m512i EncodeNormal2x16(__m512 xhat) {
  const float tau = static_cast<float>(quant::kNormal2Cut);
  const __m512i one = _mm512_set1_epi32(1);
  __m512i n = _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(_mm512_set1_ps(-tau), xhat, _CMP_LT_OQ), one);
  n = _mm512_mask_add_epi32(n, _mm512_cmp_ps_mask(_mm512_setzero_ps(), xhat, _CMP_LT_OQ), n, one);
  return _mm512_mask_add_epi32(n, _mm512_cmp_ps_mask(_mm512_set1_ps(tau), xhat, _CMP_LT_OQ), n, one);
}

// quant::DecodeNormal2 of 16 codes in [0, 4): a lookup in a register.
SLIM_AVX512 inline __m512 DecodeNormal2x16(__m512i q) {
  const float inner = static_cast<float>(quant::kNormal2Inner), outer = static_cast<float>(quant::kNormal2Outer);
  const __m512 levels = _mm512_setr_ps(-outer, -inner, inner, outer, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(q, levels);
}

// quant::EncodeBnInput / DecodeBnInput of 16 elements with their own mean
// and invstd (kBnInput: their channels'; kLnInput: their rows').
SLIM_AVX512 inline __m512i EncodeBnInput16(__m512 x, __m512 mean, __m512 invstd, float delta, int bits) {
  const __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(x, mean), invstd);
  if (bits == 2) return EncodeNormal2x16(xhat);
  const __m512 f = _mm512_add_ps(Floor16(_mm512_div_ps(xhat, _mm512_set1_ps(delta))),
                                 _mm512_set1_ps(static_cast<float>((1 << bits) / 2)));
  return ClampCode16(f, 0, (1 << bits) - 1);
}
SLIM_AVX512 inline __m512 DecodeBnInput16(__m512i q, __m512 mean, __m512 invstd, float delta, int bits) {
  __m512 xhat;
  if (bits == 2) {
    xhat = DecodeNormal2x16(q);
  } else {
    const __m512 c = _mm512_cvtepi32_ps(_mm512_sub_epi32(q, _mm512_set1_epi32((1 << bits) / 2)));
    xhat = _mm512_mul_ps(_mm512_add_ps(c, _mm512_set1_ps(0.5f)), _mm512_set1_ps(delta));
  }
  return _mm512_add_ps(mean, _mm512_div_ps(xhat, invstd));
}

// ---------------------------------------------------------------- coders
// Encode(x, j) / Decode(q, j): one element, quant.h itself. Encode16(x, j) /
// Decode16(q, j): 16 elements, the same operations as intrinsics. j is the
// (first) element's position in the walk's period (kBnInput's channel
// arrays; the other coders ignore it). LnInputCoder has walks of its own.

struct GroupCoder {
  float lo, step;
  int bits;
  int Encode(float x, int64_t) const { return quant::EncodeGroup(x, lo, step, bits); }
  float Decode(int q, int64_t) const { return quant::DecodeGroup(q, lo, step); }
  SLIM_AVX512 __m512i Encode16(__m512 x, int64_t) const {
    if (!(step > 0.0f)) return _mm512_setzero_si512();
    const __m512 t = _mm512_div_ps(_mm512_sub_ps(x, _mm512_set1_ps(lo)), _mm512_set1_ps(step));
    return ClampCode16(Floor16(_mm512_add_ps(t, _mm512_set1_ps(0.5f))), 0, (1 << bits) - 1);
  }
  SLIM_AVX512 __m512 Decode16(__m512i q, int64_t) const {
    return _mm512_add_ps(_mm512_set1_ps(lo), _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(step)));
  }
};

struct ReluCoder {
  float m, step;
  int bits;
  int Encode(float x, int64_t) const { return quant::EncodeRelu(x, m, step, bits); }
  float Decode(int q, int64_t) const { return quant::DecodeRelu(q, m, step, bits); }
  SLIM_AVX512 __m512i Encode16(__m512 x, int64_t) const {
    const __mmask16 positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
    if (bits == 2) {  // 1 + (x > m·κ_1) + (x > m·κ_2)
      const __m512i one = _mm512_set1_epi32(1);
      const float c1 = m * static_cast<float>(quant::kReluCut1), c2 = m * static_cast<float>(quant::kReluCut2);
      __m512i q = _mm512_maskz_mov_epi32(positive, one);
      q = _mm512_mask_add_epi32(q, positive & _mm512_cmp_ps_mask(x, _mm512_set1_ps(c1), _CMP_GT_OQ), q, one);
      return _mm512_mask_add_epi32(q, positive & _mm512_cmp_ps_mask(x, _mm512_set1_ps(c2), _CMP_GT_OQ), q, one);
    }
    if (!(step > 0.0f)) return _mm512_maskz_mov_epi32(positive, _mm512_set1_epi32(1));
    const __m512i q = ClampCode16(Ceil16(_mm512_div_ps(x, _mm512_set1_ps(step))), 1, (1 << bits) - 1);
    return _mm512_maskz_mov_epi32(positive, q);
  }
  SLIM_AVX512 __m512 Decode16(__m512i q, int64_t) const {
    if (bits == 2) {  // a lookup of 0 and quant::DecodeRelu's three levels
      const __m512 levels = _mm512_setr_ps(0.0f, Decode(1, 0), Decode(2, 0), Decode(3, 0), 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                           0, 0, 0);
      return _mm512_permutexvar_ps(q, levels);
    }
    const __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(0.5f)), _mm512_set1_ps(step));
    const __mmask16 positive = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
    const __m512 r = _mm512_mask_blend_ps(positive, _mm512_set1_ps(m), v);
    return _mm512_maskz_mov_ps(_mm512_test_epi32_mask(q, q), r);  // q = 0: 0
  }
};

struct BoundedCoder {
  float lo, hi, w;
  int bits;
  int Encode(float x, int64_t) const { return quant::EncodeBounded(x, lo, hi, w, bits); }
  float Decode(int q, int64_t) const { return quant::DecodeBounded(q, lo, hi, w, bits); }
  SLIM_AVX512 __m512i Encode16(__m512 x, int64_t) const {
    const int top = (1 << bits) - 1;
    const __m512 t = _mm512_div_ps(_mm512_sub_ps(x, _mm512_set1_ps(lo)), _mm512_set1_ps(w));
    __m512i q = ClampCode16(_mm512_add_ps(Floor16(t), _mm512_set1_ps(1.0f)), 1, top - 1);
    q = _mm512_mask_mov_epi32(q, _mm512_cmp_ps_mask(x, _mm512_set1_ps(hi), _CMP_GE_OQ), _mm512_set1_epi32(top));
    return _mm512_mask_mov_epi32(q, _mm512_cmp_ps_mask(x, _mm512_set1_ps(lo), _CMP_LE_OQ), _mm512_setzero_si512());
  }
  SLIM_AVX512 __m512 Decode16(__m512i q, int64_t) const {
    const __m512 c = _mm512_sub_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(0.5f));
    __m512 v = _mm512_add_ps(_mm512_set1_ps(lo), _mm512_mul_ps(c, _mm512_set1_ps(w)));
    v = _mm512_mask_mov_ps(v, _mm512_cmpeq_epi32_mask(q, _mm512_setzero_si512()), _mm512_set1_ps(lo));
    return _mm512_mask_mov_ps(v, _mm512_cmpeq_epi32_mask(q, _mm512_set1_epi32((1 << bits) - 1)), _mm512_set1_ps(hi));
  }
};

struct RangeCoder {
  float lo, w;
  int bits;
  int Encode(float x, int64_t) const { return quant::EncodeRange(x, lo, w, bits); }
  float Decode(int q, int64_t) const { return quant::DecodeRange(q, lo, w); }
  SLIM_AVX512 __m512i Encode16(__m512 x, int64_t) const {
    const __m512 t = _mm512_div_ps(_mm512_sub_ps(x, _mm512_set1_ps(lo)), _mm512_set1_ps(w));
    return ClampCode16(Floor16(t), 0, (1 << bits) - 1);
  }
  SLIM_AVX512 __m512 Decode16(__m512i q, int64_t) const {
    const __m512 c = _mm512_add_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(0.5f));
    return _mm512_add_ps(_mm512_set1_ps(lo), _mm512_mul_ps(c, _mm512_set1_ps(w)));
  }
};

// mean and invstd replicated over the period (position j is channel j mod C).
struct BnInputCoder {
  const float* mean;
  const float* invstd;
  float delta;
  int bits;
  int Encode(float x, int64_t j) const { return quant::EncodeBnInput(x, mean[j], invstd[j], delta, bits); }
  float Decode(int q, int64_t j) const { return quant::DecodeBnInput(q, mean[j], invstd[j], delta, bits); }
  SLIM_AVX512 __m512i Encode16(__m512 x, int64_t j) const {
    return EncodeBnInput16(x, _mm512_loadu_ps(mean + j), _mm512_loadu_ps(invstd + j), delta, bits);
  }
  SLIM_AVX512 __m512 Decode16(__m512i q, int64_t j) const {
    return DecodeBnInput16(q, _mm512_loadu_ps(mean + j), _mm512_loadu_ps(invstd + j), delta, bits);
  }
};

// kLnInput: stats (rows, 2) (row r's mean, rstd at 2r, 2r + 1), rows of D
// elements. Its unit walks below follow the rows instead of a period: each
// row's mean and rstd broadcast over the row's run.
struct LnInputCoder {
  const float* stats;
  int64_t D;
  float delta;
};

// Row r of a walk over rows, and how many of its elements are left from the
// walk's position (one division where the walk starts).
struct RowCursor {
  int64_t r, left;
  RowCursor(int64_t D, int64_t i) : r(i / D), left((i / D + 1) * D - i) {}
};

// The means and rstds of the 16 elements at the cursor (all of them in the
// tensor), which it moves past them: row r's broadcast, then each row that
// starts inside the vector blended in from its first lane.
SLIM_AVX512 inline void NextRows16(const LnInputCoder& c, RowCursor* row, __m512* mean, __m512* rstd) {
  *mean = _mm512_set1_ps(c.stats[2 * row->r]);
  *rstd = _mm512_set1_ps(c.stats[2 * row->r + 1]);
  int64_t lane = 0;                 // lanes before it are done
  while (row->left <= 16 - lane) {  // row r ends inside the vector
    lane += row->left;
    ++row->r;
    row->left = c.D;
    if (lane == 16) return;  // row r starts the next vector
    const __mmask16 from = static_cast<__mmask16>(0xFFFFu << lane);
    *mean = _mm512_mask_mov_ps(*mean, from, _mm512_set1_ps(c.stats[2 * row->r]));
    *rstd = _mm512_mask_mov_ps(*rstd, from, _mm512_set1_ps(c.stats[2 * row->r + 1]));
  }
  row->left -= 16 - lane;
}

// ---------------------------------------------------------------- one unit

// The walk of one unit: its first element, its length (256 but for the last
// unit) and its first position in the kBnInput period.
struct Unit {
  int64_t index, begin, n, j0;
};

// The codes of x[0, 256) into 256·K/8 bytes at out.
template <int K, typename Coder>
SLIM_AVX512 void EncodeUnitAvx(const Coder& c, const float* x, uint8_t* out, int64_t j0, int64_t period) {
  for (int v = 0, j = static_cast<int>(j0); v < kVectors; ++v, j = j + 16 == period ? 0 : j + 16) {
    StoreCodes<K>(out + v * 2 * K, c.Encode16(_mm512_loadu_ps(x + 16 * v), j));
  }
}

template <int K, typename Coder>
SLIM_AVX512 void DecodeUnitAvx(const Coder& c, const uint8_t* in, float* x, int64_t j0, int64_t period) {
  for (int v = 0, j = static_cast<int>(j0); v < kVectors; ++v, j = j + 16 == period ? 0 : j + 16) {
    _mm512_storeu_ps(x + 16 * v, c.Decode16(LoadCodes<K>(in + v * 2 * K), j));
  }
}

// kLnInput's: the cursor from the unit's first element, NextRows16 per vector.
template <int K>
SLIM_AVX512 void EncodeUnitAvx(const LnInputCoder& c, const float* x, uint8_t* out, int64_t begin) {
  RowCursor row(c.D, begin);
  for (int v = 0; v < kVectors; ++v) {
    __m512 mean, rstd;
    NextRows16(c, &row, &mean, &rstd);
    StoreCodes<K>(out + v * 2 * K, EncodeBnInput16(_mm512_loadu_ps(x + 16 * v), mean, rstd, c.delta, K));
  }
}

template <int K>
SLIM_AVX512 void DecodeUnitAvx(const LnInputCoder& c, const uint8_t* in, float* x, int64_t begin) {
  RowCursor row(c.D, begin);
  for (int v = 0; v < kVectors; ++v) {
    __m512 mean, rstd;
    NextRows16(c, &row, &mean, &rstd);
    _mm512_storeu_ps(x + 16 * v, DecodeBnInput16(LoadCodes<K>(in + v * 2 * K), mean, rstd, c.delta, K));
  }
}

// Portable: plain loops the compiler vectorises (cloned for AVX2 and
// AVX-512 where the intrinsics are switched off). The unit's n codes go
// through a byte array q of kUnit + 8 entries: PackCodes writes the codes
// q[0, n) into ceil(n·K/8) bytes at out (the unused high bits of the last
// byte 0; it zeroes q[n, n + 8/K)), UnpackCodes the reverse.
template <int K>
inline void PackCodes(uint8_t* q, int64_t n, uint8_t* out) {
  constexpr int kPerByte = 8 / K;
  std::memset(q + n, 0, kPerByte);  // the last byte's unused codes
  for (int64_t b = 0; b * kPerByte < n; ++b) {
    unsigned byte = 0;
    for (int t = 0; t < kPerByte; ++t) byte |= static_cast<unsigned>(q[b * kPerByte + t]) << (t * K);
    out[b] = static_cast<uint8_t>(byte);
  }
}

template <int K>
inline void UnpackCodes(const uint8_t* in, int64_t n, uint8_t* q) {
  constexpr int kPerByte = 8 / K;
  for (int64_t b = 0; b * kPerByte < n; ++b) {
    for (int t = 0; t < kPerByte; ++t) q[b * kPerByte + t] = static_cast<uint8_t>((in[b] >> (t * K)) & ((1 << K) - 1));
  }
}

// In runs that do not cross the end of the period.
template <int K, typename Coder>
SLIM_VECTOR_CLONES void EncodeUnitPortable(const Coder& c, const float* x, const Unit& u, int64_t period,
                                           uint8_t* out) {
  uint8_t q[kUnit + 8];
  for (int64_t k = 0, j = u.j0; k < u.n; j = 0) {
    const int64_t run = std::min(u.n - k, period - j);
    for (int64_t t = 0; t < run; ++t) q[k + t] = static_cast<uint8_t>(c.Encode(x[k + t], j + t));
    k += run;
  }
  PackCodes<K>(q, u.n, out);
}

template <int K, typename Coder>
SLIM_VECTOR_CLONES void DecodeUnitPortable(const Coder& c, const uint8_t* in, const Unit& u, int64_t period, float* x) {
  uint8_t q[kUnit + 8];
  UnpackCodes<K>(in, u.n, q);
  for (int64_t k = 0, j = u.j0; k < u.n; j = 0) {
    const int64_t run = std::min(u.n - k, period - j);
    for (int64_t t = 0; t < run; ++t) x[k + t] = c.Decode(q[k + t], j + t);
    k += run;
  }
}

// kLnInput's: in runs of one row, its mean and rstd held in scalars.
template <int K>
SLIM_VECTOR_CLONES void EncodeUnitPortable(const LnInputCoder& c, const float* x, const Unit& u, uint8_t* out) {
  uint8_t q[kUnit + 8];
  for (int64_t k = 0, r = u.begin / c.D; k < u.n; ++r) {
    const int64_t run = std::min(u.n - k, (r + 1) * c.D - (u.begin + k));
    const float mean = c.stats[2 * r], rstd = c.stats[2 * r + 1];
    for (int64_t t = 0; t < run; ++t) {
      q[k + t] = static_cast<uint8_t>(quant::EncodeBnInput(x[k + t], mean, rstd, c.delta, K));
    }
    k += run;
  }
  PackCodes<K>(q, u.n, out);
}

template <int K>
SLIM_VECTOR_CLONES void DecodeUnitPortable(const LnInputCoder& c, const uint8_t* in, const Unit& u, float* x) {
  uint8_t q[kUnit + 8];
  UnpackCodes<K>(in, u.n, q);
  for (int64_t k = 0, r = u.begin / c.D; k < u.n; ++r) {
    const int64_t run = std::min(u.n - k, (r + 1) * c.D - (u.begin + k));
    const float mean = c.stats[2 * r], rstd = c.stats[2 * r + 1];
    for (int64_t t = 0; t < run; ++t) x[k + t] = quant::DecodeBnInput(q[k + t], mean, rstd, c.delta, K);
    k += run;
  }
}

// ---------------------------------------------------------------- the walk

// What every unit of one call shares.
struct Walk {
  const quant::CodeSpec& spec;
  bool avx;
  int64_t period;  // kBnInput: a multiple of lcm(C, 16), >= 256; else one unit
  int threads;
  BnInputCoder bn;  // kBnInput only
  LnInputCoder ln;  // kLnInput only

  // Runs f(unit) over every unit, contiguous runs of units per thread.
  template <typename F>
  void ForUnits(const F& f) const {
    const int64_t count = spec.count, units = (count + kUnit - 1) / kUnit;
    ParallelFor(units, std::max<int64_t>(1, kElementGrain / kUnit), threads, [&](int64_t u0, int64_t u1, int) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t begin = u * kUnit;
        f(Unit{u, begin, std::min(kUnit, count - begin), begin % period});
      }
    });
  }
};

template <int K, typename Coder>
void EncodeUnit(const Walk& w, const Coder& c, const float* x, uint8_t* packed, const Unit& u) {
  uint8_t* out = packed + u.begin * K / 8;
  if (w.avx && u.n == kUnit) {
    EncodeUnitAvx<K>(c, x + u.begin, out, u.j0, w.period);
  } else {
    EncodeUnitPortable<K>(c, x + u.begin, u, w.period, out);
  }
}

template <int K, typename Coder>
void DecodeUnit(const Walk& w, const Coder& c, const uint8_t* packed, float* x, const Unit& u) {
  const uint8_t* in = packed + u.begin * K / 8;
  if (w.avx && u.n == kUnit) {
    DecodeUnitAvx<K>(c, in, x + u.begin, u.j0, w.period);
  } else {
    DecodeUnitPortable<K>(c, in, u, w.period, x + u.begin);
  }
}

// kLnInput's unit: rows, not the period.
template <int K>
void EncodeUnit(const Walk& w, const LnInputCoder& c, const float* x, uint8_t* packed, const Unit& u) {
  uint8_t* out = packed + u.begin * K / 8;
  if (w.avx && u.n == kUnit) {
    EncodeUnitAvx<K>(c, x + u.begin, out, u.begin);
  } else {
    EncodeUnitPortable<K>(c, x + u.begin, u, out);
  }
}

template <int K>
void DecodeUnit(const Walk& w, const LnInputCoder& c, const uint8_t* packed, float* x, const Unit& u) {
  const uint8_t* in = packed + u.begin * K / 8;
  if (w.avx && u.n == kUnit) {
    DecodeUnitAvx<K>(c, in, x + u.begin, u.begin);
  } else {
    DecodeUnitPortable<K>(c, in, u, x + u.begin);
  }
}

template <int K>
void EncodeAll(const Walk& w, const float* x, uint8_t* packed, float* values) {
  const quant::CodeSpec& s = w.spec;
  const float lo = static_cast<float>(s.lo), hi = static_cast<float>(s.hi);
  switch (s.coding) {
    case Coding::kGroup:
      w.ForUnits([&](const Unit& u) {
        float glo, ghi;
        if (w.avx && u.n == kUnit) {
          GroupRange256(x + u.begin, &glo, &ghi);
        } else {
          quant::GroupRange(x + u.begin, u.n, &glo, &ghi);
        }
        values[2 * u.index] = glo;
        values[2 * u.index + 1] = ghi;
        EncodeUnit<K>(w, GroupCoder{glo, quant::GroupStep(glo, ghi, K), K}, x, packed, u);
      });
      break;
    case Coding::kRelu:
      w.ForUnits([&](const Unit& u) {
        const float m = w.avx && u.n == kUnit ? ReluGroupMax256(x + u.begin) : quant::ReluGroupMax(x + u.begin, u.n);
        values[u.index] = m;
        EncodeUnit<K>(w, ReluCoder{m, quant::ReluStep(m, K), K}, x, packed, u);
      });
      break;
    case Coding::kBounded: {
      const BoundedCoder c{lo, hi, quant::BoundedWidth(lo, hi, K), K};
      w.ForUnits([&](const Unit& u) { EncodeUnit<K>(w, c, x, packed, u); });
      break;
    }
    case Coding::kRange: {
      const RangeCoder c{lo, quant::RangeWidth(lo, hi, K), K};
      w.ForUnits([&](const Unit& u) { EncodeUnit<K>(w, c, x, packed, u); });
      break;
    }
    case Coding::kBnInput:
      w.ForUnits([&](const Unit& u) { EncodeUnit<K>(w, w.bn, x, packed, u); });
      break;
    case Coding::kLnInput:
      w.ForUnits([&](const Unit& u) { EncodeUnit<K>(w, w.ln, x, packed, u); });
      break;
    default:
      SLIM_CHECK(false);  // ValidCodeSpec admits no other coding
  }
}

template <int K>
void DecodeAll(const Walk& w, const uint8_t* packed, const float* values, float* x) {
  const quant::CodeSpec& s = w.spec;
  const float lo = static_cast<float>(s.lo), hi = static_cast<float>(s.hi);
  switch (s.coding) {
    case Coding::kGroup:
      w.ForUnits([&](const Unit& u) {
        const float glo = values[2 * u.index], step = quant::GroupStep(glo, values[2 * u.index + 1], K);
        DecodeUnit<K>(w, GroupCoder{glo, step, K}, packed, x, u);
      });
      break;
    case Coding::kRelu:
      w.ForUnits([&](const Unit& u) {
        const float m = values[u.index];
        DecodeUnit<K>(w, ReluCoder{m, quant::ReluStep(m, K), K}, packed, x, u);
      });
      break;
    case Coding::kBounded: {
      const BoundedCoder c{lo, hi, quant::BoundedWidth(lo, hi, K), K};
      w.ForUnits([&](const Unit& u) { DecodeUnit<K>(w, c, packed, x, u); });
      break;
    }
    case Coding::kRange: {
      const RangeCoder c{lo, quant::RangeWidth(lo, hi, K), K};
      w.ForUnits([&](const Unit& u) { DecodeUnit<K>(w, c, packed, x, u); });
      break;
    }
    case Coding::kBnInput:
      w.ForUnits([&](const Unit& u) { DecodeUnit<K>(w, w.bn, packed, x, u); });
      break;
    case Coding::kLnInput:
      w.ForUnits([&](const Unit& u) { DecodeUnit<K>(w, w.ln, packed, x, u); });
      break;
    default:
      SLIM_CHECK(false);
  }
}

// Calls f(std::integral_constant<int, K>) for bits K = 8, 4, 2.
template <typename F>
void WithBits(int bits, const F& f) {
  if (bits == 8) {
    f(std::integral_constant<int, 8>{});
  } else if (bits == 4) {
    f(std::integral_constant<int, 4>{});
  } else {
    f(std::integral_constant<int, 2>{});
  }
}

// The walk of `spec`: kBnInput's constants replicated over its period,
// kLnInput's stats.
Walk MakeWalk(const quant::CodeSpec& spec, const float* stats, int threads, Scratch* scratch) {
  SLIM_CHECK(quant::ValidCodeSpec(spec));
  Walk w{spec, QuantUsesAvx512(), kUnit, threads, {}, {}};
  if (spec.coding == Coding::kLnInput && spec.count > 0) {
    SLIM_CHECK(stats != nullptr);
    w.ln = LnInputCoder{stats, spec.channels, quant::BnInputDelta<float>(spec.bits)};
    return w;
  }
  if (spec.coding != Coding::kBnInput || spec.count == 0) return w;
  SLIM_CHECK(stats != nullptr);
  const int64_t C = spec.channels;
  const int64_t p = std::lcm<int64_t>(C, 16);  // whole rows and whole vectors
  w.period = p * ((kUnit + p - 1) / p);        // and runs of 256 or more
  scratch->Reset();
  float* mean = scratch->Get<float>(w.period);
  float* invstd = scratch->Get<float>(w.period);
  for (int64_t j = 0; j < w.period; ++j) {
    mean[j] = stats[j % C];
    invstd[j] = stats[C + j % C];
  }
  w.bn = BnInputCoder{mean, invstd, quant::BnInputDelta<float>(spec.bits), spec.bits};
  return w;
}

// Pass-through: count floats copied, in parallel.
void CopyFloats(int64_t count, const float* src, float* dst, int threads) {
  ParallelFor(count, kElementGrain, threads, [&](int64_t begin, int64_t end, int) {
    std::memcpy(dst + begin, src + begin, static_cast<size_t>(end - begin) * sizeof(float));
  });
}

}  // namespace

void EncodeSaved(const quant::CodeSpec& spec, const float* x, const float* stats, void* code, int threads,
                 Scratch* scratch) {
  if (spec.bits == planner::kPassThroughBits) {
    SLIM_CHECK(quant::ValidCodeSpec(spec));
    CopyFloats(spec.count, x, static_cast<float*>(code), threads);
    return;
  }
  const Walk w = MakeWalk(spec, stats, threads, scratch);
  uint8_t* packed = static_cast<uint8_t*>(code);
  const int64_t offset = quant::GroupValuesOffset(spec, sizeof(float));
  float* values = reinterpret_cast<float*>(packed + offset);
  WithBits(spec.bits, [&](auto kb) { EncodeAll<decltype(kb)::value>(w, x, packed, values); });
  // The padding before the per-group values (kRelu, kGroup).
  const int64_t used = (spec.count * spec.bits + 7) / 8;
  std::memset(packed + used, 0, static_cast<size_t>(offset - used));
}

void DecodeSaved(const quant::CodeSpec& spec, const void* code, const float* stats, float* x, int threads,
                 Scratch* scratch) {
  if (spec.bits == planner::kPassThroughBits) {
    SLIM_CHECK(quant::ValidCodeSpec(spec));
    CopyFloats(spec.count, static_cast<const float*>(code), x, threads);
    return;
  }
  const Walk w = MakeWalk(spec, stats, threads, scratch);
  const uint8_t* packed = static_cast<const uint8_t*>(code);
  const float* values = reinterpret_cast<const float*>(packed + quant::GroupValuesOffset(spec, sizeof(float)));
  WithBits(spec.bits, [&](auto kb) { DecodeAll<decltype(kb)::value>(w, packed, values, x); });
}

}  // namespace slimtrain::engine::cpu
