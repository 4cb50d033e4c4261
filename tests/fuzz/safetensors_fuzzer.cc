// safetensors_fuzzer — a safetensors file as DecodeSafetensors reads it (the
// weights users download and import, the container of every checkpoint).
//
// Checks besides "no crash": every decoded tensor holds exactly
// product(shape) elements of its dtype, with no negative dimension; and
// EncodeSafetensors of a decoded file decodes back to the same tensors and
// metadata.
#include <cstddef>
#include <cstdint>

#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

namespace slimtrain::fuzz {
namespace {

void CheckTensor(const engine::SafeTensor& t) {
  int64_t count = 1;
  for (int64_t d : t.shape) {
    FUZZ_CHECK(d >= 0, "tensor '" << t.name << "' has shape [" << absl::StrJoin(t.shape, ",") << "]");
    count *= d;
  }
  FUZZ_CHECK(static_cast<int64_t>(t.bytes.size()) == count * engine::DtypeBytes(t.dtype),
             "tensor '" << t.name << "': " << t.bytes.size() << " bytes for " << t.dtype << " ["
                        << absl::StrJoin(t.shape, ",") << "]");
}

bool Same(const engine::SafetensorsFile& a, const engine::SafetensorsFile& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const engine::SafeTensor &x = a.tensors[i], &y = b.tensors[i];
    if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape || x.bytes != y.bytes) return false;
  }
  return true;
}

}  // namespace
}  // namespace slimtrain::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slimtrain;  // NOLINT: a fuzz target's one function
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<engine::SafetensorsFile> file = engine::DecodeSafetensors(bytes, "fuzz.safetensors");
  if (!file.ok()) return 0;
  for (const engine::SafeTensor& t : file->tensors) fuzz::CheckTensor(t);
  const std::string encoded = engine::EncodeSafetensors(*file);
  absl::StatusOr<engine::SafetensorsFile> back = engine::DecodeSafetensors(encoded, "encoded.safetensors");
  FUZZ_CHECK(back.ok(), "a decoded file, encoded again, does not decode: " << back.status());
  FUZZ_CHECK(fuzz::Same(*file, *back), "a decoded file, encoded again, decodes to other tensors or metadata");
  return 0;
}
