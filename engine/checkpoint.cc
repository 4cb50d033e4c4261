// See checkpoint.h.
#include "engine/checkpoint.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "engine/data_metadata.h"

namespace slimtrain::engine {
namespace {

int64_t Count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// `count` elements of the region starting at `offset`, as float32 bytes.
std::string AsFloat32(const ParameterRegion& params, int64_t offset, int64_t count) {
  std::string bytes(count * 4, '\0');
  for (int64_t i = 0; i < count; ++i) {
    const float v = static_cast<float>(params.Get(offset + i));
    std::memcpy(&bytes[i * 4], &v, 4);
  }
  return bytes;
}

std::string RawBytes(const void* base, int64_t offset_bytes, int64_t bytes) {
  return std::string(static_cast<const char*>(base) + offset_bytes, bytes);
}

// The batch norms' names: tensors "<bn>.running_mean" exist for each.
std::vector<std::string> BatchNormNames(const ParameterRegion& params) {
  std::vector<std::string> names;
  const std::string suffix = ".running_mean";
  for (const NamedTensor& t : params.tensors()) {
    if (t.name.size() > suffix.size() && t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      names.push_back(t.name.substr(0, t.name.size() - suffix.size()));
    }
  }
  return names;
}

}  // namespace

SafetensorsFile ExportWeights(const ParameterRegion& params, int64_t num_batches_tracked,
                              const std::map<std::string, std::string>& metadata) {
  SafetensorsFile file;
  file.metadata = metadata;
  file.metadata["format"] = "pt";
  for (const NamedTensor& t : params.tensors()) {
    file.tensors.push_back({t.name, "F32", t.shape, AsFloat32(params, t.offset, Count(t.shape))});
  }
  for (const std::string& bn : BatchNormNames(params)) {
    std::string bytes(8, '\0');
    std::memcpy(&bytes[0], &num_batches_tracked, 8);
    file.tensors.push_back({bn + ".num_batches_tracked", "I64", {}, bytes});
  }
  return file;
}

absl::Status ImportWeights(const SafetensorsFile& file, ParameterRegion& params, absl::string_view filename) {
  std::map<std::string, const SafeTensor*> by_name;
  for (const SafeTensor& t : file.tensors) by_name[t.name] = &t;
  for (const NamedTensor& want : params.tensors()) {
    auto it = by_name.find(want.name);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(absl::StrCat(filename, ": tensor '", want.name, "' is missing"));
    }
    const SafeTensor& t = *it->second;
    if (t.shape != want.shape || (t.dtype != "F32" && t.dtype != "F64")) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: tensor '%s' is %s [%s], expected F32 [%s]", filename,
                                                        want.name, t.dtype, absl::StrJoin(t.shape, ","),
                                                        absl::StrJoin(want.shape, ",")));
    }
    const int64_t count = Count(want.shape);
    for (int64_t i = 0; i < count; ++i) {
      double v;
      if (t.dtype == "F32") {
        float f;
        std::memcpy(&f, &t.bytes[i * 4], 4);
        v = f;
      } else {
        std::memcpy(&v, &t.bytes[i * 8], 8);
      }
      params.Set(want.offset + i, v);
    }
  }
  return absl::OkStatus();
}

absl::Status WriteWeights(const std::string& path, const ParameterRegion& params, int64_t num_batches_tracked,
                          const std::map<std::string, std::string>& metadata) {
  return base::WriteFileAtomically(path, EncodeSafetensors(ExportWeights(params, num_batches_tracked, metadata)));
}

absl::Status SaveCheckpoint(const std::string& path, const ParameterRegion& params, const TrainingState& state) {
  SafetensorsFile file = ExportWeights(params, state.step);
  // The exact parameters in their own element type (the float32 copies above
  // serve PyTorch), then the optimizer state.
  const std::string dtype = params.dtype() == DType::kF32 ? "F32" : "F64";
  const int64_t elem = SizeOf(params.dtype());
  file.tensors.push_back({"exact.parameters", dtype, {params.total_count()},
                          RawBytes(params.data(), 0, params.total_count() * elem)});
  for (int slot = 0; slot < params.optimizer_slots(); ++slot) {
    file.tensors.push_back({absl::StrCat("optimizer.", slot), dtype, {params.trainable_count()},
                            RawBytes(params.optimizer_state(slot), 0, params.trainable_count() * elem)});
  }
  file.metadata = state.info;
  file.metadata["format"] = kCheckpointFormat;
  file.metadata["version"] = absl::StrCat(kCheckpointVersion);
  file.metadata["step"] = absl::StrCat(state.step);
  file.metadata["epoch"] = absl::StrCat(state.epoch);
  file.metadata["position"] = absl::StrCat(state.position);
  file.metadata["seed"] = absl::StrCat(state.seed);
  return base::WriteFileAtomically(path, EncodeSafetensors(file));
}

