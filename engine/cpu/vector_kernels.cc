// See vector_kernels.h. Each public kernel splits its range over threads
// (ParallelFor) and runs a SLIM_VECTOR_CLONES loop on each part.
#include "engine/cpu/vector_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/status_macros.h"
#include "engine/cpu/parallel.h"
#include "engine/cpu/vector_math.h"

namespace slimtrain::engine::cpu {
namespace {

using planner::Dims;
using planner::Node;

// Channels handled per step by the pooling kernels' double accumulators.
constexpr int64_t kChannelChunk = 64;

// keep ? v : +0.0, as a bit mask: GCC if-converts (and so vectorises) this
// where it keeps a double select as a branch.
inline double KeepOrZero(bool keep, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  bits &= -static_cast<uint64_t>(keep);
  double r;
  std::memcpy(&r, &bits, sizeof(r));
  return r;
}

// ---------------------------------------------------------------- elementwise loops

SLIM_VECTOR_CLONES void ReluLoop(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

SLIM_VECTOR_CLONES void ReluBackwardLoop(const float* y, const float* dy, float* dx, int64_t n, bool accumulate) {
  if (accumulate) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dx[i] = dx[i] + (y[i] > 0.0f ? dy[i] : 0.0f);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
  }
}

SLIM_VECTOR_CLONES void SigmoidLoop(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float e = Exp(-std::fabs(v));  // in (0, 1]
    y[i] = (v >= 0.0f ? 1.0f : e) / (1.0f + e);
  }
}

SLIM_VECTOR_CLONES void SigmoidBackwardLoop(const float* y, const float* dy, float* dx, int64_t n, bool accumulate) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i] * y[i] * (1.0f - y[i]);
    dx[i] = accumulate ? dx[i] + g : g;
  }
}

SLIM_VECTOR_CLONES void TanhLoop(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = Tanh(x[i]);
}

SLIM_VECTOR_CLONES void TanhBackwardLoop(const float* y, const float* dy, float* dx, int64_t n, bool accumulate) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i] * (1.0f - y[i] * y[i]);
    dx[i] = accumulate ? dx[i] + g : g;
  }
}

SLIM_VECTOR_CLONES void AddLoop(const float* a, const float* b, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

// Runs loop(begin, count) over [0, count) split across threads.
template <typename Loop>
void Elementwise(int64_t count, int threads, const Loop& loop) {
  ParallelFor(count, kElementGrain, threads, [&](int64_t b, int64_t e, int) { loop(b, e - b); });
}

// ---------------------------------------------------------------- dropout

// backend.cc's DropoutKeep, split: h = Mix(base + i) with the per-call part
// in `base`, and u >= p  <=>  (h >> 11) >= ceil(p·2^53) (exact: h >> 11 is
// an integer below 2^53 and p·2^53 is exact).
inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct DropoutHash {
  uint64_t base = 0;
  uint64_t threshold = 0;  // keep when (Mix(base + i) >> 11) >= threshold
  double scale = 1;        // 1/(1 − p)
};

DropoutHash MakeDropoutHash(const DropoutKey& key, int node, double p) {
  DropoutHash h;
  h.base = Mix(Mix(key.seed ^ 0x9e3779b97f4a7c15ULL) + static_cast<uint64_t>(key.step)) +
           (static_cast<uint64_t>(node) << 40);
  h.threshold = p <= 0 ? 0 : static_cast<uint64_t>(std::ceil(std::ldexp(p, 53)));
  h.scale = 1.0 / (1.0 - p);
  return h;
}

// x·scale (in double) where kept, +0 where dropped.
inline double Dropped(uint64_t base, uint64_t threshold, double scale, int64_t i, float x) {
  const bool keep = (Mix(base + static_cast<uint64_t>(i)) >> 11) >= threshold;
  return KeepOrZero(keep, static_cast<double>(x) * scale);
}

SLIM_VECTOR_CLONES void DropoutLoop(const DropoutHash& h, int64_t first, const float* x, float* y, int64_t n,
                                    bool accumulate) {
  const uint64_t base = h.base + static_cast<uint64_t>(first), threshold = h.threshold;
  const double scale = h.scale;
  if (accumulate) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      y[i] = static_cast<float>(static_cast<double>(y[i]) + Dropped(base, threshold, scale, i, x[i]));
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(Dropped(base, threshold, scale, i, x[i]));
  }
}

