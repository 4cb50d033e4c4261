// See onnx_weights.h.
#include "engine/onnx_weights.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "planner/onnx_import.h"

namespace slimtrain::engine {

namespace {

// `im`'s weights into `params` (every tensor must be there, shaped as the
// region's), set in place: no second copy of a large model's weights.
absl::Status SetWeights(const planner::OnnxImport& im, const std::string& source, ParameterRegion& params) {
  std::map<std::string, const planner::OnnxWeight*> by_name;
  for (const planner::OnnxWeight& w : im.weights) by_name[w.name] = &w;
  for (const NamedTensor& want : params.tensors()) {
    auto it = by_name.find(want.name);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": tensor '", want.name, "' is missing"));
    }
    const planner::OnnxWeight& w = *it->second;
    if (w.shape != want.shape) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: tensor '%s' is F32 [%s], expected F32 [%s]", source,
                                                        want.name, absl::StrJoin(w.shape, ","),
                                                        absl::StrJoin(want.shape, ",")));
    }
    for (size_t i = 0; i < w.values.size(); ++i) params.Set(want.offset + static_cast<int64_t>(i), w.values[i]);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> LoadOnnxInitialWeights(const std::string& model_file, ParameterRegion& params) {
  if (model_file.empty()) return 0;
  SLIM_ASSIGN_OR_RETURN(std::string bytes, base::ReadFile(model_file));
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
