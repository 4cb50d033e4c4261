// avx512_codes.h — packed K-bit codes (engine/quant.h's layout: element i at
// bit i·K, low bits first) to and from AVX-512 registers, 16 codes at a time;
// shared by the quantizer (quant_kernels.cc) and the saved-tensor codes
// (code_kernels.cc).
//
//   const __m512i q = LoadCodes<4>(codes + i * 4 / 8);   // i a multiple of 16
//   StoreCodes<4>(out + i * 4 / 8, q);                   // q in [0, 16)
//
// The functions carry SLIM_AVX512 (F, BW, VL, DQ): call them only from code
// of the same target, after checking the CPU has it (QuantUsesAvx512).
#ifndef SLIMTRAIN_ENGINE_CPU_AVX512_CODES_H_
#define SLIMTRAIN_ENGINE_CPU_AVX512_CODES_H_

// GCC 12 reports the _mm512_undefined_*() placeholders inside its own
// intrinsics headers as "(maybe) uninitialized" at -O3 (a known false
// positive); it is not about this project's code. (The pragma holds for the
// rest of the including file.)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#define SLIM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

namespace slimtrain::engine::cpu {

// Codes of 16 consecutive elements starting at a multiple of 16: kBits·2
// bytes at p.
template <int kBits>
SLIM_AVX512 inline __m512i LoadCodes(const uint8_t* p) {
  if constexpr (kBits == 8) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else if constexpr (kBits == 4) {
    __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));  // 8 bytes
    b = _mm_unpacklo_epi8(b, b);                                       // byte k twice
    const __m512i shift = _mm512_set_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0);
    return _mm512_and_si512(_mm512_srlv_epi32(_mm512_cvtepu8_epi32(b), shift), _mm512_set1_epi32(0xf));
  } else {
    int32_t word;
    std::memcpy(&word, p, sizeof(word));  // 4 bytes
    __m128i b = _mm_cvtsi32_si128(word);
    b = _mm_unpacklo_epi8(b, b);
    b = _mm_unpacklo_epi16(b, b);  // byte k four times
    const __m512i shift = _mm512_set_epi32(6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0);
    return _mm512_and_si512(_mm512_srlv_epi32(_mm512_cvtepu8_epi32(b), shift), _mm512_set1_epi32(0x3));
  }
}

// Writes the kBits·2 bytes of 16 codes in [0, 2^kBits) at p.
template <int kBits>
SLIM_AVX512 inline void StoreCodes(uint8_t* p, __m512i q) {
  if constexpr (kBits == 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(q));
  } else if constexpr (kBits == 4) {
    const __m512i shift = _mm512_set_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0);
    const __m128i b = _mm512_cvtepi32_epi8(_mm512_sllv_epi32(q, shift));  // byte l = q_l << 4(l&1)
    const __m128i pairs = _mm_or_si128(b, _mm_srli_epi16(b, 8));          // low byte of each word
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_cvtepi16_epi8(pairs));
  } else {
    const __m512i shift = _mm512_set_epi32(6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0);
    const __m128i b = _mm512_cvtepi32_epi8(_mm512_sllv_epi32(q, shift));
    __m128i quads = _mm_or_si128(b, _mm_srli_epi32(b, 8));
    quads = _mm_or_si128(quads, _mm_srli_epi32(quads, 16));  // low byte of each dword
    const int32_t word = _mm_cvtsi128_si32(_mm_cvtepi32_epi8(quads));
    std::memcpy(p, &word, sizeof(word));
  }
}

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_AVX512_CODES_H_
