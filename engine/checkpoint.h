// checkpoint.h — trained weights as safetensors (PyTorch state_dict names),
// and checkpoints that resume a run exactly.
//
//   // Export: load in PyTorch with model.load_state_dict(load_file(path), strict=True).
//   SLIM_RETURN_IF_ERROR(WriteWeights("resnet18.safetensors", exec->params(), exec->steps_run()));
//
//   TrainingState state{.step = 1200, .epoch = 3, .position = 2560, .seed = 1};
//   SLIM_RETURN_IF_ERROR(SaveCheckpoint("run/checkpoint.safetensors", exec->params(), state));
//   SLIM_ASSIGN_OR_RETURN(TrainingState resumed, LoadCheckpoint(path, exec->params()));
//
// Weights: every parameter and batch-norm running statistic as float32 under
// its PyTorch state_dict name ("layer1.0.conv1.weight", "bn1.running_var"),
// in the graph's layer order, plus "<bn>.num_batches_tracked" (int64 scalar)
// for every batch norm, so torchvision's models load them strictly.
// Checkpoints add the optimizer state ("optimizer.<slot>.<name>") in the
// parameters' own element type, and in __metadata__ the format
// ("slimtrain-checkpoint"), its version, and the training position. Data order
// and dropout are functions of (seed, epoch, position, step), so nothing else
// is needed to resume. Writes are atomic: a crash leaves the old file.
//
// The data the weights were trained on (data_metadata.h) goes into
// __metadata__ of both, as JSON strings: "input_shape" ([3, 32, 32]),
// "input_scale" ("1/255": x = pixel / 255), "classes" (label i's name) and,
// when training normalised, "mean" and "std" per channel. `slimtrain eval`
// normalises with them; in PyTorch the same input is
//
//   meta = safetensors.safe_open(path, "pt").metadata()
//   mean, std = json.loads(meta["mean"]), json.loads(meta["std"])
//   x = transforms.Normalize(mean, std)(transforms.ToTensor()(image))
#ifndef SLIMTRAIN_ENGINE_CHECKPOINT_H_
#define SLIMTRAIN_ENGINE_CHECKPOINT_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "engine/params.h"
#include "engine/safetensors.h"

namespace slimtrain::engine {

inline constexpr char kCheckpointFormat[] = "slimtrain-checkpoint";
inline constexpr int kCheckpointVersion = 1;

// Where a run is.
struct TrainingState {
  int64_t step = 0;      // optimizer steps done
  int64_t epoch = 0;     // of the training batches
  int64_t position = 0;  // examples of that epoch served
  uint64_t seed = 0;
  std::map<std::string, std::string> info;  // free-form: model, strategy, ...
};

// `metadata` (e.g. MetadataEntries of data_metadata.h) joins "format": "pt".
SafetensorsFile ExportWeights(const ParameterRegion& params, int64_t num_batches_tracked,
                              const std::map<std::string, std::string>& metadata = {});

// Sets every parameter and running statistic from `file`; INVALID_ARGUMENT
// naming `filename` and the tensor for a missing tensor or a wrong shape.
// Extra tensors (optimizer state) are ignored.
absl::Status ImportWeights(const SafetensorsFile& file, ParameterRegion& params, absl::string_view filename);

// Writes ExportWeights to `path`, atomically.
absl::Status WriteWeights(const std::string& path, const ParameterRegion& params, int64_t num_batches_tracked,
                          const std::map<std::string, std::string>& metadata = {});

// Writes the parameters, optimizer state and `state` (state.info goes into
// __metadata__ as it is: the trainer puts the data's metadata there).
absl::Status SaveCheckpoint(const std::string& path, const ParameterRegion& params, const TrainingState& state);

// Restores parameters and optimizer state into `params` (which must be of the
// same model, element type and optimizer); returns the training state, with
// every other __metadata__ entry in state.info.
// NOT_FOUND for a missing file; INVALID_ARGUMENT naming the file for a wrong
// format, version, element type or tensor.
absl::StatusOr<TrainingState> LoadCheckpoint(const std::string& path, ParameterRegion& params);

// The weights a checkpoint holds, as ExportWeights would write them: the
// checkpoint's tensors less its exact parameter copy and optimizer state,
// __metadata__ "format": "pt" and the data's entries (data_metadata.h);
// *step: the step it was taken at. INVALID_ARGUMENT naming `filename` for
// bytes that are not a checkpoint.
absl::StatusOr<SafetensorsFile> WeightsOfCheckpoint(const std::string& bytes, absl::string_view filename,
                                                    int64_t* step);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_CHECKPOINT_H_
