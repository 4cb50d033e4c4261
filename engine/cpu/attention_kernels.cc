// See attention_kernels.h.
#include "engine/cpu/attention_kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/cpu/parallel.h"
#include "engine/cpu/vector_math.h"

namespace slimtrain::engine::cpu {
namespace {

using planner::Node;

struct Shape {
  int64_t lq, lk, d, heads, dh;
};

Shape ShapeOf(const Node& n) {
  return {n.input_dims[0][0], n.input_dims[1][0], n.input_dims[0][1], n.heads, n.input_dims[0][1] / n.heads};
}

SLIM_VECTOR_CLONES float Dot(const float* a, const float* b, int64_t n) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y += a·x over n elements.
SLIM_VECTOR_CLONES void Axpy(float a, const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace

int64_t AttentionWorkspaceFloats(const Node& n, planner::Pass pass, int threads) {
  const int64_t lk = n.input_dims[1][0];
  return static_cast<int64_t>(std::max(threads, 1)) * (pass == planner::Pass::kForward ? lk : 2 * lk);
}

void AttentionForward(const Node& n, int64_t batch, const float* q, const float* k, const float* v, float* out,
                      float* lse, float* workspace, int threads) {
  const Shape s = ShapeOf(n);
  const float scale = static_cast<float>(n.attention_scale);
  ParallelFor(batch * s.heads, 1, threads, [&](int64_t begin, int64_t end, int part) {
    float* p = workspace + part * s.lk;
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / s.heads, h = bh % s.heads;
      const float* kh = k + b * s.lk * s.d + h * s.dh;
      const float* vh = v + b * s.lk * s.d + h * s.dh;
      for (int64_t i = 0; i < s.lq; ++i) {
        const float* qi = q + (b * s.lq + i) * s.d + h * s.dh;
        const int64_t keys = n.causal ? i + 1 : s.lk;
        float max = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < keys; ++j) {
          p[j] = Dot(qi, kh + j * s.d, s.dh) * scale;
          max = std::max(max, p[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < keys; ++j) {
          p[j] = Exp(p[j] - max);
          sum += p[j];
        }
        lse[bh * s.lq + i] = static_cast<float>(max + std::log(sum));
        const float inv = static_cast<float>(1.0 / sum);
        float* oi = out + (b * s.lq + i) * s.d + h * s.dh;
        std::fill(oi, oi + s.dh, 0.0f);
        for (int64_t j = 0; j < keys; ++j) Axpy(p[j] * inv, vh + j * s.d, oi, s.dh);
      }
    }
  });
}

void AttentionBackward(const Node& n, int64_t batch, const float* q, const float* k, const float* v,
                       const float* out, const float* lse, const float* dout, float* dq, float* dk, float* dv,
                       const bool* accumulate, float* workspace, int threads) {
  const Shape s = ShapeOf(n);
  const float scale = static_cast<float>(n.attention_scale);
  ParallelFor(batch * s.heads, 1, threads, [&](int64_t begin, int64_t end, int part) {
    float* p = workspace + part * 2 * s.lk;
    float* ds = p + s.lk;
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / s.heads, h = bh % s.heads;
      const int64_t head = h * s.dh;
      // This thread owns the head's columns of dk and dv: start them at 0
      // unless they accumulate.
      for (int64_t j = 0; j < s.lk; ++j) {
        if (dk != nullptr && !accumulate[1]) std::fill_n(dk + (b * s.lk + j) * s.d + head, s.dh, 0.0f);
        if (dv != nullptr && !accumulate[2]) std::fill_n(dv + (b * s.lk + j) * s.d + head, s.dh, 0.0f);
      }
      for (int64_t i = 0; i < s.lq; ++i) {
        const int64_t row = (b * s.lq + i) * s.d + head;
        const float* qi = q + row;
        const float* doi = dout + row;
        const float delta = Dot(doi, out + row, s.dh);
        const float l = lse[bh * s.lq + i];
        const int64_t keys = n.causal ? i + 1 : s.lk;
        for (int64_t j = 0; j < keys; ++j) {
          const int64_t col = (b * s.lk + j) * s.d + head;
          p[j] = Exp(Dot(qi, k + col, s.dh) * scale - l);
          ds[j] = p[j] * (Dot(doi, v + col, s.dh) - delta);
        }
        if (dq != nullptr) {
          float* dqi = dq + row;
          if (!accumulate[0]) std::fill_n(dqi, s.dh, 0.0f);
          for (int64_t j = 0; j < keys; ++j) Axpy(ds[j] * scale, k + (b * s.lk + j) * s.d + head, dqi, s.dh);
        }
        for (int64_t j = 0; j < keys; ++j) {
          const int64_t col = (b * s.lk + j) * s.d + head;
          if (dk != nullptr) Axpy(ds[j] * scale, qi, dk + col, s.dh);
          if (dv != nullptr) Axpy(p[j], doi, dv + col, s.dh);
        }
      }
    }
  });
}

}  // namespace slimtrain::engine::cpu
