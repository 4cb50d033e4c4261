// See model_flags.h.
#include "client/model_flags.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "planner/model_io.h"
#include "planner/status_macros.h"
#include "planner/zoo.h"

namespace slimtrain::client {

absl::StatusOr<v1::ModelRef> ModelRefFromFlags(const std::string& model, const std::string& model_file) {
  if (model.empty() == model_file.empty()) {
    return absl::InvalidArgumentError(
        "give the model with exactly one of --model zoo:NAME (see slimtrain zoo list) and --model-file FILE");
  }
  v1::ModelRef ref;
  if (!model_file.empty()) {
    SLIM_ASSIGN_OR_RETURN(*ref.mutable_spec(), planner::LoadModelFile(model_file));
    return ref;
  }
  const std::string name = absl::StartsWith(model, "zoo:") ? model.substr(4) : model;
  absl::StatusOr<v1::ModelSpec> spec = planner::ZooModel(name);
  if (!spec.ok()) return absl::InvalidArgumentError(absl::StrCat("--model: ", spec.status().message()));
  ref.set_zoo(name);
  return ref;
}

}  // namespace slimtrain::client
