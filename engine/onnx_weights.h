// onnx_weights.h — an ONNX model file's initializers as a model's initial
// weights (planner/onnx_import.h names them as the parameter region does).
#ifndef SLIMTRAIN_ENGINE_ONNX_WEIGHTS_H_
#define SLIMTRAIN_ENGINE_ONNX_WEIGHTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/params.h"

namespace slimtrain::engine {

// When `model_file` is an ONNX model (by content), sets every parameter and
// running statistic of `params` from its initializers and returns how many
// tensors it set; 0 for any other model file (or none). INVALID_ARGUMENT
// naming the file and the tensor when one is missing (an inference export
// folds batch norms away: export in training mode) or has another shape.
absl::StatusOr<int> LoadOnnxInitialWeights(const std::string& model_file, ParameterRegion& params);

// The same from an ONNX model's bytes (a ModelRef's onnx form); `source`
// labels errors.
absl::Status SetOnnxInitialWeights(const std::string& onnx_bytes, const std::string& source,
                                   ParameterRegion& params);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_ONNX_WEIGHTS_H_
