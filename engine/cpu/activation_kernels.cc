// See activation_kernels.h. Each pointwise op is one SLIM_VECTOR_CLONES loop
// (forward) and one per direction of accumulation (backward), written with
// the macros below; softmax walks lines of `size` elements `inner` apart in
// chunks of at most kChunk lines side by side.
#include "engine/cpu/activation_kernels.h"

#include <algorithm>
#include <cmath>

#include "base/status_macros.h"
#include "engine/cpu/parallel.h"
#include "engine/cpu/vector_math.h"

namespace slimtrain::engine::cpu {
namespace {

using planner::Node;

constexpr float kSqrtHalf = 0.70710678118654752440f;     // 1/√2
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;   // 1/√(2π)
constexpr float kSqrt2OverPi = 0.79788456080286535588f;  // √(2/π)
constexpr float kGeluCubic = 0.044715f;

// ---------------------------------------------------------------- elements
// f(v) and f'(v) with attributes a, b (engine/pointwise_math.h's table).

inline float ClipValue(float v, float a, float b) { return v < a ? a : (v > b ? b : v); }
inline float LeakyValue(float v, float a) { return v > 0.0f ? v : a * v; }
// e^v − 1 loses digits near 0; below |v| < 1e-3 the series v + v²/2 + v³/6.
inline float Expm1(float v) {
  const float series = v + v * v * (0.5f + v * (1.0f / 6));
  return std::fabs(v) < 1e-3f ? series : Exp(v) - 1.0f;
}
inline float EluValue(float v, float a) { return v > 0.0f ? v : a * Expm1(v); }
inline float GeluErfValue(float v) { return 0.5f * v * (1.0f + Erf(v * kSqrtHalf)); }
inline float GeluTanhValue(float v) {
  return 0.5f * v * (1.0f + Tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v)));
}
inline float SiluValue(float v) { return v * Sigmoid(v); }
inline float HardswishValue(float v) { return v * ClipValue(v + 3.0f, 0.0f, 6.0f) / 6.0f; }
inline float HardsigmoidValue(float v) { return ClipValue(v / 6.0f + 0.5f, 0.0f, 1.0f); }
inline float SoftplusValue(float v, float beta, float threshold) {
  const float bx = beta * v;
  const float soft = (std::max(bx, 0.0f) + Log1pUnit(Exp(-std::fabs(bx)))) / beta;
  return bx > threshold ? v : soft;
}

inline float ClipGrad(float y, float a, float b) { return y > a && y < b ? 1.0f : 0.0f; }
inline float LeakyGrad(float s, float a) { return s > 0.0f ? 1.0f : a; }
inline float EluGradFromOutput(float y, float a) { return y > 0.0f ? 1.0f : y + a; }
inline float EluGradFromInput(float x, float a) { return x > 0.0f ? 1.0f : a * Exp(x); }
inline float GeluErfGrad(float x) {
  return 0.5f * (1.0f + Erf(x * kSqrtHalf)) + x * kInvSqrt2Pi * Exp(-0.5f * x * x);
}
inline float GeluTanhGrad(float x) {
  const float t = Tanh(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
  const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}
inline float SiluGrad(float x) {
  const float s = Sigmoid(x);
  return s * (1.0f + x * (1.0f - s));
}
inline float HardswishGrad(float x) { return x < -3.0f ? 0.0f : (x <= 3.0f ? x / 3.0f + 0.5f : 1.0f); }
inline float HardsigmoidGrad(float y) { return y > 0.0f && y < 1.0f ? 1.0f / 6.0f : 0.0f; }
inline float SoftplusGrad(float x, float beta, float threshold) {
  const float bx = beta * x;
  return bx > threshold ? 1.0f : Sigmoid(bx);
}

// ---------------------------------------------------------------- loops

#define SLIM_FORWARD_LOOP(name, expr)                                                    \
  SLIM_VECTOR_CLONES void name(const float* x, float* y, int64_t n, [[maybe_unused]] float a, [[maybe_unused]] float b) { \
    _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) {                                \
      const float v = x[i];                                                              \
      y[i] = (expr);                                                                     \
    }                                                                                    \
  }

