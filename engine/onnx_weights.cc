// See onnx_weights.h.
#include "engine/onnx_weights.h"

#include <cstring>

#include "engine/checkpoint.h"
#include "engine/safetensors.h"
#include "planner/file_util.h"
#include "planner/onnx_import.h"
#include "planner/status_macros.h"

namespace slimtrain::engine {

namespace {

// `im`'s weights into `params` (every tensor must be there).
absl::Status SetWeights(const planner::OnnxImport& im, const std::string& source, ParameterRegion& params) {
  SafetensorsFile file;
  for (const planner::OnnxWeight& w : im.weights) {
    SafeTensor t;
    t.name = w.name;
    t.dtype = "F32";
    t.shape = w.shape;
    t.bytes.resize(w.values.size() * sizeof(float));
    std::memcpy(t.bytes.data(), w.values.data(), t.bytes.size());
    file.tensors.push_back(std::move(t));
  }
  return ImportWeights(file, params, source);
}

}  // namespace

absl::StatusOr<int> LoadOnnxInitialWeights(const std::string& model_file, ParameterRegion& params) {
  if (model_file.empty()) return 0;
  SLIM_ASSIGN_OR_RETURN(std::string bytes, planner::ReadFile(model_file));
  if (!planner::LooksLikeOnnx(bytes)) return 0;
  SLIM_ASSIGN_OR_RETURN(planner::OnnxImport im, planner::ImportOnnx(bytes, model_file, {}));
  SLIM_RETURN_IF_ERROR(SetWeights(im, model_file, params));
  return static_cast<int>(im.weights.size());
}

absl::Status SetOnnxInitialWeights(const std::string& onnx_bytes, const std::string& source,
                                   ParameterRegion& params) {
  SLIM_ASSIGN_OR_RETURN(planner::OnnxImport im, planner::ImportOnnx(onnx_bytes, source, {}));
  return SetWeights(im, source, params);
}

}  // namespace slimtrain::engine
