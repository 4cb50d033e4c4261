// See quant_kernels.h. Each op walks blocks (periods) in parallel; within a
// block the AVX-512 path handles whole 16-element vectors and the portable
// path (quant.h per element) the rest, or everything where AVX-512 is absent.
#include "engine/cpu/quant_kernels.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <new>
#include <type_traits>

#include "base/status_macros.h"
#include "engine/cpu/avx512_codes.h"
#include "engine/cpu/parallel.h"
#include "engine/quant.h"
#include "planner/strategy.h"

namespace slimtrain::engine::cpu {
namespace {

using Channel = quant::Channel<float>;
constexpr int kPass = planner::kPassThroughBits;

void CheckBits(int bits) { SLIM_CHECK(bits == 8 || bits == 4 || bits == 2 || bits == kPass); }

ChannelPeriod PeriodOf(const planner::Node& bn, int64_t batch) {
  SLIM_CHECK(!bn.out.empty());
  const int64_t c = bn.out[0];
  return ChannelPeriod(batch * (planner::NumElements(bn.out) / c), c);
}

int64_t BlockGrain(const ChannelPeriod& cp) { return std::max<int64_t>(1, kElementGrain / cp.period); }

// Per-channel quantizer constants: `ch` per channel, the rest replicated over
// the period (index j < P).
struct Consts {
  const Channel* ch = nullptr;
  int64_t channels = 0;
  float delta = 0;
  int bins = 0;
  bool any_zero_gamma = false;
  const int32_t* s = nullptr;           // offset s
  const int32_t* zg = nullptr;          // 1 where γ = 0
  const float* g_enc = nullptr;         // |γ|, 1 where γ = 0 (a safe divisor)
  const float* g = nullptr;             // |γ|
  const float* b = nullptr;             // β/|γ|
  const float* sign = nullptr;          // sign(γ)
  const float* relu_const = nullptr;    // max(β, 0) where γ = 0
  const int32_t* mask_from = nullptr;   // mask = q >= mask_from (0 / B for γ = 0)
  const float* mean = nullptr;          // stats, for γ = 0 x̂ (SAVE only)
  const float* invstd = nullptr;
  const float* cut[3] = {};             // K = 2: the cuts t_k on w = v − b
  const float* level[4] = {};           // K = 2: ŵ_q
};

Consts MakeConsts(const ChannelPeriod& cp, int bits, const float* gamma, const float* beta, const float* stats,
                  Scratch* scratch) {
  const int64_t C = cp.channels, P = cp.period;
  Consts k;
  k.channels = C;
  Channel* ch = scratch->Get<Channel>(C);
  for (int64_t c = 0; c < C; ++c) {
    new (&ch[c]) Channel(quant::MakeChannel<float>(bits, gamma[c], beta[c]));
    k.any_zero_gamma = k.any_zero_gamma || ch[c].zero_gamma();
  }
  k.ch = ch;
  k.delta = ch[0].delta;
  k.bins = ch[0].bins;
  if (bits == kPass) return k;  // the portable path reads `ch` only
  auto ints = [&](auto f) {
    int32_t* a = scratch->Get<int32_t>(P);
    Replicate(cp, a, [&](int64_t c) { return static_cast<int32_t>(f(ch[c])); });
    return a;
  };
  auto floats = [&](auto f) {
    float* a = scratch->Get<float>(P);
    Replicate(cp, a, [&](int64_t c) { return static_cast<float>(f(ch[c])); });
    return a;
  };
  k.s = ints([](const Channel& c) { return c.s; });
  k.zg = ints([](const Channel& c) { return c.zero_gamma() ? 1 : 0; });
  k.mask_from = ints([](const Channel& c) { return c.zero_gamma() ? (c.beta > 0 ? 0 : c.bins) : c.s; });
  k.g_enc = floats([](const Channel& c) { return c.zero_gamma() ? 1.0f : c.g; });
  k.g = floats([](const Channel& c) { return c.g; });
  k.b = floats([](const Channel& c) { return c.b; });
  k.sign = floats([](const Channel& c) { return c.sign; });
  k.relu_const = floats([](const Channel& c) { return c.zero_gamma() ? std::max(c.beta, 0.0f) : 0.0f; });
  if (bits == 2) {
    for (int t = 0; t < 3; ++t) k.cut[t] = floats([t](const Channel& c) { return c.cut[t]; });
    for (int q = 0; q < 4; ++q) k.level[q] = floats([q](const Channel& c) { return c.level[q]; });
  }
  if (stats != nullptr && k.any_zero_gamma) {
    float* mean = scratch->Get<float>(P);
    float* invstd = scratch->Get<float>(P);
    Replicate(cp, mean, [&](int64_t c) { return stats[c]; });
    Replicate(cp, invstd, [&](int64_t c) { return stats[C + c]; });
    k.mean = mean;
    k.invstd = invstd;
  }
  return k;
}

// ---------------------------------------------------------------- portable, per element

// The reference's x̂ for γ = 0 channels: (x − mean)·invstd in double.
inline float XhatOf(const float* x, const float* stats, int64_t channels, int64_t i, int64_t c) {
  return static_cast<float>((static_cast<double>(x[i]) - static_cast<double>(stats[c])) *
                            static_cast<double>(stats[channels + c]));
}

// Element i's mask, x̂' and z' from packed codes or pass-through values.
struct CodeReader {
  int bits;
  const void* code;
  bool pass() const { return bits == kPass; }
  float value(int64_t i) const { return static_cast<const float*>(code)[i]; }
  int q(int64_t i) const { return quant::GetCode(static_cast<const uint8_t*>(code), bits, i); }
  bool Mask(const Channel& c, int64_t i) const {
    return pass() ? quant::PassThroughMask(c, value(i)) : quant::Mask(c, q(i));
  }
  float Xhat(const Channel& c, int64_t i) const {
    return pass() ? quant::PassThroughXhat(c, value(i)) : quant::RestoreXhat(c, q(i));
  }
  float Relu(const Channel& c, int64_t i) const {
    return pass() ? quant::PassThroughRelu(c, value(i)) : quant::RestoreRelu(c, q(i));
  }
};

// Elements [begin + j0, begin + j1) of a block (begin a multiple of P, so the
// channel of block position j is j mod C).
void EncodePortable(const Consts& k, int bits, const float* x, const float* y, const float* stats, void* code,
                    int64_t begin, int64_t j0, int64_t j1) {
  for (int64_t j = j0; j < j1; ++j) {
    const int64_t i = begin + j, c = j % k.channels;
    const Channel& ch = k.ch[c];
    const float xhat = ch.zero_gamma() ? XhatOf(x, stats, k.channels, i, c) : 0.0f;
    if (bits == kPass) {
      static_cast<float*>(code)[i] = quant::PassThroughValue(ch, y[i], xhat);
    } else {
      quant::PutCode(static_cast<uint8_t*>(code), bits, i, quant::Encode(ch, y[i], xhat));
    }
  }
}

// ---------------------------------------------------------------- AVX-512, 16 elements

// The low and high 8 lanes of a float vector, widened to double.
SLIM_AVX512 inline __m512d LowPd(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
SLIM_AVX512 inline __m512d HighPd(__m512 v) { return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)); }

// (x − mean)·invstd in double, rounded to float, for 16 elements.
SLIM_AVX512 inline __m512 XhatAvx(const float* x, const float* mean, const float* invstd) {
  const __m512 xv = _mm512_loadu_ps(x), mv = _mm512_loadu_ps(mean), sv = _mm512_loadu_ps(invstd);
  const __m256 lo = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_sub_pd(LowPd(xv), LowPd(mv)), LowPd(sv)));
  const __m256 hi = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_sub_pd(HighPd(xv), HighPd(mv)), HighPd(sv)));
  return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

