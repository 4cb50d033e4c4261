// See bn_kernels.h.
#include "engine/cpu/bn_kernels.h"

#include <algorithm>
#include <cmath>

#include "base/status_macros.h"

namespace slimtrain::engine::cpu {
namespace {

// Blocks (periods) per part: at least kElementGrain elements.
int64_t BlockGrain(const ChannelPeriod& cp) { return std::max<int64_t>(1, kElementGrain / cp.period); }

// Blocks of [b0, b1) that are whole periods: [b0, FullEnd) (only the
// tensor's last block can be short).
int64_t FullEnd(const ChannelPeriod& cp, int64_t b1) {
  return b1 == cp.blocks && cp.length(b1 - 1) != cp.period ? b1 - 1 : b1;
}

// Pass 1 of the forward: s[j] = Σ (x − pivot[j]), ss[j] = Σ (x − pivot[j])²
// over blocks [b0, b1), in double. Whole periods are summed 16 positions at a
// time across blocks, so the accumulators stay in registers.
SLIM_VECTOR_CLONES void ShiftedSums(const ChannelPeriod& cp, const float* x, const float* pivot, int64_t b0,
                                    int64_t b1, double* s, double* ss) {
  const int64_t period = cp.period, full_end = FullEnd(cp, b1);
  for (int64_t j0 = 0; j0 < period; j0 += 16) {
    double a[16] = {}, q[16] = {};
    for (int64_t b = b0; b < full_end; ++b) {
      const float* xb = x + cp.begin(b) + j0;
#pragma omp simd
      for (int j = 0; j < 16; ++j) {
        const double d = static_cast<double>(xb[j]) - static_cast<double>(pivot[j0 + j]);
        a[j] += d;
        q[j] += d * d;
      }
    }
    for (int j = 0; j < 16; ++j) {
      s[j0 + j] = a[j];
      ss[j0 + j] = q[j];
    }
  }
  for (int64_t b = full_end; b < b1; ++b) {
    const float* xb = x + cp.begin(b);
    const int64_t len = cp.length(b);
    for (int64_t j = 0; j < len; ++j) {
      const double d = static_cast<double>(xb[j]) - static_cast<double>(pivot[j]);
      s[j] += d;
      ss[j] += d * d;
    }
  }
}

// Pass 2 of the forward: y = (x − mean)·scale + shift.
SLIM_VECTOR_CLONES void Normalize(const ChannelPeriod& cp, const float* x, const float* mean, const float* scale,
                                  const float* shift, int64_t b0, int64_t b1, float* y) {
  for (int64_t b = b0; b < b1; ++b) {
    const float* xb = x + cp.begin(b);
    float* yb = y + cp.begin(b);
    const int64_t len = cp.length(b);
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) yb[j] = (xb[j] - mean[j]) * scale[j] + shift[j];
  }
}

// Pass 1 of the backward: s[j] = Σ dy, sx[j] = Σ dy·(x − mean[j]), in
// double, whole periods 16 positions at a time as ShiftedSums.
SLIM_VECTOR_CLONES void GradSums(const ChannelPeriod& cp, const float* dy, const float* x, const float* mean,
                                 int64_t b0, int64_t b1, double* s, double* sx) {
  const int64_t period = cp.period, full_end = FullEnd(cp, b1);
  for (int64_t j0 = 0; j0 < period; j0 += 16) {
    double a[16] = {}, q[16] = {};
    for (int64_t b = b0; b < full_end; ++b) {
      const float* dyb = dy + cp.begin(b) + j0;
      const float* xb = x + cp.begin(b) + j0;
#pragma omp simd
      for (int j = 0; j < 16; ++j) {
        const double g = static_cast<double>(dyb[j]);
        a[j] += g;
        q[j] += g * (static_cast<double>(xb[j]) - static_cast<double>(mean[j0 + j]));
      }
    }
    for (int j = 0; j < 16; ++j) {
      s[j0 + j] = a[j];
      sx[j0 + j] = q[j];
    }
  }
  for (int64_t b = full_end; b < b1; ++b) {
    const float* dyb = dy + cp.begin(b);
    const float* xb = x + cp.begin(b);
    const int64_t len = cp.length(b);
    for (int64_t j = 0; j < len; ++j) {
      const double g = static_cast<double>(dyb[j]);
      s[j] += g;
      sx[j] += g * (static_cast<double>(xb[j]) - static_cast<double>(mean[j]));
    }
  }
}

// Pass 2 of the backward: dx = scale·(dy − mean_dy) − (x − mean)·c (or
// dx +=); mean(dy) is subtracted first so that dx = 0 comes out exactly where
// it should (e.g. M = 1).
SLIM_VECTOR_CLONES void ApplyGrad(const ChannelPeriod& cp, const float* dy, const float* x, const float* mean,
                                  const float* scale, const float* mean_dy, const float* c, bool accumulate,
                                  int64_t b0, int64_t b1, float* dx) {
  for (int64_t b = b0; b < b1; ++b) {
    const float* dyb = dy + cp.begin(b);
    const float* xb = x + cp.begin(b);
    float* dxb = dx + cp.begin(b);
    const int64_t len = cp.length(b);
    if (accumulate) {
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) {
        dxb[j] = dxb[j] + (scale[j] * (dyb[j] - mean_dy[j]) - (xb[j] - mean[j]) * c[j]);
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) dxb[j] = scale[j] * (dyb[j] - mean_dy[j]) - (xb[j] - mean[j]) * c[j];
    }
  }
}

