// The reference backend's view kernels (reference_kernels.h): strided
// copies, reductions and broadcast binary ops, element by element through
// engine/tensor_view.h, every sum in double and rounded to T once.
#include <cstdint>

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

#define SLIM_REFERENCE_VIEWS(T)                                                                                 \
  template void StridedCopy<T>(const TensorView&, const T*, const TensorView&, T*, double, bool);               \
  template void Reduce<T>(const TensorView&, const T*, const TensorView&, T*, double, bool);                    \
  template void BinaryForward<T>(BinaryOp, const TensorView&, const T*, const TensorView&, const T*,           \
                                 const TensorView&, T*);                                                        \
  template void BinaryBackward<T>(BinaryOp, int, const TensorView&, const T*, const TensorView&, const T*,     \
                                  const TensorView&, const T*, const TensorView&, T*, bool);
SLIM_REFERENCE_VIEWS(float)
SLIM_REFERENCE_VIEWS(double)
#undef SLIM_REFERENCE_VIEWS

}  // namespace slimtrain::engine::reference