// ---------------------------------------------------------------- layout loops

// dst rows (stride dst_stride) = or += src rows (stride src_stride), `cols`
// floats each.
SLIM_VECTOR_CLONES void CopyRows(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
                                 int64_t cols, bool accumulate) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * src_stride;
    float* d = dst + r * dst_stride;
    if (accumulate) {
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) d[c] = d[c] + s[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) d[c] = s[c];
    }
  }
}

// dst (cols, rows) = or += the transpose of src (rows, cols), in 32x32 tiles.
SLIM_VECTOR_CLONES void Transpose(const float* src, int64_t rows, int64_t cols, float* dst, bool accumulate) {
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
    const int64_t r1 = std::min(rows, r0 + kTile);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t c1 = std::min(cols, c0 + kTile);
      for (int64_t c = c0; c < c1; ++c) {
        float* d = dst + c * rows;
        if (accumulate) {
          for (int64_t r = r0; r < r1; ++r) d[r] += src[r * cols + c];
        } else {
          for (int64_t r = r0; r < r1; ++r) d[r] = src[r * cols + c];
        }
      }
    }
  }
}

// ---------------------------------------------------------------- pooling

struct Window {
  int64_t n = 0, h = 0, w = 0, c = 0;  // input (N,H,W,C)
  int64_t ho = 0, wo = 0;              // output (N,Ho,Wo,C)
  int64_t r = 0, s = 0;                    // kernel height, width
  int64_t sh = 1, sw = 1;                  // stride
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;  // padding: top, left, bottom, right
  bool count_include_pad = true;

  int64_t x_at(int64_t b, int64_t ih, int64_t iw) const { return ((b * h + ih) * w + iw) * c; }
  int64_t y_at(int64_t b, int64_t oh, int64_t ow) const { return ((b * ho + oh) * wo + ow) * c; }
  // Outputs whose window holds input i along one axis (kernel k, stride,
  // padding before): lo <= o <= hi.
  static void OutputsOf(int64_t i, int64_t k, int64_t stride, int64_t pad, int64_t out, int64_t* lo, int64_t* hi) {
    const int64_t num = i + pad - k + 1;
    *lo = num > 0 ? (num + stride - 1) / stride : 0;
    *hi = std::min(out - 1, (i + pad) / stride);
  }
  void RowsOf(int64_t ih, int64_t* lo, int64_t* hi) const { OutputsOf(ih, r, sh, pt, ho, lo, hi); }
  void ColumnsOf(int64_t iw, int64_t* lo, int64_t* hi) const { OutputsOf(iw, s, sw, pl, wo, lo, hi); }
  // Average pool divisor of output (oh, ow), as PyTorch.
  int64_t Divisor(int64_t oh, int64_t ow) const {
    const int64_t hs = oh * sh - pt, ws = ow * sw - pl;
    const int64_t he = std::min(hs + r, h + pb), we = std::min(ws + s, w + pr);
    if (count_include_pad) return (he - hs) * (we - ws);
    return (std::min(he, h) - std::max<int64_t>(hs, 0)) * (std::min(we, w) - std::max<int64_t>(ws, 0));
  }
};

Window WindowOf(const Node& n, int64_t batch) {
  SLIM_CHECK(n.input_dims.size() == 1 && n.input_dims[0].size() == 3 && n.out.size() == 3);
  Window g;
  g.n = batch;
  g.c = n.input_dims[0][0];
  g.h = n.input_dims[0][1];
  g.w = n.input_dims[0][2];
  g.ho = n.out[1];
  g.wo = n.out[2];
  g.r = n.kernel_h;
  g.s = n.kernel_w;
  g.sh = n.stride_h;
  g.sw = n.stride_w;
  g.pt = n.pad_top;
  g.pl = n.pad_left;
  g.pb = n.pad_bottom;
  g.pr = n.pad_right;
  g.count_include_pad = n.count_include_pad;
  return g;
}