// --- (N,C,L) stored row-major: channel c of example b is the run of L
// values at (b·C + c)·L. Threads take channels; each runs the reference's
// arithmetic in its order (two passes in double, about the mean), so the
// results are the reference's bit for bit.

void SequenceForward(const planner::Node& n, int64_t batch, BatchNormMode mode, const float* x, const float* gamma,
                     const float* beta, float* running_mean, float* running_var, float* y, float* stats,
                     int threads) {
  const int64_t C = n.out[0], L = n.out[1], m = batch * L;
  ParallelFor(C, 1, threads, [&](int64_t c0, int64_t c1, int) {
    for (int64_t c = c0; c < c1; ++c) {
      double mean, invstd;
      if (mode == BatchNormMode::kInference) {
        mean = static_cast<double>(running_mean[c]);
        invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + n.eps);
      } else {
        double sum = 0;
        for (int64_t b = 0; b < batch; ++b) {
          const float* xr = x + (b * C + c) * L;
          for (int64_t l = 0; l < L; ++l) sum += static_cast<double>(xr[l]);
        }
        const double mu = sum / static_cast<double>(m);
        double squares = 0;
        for (int64_t b = 0; b < batch; ++b) {
          const float* xr = x + (b * C + c) * L;
          for (int64_t l = 0; l < L; ++l) {
            const double d = static_cast<double>(xr[l]) - mu;
            squares += d * d;
          }
        }
        const double var = squares / static_cast<double>(m);
        stats[c] = static_cast<float>(mu);
        stats[C + c] = static_cast<float>(1.0 / std::sqrt(var + n.eps));
        if (mode == BatchNormMode::kTrain) {
          const double unbiased = m > 1 ? squares / static_cast<double>(m - 1) : var;
          running_mean[c] =
              static_cast<float>((1.0 - n.momentum) * static_cast<double>(running_mean[c]) + n.momentum * mu);
          running_var[c] =
              static_cast<float>((1.0 - n.momentum) * static_cast<double>(running_var[c]) + n.momentum * unbiased);
        }
        mean = static_cast<double>(stats[c]);
        invstd = static_cast<double>(stats[C + c]);
      }
      const double g = static_cast<double>(gamma[c]), bt = static_cast<double>(beta[c]);
      for (int64_t b = 0; b < batch; ++b) {
        const float* xr = x + (b * C + c) * L;
        float* yr = y + (b * C + c) * L;
        for (int64_t l = 0; l < L; ++l) {
          yr[l] = static_cast<float>(g * ((static_cast<double>(xr[l]) - mean) * invstd) + bt);
        }
      }
    }
  });
}

