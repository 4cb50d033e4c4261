// checkpoint_fuzzer — a training checkpoint as a resumed job reads it
// (LoadCheckpoint, into the parameter region of a small fixed model,
// fuzz_util.h's CheckpointGraph), and the same bytes as exported weights
// (DecodeSafetensors → ImportWeights into that region).
//
// Checks besides "no crash": the metadata keys the loader consumes (format,
// version, step, ...) are not passed on as free-form info.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/checkpoint.h"
#include "engine/params.h"
#include "engine/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slimtrain;  // NOLINT: a fuzz target's one function
  // sgd with momentum: one optimizer slot, as the seed checkpoint was written.
  static engine::ParameterRegion* const params =
      new engine::ParameterRegion(fuzz::CheckpointGraph(), engine::DType::kF32, /*optimizer_slots=*/1);
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  // LoadCheckpoint reads a path: the job folder's checkpoint file.
  const std::string path = fuzz::WriteScratchFile("checkpoint.safetensors", bytes);
  absl::StatusOr<engine::TrainingState> state = engine::LoadCheckpoint(path, *params);
  if (state.ok()) {
    for (const char* key : {"format", "version", "step", "epoch", "position", "seed"}) {
      FUZZ_CHECK(state->info.count(key) == 0, "metadata '" << key << "' passed on as info");
    }
  }
  absl::StatusOr<engine::SafetensorsFile> weights = engine::DecodeSafetensors(bytes, "fuzz.safetensors");
  if (weights.ok()) engine::ImportWeights(*weights, *params, "fuzz.safetensors").IgnoreError();
  return 0;
}