// Output rows [begin, end) of (N·Ho).
SLIM_VECTOR_CLONES void MaxPoolRows(const Window& g, const float* x, float* y, int32_t* indices, int64_t begin,
                                    int64_t end) {
  const int64_t c_count = g.c;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / g.ho, oh = row % g.ho;
    const int64_t hs = oh * g.sh - g.pt;
    const int64_t h0 = std::max<int64_t>(hs, 0), h1 = std::min(hs + g.r, g.h);
    for (int64_t ow = 0; ow < g.wo; ++ow) {
      const int64_t ws = ow * g.sw - g.pl;
      const int64_t w0 = std::max<int64_t>(ws, 0), w1 = std::min(ws + g.s, g.w);
      float* yr = y + g.y_at(b, oh, ow);
      int32_t* ir = indices + g.y_at(b, oh, ow);
      const int32_t first = static_cast<int32_t>(h0 * g.w + w0);
      for (int64_t c = 0; c < c_count; ++c) {
        yr[c] = -std::numeric_limits<float>::infinity();
        ir[c] = first;
      }
      for (int64_t ih = h0; ih < h1; ++ih) {
        for (int64_t iw = w0; iw < w1; ++iw) {
          const float* xp = x + g.x_at(b, ih, iw);
          const int32_t at = static_cast<int32_t>(ih * g.w + iw);
#pragma omp simd
          for (int64_t c = 0; c < c_count; ++c) {
            const float v = xp[c];
            const bool take = v > yr[c] || v != v;
            yr[c] = take ? v : yr[c];
            ir[c] = take ? at : ir[c];
          }
        }
      }
    }
  }
}

// Stores a double sum into float dx (or adds it to dx's value in double).
inline void StoreSums(const double* acc, float* dx, int64_t count, bool accumulate) {
  if (accumulate) {
    for (int64_t c = 0; c < count; ++c) dx[c] = static_cast<float>(static_cast<double>(dx[c]) + acc[c]);
  } else {
    for (int64_t c = 0; c < count; ++c) dx[c] = static_cast<float>(acc[c]);
  }
}

// Input rows [begin, end) of (N·H): dx gathers dy where the argmax is it.
SLIM_VECTOR_CLONES void MaxPoolBackwardRows(const Window& g, const float* dy, const int32_t* indices, float* dx,
                                            bool accumulate, int64_t begin, int64_t end) {
  double acc[kChannelChunk];
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / g.h, ih = row % g.h;
    int64_t oh0, oh1;
    g.RowsOf(ih, &oh0, &oh1);
    for (int64_t iw = 0; iw < g.w; ++iw) {
      int64_t ow0, ow1;
      g.ColumnsOf(iw, &ow0, &ow1);
      const int32_t at = static_cast<int32_t>(ih * g.w + iw);
      for (int64_t c0 = 0; c0 < g.c; c0 += kChannelChunk) {
        const int64_t cn = std::min(kChannelChunk, g.c - c0);
        for (int64_t c = 0; c < cn; ++c) acc[c] = 0.0;
        for (int64_t oh = oh0; oh <= oh1; ++oh) {
          for (int64_t ow = ow0; ow <= ow1; ++ow) {
            const int64_t o = g.y_at(b, oh, ow) + c0;
#pragma omp simd
            for (int64_t c = 0; c < cn; ++c) acc[c] += KeepOrZero(indices[o + c] == at, static_cast<double>(dy[o + c]));
          }
        }
        StoreSums(acc, dx + g.x_at(b, ih, iw) + c0, cn, accumulate);
      }
    }
  }
}

// Output positions [begin, end) of (N·Ho·Wo).
SLIM_VECTOR_CLONES void AvgPoolPositions(const Window& g, const float* x, float* y, int64_t begin, int64_t end) {
  double acc[kChannelChunk];
  for (int64_t pos = begin; pos < end; ++pos) {
    const int64_t b = pos / (g.ho * g.wo), oh = (pos / g.wo) % g.ho, ow = pos % g.wo;
    const int64_t hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
    const int64_t h0 = std::max<int64_t>(hs, 0), h1 = std::min(hs + g.r, g.h);
    const int64_t w0 = std::max<int64_t>(ws, 0), w1 = std::min(ws + g.s, g.w);
    const double divisor = static_cast<double>(g.Divisor(oh, ow));
    for (int64_t c0 = 0; c0 < g.c; c0 += kChannelChunk) {
      const int64_t cn = std::min(kChannelChunk, g.c - c0);
      for (int64_t c = 0; c < cn; ++c) acc[c] = 0.0;
      for (int64_t ih = h0; ih < h1; ++ih) {
        for (int64_t iw = w0; iw < w1; ++iw) {
          const float* xp = x + g.x_at(b, ih, iw) + c0;
#pragma omp simd
          for (int64_t c = 0; c < cn; ++c) acc[c] += static_cast<double>(xp[c]);
        }
      }
      float* yp = y + g.y_at(b, oh, ow) + c0;
      for (int64_t c = 0; c < cn; ++c) yp[c] = static_cast<float>(acc[c] / divisor);
    }
  }
}

