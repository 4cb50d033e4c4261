// pool_math.h — adaptive average pooling element by element, the arithmetic
// every backend runs (reference and fast CPU in loops, CUDA one thread per
// element: SLIM_HD), so they agree bit for bit. Layout (N,H,W,C).
//
// Output row i averages input rows [floor(i·H/oh), ceil((i+1)·H/oh)), as
// PyTorch's adaptive_avg_pool2d; columns likewise.
#ifndef SLIMTRAIN_ENGINE_POOL_MATH_H_
#define SLIMTRAIN_ENGINE_POOL_MATH_H_

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

}  // namespace slimtrain::engine::pool

#endif  // SLIMTRAIN_ENGINE_POOL_MATH_H_
