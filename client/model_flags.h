// model_flags.h — the model a command works on, from --model / --model-file.
//
//   --model zoo:resnet164   a zoo model ("zoo:" may be left out)
//   --model-file FILE       a model in protobuf text format or JSON
#ifndef SLIMTRAIN_CLIENT_MODEL_FLAGS_H_
#define SLIMTRAIN_CLIENT_MODEL_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "planner/graph.h"
#include "proto/model.pb.h"

namespace slimtrain::client {

// Exactly one of `model` and `model_file` must be non-empty; the file is read
// and parsed here (errors name it), a zoo name is checked.
absl::StatusOr<v1::ModelRef> ModelRefFromFlags(const std::string& model, const std::string& model_file);

// The graph of a model reference (a zoo name, a spec or ONNX bytes), for the
// commands that run it here.
absl::StatusOr<planner::Graph> ModelGraph(const v1::ModelRef& ref);

}  // namespace slimtrain::client

#endif  // SLIMTRAIN_CLIENT_MODEL_FLAGS_H_