// Input rows [begin, end) of (N·H): dx gathers dy / divisor of each window.
SLIM_VECTOR_CLONES void AvgPoolBackwardRows(const Window& g, const float* dy, float* dx, bool accumulate,
                                            int64_t begin, int64_t end) {
  double acc[kChannelChunk];
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / g.h, ih = row % g.h;
    int64_t oh0, oh1;
    g.RowsOf(ih, &oh0, &oh1);
    for (int64_t iw = 0; iw < g.w; ++iw) {
      int64_t ow0, ow1;
      g.ColumnsOf(iw, &ow0, &ow1);
      for (int64_t c0 = 0; c0 < g.c; c0 += kChannelChunk) {
        const int64_t cn = std::min(kChannelChunk, g.c - c0);
        for (int64_t c = 0; c < cn; ++c) acc[c] = 0.0;
        for (int64_t oh = oh0; oh <= oh1; ++oh) {
          for (int64_t ow = ow0; ow <= ow1; ++ow) {
            const double divisor = static_cast<double>(g.Divisor(oh, ow));
            const float* dp = dy + g.y_at(b, oh, ow) + c0;
#pragma omp simd
            for (int64_t c = 0; c < cn; ++c) acc[c] += static_cast<double>(dp[c]) / divisor;
          }
        }
        StoreSums(acc, dx + g.x_at(b, ih, iw) + c0, cn, accumulate);
      }
    }
  }
}

// Examples [begin, end): y (N,C) = mean over the plane of x (N,P,C).
SLIM_VECTOR_CLONES void GlobalAvgPoolExamples(const float* x, float* y, int64_t plane, int64_t channels,
                                              int64_t begin, int64_t end) {
  double acc[kChannelChunk];
  const double divisor = static_cast<double>(plane);
  for (int64_t b = begin; b < end; ++b) {
    for (int64_t c0 = 0; c0 < channels; c0 += kChannelChunk) {
      const int64_t cn = std::min(kChannelChunk, channels - c0);
      for (int64_t c = 0; c < cn; ++c) acc[c] = 0.0;
      for (int64_t p = 0; p < plane; ++p) {
        const float* xp = x + (b * plane + p) * channels + c0;
#pragma omp simd
        for (int64_t c = 0; c < cn; ++c) acc[c] += static_cast<double>(xp[c]);
      }
      for (int64_t c = 0; c < cn; ++c) y[b * channels + c0 + c] = static_cast<float>(acc[c] / divisor);
    }
  }
}

SLIM_VECTOR_CLONES void GlobalAvgPoolBackwardExamples(const float* dy, float* dx, int64_t plane, int64_t channels,
                                                      bool accumulate, int64_t begin, int64_t end) {
  double g[kChannelChunk];
  const double divisor = static_cast<double>(plane);
  for (int64_t b = begin; b < end; ++b) {
    for (int64_t c0 = 0; c0 < channels; c0 += kChannelChunk) {
      const int64_t cn = std::min(kChannelChunk, channels - c0);
      for (int64_t c = 0; c < cn; ++c) g[c] = static_cast<double>(dy[b * channels + c0 + c]) / divisor;
      for (int64_t p = 0; p < plane; ++p) {
        float* dp = dx + (b * plane + p) * channels + c0;
        if (accumulate) {
#pragma omp simd
          for (int64_t c = 0; c < cn; ++c) dp[c] = static_cast<float>(static_cast<double>(dp[c]) + g[c]);
        } else {
#pragma omp simd
          for (int64_t c = 0; c < cn; ++c) dp[c] = static_cast<float>(g[c]);
        }
      }
    }
  }
}

// ---------------------------------------------------------------- loss

