// quant.h — docs/DESIGN.md's K-bit quantizer for a BN→ReLU, and the codes of the
// other saved tensors (planner/coding.h), one element at a time.
//
// This is the specification every backend's quantize/restore and
// encode/decode kernels follow; the reference backend uses it directly, the
// fast and CUDA kernels are tested against it code for code. The BN→ReLU
// quantizer comes first; "saved-tensor codes" below specifies the rest.
//
// Grids on x̂. The BN→ReLU code and kBnInput/kLnInput code x̂, the
// normalised value, which is close to N(0, 1). At K = 8 and 4 the grid is
// uniform: B = 2^K bins of width Δ = 6/B over ±3σ. At K = 2 that grid
// (Δ = 1.5: cuts 0, ±1.5, levels ±0.75, ±2.25) is far from the best four
// levels for a normal value: its mean squared error on N(0, 1) is 0.1898.
// K = 2 uses the Lloyd-Max quantizer of N(0, 1) instead (each cut the
// midpoint of its two levels, each level the mean of N(0, 1) on its cell),
// mean squared error 0.11748 (−38%):
//   cuts    −τ, 0, +τ     τ = 0.98159882156779366
//   levels  ±0.45278003463649202, ±1.5104176084990955
// These are the fixed point of Lloyd's iterations run in long double
// (erfcl, expl) from levels 0.5, 1.5 until nothing changes; both MSEs are the
// closed forms, checked by Monte Carlo (2·10^7 samples: 0.1898, 0.1174), and
// the values agree with Max (1960), Table I (0.9816; 0.4528, 1.510).
//
// For one channel of a batch_norm with scale γ and shift β:
//   γ ≠ 0: g = |γ|, b = β/g, v = y/g (= sign(γ)·x̂ + b), where y = γ·x̂ + β is
//          the forward's pre-ReLU value. The branch is on y itself, so the
//          ReLU mask q >= s is exactly the forward's y > 0 (y = ±0 and
//          underflow included).
//   γ = 0: the output is the constant β, so the mask is β > 0 for the whole
//          channel; x̂ is still coded (b = 0, v = x̂, and x̂ > 0 decides the
//          side) for dγ.
// K = 8, 4: B = 2^K bins of width Δ = 6/B; the channel offset
//          s = clamp(B/2 − floor(b/Δ), 1, B − 1) puts v = 0 on a bin edge
//          (γ = 0: s = B/2);
//          y > 0:  q = clamp(floor(v/Δ) + s, s, B − 1)
//          else:   q = clamp(ceil(v/Δ) − 1 + s, 0, s − 1)
//   Restore: v̂ = (q − s + 0.5)·Δ; x̂' = sign(γ)·(v̂ − b) (γ = 0: v̂);
//          z' = g·v̂ where q >= s, else 0 (γ = 0: max(β, 0)).
// K = 2 (Lloyd-Max above the edge): in w = v − b (= sign(γ)·x̂; γ = 0:
//          w = x̂, b = 0), the ReLU's edge is e = −b (b first clamped to
//          ±max(T)/2: a denormal γ makes β/g overflow). One cell lies below
//          the edge and three above it, with s = 1 in every channel:
//            t_0 = e, t_1 = e + d_1(e), t_2 = e + d_2(e),
//          where d_1, d_2 are the cuts of the 3-level Lloyd-Max quantizer of
//          N(0, 1) truncated to (e, ∞), measured from e (ActiveCuts, ActiveCutKnot:
//          a table at e = −4, −3.5, ..., 4, linear in between; e <= −4:
//          t_1, t_2 = the table's first cuts, −0.611387 and 0.612338, which
//          is where the cuts of the whole normal's 3 levels, ∓0.6120, lie;
//          e >= 4: d_k(4)·4/e, the tail's scale 1/e). Interpolating costs
//          at most 1.2% of the optimum's mean squared error above the edge
//          (checked for e in [−6, 6]). Where e + d rounds to e or t_1
//          (e far out), the cut is raised to two ulps above the one
//          before, so every cell above the edge has a T strictly inside.
//          With n = #{k : t_k < w} (NaN: 0),
//          y > 0:  q = max(n, 1)    else: q = 0
//          so code q's cell is (t_{q−1}, t_q] with t_{−1} = −∞, t_3 = +∞.
//   Restore: ŵ_q = the mean of N(0, 1) on cell q, (φ(lo) − φ(hi))/(Φ(hi) −
//          Φ(lo)), per channel in MakeChannel: in double, the mass from the
//          tail(s) the cell lies in (erfc, no 1 − Φ cancelling), rounded to
//          T and moved strictly inside the cell (nextafter from its edge);
//          where the mass underflows, the finite edge moved inward by
//          1/|edge| (a finite cell: the midpoint). So each ŵ lies in its own
//          cell, and ŵ + b > 0 exactly on the active side.
//          x̂' = sign(γ)·ŵ_q; z' = g·(ŵ_q + b) where q >= 1, else 0 (γ = 0:
//          max(β, 0)); z' > 0 on the active side unless g·(ŵ + b)
//          underflows (a denormal g, as g·v̂ can at K = 8 and 4).
//   Why three levels above the edge: what the next layer's weight gradient
//   reads is z', which is 0 below the edge whatever the code says, and the
//   BN backward's x̂ below the edge enters only through per-channel sums.
//   Two grids were measured on the reproduction model's trained weights
//   (slimtrain fidelity, approx2, every conv/linear weight gradient
//   together, ‖g_2 − g‖/‖g‖): the Lloyd-Max grid of the whole normal with
//   the cut nearest the edge moved onto it (two cells each side at b = 0:
//   x̂ MSE 0.1175, but z' MSE 0.059 per element) 0.419; this grid (x̂ MSE
//   0.21, z' MSE 0.029 at b = 0) 0.345. Each level is its cell's mean, so
//   the code is unbiased on every cell.
//   Cost: MakeChannel at K = 2 evaluates 8 erfc and 8 exp in double.
//   Only ŵ needs transcendental functions: the cuts are arithmetic on T,
//   so codes are the same on every backend, and so are ŵ on the CPU (one
//   libm); CUDA's device erfc and exp may differ by a few ulp, so its
//   restored x̂' and z' may too (its tests compare them with a tolerance,
//   codes exactly).
// Pass-through (K = planner::kPassThroughBits, tests only): the code is y
// itself (γ = 0: x̂), restored exactly.
//
// Packing: element i of the tensor (NHWC order) sits in byte i·K/8 at bit
// (i·K) mod 8, low bits first.
#ifndef SLIMTRAIN_ENGINE_QUANT_H_
#define SLIMTRAIN_ENGINE_QUANT_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "engine/host_device.h"
#include "planner/coding.h"
#include "planner/strategy.h"

