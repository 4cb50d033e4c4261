// The reference backend's view kernels (reference_kernels.h): strided
// copies, reductions and broadcast binary ops, element by element through
// engine/tensor_view.h, every sum in double and rounded to T once.
#include <cstdint>

#include "engine/backend.h"
#include "engine/cpu/reference_kernels.h"
#include "engine/cpu/reference_store.h"
#include "engine/tensor_view.h"

namespace slimtrain::engine::reference {

template <typename T>
void StridedCopy(const TensorView& src, const T* x, const TensorView& dst, T* y, double scale, bool accumulate) {
  const int64_t count = dst.count();
  for (int64_t k = 0; k < count; ++k) Store(&y[dst.At(k)], scale * static_cast<double>(x[src.At(k)]), accumulate);
}

template <typename T>
void Reduce(const TensorView& src, const T* x, const TensorView& dst, T* y, double scale, bool accumulate) {
  const int64_t count = dst.count();
  for (int64_t j = 0; j < count; ++j) {
    const double sum =
        view::SumOver<double>(src, dst, j, [&](int64_t k) { return static_cast<double>(x[src.At(k)]); });
    Store(&y[dst.At(j)], scale * sum, accumulate);
  }
}

template <typename T>
void BinaryForward(BinaryOp op, const TensorView& a, const T* a_data, const TensorView& b, const T* b_data,
                   const TensorView& y, T* y_data) {
  const int64_t count = y.count();
  for (int64_t k = 0; k < count; ++k) {
    const double v = view::Apply<double>(op, a_data[a.At(k)], b_data[b.At(k)]);
    y_data[y.At(k)] = static_cast<T>(v);
  }
}

template <typename T>
void BinaryBackward(BinaryOp op, int index, const TensorView& a, const T* a_data, const TensorView& b,
                    const T* b_data, const TensorView& dy, const T* dy_data, const TensorView& d, T* d_data,
                    bool accumulate) {
  const bool reads_a = (op == BinaryOp::kMul || op == BinaryOp::kDiv) && index == 1;
  const bool reads_b = (op == BinaryOp::kMul && index == 0) || op == BinaryOp::kDiv;
  const int64_t count = d.count();
  for (int64_t j = 0; j < count; ++j) {
    const double sum = view::SumOver<double>(dy, d, j, [&](int64_t k) {
      const double av = reads_a ? static_cast<double>(a_data[a.At(k)]) : 0.0;
      const double bv = reads_b ? static_cast<double>(b_data[b.At(k)]) : 0.0;
      return static_cast<double>(dy_data[dy.At(k)]) * view::Partial<double>(op, index, av, bv);
    });
    Store(&d_data[d.At(j)], sum, accumulate);
  }
}

template <typename T>
void MatMul(const TensorView& a, const T* a_data, const TensorView& b, const T* b_data, const TensorView& y, T* y_data,
            bool accumulate) {
  const int64_t n = y.dims[0], h = y.dims[1], m = y.dims[2], p = y.dims[3], k = a.dims[3];
  for (int64_t i0 = 0; i0 < n; ++i0) {
    for (int64_t i1 = 0; i1 < h; ++i1) {
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t c = 0; c < p; ++c) {
          double sum = 0;
          for (int64_t t = 0; t < k; ++t) {
            sum += static_cast<double>(a_data[a.offset + i0 * a.strides[0] + i1 * a.strides[1] + r * a.strides[2] +
                                              t * a.strides[3]]) *
                   static_cast<double>(b_data[b.offset + i0 * b.strides[0] + i1 * b.strides[1] + t * b.strides[2] +
                                              c * b.strides[3]]);
          }
          Store(&y_data[y.offset + i0 * y.strides[0] + i1 * y.strides[1] + r * y.strides[2] + c * y.strides[3]], sum,
                accumulate);
        }
      }
    }
  }
}

template <typename T>
void EmbeddingForward(const planner::Node& n, int64_t batch, const T* ids, const T* table, T* y) {
  const int64_t tokens = batch * n.out[0], d = n.out_features;
  for (int64_t t = 0; t < tokens; ++t) {
    const int64_t id = static_cast<int64_t>(ids[t]);
    for (int64_t c = 0; c < d; ++c) y[t * d + c] = table[id * d + c];
  }
}

