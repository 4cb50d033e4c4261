// tensor_view.h — a batched tensor as logical dims and strides over the
// engine's memory, and the element functions of the ops that only move,
// broadcast, reduce or combine elements (reshape, squeeze, unsqueeze,
// transpose, slice, concat on any axis, reduce_mean/sum, and mul, sub, div,
// add with broadcasting).
//
// A TensorView's dims are logical and batch first, as PyTorch sees the
// tensor ((N,C,H,W), (N,L,D), ...); its strides say where each logical axis
// lies in memory (backend.h's layouts: an image (C,H,W) is stored (N,H,W,C),
// so its channel stride is 1). A stride of 0 broadcasts an axis. Element k of
// a view is the k-th in row-major order of its dims; two views of the same
// element count walked "in lockstep" pair their k-th elements, which is how
// a reshape pairs input and output.
//
//   TensorView x = ActivationView(node.input_dims[0], batch);  // backend.h
//   for (int64_t k = 0; k < x.count(); ++k) value = xs[x.At(k)];
//
// Everything here is plain data and SLIM_HD functions: the reference
// backend loops over them in double, the fast CPU backend in threads, the
// CUDA kernels one element per thread, so all three compute the same thing.
#ifndef SLIMTRAIN_ENGINE_TENSOR_VIEW_H_
#define SLIMTRAIN_ENGINE_TENSOR_VIEW_H_

#include <cstdint>

#include "engine/host_device.h"

namespace slimtrain::engine {

inline constexpr int kMaxViewRank = 4;  // batched: N and up to 3 axes

struct TensorView {
  int rank = 0;
  int64_t dims[kMaxViewRank] = {1, 1, 1, 1};
  int64_t strides[kMaxViewRank] = {0, 0, 0, 0};  // in elements
  int64_t offset = 0;                            // of element 0, in elements

  SLIM_HD int64_t count() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[i];
    return n;
  }
  // Memory index of element k (row-major over dims).
  SLIM_HD int64_t At(int64_t k) const {
    int64_t at = offset;
    for (int i = rank - 1; i >= 0; --i) {
      at += (k % dims[i]) * strides[i];
      k /= dims[i];
    }
    return at;
  }
};

// The elementwise ops with broadcasting.
enum class BinaryOp : int32_t { kAdd, kSub, kMul, kDiv };

namespace view {

template <typename C>
SLIM_HD inline C Apply(BinaryOp op, C a, C b) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;
  }
  return a;
}

// ∂op(a, b)/∂a (index 0) or ∂b (index 1).
template <typename C>
SLIM_HD inline C Partial(BinaryOp op, int index, C a, C b) {
  switch (op) {
    case BinaryOp::kAdd: return C(1);
    case BinaryOp::kSub: return index == 0 ? C(1) : C(-1);
    case BinaryOp::kMul: return index == 0 ? b : a;
    case BinaryOp::kDiv: return index == 0 ? C(1) / b : -a / (b * b);
  }
  return C(0);
}

// Sum over the elements of `full` (dims D) that project onto element j of
// `part` (dims D with 1 on the reduced axes) of f(k), k the element's index
// in `full`; the order is row-major over the reduced axes, fixed.
template <typename C, typename F>
SLIM_HD inline C SumOver(const TensorView& full, const TensorView& part, int64_t j, const F& f) {
  int64_t base[kMaxViewRank] = {0, 0, 0, 0};  // j's logical index
  int64_t rest = j;
  for (int i = part.rank - 1; i >= 0; --i) {
    base[i] = rest % part.dims[i];
    rest /= part.dims[i];
  }
  int64_t reduced = 1;
  for (int i = 0; i < full.rank; ++i) {
    if (part.dims[i] != full.dims[i]) reduced *= full.dims[i];
  }
  C sum = C(0);
  for (int64_t t = 0; t < reduced; ++t) {
    int64_t idx[kMaxViewRank];
    int64_t r = t;
    for (int i = full.rank - 1; i >= 0; --i) {
      if (part.dims[i] != full.dims[i]) {
        idx[i] = r % full.dims[i];
        r /= full.dims[i];
      } else {
        idx[i] = base[i];
      }
    }
    int64_t k = 0;
    for (int i = 0; i < full.rank; ++i) k = k * full.dims[i] + idx[i];
    sum += f(k);
  }
  return sum;
}

}  // namespace view
}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_TENSOR_VIEW_H_
