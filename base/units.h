// units.h — byte and FLOP quantities as people write and read them.
//
//   ParseBytes("16GiB") == 17179869184;  ParseBytes("1.5 GB") == 1500000000
//   FormatBytes(17179869184) == "16.0 GiB"
#ifndef SLIMTRAIN_BASE_UNITS_H_
#define SLIMTRAIN_BASE_UNITS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slimtrain::base {

// A size: a number (integer or decimal) with an optional unit, case-insensitive:
// B, KiB, MiB, GiB, TiB (powers of 1024), KB, MB, GB, TB (powers of 1000), and
// K, M, G, T as the binary units. INVALID_ARGUMENT (naming `field` and the
// text) for anything else, a negative size or one beyond 2^62 bytes.
absl::StatusOr<int64_t> ParseBytes(absl::string_view text, absl::string_view field = "size");

// Binary units with one decimal: "512 B", "3.0 KiB", "21.3 GiB".
std::string FormatBytes(int64_t bytes);

// FLOPs with SI prefixes: "1.2 GFLOP", "350.0 TFLOP".
std::string FormatFlops(int64_t flops);

}  // namespace slimtrain::base

#endif  // SLIMTRAIN_BASE_UNITS_H_