// K = 2's code from w = v − b: n = the cuts strictly below w, then
// clamp(n, s, 3) where positive, else clamp(n, 0, s − 1).
SLIM_AVX512 inline __m512i EncodeLloydMax16(const Consts& k, __m512 v, __mmask16 pos, int64_t j) {
  const __m512 w = _mm512_sub_ps(v, _mm512_loadu_ps(k.b + j));
  const __m512i one = _mm512_set1_epi32(1);
  __m512i n = _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(_mm512_loadu_ps(k.cut[0] + j), w, _CMP_LT_OQ), one);
  n = _mm512_mask_add_epi32(n, _mm512_cmp_ps_mask(_mm512_loadu_ps(k.cut[1] + j), w, _CMP_LT_OQ), n, one);
  n = _mm512_mask_add_epi32(n, _mm512_cmp_ps_mask(_mm512_loadu_ps(k.cut[2] + j), w, _CMP_LT_OQ), n, one);
  const __m512i s = _mm512_loadu_si512(k.s + j);
  return _mm512_mask_blend_epi32(pos, _mm512_min_epi32(n, _mm512_sub_epi32(s, one)), _mm512_max_epi32(n, s));
}

// quant::Encode for 16 elements at block position j (element i).
template <int kBits>
SLIM_AVX512 inline __m512i Encode16(const Consts& k, const float* x, const float* y, int64_t i, int64_t j) {
  const __m512 yv = _mm512_loadu_ps(y + i);
  __m512 v = _mm512_div_ps(yv, _mm512_loadu_ps(k.g_enc + j));
  __m512 p = yv;  // the value whose sign decides: y, or x̂ where γ = 0
  if (k.any_zero_gamma) {
    const __mmask16 zm = _mm512_test_epi32_mask(_mm512_loadu_si512(k.zg + j), _mm512_set1_epi32(1));
    if (zm != 0) {
      const __m512 xh = XhatAvx(x + i, k.mean + j, k.invstd + j);
      v = _mm512_mask_blend_ps(zm, v, xh);
      p = _mm512_mask_blend_ps(zm, p, xh);
    }
  }
  const __mmask16 pos = _mm512_cmp_ps_mask(p, _mm512_setzero_ps(), _CMP_GT_OQ);
  if constexpr (kBits == 2) return EncodeLloydMax16(k, v, pos, j);
  const __m512 t = _mm512_div_ps(v, _mm512_set1_ps(k.delta));
  __m512 f = _mm512_mask_blend_ps(pos, _mm512_roundscale_ps(t, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC),
                                  _mm512_roundscale_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
  const float bins = static_cast<float>(k.bins);
  f = _mm512_min_ps(_mm512_max_ps(f, _mm512_set1_ps(-bins)), _mm512_set1_ps(bins));
  const __m512i q = _mm512_cvttps_epi32(f);
  const __m512i s = _mm512_loadu_si512(k.s + j);
  // y > 0: clamp(q + s, s, B − 1); else clamp(q − 1 + s, 0, s − 1).
  const __m512i qp = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(q, s), s), _mm512_set1_epi32(k.bins - 1));
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i qn = _mm512_min_epi32(_mm512_max_epi32(_mm512_sub_epi32(_mm512_add_epi32(q, s), one), _mm512_setzero_si512()),
                                      _mm512_sub_epi32(s, one));
  return _mm512_mask_blend_epi32(pos, qn, qp);
}

