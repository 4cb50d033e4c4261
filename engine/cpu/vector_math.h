// vector_math.h — float math for the fast CPU kernels' vectorised loops
// (private to engine/cpu): polynomial and rational approximations made of
// arithmetic and selects only, so GCC vectorises the loops that call them
// (glibc's expf, erff, log1pf are calls it keeps scalar). Each is tested
// against the double-precision library function in fast_backend_ops_test.
#ifndef SLIMTRAIN_ENGINE_CPU_VECTOR_MATH_H_
#define SLIMTRAIN_ENGINE_CPU_VECTOR_MATH_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace slimtrain::engine::cpu {

// e^x in float, Cephes' expf: x = n·ln2 + r with |r| <= ln2/2, a degree-6
// polynomial for e^r, 2^n by the exponent bits. Relative error about 2 ulp;
// x is clamped to [−87.3, 88.3] (results below e^−87.3 are not needed by
// the callers, which treat them as 0).
inline float Exp(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// tanh in float, Cephes' tanhf: an odd polynomial below 0.625, else
// 1 − 2/(e^{2|x|} + 1) with the sign restored.
inline float Tanh(float x) {
  const float a = std::fabs(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float big = 1.0f - 2.0f / (Exp(2.0f * a) + 1.0f);
  return a < 0.625f ? small : (x < 0 ? -big : big);
}

// erf in float, Abramowitz and Stegun 7.1.26: for a = |x|,
// erf(a) = 1 − (a1 t + a2 t² + a3 t³ + a4 t⁴ + a5 t⁵)·e^{−a²}, t = 1/(1 + p a);
// absolute error 1.5e-7 in exact arithmetic, below 5e-7 in float (measured
// in fast_backend_test), the sign restored.
inline float Erf(float x) {
  const float a = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float r = 1.0f - p * t * Exp(-a * a);
  return x < 0 ? -r : r;
}

// log(1 + e) for e in [0, 1], from the series
// log(1 + e) = 2·atanh(s), s = e / (2 + e) in [0, 1/3], to s^15 (error
// below 1e-8); accurate for tiny e, where 1 + e would round to 1.
inline float Log1pUnit(float e) {
  const float s = e / (2.0f + e);
  const float z = s * s;
  float p = 1.0f / 15;
  p = p * z + 1.0f / 13;
  p = p * z + 1.0f / 11;
  p = p * z + 1.0f / 9;
  p = p * z + 1.0f / 7;
  p = p * z + 1.0f / 5;
  p = p * z + 1.0f / 3;
  p = p * z + 1.0f;
  return 2.0f * s * p;
}

// 1 / (1 + e^{−x}), never exp of a large positive number.
inline float Sigmoid(float x) {
  const float e = Exp(-std::fabs(x));  // in (0, 1]
  return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_VECTOR_MATH_H_