double Target(double eps, int64_t classes, int64_t j, int32_t label) {
  return eps / static_cast<double>(classes) + (j == label ? 1.0 - eps : 0.0);
}

// Rows [begin, end): probabilities, and the sum of the rows' losses.
double SoftmaxRows(const float* logits, const int32_t* labels, float* probs, int64_t classes, double eps,
                   int64_t begin, int64_t end) {
  double total = 0;
  for (int64_t bi = begin; bi < end; ++bi) {
    const float* row = logits + bi * classes;
    SLIM_CHECK(labels[bi] >= 0 && labels[bi] < classes);
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < classes; ++j) mx = std::max(mx, static_cast<double>(row[j]));
    double sum = 0;
    for (int64_t j = 0; j < classes; ++j) sum += std::exp(static_cast<double>(row[j]) - mx);
    const double lse = mx + std::log(sum);
    for (int64_t j = 0; j < classes; ++j) {
      const double nll = lse - static_cast<double>(row[j]);
      probs[bi * classes + j] = static_cast<float>(std::exp(-nll));
      const double t = Target(eps, classes, j, labels[bi]);
      if (t != 0) total += t * nll;
    }
  }
  return total;
}

// ---------------------------------------------------------------- SGD

SLIM_VECTOR_CLONES void SgdLoop(int64_t n, double lr, double momentum, double weight_decay, bool nesterov,
                                float* param, const float* grad, float* buffer) {
  if (momentum == 0) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const double p = static_cast<double>(param[i]);
      const double g = static_cast<double>(grad[i]) + weight_decay * p;
      param[i] = static_cast<float>(p - lr * g);
    }
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const double p = static_cast<double>(param[i]);
    const double g = static_cast<double>(grad[i]) + weight_decay * p;
    const double buf = momentum * static_cast<double>(buffer[i]) + g;
    buffer[i] = static_cast<float>(buf);
    const double step = nesterov ? g + momentum * buf : buf;
    param[i] = static_cast<float>(p - lr * step);
  }
}

}  // namespace

// ---------------------------------------------------------------- elementwise

void ReluForward(int64_t count, const float* x, float* y, int threads) {
  Elementwise(count, threads, [&](int64_t b, int64_t n) { ReluLoop(x + b, y + b, n); });
}

void ReluBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate, int threads) {
  Elementwise(count, threads, [&](int64_t b, int64_t n) { ReluBackwardLoop(y + b, dy + b, dx + b, n, accumulate); });
}

void SigmoidForward(int64_t count, const float* x, float* y, int threads) {
  Elementwise(count, threads, [&](int64_t b, int64_t n) { SigmoidLoop(x + b, y + b, n); });
}

void SigmoidBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate, int threads) {
  Elementwise(count, threads,
              [&](int64_t b, int64_t n) { SigmoidBackwardLoop(y + b, dy + b, dx + b, n, accumulate); });
}

void TanhForward(int64_t count, const float* x, float* y, int threads) {
  Elementwise(count, threads, [&](int64_t b, int64_t n) { TanhLoop(x + b, y + b, n); });
}

void TanhBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate, int threads) {
  Elementwise(count, threads, [&](int64_t b, int64_t n) { TanhBackwardLoop(y + b, dy + b, dx + b, n, accumulate); });
}

void AddForward(int64_t count, absl::Span<const void* const> inputs, float* y, int threads) {
  SLIM_CHECK(!inputs.empty());
  auto in = [&](size_t k) { return static_cast<const float*>(inputs[k]); };
  if (inputs.size() == 1) {
    Copy(count, in(0), y, /*accumulate=*/false, threads);
    return;
  }
  Elementwise(count, threads, [&](int64_t b, int64_t n) {
    AddLoop(in(0) + b, in(1) + b, y + b, n);
    for (size_t k = 2; k < inputs.size(); ++k) AddLoop(y + b, in(k) + b, y + b, n);
  });
}

void Copy(int64_t count, const float* src, float* dst, bool accumulate, int threads) {
  if (!accumulate && src == dst) return;
  Elementwise(count, threads, [&](int64_t b, int64_t n) {
    if (accumulate) {
      AddLoop(dst + b, src + b, dst + b, n);
    } else {
      std::memcpy(dst + b, src + b, static_cast<size_t>(n) * sizeof(float));
    }
  });
}

// ---------------------------------------------------------------- dropout