template <typename T>
void EmbeddingBackward(const planner::Node& n, int64_t batch, const T* ids, const T* dy, T* dtable, bool accumulate) {
  const int64_t tokens = batch * n.out[0], d = n.out_features;
  // Gather per table row: the positions holding its id, in order.
  for (int64_t id = 0; id < n.vocabulary; ++id) {
    for (int64_t c = 0; c < d; ++c) {
      double sum = 0;
      for (int64_t t = 0; t < tokens; ++t) {
        if (static_cast<int64_t>(ids[t]) == id) sum += static_cast<double>(dy[t * d + c]);
      }
      Store(&dtable[id * d + c], sum, accumulate);
    }
  }
}

namespace {

// Calls fn(index, b, i, j, c) for every element of an (N,rows,cols,C)
// tensor, in memory order: the element-by-element ops of pool_math.h.
template <typename Fn>
void EachNhwc(int64_t batch, int64_t rows, int64_t cols, int64_t channels, Fn fn) {
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        for (int64_t c = 0; c < channels; ++c) fn(((b * rows + i) * cols + j) * channels + c, b, i, j, c);
      }
    }
  }
}

}  // namespace

template <typename T>
void AdaptiveAvgPoolForward(const planner::Node& n, int64_t batch, const T* x, T* y) {
  const pool::Adaptive g = AdaptiveOf(n);
  EachNhwc(batch, g.oh, g.ow, g.c, [&](int64_t at, int64_t b, int64_t i, int64_t j, int64_t c) {
    y[at] = static_cast<T>(pool::AdaptiveAvg(g, x, b, i, j, c));
  });
}

template <typename T>
void AdaptiveAvgPoolBackward(const planner::Node& n, int64_t batch, const T* dy, T* dx, bool accumulate) {
  const pool::Adaptive g = AdaptiveOf(n);
  EachNhwc(batch, g.h, g.w, g.c, [&](int64_t at, int64_t b, int64_t h, int64_t w, int64_t c) {
    Store(&dx[at], pool::AdaptiveAvgGrad(g, dy, b, h, w, c), accumulate);
  });
}

template <typename T>
void UpsampleForward(const planner::Node& n, int64_t batch, const T* x, T* y) {
  const pool::Upsample g = UpsampleOf(n);
  EachNhwc(batch, g.oh, g.ow, g.c, [&](int64_t at, int64_t b, int64_t i, int64_t j, int64_t c) {
    y[at] = static_cast<T>(pool::UpsampleAt(g, x, b, i, j, c));
  });
}

template <typename T>
void UpsampleBackward(const planner::Node& n, int64_t batch, const T* dy, T* dx, bool accumulate) {
  const pool::Upsample g = UpsampleOf(n);
  EachNhwc(batch, g.h, g.w, g.c, [&](int64_t at, int64_t b, int64_t h, int64_t w, int64_t c) {
    Store(&dx[at], pool::UpsampleGrad(g, dy, b, h, w, c), accumulate);
  });
}

#define SLIM_REFERENCE_VIEWS(T)                                                                                 \
  template void StridedCopy<T>(const TensorView&, const T*, const TensorView&, T*, double, bool);               \
  template void Reduce<T>(const TensorView&, const T*, const TensorView&, T*, double, bool);                    \
  template void BinaryForward<T>(BinaryOp, const TensorView&, const T*, const TensorView&, const T*,           \
                                 const TensorView&, T*);                                                        \
  template void BinaryBackward<T>(BinaryOp, int, const TensorView&, const T*, const TensorView&, const T*,     \
                                  const TensorView&, const T*, const TensorView&, T*, bool);                   \
  template void MatMul<T>(const TensorView&, const T*, const TensorView&, const T*, const TensorView&, T*, bool); \
  template void EmbeddingForward<T>(const planner::Node&, int64_t, const T*, const T*, T*);                    \
  template void EmbeddingBackward<T>(const planner::Node&, int64_t, const T*, const T*, T*, bool);                   \
  template void AdaptiveAvgPoolForward<T>(const planner::Node&, int64_t, const T*, T*);                        \
  template void AdaptiveAvgPoolBackward<T>(const planner::Node&, int64_t, const T*, T*, bool);                 \
  template void UpsampleForward<T>(const planner::Node&, int64_t, const T*, T*);                               \
  template void UpsampleBackward<T>(const planner::Node&, int64_t, const T*, T*, bool);
SLIM_REFERENCE_VIEWS(float)
SLIM_REFERENCE_VIEWS(double)
#undef SLIM_REFERENCE_VIEWS

}  // namespace slimtrain::engine::reference
