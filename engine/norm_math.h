// norm_math.h — layer_norm's per-row statistics and group_norm whole, the
// arithmetic every backend runs (the reference and fast CPU kernels, and the CUDA kernels:
// SLIM_HD), so their statistics and x̂ agree bit for bit.
#ifndef SLIMTRAIN_ENGINE_NORM_MATH_H_
#define SLIMTRAIN_ENGINE_NORM_MATH_H_

#include <cmath>
#include <cstdint>

#include "engine/host_device.h"

namespace slimtrain::engine::norm {

// The mean and 1/sqrt(biased variance + eps) of x[0..size), summed in
// double in index order, each rounded to T.
template <typename T>
SLIM_HD inline void RowStats(const T* x, int64_t size, double eps, T* mean, T* rstd) {
  double sum = 0;
  for (int64_t i = 0; i < size; ++i) sum += static_cast<double>(x[i]);
  const double m = sum / static_cast<double>(size);
  double sq = 0;
  for (int64_t i = 0; i < size; ++i) sq += (x[i] - m) * (x[i] - m);
  *mean = static_cast<T>(m);
  *rstd = static_cast<T>(1.0 / std::sqrt(sq / static_cast<double>(size) + eps));
}

// x̂ = (x − mean)·rstd in double from the rounded statistics.
template <typename T>
SLIM_HD inline double Normalized(T x, T mean, T rstd) {
  return (static_cast<double>(x) - static_cast<double>(mean)) * static_cast<double>(rstd);
}

// group_norm's geometry, one example: `channels` channels of `spatial`
// elements each, channel c's element s at s·channels + c for an image
// (stored (H,W,C)), else at c·spatial + s; `groups` groups of consecutive
// channels.
struct Groups {
  int64_t channels = 0, spatial = 1, groups = 1;
  bool channels_last = false;

  SLIM_HD int64_t per_group() const { return channels / groups; }
  SLIM_HD int64_t example() const { return channels * spatial; }
  SLIM_HD int64_t At(int64_t c, int64_t s) const { return channels_last ? s * channels + c : c * spatial + s; }
};

// The forward of group g of example b: stats[2(b·G + g)] = mean, 1/std
// (summed in double over the group's channels, each channel's elements in
// order, and rounded to T); y = x̂·γ_c + β_c (γ, β null: x̂).
template <typename T>
SLIM_HD inline void GroupForward(const Groups& geo, int64_t b, int64_t g, double eps, const T* x, const T* gamma,
                                 const T* beta, T* y, T* stats) {
  const T* xb = x + b * geo.example();
  const int64_t c0 = g * geo.per_group(), c1 = c0 + geo.per_group();
  const double count = static_cast<double>(geo.per_group() * geo.spatial);
  double sum = 0;
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t s = 0; s < geo.spatial; ++s) sum += static_cast<double>(xb[geo.At(c, s)]);
  }
  const double m = sum / count;
  double sq = 0;
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t s = 0; s < geo.spatial; ++s) sq += (xb[geo.At(c, s)] - m) * (xb[geo.At(c, s)] - m);
  }
  const T mean = static_cast<T>(m);
  const T rstd = static_cast<T>(1.0 / std::sqrt(sq / count + eps));
  const int64_t row = b * geo.groups + g;
  stats[2 * row] = mean;
  stats[2 * row + 1] = rstd;
  T* yb = y + b * geo.example();
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t s = 0; s < geo.spatial; ++s) {
      const double xhat = Normalized(xb[geo.At(c, s)], mean, rstd);
      yb[geo.At(c, s)] = static_cast<T>(gamma != nullptr ? xhat * gamma[c] + beta[c] : xhat);
    }
  }
}

// dγ_c and dβ_c: Σ over the examples (in order) and channel c's elements of
// dy·x̂ and dy.
template <typename T>
SLIM_HD inline void GroupParamGrad(const Groups& geo, int64_t batch, int64_t c, const T* dy, const T* x,
                                   const T* stats, T* dgamma, T* dbeta) {
  const int64_t g = c / geo.per_group();
  double dg = 0, db = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t row = b * geo.groups + g;
    for (int64_t s = 0; s < geo.spatial; ++s) {
      const int64_t at = b * geo.example() + geo.At(c, s);
      dg += static_cast<double>(dy[at]) * Normalized(x[at], stats[2 * row], stats[2 * row + 1]);
      db += static_cast<double>(dy[at]);
    }
  }
  dgamma[c] = static_cast<T>(dg);
  dbeta[c] = static_cast<T>(db);
}

// dx of group g of example b: (1/σ)(h − mean(h) − x̂·mean(h·x̂)), h = dy·γ_c,
// means over the group; every element of the group is read before any is
// written (dx may be dy).
template <typename T>
SLIM_HD inline void GroupDataGrad(const Groups& geo, int64_t b, int64_t g, const T* dy, const T* x, const T* gamma,
                                  const T* stats, T* dx, bool accumulate) {
  const int64_t c0 = g * geo.per_group(), c1 = c0 + geo.per_group(), base = b * geo.example();
  const int64_t row = b * geo.groups + g;
  const T mean = stats[2 * row], rstd = stats[2 * row + 1];
  double mean_h = 0, mean_hx = 0;
  for (int64_t c = c0; c < c1; ++c) {
    const double gc = gamma != nullptr ? static_cast<double>(gamma[c]) : 1.0;
    for (int64_t s = 0; s < geo.spatial; ++s) {
      const int64_t at = base + geo.At(c, s);
      const double h = static_cast<double>(dy[at]) * gc;
      mean_h += h;
      mean_hx += h * Normalized(x[at], mean, rstd);
    }
  }
  const double count = static_cast<double>(geo.per_group() * geo.spatial);
  mean_h /= count;
  mean_hx /= count;
  for (int64_t c = c0; c < c1; ++c) {
    const double gc = gamma != nullptr ? static_cast<double>(gamma[c]) : 1.0;
    for (int64_t s = 0; s < geo.spatial; ++s) {
      const int64_t at = base + geo.At(c, s);
      const double v = static_cast<double>(rstd) *
                       (static_cast<double>(dy[at]) * gc - mean_h - Normalized(x[at], mean, rstd) * mean_hx);
      dx[at] = static_cast<T>(accumulate ? static_cast<double>(dx[at]) + v : v);
    }
  }
}

}  // namespace slimtrain::engine::norm

#endif  // SLIMTRAIN_ENGINE_NORM_MATH_H_
