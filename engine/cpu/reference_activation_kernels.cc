// The reference pointwise activations and softmaxes (reference_kernels.h):
// engine/pointwise_math.h evaluated in double, and softmax lines summed in
// double, each result rounded to T once.
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/reference_kernels.h"
#include "engine/cpu/reference_store.h"
#include "engine/pointwise_math.h"

namespace slimtrain::engine::reference {

using planner::Node;
using planner::OpKind;

template <typename T>
void PointwiseForward(const Node& n, int64_t count, const T* x, T* y) {
  const PointwiseFn f = PointwiseFnOf(n);
  for (int64_t i = 0; i < count; ++i) y[i] = static_cast<T>(pointwise::Value<double>(f, x[i]));
}

template <typename T>
void PointwiseBackward(const Node& n, int64_t count, const T* saved, const T* dy, T* dx, bool accumulate) {
  const PointwiseFn f = PointwiseFnOf(n);
  for (int64_t i = 0; i < count; ++i) {
    // Read both sources before the (possibly aliased) destination is written.
    const double s = f.op == PointwiseOp::kScale ? 0.0 : static_cast<double>(saved[i]);  // scale reads nothing
    const double g = static_cast<double>(dy[i]) * pointwise::Derivative<double>(f, s);
    Store(&dx[i], g, accumulate);
  }
}

template <typename T>
void SoftmaxForward(const Node& n, int64_t batch, const T* x, T* y) {
  const AxisSpan s = PhysicalAxis(n.out, n.axis, batch);
  const bool log = n.kind == OpKind::kLogSoftmax;
  std::vector<double> line(s.size);
  for (int64_t o = 0; o < s.outer; ++o) {
    // A causal softmax's line o is row o mod L of an (L, L) block (the row
    // axis is outside the softmax axis in either layout): it keeps j <= row.
    const int64_t valid = n.causal ? o % s.size + 1 : s.size;
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t base = o * s.size * s.inner + i;
      double max = -INFINITY;
      for (int64_t j = 0; j < valid; ++j) {
        line[j] = static_cast<double>(x[base + j * s.inner]);
        max = std::fmax(max, line[j]);
      }
      // A line of -inf stays NaN-free only if max is finite; PyTorch gives
      // NaN there too.
      double sum = 0;
      for (int64_t j = 0; j < valid; ++j) sum += std::exp(line[j] - max);
      const double log_sum = max + std::log(sum);
      for (int64_t j = 0; j < s.size; ++j) {
        y[base + j * s.inner] = j >= valid ? T(0) : static_cast<T>(log ? line[j] - log_sum : std::exp(line[j] - log_sum));
      }
    }
  }
}

template <typename T>
void SoftmaxBackward(const Node& n, int64_t batch, const T* y, const T* dy, T* dx, bool accumulate) {
  const AxisSpan s = PhysicalAxis(n.out, n.axis, batch);
  const bool log = n.kind == OpKind::kLogSoftmax;
  std::vector<double> yl(s.size), dyl(s.size);
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t base = o * s.size * s.inner + i;
      double dot = 0;  // softmax: Σ dy·y; log_softmax: Σ dy
      for (int64_t j = 0; j < s.size; ++j) {
        yl[j] = static_cast<double>(y[base + j * s.inner]);
        dyl[j] = static_cast<double>(dy[base + j * s.inner]);
        dot += log ? dyl[j] : dyl[j] * yl[j];
      }
      for (int64_t j = 0; j < s.size; ++j) {
        const double g = log ? dyl[j] - std::exp(yl[j]) * dot : yl[j] * (dyl[j] - dot);
        Store(&dx[base + j * s.inner], g, accumulate);
      }
    }
  }
}

#define SLIM_REFERENCE_ACTIVATIONS(T)                                                         \
  template void PointwiseForward<T>(const Node&, int64_t, const T*, T*);                      \
  template void PointwiseBackward<T>(const Node&, int64_t, const T*, const T*, T*, bool);     \
  template void SoftmaxForward<T>(const Node&, int64_t, const T*, T*);                        \
  template void SoftmaxBackward<T>(const Node&, int64_t, const T*, const T*, T*, bool);
SLIM_REFERENCE_ACTIVATIONS(float)
SLIM_REFERENCE_ACTIVATIONS(double)
#undef SLIM_REFERENCE_ACTIVATIONS

}  // namespace slimtrain::engine::reference