void DropoutForward(const Node& n, int64_t batch, const DropoutKey& key, const float* x, float* y, int threads) {
  const DropoutHash h = MakeDropoutHash(key, n.id, n.dropout_p);
  Elementwise(batch * planner::NumElements(n.out), threads,
              [&](int64_t b, int64_t c) { DropoutLoop(h, b, x + b, y + b, c, /*accumulate=*/false); });
}

void DropoutBackward(const Node& n, int64_t batch, const DropoutKey& key, const float* dy, float* dx,
                     bool accumulate, int threads) {
  const DropoutHash h = MakeDropoutHash(key, n.id, n.dropout_p);
  Elementwise(batch * planner::NumElements(n.out), threads,
              [&](int64_t b, int64_t c) { DropoutLoop(h, b, dy + b, dx + b, c, accumulate); });
}

// ---------------------------------------------------------------- layout

void ConcatForward(const Node& n, int64_t batch, absl::Span<const void* const> inputs, float* y, int threads) {
  SLIM_CHECK(inputs.size() == n.input_dims.size());
  const int64_t total = n.out[0];
  const int64_t positions = batch * (planner::NumElements(n.out) / total);  // N·H·W
  ParallelFor(positions, std::max<int64_t>(1, kElementGrain / total), threads, [&](int64_t b, int64_t e, int) {
    int64_t offset = 0;
    for (size_t k = 0; k < inputs.size(); ++k) {
      const int64_t ck = n.input_dims[k][0];
      CopyRows(static_cast<const float*>(inputs[k]) + b * ck, ck, y + b * total + offset, total, e - b, ck,
               /*accumulate=*/false);
      offset += ck;
    }
  });
}

void ConcatBackward(const Node& n, int64_t batch, int index, const float* dy, float* dx, bool accumulate,
                    int threads) {
  SLIM_CHECK(index >= 0 && index < static_cast<int>(n.input_dims.size()));
  const int64_t total = n.out[0];
  const int64_t positions = batch * (planner::NumElements(n.out) / total);
  int64_t offset = 0;
  for (int k = 0; k < index; ++k) offset += n.input_dims[k][0];
  const int64_t ck = n.input_dims[index][0];
  ParallelFor(positions, std::max<int64_t>(1, kElementGrain / total), threads, [&](int64_t b, int64_t e, int) {
    CopyRows(dy + b * total + offset, total, dx + b * ck, ck, e - b, ck, accumulate);
  });
}

void FlattenForward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const Dims& in = n.input_dims[0];
  const int64_t f = planner::NumElements(in);
  if (in.size() != 3) {
    Copy(batch * f, x, y, /*accumulate=*/false, threads);
    return;
  }
  // Per example: (H·W, C) -> (C, H·W).
  ParallelFor(batch, std::max<int64_t>(1, kElementGrain / f), threads, [&](int64_t b, int64_t e, int) {
    for (int64_t bi = b; bi < e; ++bi) Transpose(x + bi * f, in[1] * in[2], in[0], y + bi * f, false);
  });
}

void FlattenBackward(const Node& n, int64_t batch, const float* dy, float* dx, bool accumulate, int threads) {
  const Dims& in = n.input_dims[0];
  const int64_t f = planner::NumElements(in);
  if (in.size() != 3) {
    Copy(batch * f, dy, dx, accumulate, threads);
    return;
  }
  // Per example: (C, H·W) -> (H·W, C).
  ParallelFor(batch, std::max<int64_t>(1, kElementGrain / f), threads, [&](int64_t b, int64_t e, int) {
    for (int64_t bi = b; bi < e; ++bi) Transpose(dy + bi * f, in[0], in[1] * in[2], dx + bi * f, accumulate);
  });
}

// ---------------------------------------------------------------- pooling

void MaxPoolForward(const Node& n, int64_t batch, const float* x, float* y, int32_t* indices, int threads) {
  const Window g = WindowOf(n, batch);
  const int64_t row = g.wo * g.c * g.r * g.r;  // work per output row
  ParallelFor(g.n * g.ho, std::max<int64_t>(1, kElementGrain / row), threads,
              [&](int64_t b, int64_t e, int) { MaxPoolRows(g, x, y, indices, b, e); });
}

