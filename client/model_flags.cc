// See model_flags.h.
#include "client/model_flags.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "planner/model_io.h"
#include "planner/onnx_import.h"
#include "planner/plan_request.h"
#include "planner/zoo.h"

namespace slimtrain::client {

absl::StatusOr<v1::ModelRef> ModelRefFromFlags(const std::string& model, const std::string& model_file) {
  if (model.empty() == model_file.empty()) {
    return absl::InvalidArgumentError(
        "give the model with exactly one of --model zoo:NAME (see slimtrain zoo list) and --model-file FILE");
  }
  v1::ModelRef ref;
  if (!model_file.empty()) {
    // An ONNX model travels as its bytes (its weights with it); it is
    // imported (and checked) here too, so errors come before any request.
    SLIM_ASSIGN_OR_RETURN(std::string bytes, base::ReadFile(model_file));
    if (planner::LooksLikeOnnx(bytes)) {
      planner::OnnxImportOptions options;
      options.weight_values = false;  // checked here, read where it trains
      SLIM_RETURN_IF_ERROR(planner::ImportOnnx(bytes, model_file, options).status());
      ref.mutable_onnx()->set_model(std::move(bytes));
      return ref;
    }
    SLIM_ASSIGN_OR_RETURN(*ref.mutable_spec(), planner::LoadModelFile(model_file));
    return ref;
  }
  const std::string name = absl::StartsWith(model, "zoo:") ? model.substr(4) : model;
  absl::StatusOr<v1::ModelSpec> spec = planner::ZooModel(name);
  if (!spec.ok()) return absl::InvalidArgumentError(absl::StrCat("--model: ", spec.status().message()));
  ref.set_zoo(name);
  return ref;
}

absl::StatusOr<planner::Graph> ModelGraph(const v1::ModelRef& ref) {
  SLIM_ASSIGN_OR_RETURN(const v1::ModelSpec spec, planner::ResolveModel(ref));
  return planner::Graph::Build(spec);
}

}  // namespace slimtrain::client