// K = 8, 4: the bin centre (q − s + 0.5)·Δ.
SLIM_AVX512 inline __m512 Center16(const Consts& k, __m512i q, __m512i s) {
  const __m512 qf = _mm512_cvtepi32_ps(_mm512_sub_epi32(q, s));
  return _mm512_mul_ps(_mm512_add_ps(qf, _mm512_set1_ps(0.5f)), _mm512_set1_ps(k.delta));
}

// K = 2: ŵ_q, each lane's channel's level of its code.
SLIM_AVX512 inline __m512 Level16(const Consts& k, __m512i q, int64_t j) {
  __m512 w = _mm512_loadu_ps(k.level[0] + j);
  for (int c = 1; c < 4; ++c) {
    w = _mm512_mask_mov_ps(w, _mm512_cmpeq_epi32_mask(q, _mm512_set1_epi32(c)), _mm512_loadu_ps(k.level[c] + j));
  }
  return w;
}

// quant::RestoreXhat for 16 elements.
template <int kBits>
SLIM_AVX512 inline __m512 Xhat16(const Consts& k, __m512i q, int64_t j) {
  if constexpr (kBits == 2) return _mm512_mul_ps(_mm512_loadu_ps(k.sign + j), Level16(k, q, j));  // γ = 0: sign 1
  const __m512 v = Center16(k, q, _mm512_loadu_si512(k.s + j));
  const __m512 xh = _mm512_mul_ps(_mm512_loadu_ps(k.sign + j), _mm512_sub_ps(v, _mm512_loadu_ps(k.b + j)));
  const __mmask16 zm = _mm512_test_epi32_mask(_mm512_loadu_si512(k.zg + j), _mm512_set1_epi32(1));
  return _mm512_mask_blend_ps(zm, xh, v);
}

