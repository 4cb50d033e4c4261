// code_kernels.h — the fast CPU backend's encoders and decoders of the other
// saved tensors (planner/coding.h: kBnInput, kLnInput, kRelu, kBounded,
// kRange, kGroup; engine/quant.h specifies each), float32.
//
//   cpu::EncodeSaved(spec, x, stats, code, threads, &scratch);   // SAVE
//   cpu::DecodeSaved(spec, code, stats, x_decoded, threads, &scratch);
//
// Codes and decoded values are bit-identical to the reference backend's: the
// per-group values and every code come from quant.h's float operations in
// quant.h's order (the file builds with -ffp-contract=off; kBnInput and
// kLnInput at K = 2 compare x̂ with the Lloyd-Max cuts and look the level up
// in a register), and every byte of planner::CodeBytes is written (padding
// and unused bits 0).
//
// Work: units of planner::kCodeGroupSize = 256 elements (a kRelu or kGroup
// group; 256·K/8 whole code bytes for the others), contiguous runs of units
// per thread (parallel.h's ParallelFor), so threads own whole groups and
// whole code bytes. Per unit:
//   - AVX-512 (the CPU has F, BW, VL, DQ and quant_kernels.h's switch allows
//     it): the group's min/max in registers, then 16 elements per step, codes
//     packed and unpacked in registers (avx512_codes.h);
//   - portable: quant.h per element into a 256-entry array, then packed, in
//     plain loops the compiler vectorises (cloned for AVX2 and AVX-512;
//     other CPUs, and a last unit shorter than 256).
// kBnInput reads mean and invstd from arrays replicated over a period of
// whole multiples of lcm(C, 16) elements (at least 256), in the backend's
// Scratch (parallel.h; no activation-sized memory). kLnInput walks a
// unit's rows (one division per unit): a row's mean and rstd are broadcast
// over its run (portable) or over its lanes of each 16-element vector
// (AVX-512: one broadcast per vector, one masked blend more per row that
// starts inside it, so rows of D >= 16 cost at most one). Pass-through codes
// are copied in parallel. Cost: one read of the input and one write of the
// code (encode), or the reverse (decode); kGroup and kRelu read each group
// twice, from L1 the second time.
//
// Aborts unless quant::ValidCodeSpec(spec) (and stats for kBnInput and
// kLnInput).
#ifndef SLIMTRAIN_ENGINE_CPU_CODE_KERNELS_H_
#define SLIMTRAIN_ENGINE_CPU_CODE_KERNELS_H_

#include "engine/quant.h"

namespace slimtrain::engine::cpu {

class Scratch;  // parallel.h: backend-owned per-channel scratch

// SAVE: the code of spec.count floats at x into
// planner::CodeBytes(spec.coding, spec.bits, spec.count, 4) bytes at code.
void EncodeSaved(const quant::CodeSpec& spec, const float* x, const float* stats, void* code, int threads,
                 Scratch* scratch);
// The spec.count floats decoded from `code` into x.
void DecodeSaved(const quant::CodeSpec& spec, const void* code, const float* stats, float* x, int threads,
                 Scratch* scratch);

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_CODE_KERNELS_H_