// Under nvcc every function here is __host__ __device__, so the CUDA kernels
// run this very code (they compile with --expt-relaxed-constexpr for
// std::clamp and std::max, and without fused multiply-adds); elsewhere the
// macro (engine/host_device.h) is empty and nothing changes.

namespace slimtrain::engine::quant {

// ---------------------------------------------------------------- the Lloyd-Max grid (K = 2)

// The 4-level Lloyd-Max quantizer of N(0, 1) (the top of this file says how
// these were found): cuts −τ, 0, τ; levels ±inner, ±outer.
inline constexpr double kNormal2Cut = 0.98159882156779366;     // τ
inline constexpr double kNormal2Inner = 0.45278003463649202;
inline constexpr double kNormal2Outer = 1.5104176084990955;

// The code of x̂ on the fixed grid: how many of −τ, 0, τ lie strictly below
// it (NaN: 0). Comparisons only, the same on every backend.
template <typename T>
SLIM_HD int EncodeNormal2(T xhat) {
  const T tau = T(kNormal2Cut);
  return static_cast<int>(-tau < xhat) + static_cast<int>(T(0) < xhat) + static_cast<int>(tau < xhat);
}
// Level q of the fixed grid.
template <typename T>
SLIM_HD T DecodeNormal2(int q) {
  const T inner = T(kNormal2Inner), outer = T(kNormal2Outer);
  return q < 2 ? (q == 0 ? -outer : -inner) : (q == 2 ? inner : outer);
}

// The mean of N(0, 1) on the cell (lo, hi), lo < hi, either edge infinite:
// (φ(lo) − φ(hi)) / (Φ(hi) − Φ(lo)). The mass comes from the tail(s) the
// cell lies in, erfc(x/√2)/2 = P(X > x), so it keeps its relative precision
// far out. Where it underflows (both edges far out in one tail) the answer
// is a point inside: the finite edge moved inward by 1/|edge| (the mean's
// asymptote), or the midpoint of a finite cell.
SLIM_HD inline double NormalCellMean(double lo, double hi) {
  constexpr double kRsqrt2 = 0.70710678118654752440;    // 1/√2
  constexpr double kRsqrt2Pi = 0.39894228040143267794;  // 1/√(2π)
  double mass;
  if (lo >= 0) {
    mass = 0.5 * (std::erfc(lo * kRsqrt2) - std::erfc(hi * kRsqrt2));
  } else if (hi <= 0) {
    mass = 0.5 * (std::erfc(-hi * kRsqrt2) - std::erfc(-lo * kRsqrt2));
  } else {
    mass = 1.0 - 0.5 * (std::erfc(hi * kRsqrt2) + std::erfc(-lo * kRsqrt2));
  }
  if (mass >= std::numeric_limits<double>::min()) {
    return kRsqrt2Pi * (std::exp(-0.5 * lo * lo) - std::exp(-0.5 * hi * hi)) / mass;
  }
  if (std::isinf(lo)) return hi + 1.0 / hi;  // hi far below 0
  if (std::isinf(hi)) return lo + 1.0 / lo;  // lo far above 0
  return lo / 2 + hi / 2;
}

// ---------------------------------------------------------------- the BN→ReLU quantizer

// Per-channel constants of the quantizer.
template <typename T>
struct Channel {
  T gamma = 0, beta = 0;
  T g = 0;          // |γ|
  T b = 0;          // β / g (0 when γ = 0; K = 2: clamped to ±max(T)/2)
  T sign = 1;       // sign(γ)
  int s = 0;        // offset: codes >= s are the ReLU's active side
  int bins = 0;     // B
  T delta = 0;      // Δ (K = 8, 4)
  // K = 2: the cuts t_0 < t_1 < t_2 on w = v − b, t_0 = −b (s = 1), and
  // ŵ_q, the restored w of code q, strictly inside its cell (t_{q−1}, t_q].
  T cut[3] = {0, 0, 0};
  T level[4] = {0, 0, 0, 0};