void SequenceBackward(const planner::Node& n, int64_t batch, const float* dy, const float* x, const float* gamma,
                      const float* stats, float* dx, bool accumulate, float* dgamma, float* dbeta, int threads) {
  const int64_t C = n.out[0], L = n.out[1];
  const double m = static_cast<double>(batch * L);
  ParallelFor(C, 1, threads, [&](int64_t c0, int64_t c1, int) {
    for (int64_t c = c0; c < c1; ++c) {
      const double mean = static_cast<double>(stats[c]), invstd = static_cast<double>(stats[C + c]);
      double sum_dy = 0, sum_dy_xhat = 0;
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t base = (b * C + c) * L;
        for (int64_t l = 0; l < L; ++l) {
          const double d = static_cast<double>(dy[base + l]);
          sum_dy += d;
          sum_dy_xhat += d * (static_cast<double>(x[base + l]) - mean) * invstd;
        }
      }
      dgamma[c] = static_cast<float>(sum_dy_xhat);
      dbeta[c] = static_cast<float>(sum_dy);
      if (dx == nullptr) continue;
      const double scale = static_cast<double>(gamma[c]) * invstd;
      const double mean_dy = sum_dy / m, mean_dy_xhat = sum_dy_xhat / m;
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t base = (b * C + c) * L;
        for (int64_t l = 0; l < L; ++l) {
          const double xhat = (static_cast<double>(x[base + l]) - mean) * invstd;
          const double v = scale * (static_cast<double>(dy[base + l]) - mean_dy - xhat * mean_dy_xhat);
          dx[base + l] = static_cast<float>(accumulate ? static_cast<double>(dx[base + l]) + v : v);
        }
      }
    }
  });
}

}  // namespace

ChannelPeriod BatchNormPeriod(const planner::Node& n, int64_t batch) {
  SLIM_CHECK(!n.out.empty());
  const int64_t c = n.out[0];
  return ChannelPeriod(batch * (planner::NumElements(n.out) / c), c);
}

void BatchNormForward(const planner::Node& n, int64_t batch, BatchNormMode mode, const float* x,
                      const float* gamma, const float* beta, float* running_mean, float* running_var, float* y,
                      float* stats, int threads, Scratch* scratch) {
  if (n.out.size() == 2) {
    SequenceForward(n, batch, mode, x, gamma, beta, running_mean, running_var, y, stats, threads);
    return;
  }
  const ChannelPeriod cp = BatchNormPeriod(n, batch);
  const int64_t C = cp.channels, P = cp.period;
  const int64_t m = cp.elements / C;
  scratch->Reset();
  float* mean = scratch->Get<float>(P);
  float* scale = scratch->Get<float>(P);
  float* shift = scratch->Get<float>(P);
  if (mode == BatchNormMode::kInference) {
    Replicate(cp, mean, [&](int64_t c) { return running_mean[c]; });
    Replicate(cp, scale, [&](int64_t c) {
      return gamma[c] * static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + n.eps));
    });
  } else {
    // Pass 1: shifted sums per part, folded per channel.
    float* pivot = scratch->Get<float>(P);
    Replicate(cp, pivot, [&](int64_t c) { return x[c]; });
    const int max_parts = std::max(threads, 1);
    double* partial = scratch->Get<double>(2 * P * max_parts);
    const int parts = ParallelFor(cp.blocks, BlockGrain(cp), max_parts, [&](int64_t b0, int64_t b1, int p) {
      ShiftedSums(cp, x, pivot, b0, b1, partial + 2 * P * p, partial + 2 * P * p + P);
    });
    double* sum = scratch->Get<double>(C);
    double* squares = scratch->Get<double>(C);
    // Sums of the two arrays of each part: fold s (offset 0) and ss (offset P).
    FoldChannels(partial, parts, 2 * P, cp, sum);
    FoldChannels(partial + P, parts, 2 * P, cp, squares);
    for (int64_t c = 0; c < C; ++c) {
      const double d = sum[c] / static_cast<double>(m);
      const double var = std::max(0.0, squares[c] / static_cast<double>(m) - d * d);
      const double mu = static_cast<double>(x[c]) + d;
      stats[c] = static_cast<float>(mu);
      stats[C + c] = static_cast<float>(1.0 / std::sqrt(var + n.eps));
      if (mode == BatchNormMode::kTrain) {
        const double unbiased = m > 1 ? var * static_cast<double>(m) / static_cast<double>(m - 1) : var;
        running_mean[c] =
            static_cast<float>((1.0 - n.momentum) * static_cast<double>(running_mean[c]) + n.momentum * mu);
        running_var[c] =
            static_cast<float>((1.0 - n.momentum) * static_cast<double>(running_var[c]) + n.momentum * unbiased);
      }
    }
    Replicate(cp, mean, [&](int64_t c) { return stats[c]; });
    Replicate(cp, scale, [&](int64_t c) { return gamma[c] * stats[C + c]; });
  }
  Replicate(cp, shift, [&](int64_t c) { return beta[c]; });
  ParallelFor(cp.blocks, BlockGrain(cp), threads,
              [&](int64_t b0, int64_t b1, int) { Normalize(cp, x, mean, scale, shift, b0, b1, y); });
}

