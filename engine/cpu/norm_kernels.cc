// See norm_kernels.h.
#include "engine/cpu/norm_kernels.h"

#include <algorithm>
#include <cmath>

#include "engine/backend.h"
#include "engine/cpu/parallel.h"
#include "engine/norm_math.h"

namespace slimtrain::engine::cpu {
namespace {

using planner::Node;

// Columns one thread sums over the rows at a time (double accumulators on
// the stack).
constexpr int64_t kColumns = 256;

inline double Gamma(const Node& n, const float* gamma, int64_t i) {
  return gamma != nullptr ? static_cast<double>(gamma[LayerNormParamIndex(n, i)]) : 1.0;
}

}  // namespace

void LayerNormForward(const Node& n, int64_t batch, const float* x, const float* gamma, const float* beta, float* y,
                      float* stats, int threads) {
  const int64_t rows = batch * n.norm_rows, size = n.norm_row_size;
  ParallelFor(rows, std::max<int64_t>(1, kElementGrain / size), threads, [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * size;
      float m, s;
      norm::RowStats(xr, size, n.eps, &m, &s);
      stats[2 * r] = m;
      stats[2 * r + 1] = s;
      float* yr = y + r * size;
      if (gamma == nullptr) {
        for (int64_t i = 0; i < size; ++i) yr[i] = static_cast<float>(norm::Normalized(xr[i], m, s));
      } else {
        for (int64_t i = 0; i < size; ++i) {
          const double xhat = norm::Normalized(xr[i], m, s);
          const int64_t p = LayerNormParamIndex(n, i);
          yr[i] = static_cast<float>(xhat * gamma[p] + (beta != nullptr ? beta[p] : 0.0f));
        }
      }
    }
  });
}

void LayerNormBackward(const Node& n, int64_t batch, const float* dy, const float* x, const float* gamma,
                       const float* stats, float* dx, bool accumulate, float* dgamma, float* dbeta, int threads) {
  const int64_t rows = batch * n.norm_rows, size = n.norm_row_size;
  auto xhat = [&](int64_t r, int64_t i) { return norm::Normalized(x[r * size + i], stats[2 * r], stats[2 * r + 1]); };
  if (dgamma != nullptr) {
    const int64_t blocks = (size + kColumns - 1) / kColumns;
    ParallelFor(blocks, std::max<int64_t>(1, kElementGrain / (rows * kColumns)), threads,
                [&](int64_t b, int64_t e, int) {
                  double dg[kColumns], db[kColumns];
                  for (int64_t blk = b; blk < e; ++blk) {
                    const int64_t c0 = blk * kColumns, c1 = std::min(size, c0 + kColumns);
                    std::fill(dg, dg + (c1 - c0), 0.0);
                    std::fill(db, db + (c1 - c0), 0.0);
                    for (int64_t r = 0; r < rows; ++r) {
                      for (int64_t i = c0; i < c1; ++i) {
                        dg[i - c0] += static_cast<double>(dy[r * size + i]) * xhat(r, i);
                        db[i - c0] += static_cast<double>(dy[r * size + i]);
                      }
                    }
                    for (int64_t i = c0; i < c1; ++i) {
                      const int64_t p = LayerNormParamIndex(n, i);
                      dgamma[p] = static_cast<float>(dg[i - c0]);
                      if (dbeta != nullptr) dbeta[p] = static_cast<float>(db[i - c0]);
                    }
                  }
                });
  }
  if (dx == nullptr) return;
  ParallelFor(rows, std::max<int64_t>(1, kElementGrain / size), threads, [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r) {
      double mean_g = 0, mean_gx = 0;
      for (int64_t i = 0; i < size; ++i) {
        const double g = static_cast<double>(dy[r * size + i]) * Gamma(n, gamma, i);
        mean_g += g;
        mean_gx += g * xhat(r, i);
      }
      mean_g /= static_cast<double>(size);
      mean_gx /= static_cast<double>(size);
      const double s = static_cast<double>(stats[2 * r + 1]);
      for (int64_t i = 0; i < size; ++i) {
        const double g = static_cast<double>(dy[r * size + i]) * Gamma(n, gamma, i);
        const double v = s * (g - mean_g - xhat(r, i) * mean_gx);
        float* d = &dx[r * size + i];
        *d = static_cast<float>(accumulate ? static_cast<double>(*d) + v : v);
      }
    }
  });
}

void GroupNormForward(const Node& n, int64_t batch, const float* x, const float* gamma, const float* beta, float* y,
                      float* stats, int threads) {
  const norm::Groups geo = GroupsOf(n);
  const int64_t group_elements = geo.per_group() * geo.spatial;
  ParallelFor(batch * geo.groups, std::max<int64_t>(1, kElementGrain / group_elements), threads,
              [&](int64_t b, int64_t e, int) {
                for (int64_t t = b; t < e; ++t) {
                  norm::GroupForward(geo, t / geo.groups, t % geo.groups, n.eps, x, gamma, beta, y, stats);
                }
              });
}

void GroupNormBackward(const Node& n, int64_t batch, const float* dy, const float* x, const float* gamma,
                       const float* stats, float* dx, bool accumulate, float* dgamma, float* dbeta, int threads) {
  const norm::Groups geo = GroupsOf(n);
  if (dgamma != nullptr) {
    ParallelFor(geo.channels, std::max<int64_t>(1, kElementGrain / (batch * geo.spatial)), threads,
                [&](int64_t b, int64_t e, int) {
                  for (int64_t c = b; c < e; ++c) norm::GroupParamGrad(geo, batch, c, dy, x, stats, dgamma, dbeta);
                });
  }
  if (dx == nullptr) return;
  const int64_t group_elements = geo.per_group() * geo.spatial;
  ParallelFor(batch * geo.groups, std::max<int64_t>(1, kElementGrain / group_elements), threads,
              [&](int64_t b, int64_t e, int) {
                for (int64_t t = b; t < e; ++t) {
                  norm::GroupDataGrad(geo, t / geo.groups, t % geo.groups, dy, x, gamma, stats, dx, accumulate);
                }
              });
}

}  // namespace slimtrain::engine::cpu
