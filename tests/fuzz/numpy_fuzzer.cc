// numpy_fuzzer — a user's NumPy file as the npy and npz datasets read it: an
// .npz (ZIP) archive's x.npy and y.npy entries, or one .npy file as both x
// and y, made into a Dataset for a few model inputs.
//
// Checks besides "no crash": a parsed array's payload is exactly its
// elements times its item size; a dataset made holds exactly N examples of
// the input's elements, and its labels lie in [0, classes).
#include <cstddef>
#include <cstdint>
#include <map>

#include "absl/strings/string_view.h"
#include "engine/npy.h"
#include "engine/numpy_data.h"
#include "engine/zip_reader.h"
#include "tests/fuzz/fuzz_util.h"

namespace slimtrain::fuzz {
namespace {

void CheckDataset(absl::string_view x, absl::string_view y) {
  const engine::NumpyTarget targets[] = {{{1, 2, 2}, 3, 0}, {{3, 2, 2}, 4, 0}, {{4}, 1, 2}, {{2}, 5, 0}};
  for (const engine::NumpyTarget& t : targets) {
    absl::StatusOr<engine::Dataset> d = engine::DatasetFromNpy(x, "x.npy", y, "y.npy", t);
    if (!d.ok()) continue;
    const int64_t elements = d->example_elements();
    FUZZ_CHECK(static_cast<int64_t>(d->pixels.size() + d->values.size()) == d->size * elements,
               "inputs for " << d->size << " examples of " << elements);
    for (int32_t label : d->labels) FUZZ_CHECK(label >= 0 && label < t.classes, "label " << label);
    FUZZ_CHECK(static_cast<int64_t>(d->targets.size()) == d->size * d->targets_per_example, "targets");
  }
}

}  // namespace
}  // namespace slimtrain::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slimtrain;  // NOLINT: a fuzz target's one function
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.substr(0, 2) == "PK") {
    absl::StatusOr<std::map<std::string, std::string>> entries =
        engine::ReadZipEntries(bytes, "fuzz.npz", {"x.npy", "y.npy"}, int64_t{64} << 20);
    if (entries.ok()) fuzz::CheckDataset((*entries)["x.npy"], (*entries)["y.npy"]);
    return 0;
  }
  absl::StatusOr<engine::NpyArray> a = engine::ParseNpy(bytes, "fuzz.npy");
  if (!a.ok()) return 0;
  FUZZ_CHECK(static_cast<int64_t>(a->data.size()) == a->elements() * a->item_bytes,
             a->data.size() << " payload bytes for " << a->ShapeText() << " of " << a->descr);
  for (int64_t i = 0; i < std::min<int64_t>(a->elements(), 16); ++i) (void)a->Float(i);
  fuzz::CheckDataset(bytes, bytes);
  return 0;
}