void BatchNormBackward(const planner::Node& n, int64_t batch, const float* dy, const float* x, const float* gamma,
                       const float* stats, float* dx, bool accumulate, float* dgamma, float* dbeta, int threads,
                       Scratch* scratch) {
  if (n.out.size() == 2) {
    SequenceBackward(n, batch, dy, x, gamma, stats, dx, accumulate, dgamma, dbeta, threads);
    return;
  }
  const ChannelPeriod cp = BatchNormPeriod(n, batch);
  const int64_t C = cp.channels, P = cp.period;
  const double m = static_cast<double>(cp.elements / C);
  scratch->Reset();
  float* mean = scratch->Get<float>(P);
  Replicate(cp, mean, [&](int64_t c) { return stats[c]; });
  const int max_parts = std::max(threads, 1);
  double* partial = scratch->Get<double>(2 * P * max_parts);
  const int parts = ParallelFor(cp.blocks, BlockGrain(cp), max_parts, [&](int64_t b0, int64_t b1, int p) {
    GradSums(cp, dy, x, mean, b0, b1, partial + 2 * P * p, partial + 2 * P * p + P);
  });
  double* sum_dy = scratch->Get<double>(C);
  double* sum_dy_xm = scratch->Get<double>(C);
  FoldChannels(partial, parts, 2 * P, cp, sum_dy);
  FoldChannels(partial + P, parts, 2 * P, cp, sum_dy_xm);
  float* scale = scratch->Get<float>(P);
  float* mean_dy = scratch->Get<float>(P);
  float* coef = scratch->Get<float>(P);
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = static_cast<double>(stats[C + c]);
    const double sum_dy_xhat = sum_dy_xm[c] * invstd;
    dgamma[c] = static_cast<float>(sum_dy_xhat);
    dbeta[c] = static_cast<float>(sum_dy[c]);
    // dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)), x̂ = (x − mean)·invstd.
    const double s = static_cast<double>(gamma[c]) * invstd;
    const float mdy = static_cast<float>(sum_dy[c] / m);
    const float k = static_cast<float>(s * invstd * sum_dy_xhat / m);
    for (int64_t j = c; j < P; j += C) {
      scale[j] = static_cast<float>(s);
      mean_dy[j] = mdy;
      coef[j] = k;
    }
  }
  if (dx == nullptr) return;  // the model input's batch norm: dγ and dβ only
  ParallelFor(cp.blocks, BlockGrain(cp), threads, [&](int64_t b0, int64_t b1, int) {
    ApplyGrad(cp, dy, x, mean, scale, mean_dy, coef, accumulate, b0, b1, dx);
  });
}

}  // namespace slimtrain::engine::cpu