// The AVX-512 loops below run over `count` elements from `begin` (a multiple
// of the period P; count a multiple of 16, whole periods or the vectors of
// one short block); o is the offset from begin and j = o mod P the position
// in the period, which indexes the constants.

template <int kBits>
SLIM_AVX512 void EncodeAvx(const Consts& k, int64_t period, const float* x, const float* y, uint8_t* code,
                           int64_t begin, int64_t count) {
  for (int64_t o = 0, j = 0; o < count; o += 16, j = j + 16 == period ? 0 : j + 16) {
    const int64_t i = begin + o;
    StoreCodes<kBits>(code + i * kBits / 8, Encode16<kBits>(k, x, y, i, j));
  }
}

template <int kBits>
SLIM_AVX512 void RestoreAvx(const Consts& k, int64_t period, const uint8_t* code, float* z, int64_t begin,
                            int64_t count) {
  for (int64_t o = 0, j = 0; o < count; o += 16, j = j + 16 == period ? 0 : j + 16) {
    const int64_t i = begin + o;
    const __m512i q = LoadCodes<kBits>(code + i * kBits / 8);
    const __m512i s = _mm512_loadu_si512(k.s + j);
    const __mmask16 active = _mm512_cmpge_epi32_mask(q, s);
    __m512 v;  // z'/g: v̂, or ŵ + b (K = 2)
    if constexpr (kBits == 2) {
      v = _mm512_add_ps(Level16(k, q, j), _mm512_loadu_ps(k.b + j));
    } else {
      v = Center16(k, q, s);
    }
    const __m512 r = _mm512_maskz_mov_ps(active, _mm512_mul_ps(_mm512_loadu_ps(k.g + j), v));
    const __mmask16 zm = _mm512_test_epi32_mask(_mm512_loadu_si512(k.zg + j), _mm512_set1_epi32(1));
    _mm512_storeu_ps(z + i, _mm512_mask_blend_ps(zm, r, _mm512_loadu_ps(k.relu_const + j)));
  }
}

template <int kBits>
SLIM_AVX512 void ReluBackwardAvx(const Consts& k, int64_t period, const uint8_t* code, const float* dz, float* dy,
                                 bool accumulate, int64_t begin, int64_t count) {
  for (int64_t o = 0, j = 0; o < count; o += 16, j = j + 16 == period ? 0 : j + 16) {
    const int64_t i = begin + o;
    const __m512i q = LoadCodes<kBits>(code + i * kBits / 8);
    const __mmask16 mask = _mm512_cmpge_epi32_mask(q, _mm512_loadu_si512(k.mask_from + j));
    __m512 g = _mm512_maskz_mov_ps(mask, _mm512_loadu_ps(dz + i));
    if (accumulate) g = _mm512_add_ps(_mm512_loadu_ps(dy + i), g);
    _mm512_storeu_ps(dy + i, g);
  }
}

