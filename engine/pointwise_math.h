// pointwise_math.h — the pointwise activations (planner::IsPointwise), one
// element at a time: the definition every backend's kernels follow.
//
// The reference backend evaluates these in double; the CUDA kernels run this
// very code in the element type (SLIM_HD, engine/host_device.h); the fast CPU
// kernels (engine/cpu/vector_kernels.cc) are vectorised rewrites tested
// against it. Formulas and gradients are PyTorch's (torch.nn.functional),
// including which side of a kink takes which slope:
//
//   op           f(x)                                   f'(x) from `saved`
//   clip         min(max(x, lo), hi)                    1 where lo < y < hi, else 0 (y)
//   leaky_relu   x > 0 ? x : a·x                        y > 0 ? 1 : a   (y, a >= 0)
//                                                       x > 0 ? 1 : a   (x, a < 0)
//   elu          x > 0 ? x : a·(e^x − 1)                y > 0 ? 1 : y + a (y, a >= 0)
//                                                       x > 0 ? 1 : a·e^x (x, a < 0)
//   gelu (erf)   x·Φ(x), Φ(x) = (1 + erf(x/√2))/2       Φ(x) + x·φ(x)  (x)
//   gelu (tanh)  x/2·(1 + tanh(u)),                     (1 + t)/2 + x/2·(1 − t²)·u'  (x)
//                u = √(2/π)(x + 0.044715x³), t = tanh(u)
//   silu         x·σ(x)                                 σ(x)·(1 + x·(1 − σ(x)))  (x)
//   hardswish    x·min(max(x + 3, 0), 6)/6              x < −3: 0; x <= 3: x/3 + 1/2; else 1 (x)
//   hardsigmoid  min(max(x/6 + 1/2, 0), 1)              1/6 where 0 < y < 1, else 0 (y)
//   softplus     β·x > t ? x : log(1 + e^(β·x))/β       β·x > t ? 1 : σ(β·x)  (x)
//   scale        a·x                                    a  (reads nothing)
//
// (y: the op's output is saved for backward; x: its input;
// planner::BackwardReadsOutput decides, and PointwiseFn::from_output carries
// it.) relu6 is clip with lo = 0, hi = 6.
#ifndef SLIMTRAIN_ENGINE_POINTWISE_MATH_H_
#define SLIMTRAIN_ENGINE_POINTWISE_MATH_H_

#include <cmath>
#include <cstdint>

#include "engine/host_device.h"

namespace slimtrain::engine {

enum class PointwiseOp : int32_t {
  kClip,         // a = lo, b = hi (±inf when unbounded)
  kLeakyRelu,    // a = negative slope
  kElu,          // a = alpha
  kGeluErf,
  kGeluTanh,
  kSilu,
  kHardswish,
  kHardsigmoid,
  kSoftplus,     // a = beta, b = threshold
  kScale,        // a = the factor; backward reads nothing (saved unused)
};

// One pointwise op with its attributes, plain data (it is passed to CUDA
// kernels by value).
struct PointwiseFn {
  PointwiseOp op = PointwiseOp::kClip;
  double a = 0, b = 0;
  bool from_output = false;  // backward's `saved` is y, not x
};

namespace pointwise {

// The computation type C is double in the reference backend and the element
// type on the GPU.
template <typename C>
SLIM_HD inline C Sigmoid(C x) {
  // Never exp of a large positive number: e^{-|x|} is in (0, 1].
  const C e = std::exp(-std::fabs(x));
  return (x >= C(0) ? C(1) : e) / (C(1) + e);
}

template <typename C>
SLIM_HD inline C Value(const PointwiseFn& f, C x) {
  const C a = static_cast<C>(f.a), b = static_cast<C>(f.b);
  switch (f.op) {
    case PointwiseOp::kClip:
      return x < a ? a : (x > b ? b : x);
    case PointwiseOp::kLeakyRelu:
      return x > C(0) ? x : a * x;
    case PointwiseOp::kElu:
      return x > C(0) ? x : a * std::expm1(x);
    case PointwiseOp::kGeluErf:
      return C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752440)));
    case PointwiseOp::kGeluTanh: {
      const C u = C(0.79788456080286535588) * (x + C(0.044715) * x * x * x);
      return C(0.5) * x * (C(1) + std::tanh(u));
    }
    case PointwiseOp::kSilu:
      return x * Sigmoid(x);
    case PointwiseOp::kHardswish: {
      const C r = x + C(3);
      return x * (r < C(0) ? C(0) : (r > C(6) ? C(6) : r)) / C(6);
    }
    case PointwiseOp::kHardsigmoid: {
      const C v = x / C(6) + C(0.5);
      return v < C(0) ? C(0) : (v > C(1) ? C(1) : v);
    }
    case PointwiseOp::kSoftplus: {
      const C bx = a * x;
      // log(1 + e^z) = max(z, 0) + log1p(e^{-|z|}), without overflow.
      return bx > b ? x : ((bx > C(0) ? bx : C(0)) + std::log1p(std::exp(-std::fabs(bx)))) / a;
    }
    case PointwiseOp::kScale:
      return a * x;
  }
  return x;
}

// f'(x), from `saved`: the output y when f.from_output, else the input x.
template <typename C>
SLIM_HD inline C Derivative(const PointwiseFn& f, C s) {
  const C a = static_cast<C>(f.a), b = static_cast<C>(f.b);
  switch (f.op) {
    case PointwiseOp::kClip:  // from y
      return s > a && s < b ? C(1) : C(0);
    case PointwiseOp::kLeakyRelu:  // the sign of y is x's when a >= 0
      return s > C(0) ? C(1) : a;
    case PointwiseOp::kElu:
      if (s > C(0)) return C(1);
      return f.from_output ? s + a : a * std::exp(s);
    case PointwiseOp::kGeluErf: {
      const C cdf = C(0.5) * (C(1) + std::erf(s * C(0.70710678118654752440)));
      const C pdf = C(0.39894228040143267794) * std::exp(C(-0.5) * s * s);
      return cdf + s * pdf;
    }
    case PointwiseOp::kGeluTanh: {
      const C k = C(0.79788456080286535588);
      const C t = std::tanh(k * (s + C(0.044715) * s * s * s));
      const C du = k * (C(1) + C(3) * C(0.044715) * s * s);
      return C(0.5) * (C(1) + t) + C(0.5) * s * (C(1) - t * t) * du;
    }
    case PointwiseOp::kSilu: {
      const C sg = Sigmoid(s);
      return sg * (C(1) + s * (C(1) - sg));
    }
    case PointwiseOp::kHardswish:
      return s < C(-3) ? C(0) : (s <= C(3) ? s / C(3) + C(0.5) : C(1));
    case PointwiseOp::kHardsigmoid:  // from y
      return s > C(0) && s < C(1) ? C(1) / C(6) : C(0);
    case PointwiseOp::kSoftplus: {
      const C bx = a * s;
      return bx > b ? C(1) : Sigmoid(bx);
    }
    case PointwiseOp::kScale:
      return a;
  }
  return C(1);
}

}  // namespace pointwise
}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_POINTWISE_MATH_H_
