// npy.h — one NumPy array from the bytes of a .npy file (np.save's format,
// versions 1.0, 2.0 and 3.0).
//
//   SLIM_ASSIGN_OR_RETURN(NpyArray x, ParseNpy(bytes, "train_x.npy"));
//   // x.kind 'f', x.item_bytes 4, x.shape {60000, 28, 28}; x.Float(i), x.Int(i)
//
// The header is a Python dict literal, {'descr': '<f4', 'fortran_order':
// False, 'shape': (60000, 28, 28), }, parsed strictly: the three keys, once
// each, and nothing else. Read: booleans ('|b1'), signed and unsigned
// integers of 1, 2, 4 and 8 bytes, float32 and float64, little-endian
// ('<', '|', '=') or big-endian ('>', byte-swapped on access). Refused with
// INVALID_ARGUMENT naming `name` and the field: Fortran order ("save it
// with np.ascontiguousarray"), structured, object, string and other dtypes,
// negative or overflowing shapes, and a payload whose size is not exactly
// the shape's elements times the item size (truncated or extra bytes).
// The payload is not copied: the array points into `bytes`, which must
// outlive it.
#ifndef SLIMTRAIN_ENGINE_NPY_H_
#define SLIMTRAIN_ENGINE_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slimtrain::engine {

struct NpyArray {
  std::string descr;  // as the header gives it, e.g. "<f4"
  char kind = 0;      // 'b' bool, 'i' signed, 'u' unsigned, 'f' float
  int item_bytes = 0;
  bool big_endian = false;
  std::vector<int64_t> shape;
  absl::string_view data;  // C order, elements() * item_bytes bytes

  int64_t elements() const;
  // Element `i` as a double (any kind) and as an integer (integer kinds).
  double Float(int64_t i) const;
  int64_t Int(int64_t i) const;
  // "(60000, 28, 28)", as NumPy prints a shape.
  std::string ShapeText() const;
};

absl::StatusOr<NpyArray> ParseNpy(absl::string_view bytes, const std::string& name);
// The array's data is a view of `bytes`, so they must outlive it: not a temporary.
absl::StatusOr<NpyArray> ParseNpy(std::string&& bytes, const std::string& name) = delete;

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_NPY_H_