// s[j] += dy, sx[j] += dy·x̂' in double. Whole periods are summed 16
// positions at a time across periods, the accumulators in registers.
template <int kBits>
SLIM_AVX512 void BnSumsAvx(const Consts& k, int64_t period, const uint8_t* code, const float* dy, int64_t begin,
                           int64_t count, double* s, double* sx) {
  const int64_t periods = count / period;
  for (int64_t j = 0; j < period && periods > 0; j += 16) {
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, x0 = s0, x1 = s0;
    for (int64_t b = 0; b < periods; ++b) {
      const int64_t i = begin + b * period + j;
      const __m512 xh = Xhat16<kBits>(k, LoadCodes<kBits>(code + i * kBits / 8), j);
      const __m512 g = _mm512_loadu_ps(dy + i);
      const __m512d g0 = LowPd(g), g1 = HighPd(g);
      s0 = _mm512_add_pd(s0, g0);
      s1 = _mm512_add_pd(s1, g1);
      x0 = _mm512_fmadd_pd(g0, LowPd(xh), x0);
      x1 = _mm512_fmadd_pd(g1, HighPd(xh), x1);
    }
    _mm512_storeu_pd(s + j, _mm512_add_pd(_mm512_loadu_pd(s + j), s0));
    _mm512_storeu_pd(s + j + 8, _mm512_add_pd(_mm512_loadu_pd(s + j + 8), s1));
    _mm512_storeu_pd(sx + j, _mm512_add_pd(_mm512_loadu_pd(sx + j), x0));
    _mm512_storeu_pd(sx + j + 8, _mm512_add_pd(_mm512_loadu_pd(sx + j + 8), x1));
  }
  for (int64_t o = periods * period, j = 0; o < count; o += 16, j += 16) {  // part of one period
    const int64_t i = begin + o;
    const __m512 xh = Xhat16<kBits>(k, LoadCodes<kBits>(code + i * kBits / 8), j);
    const __m512 g = _mm512_loadu_ps(dy + i);
    const __m512d g0 = LowPd(g), g1 = HighPd(g);
    _mm512_storeu_pd(s + j, _mm512_add_pd(_mm512_loadu_pd(s + j), g0));
    _mm512_storeu_pd(s + j + 8, _mm512_add_pd(_mm512_loadu_pd(s + j + 8), g1));
    _mm512_storeu_pd(sx + j, _mm512_fmadd_pd(g0, LowPd(xh), _mm512_loadu_pd(sx + j)));
    _mm512_storeu_pd(sx + j + 8, _mm512_fmadd_pd(g1, HighPd(xh), _mm512_loadu_pd(sx + j + 8)));
  }
}

// dx = scale·(dy − mean_dy) − x̂'·c (or dx +=).
template <int kBits>
SLIM_AVX512 void BnApplyAvx(const Consts& k, int64_t period, const uint8_t* code, const float* dy,
                            const float* scale, const float* mean_dy, const float* c, float* dx, bool accumulate,
                            int64_t begin, int64_t count) {
  for (int64_t o = 0, j = 0; o < count; o += 16, j = j + 16 == period ? 0 : j + 16) {
    const int64_t i = begin + o;
    const __m512 xh = Xhat16<kBits>(k, LoadCodes<kBits>(code + i * kBits / 8), j);
    const __m512 centred = _mm512_sub_ps(_mm512_loadu_ps(dy + i), _mm512_loadu_ps(mean_dy + j));
    __m512 r = _mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(scale + j), centred),
                             _mm512_mul_ps(xh, _mm512_loadu_ps(c + j)));
    if (accumulate) r = _mm512_add_ps(_mm512_loadu_ps(dx + i), r);
    _mm512_storeu_ps(dx + i, r);
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

// Splits the blocks over threads. Per part, with `avx`: vec(begin, count,
// part) once on the run of whole periods and once on the whole vectors of a
// short last block; port(begin, j0, j1, part) on the elements [begin + j0,
// begin + j1) of a block that are left (every element without `avx`).
template <typename Vec, typename Port>
int ForBlocks(const ChannelPeriod& cp, int threads, bool avx, const Vec& vec, const Port& port) {
  return ParallelFor(cp.blocks, BlockGrain(cp), threads, [&](int64_t b0, int64_t b1, int part) {
    int64_t b = b0;
    if (avx) {
      const int64_t full_end = b1 == cp.blocks && cp.length(b1 - 1) != cp.period ? b1 - 1 : b1;
      if (full_end > b0) vec(cp.begin(b0), (full_end - b0) * cp.period, part);
      b = full_end;
    }
    for (; b < b1; ++b) {
      const int64_t begin = cp.begin(b), len = cp.length(b);
      const int64_t vend = avx ? len - len % 16 : 0;
      if (vend > 0) vec(begin, vend, part);
      if (vend < len) port(begin, vend, len, part);
    }
  });
}

}  // namespace