absl::StatusOr<TrainingState> LoadCheckpoint(const std::string& path, ParameterRegion& params) {
  SLIM_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensors(path));
  auto bad = [&](const std::string& why) { return absl::InvalidArgumentError(absl::StrCat(path, ": ", why)); };
  if (file.metadata["format"] != kCheckpointFormat) {
    return bad(absl::StrCat("not a slimtrain checkpoint (format '", file.metadata["format"], "')"));
  }
  if (file.metadata["version"] != absl::StrCat(kCheckpointVersion)) {
    return bad(absl::StrCat("checkpoint version ", file.metadata["version"], ", this build reads ",
                            kCheckpointVersion));
  }
  TrainingState state;
  uint64_t seed = 0;
  if (!absl::SimpleAtoi(file.metadata["step"], &state.step) || !absl::SimpleAtoi(file.metadata["epoch"], &state.epoch) ||
      !absl::SimpleAtoi(file.metadata["position"], &state.position) ||
      !absl::SimpleAtoi(file.metadata["seed"], &seed)) {
    return bad("metadata step, epoch, position or seed missing or not a number");
  }
  state.seed = seed;
  std::map<std::string, const SafeTensor*> by_name;
  for (const SafeTensor& t : file.tensors) by_name[t.name] = &t;
  const int64_t elem = SizeOf(params.dtype());
  auto restore = [&](const std::string& name, void* dst, int64_t count) -> absl::Status {
    auto it = by_name.find(name);
    if (it == by_name.end() || static_cast<int64_t>(it->second->bytes.size()) != count * elem) {
      return bad(absl::StrFormat("tensor '%s' is missing or not %d elements of %d bytes (another model, "
                                 "element type or optimizer?)",
                                 name, count, elem));
    }
    std::memcpy(dst, it->second->bytes.data(), count * elem);
    return absl::OkStatus();
  };
  SLIM_RETURN_IF_ERROR(restore("exact.parameters", params.data(), params.total_count()));
  for (int slot = 0; slot < params.optimizer_slots(); ++slot) {
    SLIM_RETURN_IF_ERROR(restore(absl::StrCat("optimizer.", slot), params.optimizer_state(slot),
                                 params.trainable_count()));
  }
  for (const auto& [k, v] : file.metadata) {
    if (k != "format" && k != "version" && k != "step" && k != "epoch" && k != "position" && k != "seed") {
      state.info[k] = v;
    }
  }
  return state;
}

absl::StatusOr<SafetensorsFile> WeightsOfCheckpoint(const std::string& bytes, absl::string_view filename,
                                                    int64_t* step) {
  SLIM_ASSIGN_OR_RETURN(SafetensorsFile file, DecodeSafetensors(bytes, filename));
  auto bad = [&](const std::string& why) { return absl::InvalidArgumentError(absl::StrCat(filename, ": ", why)); };
  if (file.metadata["format"] != kCheckpointFormat) {
    return bad(absl::StrCat("not a slimtrain checkpoint (format '", file.metadata["format"], "')"));
  }
  if (!absl::SimpleAtoi(file.metadata["step"], step)) return bad("metadata step missing or not a number");
  // The data's entries (data_metadata.h), so the weights say how to feed them.
  SLIM_ASSIGN_OR_RETURN(DataMetadata data, ParseDataMetadata(file.metadata, std::string(filename)));
  SafetensorsFile weights;
  if (data.recorded()) weights.metadata = MetadataEntries(data);  // older checkpoints have none
  weights.metadata["format"] = "pt";
  for (SafeTensor& t : file.tensors) {
    if (t.name != "exact.parameters" && !absl::StartsWith(t.name, "optimizer.")) weights.tensors.push_back(std::move(t));
  }
  return weights;
}

}  // namespace slimtrain::engine
