// norm_math.h — layer_norm's per-row statistics, the arithmetic every
// backend runs (the reference and fast CPU kernels, and the CUDA kernels:
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

}  // namespace slimtrain::engine::norm

#endif  // SLIMTRAIN_ENGINE_NORM_MATH_H_