namespace {
std::atomic<bool> allow_avx512{true};
}  // namespace

bool QuantUsesAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return has && allow_avx512.load(std::memory_order_relaxed);
}

void AllowQuantAvx512ForTesting(bool allow) { allow_avx512.store(allow, std::memory_order_relaxed); }

void QuantizeBnRelu(const planner::Node& bn, int64_t batch, int bits, const float* x, const float* y,
                    const float* gamma, const float* beta, const float* stats, void* code, int threads,
                    Scratch* scratch) {
  CheckBits(bits);
  const ChannelPeriod cp = PeriodOf(bn, batch);
  scratch->Reset();
  const Consts k = MakeConsts(cp, bits, gamma, beta, stats, scratch);
  SLIM_CHECK(!k.any_zero_gamma || (x != nullptr && stats != nullptr));  // γ = 0 channels code x̂
  if (bits != kPass && (cp.elements * bits) % 8 != 0) {
    static_cast<uint8_t*>(code)[cp.elements * bits / 8] = 0;  // unused high bits of the last byte
  }
  const bool avx = bits != kPass && QuantUsesAvx512();
  ForBlocks(
      cp, threads, avx,
      [&](int64_t begin, int64_t count, int) {
        WithBits(bits, [&](auto kb) { EncodeAvx<decltype(kb)::value>(k, cp.period, x, y, static_cast<uint8_t*>(code), begin, count); });
      },
      [&](int64_t begin, int64_t j0, int64_t j1, int) { EncodePortable(k, bits, x, y, stats, code, begin, j0, j1); });
}

void RestoreRelu(const planner::Node& bn, int64_t batch, int bits, const void* code, const float* gamma,
                 const float* beta, float* z, int threads, Scratch* scratch) {
  CheckBits(bits);
  const ChannelPeriod cp = PeriodOf(bn, batch);
  scratch->Reset();
  const Consts k = MakeConsts(cp, bits, gamma, beta, nullptr, scratch);
  const CodeReader read{bits, code};
  ForBlocks(
      cp, threads, bits != kPass && QuantUsesAvx512(),
      [&](int64_t begin, int64_t count, int) {
        WithBits(bits, [&](auto kb) { RestoreAvx<decltype(kb)::value>(k, cp.period, static_cast<const uint8_t*>(code), z, begin, count); });
      },
      [&](int64_t begin, int64_t j0, int64_t j1, int) {
        for (int64_t j = j0; j < j1; ++j) z[begin + j] = read.Relu(k.ch[j % cp.channels], begin + j);
      });
}

void ReluBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const float* dz, const void* code,
                          const float* gamma, const float* beta, float* dy, bool accumulate, int threads,
                          Scratch* scratch) {
  CheckBits(bits);
  const ChannelPeriod cp = PeriodOf(bn, batch);
  scratch->Reset();
  const Consts k = MakeConsts(cp, bits, gamma, beta, nullptr, scratch);
  const CodeReader read{bits, code};
  ForBlocks(
      cp, threads, bits != kPass && QuantUsesAvx512(),
      [&](int64_t begin, int64_t count, int) {
        WithBits(bits, [&](auto kb) {
          ReluBackwardAvx<decltype(kb)::value>(k, cp.period, static_cast<const uint8_t*>(code), dz, dy, accumulate, begin, count);
        });
      },
      [&](int64_t begin, int64_t j0, int64_t j1, int) {
        for (int64_t j = j0; j < j1; ++j) {
          const int64_t i = begin + j;
          const float g = read.Mask(k.ch[j % cp.channels], i) ? dz[i] : 0.0f;
          dy[i] = accumulate ? dy[i] + g : g;
        }
      });
}

void BatchNormBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const float* dy,
                               const void* code, const float* gamma, const float* beta, const float* stats,
                               float* dx, bool accumulate, float* dgamma, float* dbeta, int threads,
                               Scratch* scratch) {
  CheckBits(bits);
  const ChannelPeriod cp = PeriodOf(bn, batch);
  const int64_t C = cp.channels, P = cp.period;
  const double m = static_cast<double>(cp.elements / C);
  scratch->Reset();
  const Consts k = MakeConsts(cp, bits, gamma, beta, nullptr, scratch);
  const CodeReader read{bits, code};
  const uint8_t* codes = static_cast<const uint8_t*>(code);
  const bool avx = bits != kPass && QuantUsesAvx512();
  // Pass 1: Σdy and Σdy·x̂' per period position, per part.
  const int max_parts = std::max(threads, 1);
  double* partial = scratch->Get<double>(2 * P * max_parts);
  for (int64_t j = 0; j < 2 * P * max_parts; ++j) partial[j] = 0.0;
  const int parts = ForBlocks(
      cp, max_parts, avx,
      [&](int64_t begin, int64_t count, int p) {
        WithBits(bits, [&](auto kb) {
          BnSumsAvx<decltype(kb)::value>(k, P, codes, dy, begin, count, partial + 2 * P * p, partial + 2 * P * p + P);
        });
      },
      [&](int64_t begin, int64_t j0, int64_t j1, int p) {
        double* s = partial + 2 * P * p;
        for (int64_t j = j0; j < j1; ++j) {
          const double g = static_cast<double>(dy[begin + j]);
          s[j] += g;
          s[P + j] += g * static_cast<double>(read.Xhat(k.ch[j % C], begin + j));
        }
      });
  double* sum_dy = scratch->Get<double>(C);
  double* sum_dy_xhat = scratch->Get<double>(C);
  FoldChannels(partial, parts, 2 * P, cp, sum_dy);
  FoldChannels(partial + P, parts, 2 * P, cp, sum_dy_xhat);
  // Pass 2: dx = γ·invstd·(dy − mean(dy) − x̂'·mean(dy·x̂')).
  float* scale = scratch->Get<float>(P);
  float* mean_dy = scratch->Get<float>(P);
  float* coef = scratch->Get<float>(P);
  for (int64_t c = 0; c < C; ++c) {
    dgamma[c] = static_cast<float>(sum_dy_xhat[c]);
    dbeta[c] = static_cast<float>(sum_dy[c]);
    // dx = γ·invstd·(dy − mean(dy)) − x̂'·γ·invstd·mean(dy·x̂').
    const double s = static_cast<double>(gamma[c]) * static_cast<double>(stats[C + c]);
    const float mdy = static_cast<float>(sum_dy[c] / m);
    const float mdx = static_cast<float>(s * sum_dy_xhat[c] / m);
    for (int64_t j = c; j < P; j += C) {
      scale[j] = static_cast<float>(s);
      mean_dy[j] = mdy;
      coef[j] = mdx;
    }
  }
  if (dx == nullptr) return;  // the model input's batch norm: dγ and dβ only
  ForBlocks(
      cp, threads, avx,
      [&](int64_t begin, int64_t count, int) {
        WithBits(bits, [&](auto kb) {
          BnApplyAvx<decltype(kb)::value>(k, P, codes, dy, scale, mean_dy, coef, dx, accumulate, begin, count);
        });
      },
      [&](int64_t begin, int64_t j0, int64_t j1, int) {
        for (int64_t j = j0; j < j1; ++j) {
          const int64_t i = begin + j;
          const float r = scale[j] * (dy[i] - mean_dy[j]) - read.Xhat(k.ch[j % C], i) * coef[j];
          dx[i] = accumulate ? dx[i] + r : r;
        }
      });
}

}  // namespace slimtrain::engine::cpu
