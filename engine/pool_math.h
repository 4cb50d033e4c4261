// pool_math.h — adaptive average pooling and upsampling element by element,
// the arithmetic every backend runs (reference and fast CPU in loops, CUDA
// one thread per element: SLIM_HD), so they agree bit for bit. Layout
// (N,H,W,C).
//
// Adaptive pooling: output row i averages input rows [floor(i·H/oh),
// ceil((i+1)·H/oh)), as PyTorch's adaptive_avg_pool2d; columns likewise.
//
// Upsampling: output row i reads input rows i0 and i1 with weights l0 and
// l1 (nearest: one row, weight 1), found as PyTorch 1.13's CPU kernels do,
// in float: scale = H/oh (bilinear with align_corners: (H-1)/(oh-1));
// nearest i0 = min(floor(i·scale), H-1); bilinear source s = max((i+0.5)·
// scale - 0.5, 0) (align_corners: i·scale), i0 = floor(s), i1 = i0 + 1
// below the last row, l1 = s - i0, l0 = 1 - l1. Columns likewise; the
// output is Σ l_row·l_col·x in double. The backward gathers: input row h
// takes every output row whose sources include it (they are nondecreasing
// in i), so no two threads write one element.
#ifndef SLIMTRAIN_ENGINE_POOL_MATH_H_
#define SLIMTRAIN_ENGINE_POOL_MATH_H_

#include <cmath>
#include <cstdint>

#include "engine/host_device.h"

