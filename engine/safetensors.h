// safetensors.h — the safetensors file format (huggingface/safetensors'
// published layout), for exported weights and checkpoints.
//
// A file is: an 8-byte little-endian header length N; N bytes of JSON
// {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//  ..., "__metadata__": {"<key>": "<value>", ...}}, padded with spaces to a
// multiple of 8; then the tensors' bytes, little-endian, row-major, each at
// [begin, end) of that data section, contiguous and in order.
//
//   SafetensorsFile f;
//   f.tensors.push_back({"fc.weight", "F32", {10, 64}, bytes});
//   f.metadata["format"] = "pt";
//   std::string file = EncodeSafetensors(f);
//   SLIM_ASSIGN_OR_RETURN(SafetensorsFile back, DecodeSafetensors(file, "weights.safetensors"));
#ifndef SLIMTRAIN_ENGINE_SAFETENSORS_H_
#define SLIMTRAIN_ENGINE_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slimtrain::engine {

struct SafeTensor {
  std::string name;
  std::string dtype;            // "F32", "F64", "I64", ... (the format's names)
  std::vector<int64_t> shape;   // () for a scalar
  std::string bytes;            // product(shape) * element size bytes
};

struct SafetensorsFile {
  std::vector<SafeTensor> tensors;            // in file order
  std::map<std::string, std::string> metadata;
};

// Bytes per element of a dtype name; 0 for an unknown one.
int64_t DtypeBytes(absl::string_view dtype);

std::string EncodeSafetensors(const SafetensorsFile& file);

// INVALID_ARGUMENT naming `filename`, the tensor and field, and the value
// that is wrong: a short file, bad JSON, an unknown dtype, a shape that is not
// a list of integers >= 0, data_offsets that are not two integers or lie
// outside the data or do not match the shape, overlapping or non-contiguous
// tensors, __metadata__ that is not an object of strings. Header integers
// are exact up to 2^53. Tensors come back in data order (empty tensors before
// the tensor that starts where they sit, ties by name).
absl::StatusOr<SafetensorsFile> DecodeSafetensors(absl::string_view bytes, absl::string_view filename);

// Reads the file at `path` and decodes it (errors name `path`).
absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_SAFETENSORS_H_
