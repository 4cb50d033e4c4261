// quant_kernels.h — the fast CPU backend's BN→ReLU quantizer (docs/DESIGN.md,
// engine/quant.h): SAVE, restore, and the two backwards that read codes.
//
// Codes are bit-identical to quant::Encode and restored values equal
// quant::RestoreRelu / RestoreXhat: the per-channel constants come from
// quant::MakeChannel, and the vector code performs the same float operations
// in the same order (K = 8, 4: two IEEE divisions v = y/g, t = v/Δ; floor
// or ceil; clamps; (q − s + 0.5)·Δ. K = 2: v = y/g, w = v − b, three
// comparisons with the channel's cuts, clamps; the channel's level ŵ_q,
// sign·ŵ_q and g·(ŵ_q + b)); the files build with -ffp-contract=off so no
// multiply-add is fused. For γ = 0 channels x̂ = (x − mean)·invstd is
// formed in double and rounded once, as the reference does.
//
// Layout: NHWC, so element i is channel i mod C; the tensor is walked in
// periods of P = lcm(C, 16) elements (parallel.h) with the channel constants
// replicated over a period, and a period is 16·K/8-byte aligned in the
// packed codes, so threads own whole bytes. Paths:
//   - AVX-512 (F, BW, VL, DQ; chosen at run time): 16 elements per step for
//     K = 8, 4, 2: codes packed and unpacked in registers;
//   - portable: quant.h element by element (other CPUs, pass-through codes
//     (K = planner::kPassThroughBits: dtype values), and the < 16 elements
//     at the end of a tensor whose size is not a multiple of 16).
// Bits of the last code byte past the tensor's end are written as 0.
// In place (dy == dz, dx == dy) is allowed.
#ifndef SLIMTRAIN_ENGINE_CPU_QUANT_KERNELS_H_
#define SLIMTRAIN_ENGINE_CPU_QUANT_KERNELS_H_

#include <cstdint>

#include "planner/graph.h"

namespace slimtrain::engine::cpu {

class Scratch;  // parallel.h: backend-owned per-channel scratch

// Whether the AVX-512 path runs (the CPU has it and tests allow it).
bool QuantUsesAvx512();
// Tests: false runs the portable path everywhere (default true).
void AllowQuantAvx512ForTesting(bool allow);

// SAVE: codes of y = BN(x); x and stats are read only for γ = 0 channels.
void QuantizeBnRelu(const planner::Node& bn, int64_t batch, int bits, const float* x, const float* y,
                    const float* gamma, const float* beta, const float* stats, void* code, int threads,
                    Scratch* scratch);
// z' = the ReLU output restored from the codes.
void RestoreRelu(const planner::Node& bn, int64_t batch, int bits, const void* code, const float* gamma,
                 const float* beta, float* z, int threads, Scratch* scratch);
// dy = dz·mask (or dy +=), the mask exact from the codes.
void ReluBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const float* dz, const void* code,
                          const float* gamma, const float* beta, float* dy, bool accumulate, int threads,
                          Scratch* scratch);
// BN backward with x̂' from the codes: dx (or dx +=), dgamma = Σ dy·x̂',
// dbeta = Σ dy (per-channel sums in double, as bn_kernels.h).
void BatchNormBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const float* dy,
                               const void* code, const float* gamma, const float* beta, const float* stats,
                               float* dx, bool accumulate, float* dgamma, float* dbeta, int threads,
                               Scratch* scratch);

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_QUANT_KERNELS_H_