#define SLIM_BACKWARD_LOOP(name, expr)                                                                       \
  SLIM_VECTOR_CLONES void name(const float* s, const float* dy, float* dx, int64_t n, [[maybe_unused]] float a, \
                               [[maybe_unused]] float b, bool accumulate) {                                 \
    if (accumulate) {                                                                                        \
      _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) {                                                  \
        const float v = s[i];                                                                                \
        dx[i] = dx[i] + dy[i] * (expr);                                                                      \
      }                                                                                                      \
    } else {                                                                                                 \
      _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) {                                                  \
        const float v = s[i];                                                                                \
        dx[i] = dy[i] * (expr);                                                                              \
      }                                                                                                      \
    }                                                                                                        \
  }

SLIM_FORWARD_LOOP(ClipLoop, ClipValue(v, a, b))
SLIM_FORWARD_LOOP(LeakyLoop, LeakyValue(v, a))
SLIM_FORWARD_LOOP(EluLoop, EluValue(v, a))
SLIM_FORWARD_LOOP(GeluErfLoop, GeluErfValue(v))
SLIM_FORWARD_LOOP(GeluTanhLoop, GeluTanhValue(v))
SLIM_FORWARD_LOOP(SiluLoop, SiluValue(v))
SLIM_FORWARD_LOOP(HardswishLoop, HardswishValue(v))
SLIM_FORWARD_LOOP(HardsigmoidLoop, HardsigmoidValue(v))
SLIM_FORWARD_LOOP(SoftplusLoop, SoftplusValue(v, a, b))
SLIM_FORWARD_LOOP(ScaleLoop, a * v)

SLIM_BACKWARD_LOOP(ClipGradLoop, ClipGrad(v, a, b))
SLIM_BACKWARD_LOOP(LeakyGradLoop, LeakyGrad(v, a))
SLIM_BACKWARD_LOOP(EluGradFromOutputLoop, EluGradFromOutput(v, a))
SLIM_BACKWARD_LOOP(EluGradFromInputLoop, EluGradFromInput(v, a))
SLIM_BACKWARD_LOOP(GeluErfGradLoop, GeluErfGrad(v))
SLIM_BACKWARD_LOOP(GeluTanhGradLoop, GeluTanhGrad(v))
SLIM_BACKWARD_LOOP(SiluGradLoop, SiluGrad(v))
SLIM_BACKWARD_LOOP(HardswishGradLoop, HardswishGrad(v))
SLIM_BACKWARD_LOOP(HardsigmoidGradLoop, HardsigmoidGrad(v))
SLIM_BACKWARD_LOOP(SoftplusGradLoop, SoftplusGrad(v, a, b))
// scale reads nothing: `s` is never dereferenced.
SLIM_VECTOR_CLONES void ScaleGradLoop(const float*, const float* dy, float* dx, int64_t n, float a, float,
                                      bool accumulate) {
  if (accumulate) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dx[i] = dx[i] + dy[i] * a;
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * a;
  }
}

#undef SLIM_FORWARD_LOOP
#undef SLIM_BACKWARD_LOOP

using ForwardLoop = void (*)(const float*, float*, int64_t, float, float);
using BackwardLoop = void (*)(const float*, const float*, float*, int64_t, float, float, bool);

ForwardLoop ForwardLoopOf(const PointwiseFn& f) {
  switch (f.op) {
    case PointwiseOp::kClip: return ClipLoop;
    case PointwiseOp::kLeakyRelu: return LeakyLoop;
    case PointwiseOp::kElu: return EluLoop;
    case PointwiseOp::kGeluErf: return GeluErfLoop;
    case PointwiseOp::kGeluTanh: return GeluTanhLoop;
    case PointwiseOp::kSilu: return SiluLoop;
    case PointwiseOp::kHardswish: return HardswishLoop;
    case PointwiseOp::kHardsigmoid: return HardsigmoidLoop;
    case PointwiseOp::kSoftplus: return SoftplusLoop;
    case PointwiseOp::kScale: return ScaleLoop;
  }
  SLIM_CHECK(false && "unknown pointwise op");
  return nullptr;
}