  SLIM_HD bool zero_gamma() const { return gamma == T(0); }
  SLIM_HD bool lloyd_max() const { return bins == 4; }
  // ŵ_q by selects, not an index (CUDA keeps the channel in registers).
  SLIM_HD T Level(int q) const { return q < 2 ? (q == 0 ? level[0] : level[1]) : (q == 2 ? level[2] : level[3]); }
};

// K = 2: d_1(e), d_2(e) at the table's knots e = −4 + i/2, i = 0..16:
// the 3-level Lloyd-Max cuts of N(0, 1) truncated to (e, ∞), measured from
// e (Lloyd's iterations in double until the cuts stop moving; at e = 0 the
// half-normal's 0.658911, 1.446850, levels 0.31772, 1.00011, 1.89359).
SLIM_HD inline void ActiveCutKnot(int i, double* d1, double* d2) {
  const double knots[17][2] = {
      {3.388613, 4.612338}, {2.891800, 4.114073}, {2.405853, 3.621748}, {1.951002, 3.146690},
      {1.555461, 2.706018}, {1.236113, 2.313699}, {0.989459, 1.974667}, {0.801764, 1.687267},
      {0.658911, 1.446850}, {0.549513, 1.247576}, {0.464974, 1.083288}, {0.398933, 0.948074},
      {0.346716, 0.836619}, {0.304904, 0.744375}, {0.270992, 0.667575}, {0.243141, 0.603177},
      {0.219992, 0.548761}};
  *d1 = knots[i][0];
  *d2 = knots[i][1];
}

// K = 2: the cuts t_1, t_2 above the edge e (quant.h's top says how), in T.
template <typename T>
SLIM_HD void ActiveCuts(T e, T* t1, T* t2) {
  double a1, a2;
  if (!(e > T(-4))) {  // far below (and NaN): the whole normal's cuts
    ActiveCutKnot(0, &a1, &a2);
    *t1 = T(a1 - 4.0);
    *t2 = T(a2 - 4.0);
    return;
  }
  if (!(e < T(4))) {  // far above: the tail's scale 1/e
    ActiveCutKnot(16, &a1, &a2);
    const T r = T(4) / e;
    *t1 = e + T(a1) * r;
    *t2 = e + T(a2) * r;
    return;
  }
  const T u = (e + T(4)) * T(2);
  const T fl = std::floor(u);  // 0 to 15 here; clamped all the same
  const int i = fl > T(0) ? (fl < T(15) ? static_cast<int>(fl) : 15) : 0;
  const T f = u - T(i);
  double b1, b2;
  ActiveCutKnot(i, &a1, &a2);
  ActiveCutKnot(i + 1, &b1, &b2);
  *t1 = e + (T(a1) + (T(b1) - T(a1)) * f);
  *t2 = e + (T(a2) + (T(b2) - T(a2)) * f);
}

// K = 2: the cuts, s and the levels of a channel whose b is set.
template <typename T>
SLIM_HD void SetReluCells(Channel<T>* c) {
  const T edge = -c->b, inf = std::numeric_limits<T>::infinity();
  c->cut[0] = edge;
  ActiveCuts(edge, &c->cut[1], &c->cut[2]);
  // Far out (e + d rounds to e) each cell above the edge still holds a T
  // strictly inside it: every cut at least two ulps above the one before.
  for (int k = 1; k < 3; ++k) {
    const T floor = std::nextafter(std::nextafter(c->cut[k - 1], inf), inf);
    if (!(c->cut[k] >= floor)) c->cut[k] = floor;
  }
  c->s = 1;
  for (int q = 0; q < 4; ++q) {
    const T lo = q == 0 ? -inf : c->cut[q - 1], hi = q == 3 ? inf : c->cut[q];
    T w = static_cast<T>(NormalCellMean(static_cast<double>(lo), static_cast<double>(hi)));
    if (!(w > lo)) w = std::nextafter(lo, inf);
    if (!(w < hi)) w = std::nextafter(hi, -inf);
    c->level[q] = w;
  }
}

template <typename T>
SLIM_HD Channel<T> MakeChannel(int bits, T gamma, T beta) {
  Channel<T> c;
  c.gamma = gamma;
  c.beta = beta;
  if (bits == planner::kPassThroughBits) return c;
  c.bins = 1 << bits;
  c.delta = T(6) / T(c.bins);
  if (gamma == T(0)) {
    c.s = c.bins / 2;
    if (c.lloyd_max()) SetReluCells(&c);
    return c;
  }
  c.g = std::fabs(gamma);
  c.b = beta / c.g;
  c.sign = gamma > T(0) ? T(1) : T(-1);
  if (c.lloyd_max()) {
    const T far = std::numeric_limits<T>::max() / T(2);
    c.b = std::clamp(c.b, -far, far);
    SetReluCells(&c);
    return c;
  }
  // Clamp b/Δ in floating point before converting to an integer.
  const T t = std::clamp(std::floor(c.b / c.delta), T(-c.bins), T(c.bins));
  c.s = std::clamp(c.bins / 2 - static_cast<int>(t), 1, c.bins - 1);
  return c;
}

// The code of one element: y is the forward's pre-ReLU value, xhat the
// normalised input (read only when γ = 0).
template <typename T>
SLIM_HD int Encode(const Channel<T>& c, T y, T xhat) {
  const T v = c.zero_gamma() ? xhat : y / c.g;
  const bool positive = c.zero_gamma() ? v > T(0) : y > T(0);
  if (c.lloyd_max()) {
    const T w = v - c.b;
    const int n = static_cast<int>(c.cut[0] < w) + static_cast<int>(c.cut[1] < w) + static_cast<int>(c.cut[2] < w);
    return positive ? std::max(n, c.s) : std::min(n, c.s - 1);
  }
  if (positive) {
    const T f = std::clamp(std::floor(v / c.delta), T(-c.bins), T(c.bins));
    return std::clamp(static_cast<int>(f) + c.s, c.s, c.bins - 1);
  }
  const T f = std::clamp(std::ceil(v / c.delta), T(-c.bins), T(c.bins));
  return std::clamp(static_cast<int>(f) - 1 + c.s, 0, c.s - 1);
}

// K = 8, 4: the bin centre v̂ of code q.
template <typename T>
SLIM_HD T Center(const Channel<T>& c, int q) {
  return (T(q - c.s) + T(0.5)) * c.delta;
}

// Whether the ReLU was active.
template <typename T>
SLIM_HD bool Mask(const Channel<T>& c, int q) {
  return c.zero_gamma() ? c.beta > T(0) : q >= c.s;
}

// x̂' from code q.
template <typename T>
SLIM_HD T RestoreXhat(const Channel<T>& c, int q) {
  if (c.lloyd_max()) return c.sign * c.Level(q);  // γ = 0: sign 1
  const T v = Center(c, q);
  return c.zero_gamma() ? v : c.sign * (v - c.b);
}

// z' (the ReLU output) from code q.
template <typename T>
SLIM_HD T RestoreRelu(const Channel<T>& c, int q) {
  if (c.zero_gamma()) return std::max(c.beta, T(0));
  if (c.lloyd_max()) return q >= c.s ? c.g * (c.Level(q) + c.b) : T(0);
  return q >= c.s ? c.g * Center(c, q) : T(0);
}

// Pass-through: the stored value is y (γ = 0: x̂).
template <typename T>
SLIM_HD T PassThroughValue(const Channel<T>& c, T y, T xhat) {
  return c.zero_gamma() ? xhat : y;
}
template <typename T>
SLIM_HD bool PassThroughMask(const Channel<T>& c, T stored) {
  return c.zero_gamma() ? c.beta > T(0) : stored > T(0);
}
template <typename T>
SLIM_HD T PassThroughXhat(const Channel<T>& c, T stored) {
  return c.zero_gamma() ? stored : (stored - c.beta) / c.gamma;
}
template <typename T>
SLIM_HD T PassThroughRelu(const Channel<T>& c, T stored) {
  return c.zero_gamma() ? std::max(c.beta, T(0)) : std::max(stored, T(0));
}

// Packed K-bit codes (K = 8, 4, 2).
SLIM_HD inline int GetCode(const uint8_t* codes, int bits, int64_t i) {
  const int64_t bit = i * bits;
  return (codes[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1);
}
// Sets element i's code; the caller zeroes the bytes first or writes every
// element of a byte in turn.
SLIM_HD inline void PutCode(uint8_t* codes, int bits, int64_t i, int q) {
  const int64_t bit = i * bits;
  const int shift = static_cast<int>(bit & 7);
  const uint8_t mask = static_cast<uint8_t>(((1 << bits) - 1) << shift);
  codes[bit >> 3] = static_cast<uint8_t>((codes[bit >> 3] & ~mask) | ((q << shift) & mask));
}

// ---------------------------------------------------------------- saved-tensor codes
//
// The codes of the other tensors kept for backward (planner/coding.h says
// which tensor gets which coding, and the byte layout). Each backend's
// EncodeSaved/DecodeSaved (engine/backend.h) takes a CodeSpec and follows the
// functions below element by element in the element type T (float or
// double). The fast CPU and CUDA kernels must equal the reference bit for
// bit, so the order of the float operations written here is part of the
// specification: every operation rounds to T on its own (no fused
// multiply-adds: the fast kernels build with -ffp-contract=off, nvcc with
// --fmad=false), divisions are divisions (never a reciprocal times), and
// T(q) is the exact conversion of the integer q.
//
// Common. B = 2^K codes (K = spec.bits: 8, 4 or 2), packed with PutCode
// (element i at bit i·K, low bits first). Elements are in the arena's order
// (NHWC); a group is a contiguous run of planner::kCodeGroupSize = 256
// elements (the last one may be shorter). A code of n = spec.count elements:
//   packed codes    ceil(n·K/8) bytes; the unused high bits of the last are 0
//   kRelu, kGroup   zero bytes up to PackedCodeBytes (a multiple of 16), then
//                   the per-group values in T: kRelu m_0, m_1, ...; kGroup
//                   lo_0, hi_0, lo_1, hi_1, ...
// planner::CodeBytes in all. Every byte of it is written, so a code is a pure
// function of the input. Conversions to int go through ClampCode, which
// clamps in floating point first (NaN to the low end), so no cast is
// undefined; a non-finite input gets some code in range.
//
// Pass-through (K = planner::kPassThroughBits, any coding): the code is the
// n values of T, decoded exactly.
//
// kGroup, per group: lo = min, hi = max of its values (GroupRange: NaN
//   ignored, a zero stored as +0, so any order of folding gives the same);
//   step = (hi − lo) / T(B − 1).
//     encode: step > 0: q = ClampCode(floor((x − lo) / step + 0.5), 0, B − 1);
//             else q = 0 (a constant group).
//     decode: x' = lo + T(q)·step.            |x' − x| ≤ step/2 (+ rounding)
// kRelu (a relu's output, >= 0), per group: m = max(+0, its values)
//   (ReluGroupMax); step = m / T(B − 1).
//   K = 8, 4:
//     encode: x > 0: q = step > 0 ? ClampCode(ceil(x / step), 1, B − 1) : 1
//             (step 0: m/(B − 1) underflowed); else q = 0.
//     decode: q = 0: 0; else v = (T(q) − 0.5)·step, x' = v > 0 ? v : m.
//     |x' − x| ≤ step/2.
//   K = 2: the three codes above 0 are the 3-level Lloyd-Max quantizer of a
//     half-normal whose scale σ is taken as m/3 (cuts 0.658911σ,
//     1.446850σ; levels 0.317716σ, 1.000106σ, 1.893595σ: kReluCut*,
//     kReluLevel* are these over 3, fractions of m).
//     encode: x > 0: q = 1 + (x > m·T(κ_1)) + (x > m·T(κ_2)); else q = 0.
//     decode: q = 0: 0; else v = m·T(λ_q), x' = v > 0 ? v : m.
//     Why: a group's values above 0 are far from uniform on (0, m] (most
//     lie low), and the uniform grid's middle and top cells are nearly
//     empty. On the half-normal the mean squared error is 0.058σ² against
//     the uniform grid's 0.085σ² (m = 3σ); scales m/2.0 to m/5.0 were
//     measured on the reproduction model (slimtrain fidelity, approx2):
//     m/3 was best, m/2.75 the same.
//   x' > 0 exactly where x > 0 (the relu's mask is exact).
// kBounded (a known [lo, hi], finite, lo < hi: relu6, clip, hardsigmoid):
//   w = (hi − lo) / T(B − 2).
//     encode: x <= lo: 0; x >= hi: B − 1;
//             else q = ClampCode(floor((x − lo) / w) + 1, 1, B − 2).
//     decode: 0: lo; B − 1: hi; else x' = lo + (T(q) − 0.5)·w.
//   lo < x' < hi exactly where lo < x < hi (the backward's mask), for any
//   range whose w/2 is not lost next to lo and hi.
// kRange (a known [lo, hi]: sigmoid [0, 1], tanh [−1, 1]): w = (hi − lo) / T(B).
//     encode: q = ClampCode(floor((x − lo) / w), 0, B − 1).
//     decode: x' = lo + (T(q) + 0.5)·w.       |x' − x| ≤ w/2 inside [lo, hi]
// kBnInput (a batch_norm's input x; stats (2, C) in T: mean, then invstd;
//   element i is channel c = i mod C, C = spec.channels): Δ = T(6) / T(B).
//     encode: x̂ = (x − mean[c])·invstd[c];
//             K = 8, 4: q = ClampCode(floor(x̂ / Δ) + T(B/2), 0, B − 1);
//             K = 2: q = EncodeNormal2(x̂), the number of the Lloyd-Max
//             cuts −τ, 0, τ strictly below x̂ (NaN: 0).
//     decode: K = 8, 4: x̂' = (T(q − B/2) + 0.5)·Δ; K = 2: x̂' =
//             DecodeNormal2(q), the Lloyd-Max level (constants: no
//             transcendental function, the same on every backend);
//             then x' = mean[c] + x̂' / invstd[c].
//   K = 8, 4: |x̂' − x̂| ≤ Δ/2 inside ±3σ (the BN→ReLU grid, without its
//   offset). K = 2: x̂' lies in x̂'s cell (the BN→ReLU grid with b = 0).
// kLnInput (a layer_norm's input x; rows of D = spec.channels contiguous
//   elements, count a multiple of D; stats (rows, 2) in T, the layer_norm's
//   own (Backend::LayerNormForward): row r's mean at stats[2r], its rstd =
//   1/std at stats[2r + 1]; element i is in row r = i / D): kBnInput's Δ
//   and arithmetic with the row's mean and rstd in place of the channel's,
//     encode: q = EncodeBnInput(x, stats[2r], stats[2r + 1], Δ, K).
//     decode: x' = DecodeBnInput(q, stats[2r], stats[2r + 1], Δ, K).
//   K = 8, 4: |x̂' − x̂| ≤ Δ/2 inside ±3σ of the row; K = 2: x̂' in x̂'s cell.
// kBounded's and kRange's lo, hi are spec.lo, spec.hi rounded to T.

// What the executor asks a backend to code: one saved tensor.
struct CodeSpec {
  planner::Coding coding = planner::Coding::kGroup;
  int bits = 4;           // 8, 4, 2 or planner::kPassThroughBits
  int64_t count = 0;      // elements
  int64_t channels = 1;   // kBnInput: C (element i is channel i mod C);
                          // kLnInput: D, the row length (row i / D)
  double lo = 0, hi = 0;  // kBounded, kRange: the known range
};

// Whether a backend can code `s`: bits 8, 4, 2 or pass-through; a coding of
// this section (any coding for pass-through; kExact and kBnRelu are not
// coded here); count >= 0; kBnInput: channels >= 1; kLnInput: channels >= 1
// and count whole rows (a multiple of channels); kBounded, kRange: finite
// lo < hi. Backends abort (CPU) or record an error (CUDA) otherwise.
inline bool ValidCodeSpec(const CodeSpec& s) {
  if (s.count < 0) return false;
  if (s.bits == planner::kPassThroughBits) return true;
  if (s.bits != 8 && s.bits != 4 && s.bits != 2) return false;
  switch (s.coding) {
    case planner::Coding::kBnInput: return s.channels >= 1;
    case planner::Coding::kLnInput: return s.channels >= 1 && s.count % s.channels == 0;
    case planner::Coding::kRelu:
    case planner::Coding::kGroup: return true;
    case planner::Coding::kBounded:
    case planner::Coding::kRange: return std::isfinite(s.lo) && std::isfinite(s.hi) && s.lo < s.hi;
    default: return false;
  }
}

// Byte offset of the per-group values in the code of `s` (kRelu, kGroup).
inline int64_t GroupValuesOffset(const CodeSpec& s, int64_t element_bytes) {
  return planner::PackedCodeBytes(s.coding, s.bits, s.count, element_bytes);
}

// f (a whole number, ±inf or NaN) clamped to [lo, hi] in floating point,
// NaN to lo, then converted: x86's maxps(f, lo) then minps(·, hi).
template <typename T>
SLIM_HD int ClampCode(T f, int lo, int hi) {
  T c = f > T(lo) ? f : T(lo);
  c = c < T(hi) ? c : T(hi);
  return static_cast<int>(c);
}

// The folds of GroupRange and ReluGroupMax: an accumulator that is never
// NaN ignores NaN values, and min and max of the rest do not depend on the
// order (but for the sign of a zero minimum or maximum).
template <typename T>
SLIM_HD T FoldMin(T acc, T x) {
  return x < acc ? x : acc;
}
template <typename T>
SLIM_HD T FoldMax(T acc, T x) {
  return x > acc ? x : acc;
}

// kGroup's lo and hi of the n >= 1 values at x: the folds from +inf and
// −inf, then + 0 (a −0 becomes +0).
template <typename T>
SLIM_HD void GroupRange(const T* x, int64_t n, T* lo, T* hi) {
  T a = std::numeric_limits<T>::infinity(), b = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    a = FoldMin(a, x[i]);
    b = FoldMax(b, x[i]);
  }
  *lo = a + T(0);
  *hi = b + T(0);
}
template <typename T>
SLIM_HD T GroupStep(T lo, T hi, int bits) {
  return (hi - lo) / T((1 << bits) - 1);
}
template <typename T>
SLIM_HD int EncodeGroup(T x, T lo, T step, int bits) {
  if (!(step > T(0))) return 0;
  return ClampCode(std::floor((x - lo) / step + T(0.5)), 0, (1 << bits) - 1);
}
template <typename T>
SLIM_HD T DecodeGroup(int q, T lo, T step) {
  return lo + T(q) * step;
}

// kRelu's m of the n values at x: the fold from +0.
template <typename T>
SLIM_HD T ReluGroupMax(const T* x, int64_t n) {
  T m = T(0);
  for (int64_t i = 0; i < n; ++i) m = FoldMax(m, x[i]);
  return m;
}
template <typename T>
SLIM_HD T ReluStep(T m, int bits) {
  return m / T((1 << bits) - 1);
}
// kRelu at K = 2: κ_1, κ_2 and λ_1..3 as fractions of the group's m.
inline constexpr double kReluCut1 = 0.21963706924873010;    // 0.658911 / 3
inline constexpr double kReluCut2 = 0.48228347630654437;    // 1.446850 / 3
inline constexpr double kReluLevel1 = 0.10590545643161275;  // 0.317716 / 3
inline constexpr double kReluLevel2 = 0.33336868206584747;  // 1.000106 / 3
inline constexpr double kReluLevel3 = 0.63119827054724127;  // 1.893595 / 3
template <typename T>
SLIM_HD int EncodeRelu(T x, T m, T step, int bits) {
  if (!(x > T(0))) return 0;
  if (bits == 2) {
    return 1 + static_cast<int>(x > m * T(kReluCut1)) + static_cast<int>(x > m * T(kReluCut2));
  }
  if (!(step > T(0))) return 1;
  return ClampCode(std::ceil(x / step), 1, (1 << bits) - 1);
}
template <typename T>
SLIM_HD T DecodeRelu(int q, T m, T step, int bits) {
  if (q == 0) return T(0);
  const T v = bits == 2 ? m * (q == 1 ? T(kReluLevel1) : (q == 2 ? T(kReluLevel2) : T(kReluLevel3)))
                        : (T(q) - T(0.5)) * step;
  return v > T(0) ? v : m;
}

template <typename T>
SLIM_HD T BoundedWidth(T lo, T hi, int bits) {
  return (hi - lo) / T((1 << bits) - 2);
}
template <typename T>
SLIM_HD int EncodeBounded(T x, T lo, T hi, T w, int bits) {
  const int top = (1 << bits) - 1;
  if (x <= lo) return 0;
  if (x >= hi) return top;
  return ClampCode(std::floor((x - lo) / w) + T(1), 1, top - 1);
}
template <typename T>
SLIM_HD T DecodeBounded(int q, T lo, T hi, T w, int bits) {
  if (q == 0) return lo;
  if (q == (1 << bits) - 1) return hi;
  return lo + (T(q) - T(0.5)) * w;
}

template <typename T>
SLIM_HD T RangeWidth(T lo, T hi, int bits) {
  return (hi - lo) / T(1 << bits);
}
template <typename T>
SLIM_HD int EncodeRange(T x, T lo, T w, int bits) {
  return ClampCode(std::floor((x - lo) / w), 0, (1 << bits) - 1);
}
template <typename T>
SLIM_HD T DecodeRange(int q, T lo, T w) {
  return lo + (T(q) + T(0.5)) * w;
}

// kBnInput, and kLnInput with a row's mean and rstd as mean and invstd
// (delta is not read at K = 2).
template <typename T>
SLIM_HD T BnInputDelta(int bits) {
  return T(6) / T(1 << bits);
}
template <typename T>
SLIM_HD int EncodeBnInput(T x, T mean, T invstd, T delta, int bits) {
  const int bins = 1 << bits;
  const T xhat = (x - mean) * invstd;
  if (bits == 2) return EncodeNormal2(xhat);
  return ClampCode(std::floor(xhat / delta) + T(bins / 2), 0, bins - 1);
}
template <typename T>
SLIM_HD T DecodeBnInput(int q, T mean, T invstd, T delta, int bits) {
  const T xhat = bits == 2 ? DecodeNormal2<T>(q) : (T(q - (1 << bits) / 2) + T(0.5)) * delta;
  return mean + xhat / invstd;
}

}  // namespace slimtrain::engine::quant

#endif  // SLIMTRAIN_ENGINE_QUANT_H_