void MaxPoolBackward(const Node& n, int64_t batch, const float* dy, const int32_t* indices, float* dx,
                     bool accumulate, int threads) {
  const Window g = WindowOf(n, batch);
  ParallelFor(g.n * g.h, std::max<int64_t>(1, kElementGrain / (g.w * g.c)), threads,
              [&](int64_t b, int64_t e, int) { MaxPoolBackwardRows(g, dy, indices, dx, accumulate, b, e); });
}

void AvgPoolForward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const Window g = WindowOf(n, batch);
  ParallelFor(g.n * g.ho * g.wo, std::max<int64_t>(1, kElementGrain / (g.c * g.r * g.r)), threads,
              [&](int64_t b, int64_t e, int) { AvgPoolPositions(g, x, y, b, e); });
}

void AvgPoolBackward(const Node& n, int64_t batch, const float* dy, float* dx, bool accumulate, int threads) {
  const Window g = WindowOf(n, batch);
  ParallelFor(g.n * g.h, std::max<int64_t>(1, kElementGrain / (g.w * g.c)), threads,
              [&](int64_t b, int64_t e, int) { AvgPoolBackwardRows(g, dy, dx, accumulate, b, e); });
}

void GlobalAvgPoolForward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const Dims& in = n.input_dims[0];
  SLIM_CHECK(in.size() == 3);
  const int64_t plane = in[1] * in[2];
  ParallelFor(batch, std::max<int64_t>(1, kElementGrain / (plane * in[0])), threads,
              [&](int64_t b, int64_t e, int) { GlobalAvgPoolExamples(x, y, plane, in[0], b, e); });
}

void GlobalAvgPoolBackward(const Node& n, int64_t batch, const float* dy, float* dx, bool accumulate,
                           int threads) {
  const Dims& in = n.input_dims[0];
  SLIM_CHECK(in.size() == 3);
  const int64_t plane = in[1] * in[2];
  ParallelFor(batch, std::max<int64_t>(1, kElementGrain / (plane * in[0])), threads, [&](int64_t b, int64_t e, int) {
    GlobalAvgPoolBackwardExamples(dy, dx, plane, in[0], accumulate, b, e);
  });
}

// ---------------------------------------------------------------- loss

void SoftmaxCrossEntropyForward(const Node& n, int64_t batch, const float* logits, const int32_t* labels,
                                float* probs, float* loss, int threads) {
  const int64_t classes = n.input_dims[0][0];
  constexpr int kMaxParts = 256;
  double partial[kMaxParts] = {};
  const int parts = ParallelFor(
      batch, std::max<int64_t>(1, 4096 / classes), std::min(threads, kMaxParts), [&](int64_t b, int64_t e, int p) {
        partial[p] = SoftmaxRows(logits, labels, probs, classes, n.label_smoothing, b, e);
      });
  double total = 0;
  for (int p = 0; p < parts; ++p) total += partial[p];
  *loss = static_cast<float>(total / static_cast<double>(batch));
}

void SoftmaxCrossEntropyBackward(const Node& n, int64_t batch, const float* probs, const int32_t* labels,
                                 float* dlogits, bool accumulate, int threads) {
  const int64_t classes = n.input_dims[0][0];
  const double eps = n.label_smoothing;
  ParallelFor(batch, std::max<int64_t>(1, kElementGrain / classes), threads, [&](int64_t b, int64_t e, int) {
    for (int64_t bi = b; bi < e; ++bi) {
      SLIM_CHECK(labels[bi] >= 0 && labels[bi] < classes);
      for (int64_t j = 0; j < classes; ++j) {
        const int64_t i = bi * classes + j;
        const double g =
            (static_cast<double>(probs[i]) - Target(eps, classes, j, labels[bi])) / static_cast<double>(batch);
        dlogits[i] = static_cast<float>(accumulate ? static_cast<double>(dlogits[i]) + g : g);
      }
    }
  });
}

// ---------------------------------------------------------------- SGD

void SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov, float* param,
               const float* grad, float* momentum_buffer, int threads) {
  Elementwise(count, threads, [&](int64_t b, int64_t n) {
    SgdLoop(n, lr, momentum, weight_decay, nesterov, param + b, grad + b,
            momentum == 0 ? nullptr : momentum_buffer + b);
  });
}

}  // namespace slimtrain::engine::cpu