BackwardLoop BackwardLoopOf(const PointwiseFn& f) {
  switch (f.op) {
    case PointwiseOp::kClip: return ClipGradLoop;
    case PointwiseOp::kLeakyRelu: return LeakyGradLoop;
    case PointwiseOp::kElu: return f.from_output ? EluGradFromOutputLoop : EluGradFromInputLoop;
    case PointwiseOp::kGeluErf: return GeluErfGradLoop;
    case PointwiseOp::kGeluTanh: return GeluTanhGradLoop;
    case PointwiseOp::kSilu: return SiluGradLoop;
    case PointwiseOp::kHardswish: return HardswishGradLoop;
    case PointwiseOp::kHardsigmoid: return HardsigmoidGradLoop;
    case PointwiseOp::kSoftplus: return SoftplusGradLoop;
    case PointwiseOp::kScale: return ScaleGradLoop;
  }
  SLIM_CHECK(false && "unknown pointwise op");
  return nullptr;
}

// ---------------------------------------------------------------- softmax

// Lines processed side by side when inner > 1 (stack scratch per chunk).
constexpr int64_t kChunk = 256;

// One chunk of `m` lines (m <= kChunk) starting at `x`, line i's element j at
// x[j * inner + i]. Softmax: y = e^{x − max} / Σ; log: y = x − max − log Σ.
void SoftmaxChunk(const float* x, float* y, int64_t size, int64_t inner, int64_t m, bool log) {
  float max[kChunk];
  double sum[kChunk];
  for (int64_t i = 0; i < m; ++i) {
    max[i] = -INFINITY;
    sum[i] = 0;
  }
  for (int64_t j = 0; j < size; ++j) {
    const float* row = x + j * inner;
    for (int64_t i = 0; i < m; ++i) max[i] = std::fmax(max[i], row[i]);
  }
  for (int64_t j = 0; j < size; ++j) {
    const float* row = x + j * inner;
    for (int64_t i = 0; i < m; ++i) sum[i] += static_cast<double>(Exp(row[i] - max[i]));
  }
  float shift[kChunk];  // max + log Σ, the log-sum-exp
  for (int64_t i = 0; i < m; ++i) shift[i] = static_cast<float>(max[i] + std::log(sum[i]));
  for (int64_t j = 0; j < size; ++j) {
    const float* row = x + j * inner;
    float* out = y + j * inner;
    if (log) {
      for (int64_t i = 0; i < m; ++i) out[i] = row[i] - shift[i];
    } else {
      for (int64_t i = 0; i < m; ++i) out[i] = Exp(row[i] - shift[i]);
    }
  }
}

// One contiguous line (inner == 1).
SLIM_VECTOR_CLONES void SoftmaxLine(const float* x, float* y, int64_t size, bool log) {
  float max = -INFINITY;
#pragma omp simd reduction(max : max)
  for (int64_t j = 0; j < size; ++j) max = std::max(max, x[j]);
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < size; ++j) sum += static_cast<double>(Exp(x[j] - max));
  const float shift = static_cast<float>(max + std::log(sum));
  if (log) {
#pragma omp simd
    for (int64_t j = 0; j < size; ++j) y[j] = x[j] - shift;
  } else {
#pragma omp simd
    for (int64_t j = 0; j < size; ++j) y[j] = Exp(x[j] - shift);
  }
}

