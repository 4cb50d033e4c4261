// The reference layer_norm (reference_kernels.h): per-row statistics and
// every sum in double, each result rounded to T once; dγ and dβ gather over
// the rows.
#include <cmath>
#include <cstdint>

#include "engine/backend.h"
#include "engine/cpu/reference_kernels.h"
#include "engine/cpu/reference_store.h"
#include "engine/norm_math.h"

namespace slimtrain::engine::reference {

using planner::Node;

template <typename T>
void LayerNormForward(const Node& n, int64_t batch, const T* x, const T* gamma, const T* beta, T* y, T* stats) {
  const int64_t rows = batch * n.norm_rows, size = n.norm_row_size;
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * size;
    T m, s;
    norm::RowStats(xr, size, n.eps, &m, &s);
    stats[2 * r] = m;
    stats[2 * r + 1] = s;
    for (int64_t i = 0; i < size; ++i) {
      const double xhat = norm::Normalized(xr[i], m, s);
      const int64_t p = LayerNormParamIndex(n, i);
      y[r * size + i] = static_cast<T>(gamma != nullptr ? xhat * gamma[p] + (beta != nullptr ? beta[p] : 0) : xhat);
    }
  }
}

template <typename T>
void LayerNormBackward(const Node& n, int64_t batch, const T* dy, const T* x, const T* gamma, const T* stats, T* dx,
                       bool accumulate, T* dgamma, T* dbeta) {
  const int64_t rows = batch * n.norm_rows, size = n.norm_row_size;
  auto xhat = [&](int64_t r, int64_t i) { return norm::Normalized(x[r * size + i], stats[2 * r], stats[2 * r + 1]); };
  if (dgamma != nullptr) {
    for (int64_t i = 0; i < size; ++i) {
      double dg = 0, db = 0;
      for (int64_t r = 0; r < rows; ++r) {
        dg += static_cast<double>(dy[r * size + i]) * xhat(r, i);
        db += static_cast<double>(dy[r * size + i]);
      }
      const int64_t p = LayerNormParamIndex(n, i);
      dgamma[p] = static_cast<T>(dg);
      if (dbeta != nullptr) dbeta[p] = static_cast<T>(db);
    }
  }
  if (dx == nullptr) return;
  for (int64_t r = 0; r < rows; ++r) {
    // g = dy·γ; dx = (1/σ)(g − mean(g) − x̂·mean(g·x̂)), all of the row read first.
    double mean_g = 0, mean_gx = 0;
    for (int64_t i = 0; i < size; ++i) {
      const double g = static_cast<double>(dy[r * size + i]) *
                       (gamma != nullptr ? static_cast<double>(gamma[LayerNormParamIndex(n, i)]) : 1.0);
      mean_g += g;
      mean_gx += g * xhat(r, i);
    }
    mean_g /= static_cast<double>(size);
    mean_gx /= static_cast<double>(size);
    const double s = static_cast<double>(stats[2 * r + 1]);
    for (int64_t i = 0; i < size; ++i) {
      const double g = static_cast<double>(dy[r * size + i]) *
                       (gamma != nullptr ? static_cast<double>(gamma[LayerNormParamIndex(n, i)]) : 1.0);
      Store(&dx[r * size + i], s * (g - mean_g - xhat(r, i) * mean_gx), accumulate);
    }
  }
}

template <typename T>
void GroupNormForward(const Node& n, int64_t batch, const T* x, const T* gamma, const T* beta, T* y, T* stats) {
  const norm::Groups geo = GroupsOf(n);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t g = 0; g < geo.groups; ++g) norm::GroupForward(geo, b, g, n.eps, x, gamma, beta, y, stats);
  }
}

template <typename T>
void GroupNormBackward(const Node& n, int64_t batch, const T* dy, const T* x, const T* gamma, const T* stats, T* dx,
                       bool accumulate, T* dgamma, T* dbeta) {
  const norm::Groups geo = GroupsOf(n);
  if (dgamma != nullptr) {
    for (int64_t c = 0; c < geo.channels; ++c) norm::GroupParamGrad(geo, batch, c, dy, x, stats, dgamma, dbeta);
  }
  if (dx == nullptr) return;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t g = 0; g < geo.groups; ++g) norm::GroupDataGrad(geo, b, g, dy, x, gamma, stats, dx, accumulate);
  }
}

#define SLIM_REFERENCE_NORM(T)                                                                          \
  template void LayerNormForward<T>(const Node&, int64_t, const T*, const T*, const T*, T*, T*);        \
  template void LayerNormBackward<T>(const Node&, int64_t, const T*, const T*, const T*, const T*, T*, \
                                     bool, T*, T*);                                                    \
  template void GroupNormForward<T>(const Node&, int64_t, const T*, const T*, const T*, T*, T*);        \
  template void GroupNormBackward<T>(const Node&, int64_t, const T*, const T*, const T*, const T*, T*, \
                                     bool, T*, T*);
SLIM_REFERENCE_NORM(float)
SLIM_REFERENCE_NORM(double)
#undef SLIM_REFERENCE_NORM

}  // namespace slimtrain::engine::reference
