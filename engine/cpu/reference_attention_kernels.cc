// The reference fused attention (reference_kernels.h): every score,
// probability and sum in double, straight from the definition, per example,
// head and query row; the backward recomputes the probabilities from the
// saved log-sum-exp and gathers dk and dv over the query rows.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/cpu/reference_kernels.h"
#include "engine/cpu/reference_store.h"

namespace slimtrain::engine::reference {

using planner::Node;

namespace {

struct Shape {
  int64_t lq, lk, d, heads, dh;
};

Shape ShapeOf(const Node& n) {
  return {n.input_dims[0][0], n.input_dims[1][0], n.input_dims[0][1], n.heads, n.input_dims[0][1] / n.heads};
}

// Scaled score of query i and key j of head h of example b, or -inf where
// the causal mask hides key j.
template <typename T>
double Score(const Node& n, const Shape& s, const T* q, const T* k, int64_t b, int64_t h, int64_t i, int64_t j) {
  if (n.causal && j > i) return -std::numeric_limits<double>::infinity();
  double dot = 0;
  for (int64_t c = 0; c < s.dh; ++c) {
    dot += static_cast<double>(q[(b * s.lq + i) * s.d + h * s.dh + c]) *
           static_cast<double>(k[(b * s.lk + j) * s.d + h * s.dh + c]);
  }
  return dot * n.attention_scale;
}

}  // namespace

template <typename T>
void AttentionForward(const Node& n, int64_t batch, const T* q, const T* k, const T* v, T* out, T* lse) {
  const Shape s = ShapeOf(n);
  std::vector<double> p(s.lk);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < s.heads; ++h) {
      for (int64_t i = 0; i < s.lq; ++i) {
        double max = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < s.lk; ++j) {
          p[j] = Score(n, s, q, k, b, h, i, j);
          max = std::fmax(max, p[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < s.lk; ++j) sum += std::exp(p[j] - max);
        const T l = static_cast<T>(max + std::log(sum));
        lse[(b * s.heads + h) * s.lq + i] = l;
        for (int64_t c = 0; c < s.dh; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < s.lk; ++j) {
            acc += std::exp(p[j] - static_cast<double>(l)) * static_cast<double>(v[(b * s.lk + j) * s.d + h * s.dh + c]);
          }
          out[(b * s.lq + i) * s.d + h * s.dh + c] = static_cast<T>(acc);
        }
      }
    }
  }
}

template <typename T>
void AttentionBackward(const Node& n, int64_t batch, const T* q, const T* k, const T* v, const T* out, const T* lse,
                       const T* dout, T* dq, T* dk, T* dv, const bool* accumulate) {
  const Shape s = ShapeOf(n);
  auto at_q = [&](int64_t b, int64_t i, int64_t h, int64_t c) { return (b * s.lq + i) * s.d + h * s.dh + c; };
  auto at_k = [&](int64_t b, int64_t j, int64_t h, int64_t c) { return (b * s.lk + j) * s.d + h * s.dh + c; };
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < s.heads; ++h) {
      // P (lq, lk) and dS = P ⊙ (dP − Σ_c dO·O) for this head, in double.
      std::vector<double> p(s.lq * s.lk), ds(s.lq * s.lk);
      for (int64_t i = 0; i < s.lq; ++i) {
        const double l = static_cast<double>(lse[(b * s.heads + h) * s.lq + i]);
        double delta = 0;
        for (int64_t c = 0; c < s.dh; ++c) {
          delta += static_cast<double>(dout[at_q(b, i, h, c)]) * static_cast<double>(out[at_q(b, i, h, c)]);
        }
        for (int64_t j = 0; j < s.lk; ++j) {
          const double pij = std::exp(Score(n, s, q, k, b, h, i, j) - l);
          double dp = 0;
          for (int64_t c = 0; c < s.dh; ++c) {
            dp += static_cast<double>(dout[at_q(b, i, h, c)]) * static_cast<double>(v[at_k(b, j, h, c)]);
          }
          p[i * s.lk + j] = pij;
          ds[i * s.lk + j] = pij * (dp - delta);
        }
      }
      for (int64_t c = 0; c < s.dh; ++c) {
        if (dq != nullptr) {
          for (int64_t i = 0; i < s.lq; ++i) {
            double acc = 0;
            for (int64_t j = 0; j < s.lk; ++j) acc += ds[i * s.lk + j] * static_cast<double>(k[at_k(b, j, h, c)]);
            Store(&dq[at_q(b, i, h, c)], acc * n.attention_scale, accumulate[0]);
          }
        }
        for (int64_t j = 0; j < s.lk; ++j) {
          double gk = 0, gv = 0;
          for (int64_t i = 0; i < s.lq; ++i) {
            gk += ds[i * s.lk + j] * static_cast<double>(q[at_q(b, i, h, c)]);
            gv += p[i * s.lk + j] * static_cast<double>(dout[at_q(b, i, h, c)]);
          }
          if (dk != nullptr) Store(&dk[at_k(b, j, h, c)], gk * n.attention_scale, accumulate[1]);
          if (dv != nullptr) Store(&dv[at_k(b, j, h, c)], gv, accumulate[2]);
        }
      }
    }
  }
}

#define SLIM_REFERENCE_ATTENTION(T)                                                                       \
  template void AttentionForward<T>(const Node&, int64_t, const T*, const T*, const T*, T*, T*);          \
  template void AttentionBackward<T>(const Node&, int64_t, const T*, const T*, const T*, const T*,        \
                                     const T*, const T*, T*, T*, T*, const bool*);
SLIM_REFERENCE_ATTENTION(float)
SLIM_REFERENCE_ATTENTION(double)
#undef SLIM_REFERENCE_ATTENTION

}  // namespace slimtrain::engine::reference