// dx from y and dy for `m` lines side by side (see SoftmaxChunk).
void SoftmaxBackwardChunk(const float* y, const float* dy, float* dx, int64_t size, int64_t inner, int64_t m,
                          bool log, bool accumulate) {
  double dot[kChunk];
  for (int64_t i = 0; i < m; ++i) dot[i] = 0;
  for (int64_t j = 0; j < size; ++j) {
    const float* yr = y + j * inner;
    const float* dr = dy + j * inner;
    for (int64_t i = 0; i < m; ++i) dot[i] += log ? dr[i] : static_cast<double>(dr[i]) * yr[i];
  }
  float d[kChunk];
  for (int64_t i = 0; i < m; ++i) d[i] = static_cast<float>(dot[i]);
  for (int64_t j = 0; j < size; ++j) {
    const float* yr = y + j * inner;
    const float* dr = dy + j * inner;
    float* out = dx + j * inner;
    for (int64_t i = 0; i < m; ++i) {
      const float g = log ? dr[i] - Exp(yr[i]) * d[i] : yr[i] * (dr[i] - d[i]);
      out[i] = accumulate ? out[i] + g : g;
    }
  }
}

}  // namespace

void PointwiseForward(const Node& n, int64_t count, const float* x, float* y, int threads) {
  const PointwiseFn f = PointwiseFnOf(n);
  const ForwardLoop loop = ForwardLoopOf(f);
  const float a = static_cast<float>(f.a), b = static_cast<float>(f.b);
  ParallelFor(count, kElementGrain, threads, [&](int64_t begin, int64_t end, int) {
    loop(x + begin, y + begin, end - begin, a, b);
  });
}

void PointwiseBackward(const Node& n, int64_t count, const float* saved, const float* dy, float* dx,
                       bool accumulate, int threads) {
  const PointwiseFn f = PointwiseFnOf(n);
  const BackwardLoop loop = BackwardLoopOf(f);
  const float a = static_cast<float>(f.a), b = static_cast<float>(f.b);
  ParallelFor(count, kElementGrain, threads, [&](int64_t begin, int64_t end, int) {
    loop(saved + begin, dy + begin, dx + begin, end - begin, a, b, accumulate);
  });
}

void SoftmaxForward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const AxisSpan s = PhysicalAxis(n.out, n.axis, batch);
  const bool log = n.kind == planner::OpKind::kLogSoftmax;
  const int64_t chunks = (s.inner + kChunk - 1) / kChunk;
  const int64_t grain = std::max<int64_t>(1, kElementGrain / (s.size * std::min(s.inner, kChunk)));
  ParallelFor(s.outer * chunks, grain, threads, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t o = t / chunks, first = (t % chunks) * kChunk;
      const int64_t at = o * s.size * s.inner + first, m = std::min(kChunk, s.inner - first);
      // Causal: line o is row o mod L of an (L, L) block, keeping j <= row
      // (the rest is probability 0; backward then gives them 0 as well).
      const int64_t valid = n.causal ? o % s.size + 1 : s.size;
      if (s.inner == 1) {
        SoftmaxLine(x + at, y + at, valid, log);
      } else {
        SoftmaxChunk(x + at, y + at, valid, s.inner, m, log);
      }
      for (int64_t j = valid; j < s.size; ++j) std::fill_n(y + at + j * s.inner, m, 0.0f);
    }
  });
}

void SoftmaxBackward(const Node& n, int64_t batch, const float* y, const float* dy, float* dx, bool accumulate,
                     int threads) {
  const AxisSpan s = PhysicalAxis(n.out, n.axis, batch);
  const bool log = n.kind == planner::OpKind::kLogSoftmax;
  const int64_t chunks = (s.inner + kChunk - 1) / kChunk;
  const int64_t grain = std::max<int64_t>(1, kElementGrain / (s.size * std::min(s.inner, kChunk)));
  ParallelFor(s.outer * chunks, grain, threads, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t o = t / chunks, first = (t % chunks) * kChunk;
      const int64_t at = o * s.size * s.inner + first;
      SoftmaxBackwardChunk(y + at, dy + at, dx + at, s.size, s.inner, std::min(kChunk, s.inner - first), log,
                           accumulate);
    }
  });
}

}  // namespace slimtrain::engine::cpu