namespace slimtrain::engine::pool {

struct Adaptive {
  int64_t c = 0, h = 0, w = 0, oh = 0, ow = 0;
};

SLIM_HD inline int64_t Start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
SLIM_HD inline int64_t End(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// Output element (b, i, j, ch): the window's mean, summed in double in
// row-major order.
template <typename T>
SLIM_HD inline double AdaptiveAvg(const Adaptive& g, const T* x, int64_t b, int64_t i, int64_t j, int64_t ch) {
  const int64_t h0 = Start(i, g.h, g.oh), h1 = End(i, g.h, g.oh);
  const int64_t w0 = Start(j, g.w, g.ow), w1 = End(j, g.w, g.ow);
  double sum = 0;
  for (int64_t h = h0; h < h1; ++h) {
    for (int64_t w = w0; w < w1; ++w) sum += static_cast<double>(x[((b * g.h + h) * g.w + w) * g.c + ch]);
  }
  return sum / static_cast<double>((h1 - h0) * (w1 - w0));
}

// dx of input element (b, h, w, ch): Σ over the outputs whose window holds
// it (rows, then columns, ascending) of dy / the window's area.
template <typename T>
SLIM_HD inline double AdaptiveAvgGrad(const Adaptive& g, const T* dy, int64_t b, int64_t h, int64_t w, int64_t ch) {
  double sum = 0;
  const int64_t i0 = (h * g.oh) / g.h > 0 ? (h * g.oh) / g.h - 1 : 0;
  const int64_t j0 = (w * g.ow) / g.w > 0 ? (w * g.ow) / g.w - 1 : 0;
  for (int64_t i = i0; i < g.oh && Start(i, g.h, g.oh) <= h; ++i) {
    if (h >= End(i, g.h, g.oh)) continue;
    for (int64_t j = j0; j < g.ow && Start(j, g.w, g.ow) <= w; ++j) {
      if (w >= End(j, g.w, g.ow)) continue;
      const double area = static_cast<double>((End(i, g.h, g.oh) - Start(i, g.h, g.oh)) *
                                              (End(j, g.w, g.ow) - Start(j, g.w, g.ow)));
      sum += static_cast<double>(dy[((b * g.oh + i) * g.ow + j) * g.c + ch]) / area;
    }
  }
  return sum;
}

// --- upsample.
struct Upsample {
  int64_t c = 0, h = 0, w = 0, oh = 0, ow = 0;
  bool bilinear = false, align_corners = false;
};

// Output index i's sources along an axis of `in` inputs and `out` outputs.
struct Source {
  int64_t i0 = 0, i1 = 0;
  float l0 = 1, l1 = 0;
};

SLIM_HD inline Source SourceOf(int64_t i, int64_t in, int64_t out, bool bilinear, bool align_corners) {
  Source s;
  if (!bilinear) {
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    const int64_t k = static_cast<int64_t>(floorf(static_cast<float>(i) * scale));
    s.i0 = s.i1 = k < in - 1 ? k : in - 1;
    return s;
  }
  float src;
  if (align_corners) {
    const float scale = out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
    src = scale * static_cast<float>(i);
  } else {
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    src = scale * (static_cast<float>(i) + 0.5f) - 0.5f;
    if (src < 0) src = 0;
  }
  s.i0 = static_cast<int64_t>(src);
  if (s.i0 > in - 1) s.i0 = in - 1;
  s.i1 = s.i0 + (s.i0 < in - 1 ? 1 : 0);
  s.l1 = src - static_cast<float>(s.i0);
  s.l0 = 1.0f - s.l1;
  return s;
}

// The weight output index i gives input index k (0 when it does not read it).
SLIM_HD inline double WeightOf(const Source& s, int64_t k) {
  return (s.i0 == k ? static_cast<double>(s.l0) : 0.0) + (s.i1 == k ? static_cast<double>(s.l1) : 0.0);
}

// The first output index whose sources reach input index k or beyond.
SLIM_HD inline int64_t FirstReader(int64_t k, int64_t in, int64_t out, bool bilinear, bool align_corners) {
  int64_t lo = 0, hi = out;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (SourceOf(mid, in, out, bilinear, align_corners).i1 < k) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

template <typename T>
SLIM_HD inline double UpsampleAt(const Upsample& g, const T* x, int64_t b, int64_t i, int64_t j, int64_t ch) {
  const Source r = SourceOf(i, g.h, g.oh, g.bilinear, g.align_corners);
  const Source c = SourceOf(j, g.w, g.ow, g.bilinear, g.align_corners);
  auto at = [&](int64_t h, int64_t w) { return static_cast<double>(x[((b * g.h + h) * g.w + w) * g.c + ch]); };
  if (!g.bilinear) return at(r.i0, c.i0);
  const double c0 = c.l0, c1 = c.l1;
  return static_cast<double>(r.l0) * (c0 * at(r.i0, c.i0) + c1 * at(r.i0, c.i1)) +
         static_cast<double>(r.l1) * (c0 * at(r.i1, c.i0) + c1 * at(r.i1, c.i1));
}

// dx of input element (b, h, w, ch): Σ over the output rows reading row h
// (ascending) and the columns reading column w of weight·weight·dy.
template <typename T>
SLIM_HD inline double UpsampleGrad(const Upsample& g, const T* dy, int64_t b, int64_t h, int64_t w, int64_t ch) {
  double sum = 0;
  const int64_t j_first = FirstReader(w, g.w, g.ow, g.bilinear, g.align_corners);
  for (int64_t i = FirstReader(h, g.h, g.oh, g.bilinear, g.align_corners); i < g.oh; ++i) {
    const Source r = SourceOf(i, g.h, g.oh, g.bilinear, g.align_corners);
    if (r.i0 > h) break;
    const double wr = WeightOf(r, h);
    if (wr == 0) continue;
    for (int64_t j = j_first; j < g.ow; ++j) {
      const Source c = SourceOf(j, g.w, g.ow, g.bilinear, g.align_corners);
      if (c.i0 > w) break;
      const double wc = WeightOf(c, w);
      if (wc == 0) continue;
      sum += wr * wc * static_cast<double>(dy[((b * g.oh + i) * g.ow + j) * g.c + ch]);
    }
  }
  return sum;
}

}  // namespace slimtrain::engine::pool

#endif  // SLIMTRAIN_ENGINE_POOL_MATH_H_
