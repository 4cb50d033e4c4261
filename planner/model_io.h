// model_io.h — model files: ModelSpecs in protobuf text format or JSON.
//
// Users export a zoo model, edit it and pass it back (`--model-file`):
//
//   SLIM_ASSIGN_OR_RETURN(v1::ModelSpec spec, ZooModel("resnet56"));
//   SLIM_RETURN_IF_ERROR(WriteFileAtomically("my.pbtxt", ModelToText(spec)));
//   ... edit my.pbtxt ...
//   SLIM_ASSIGN_OR_RETURN(v1::ModelSpec edited, LoadModelFile("my.pbtxt"));
//   SLIM_ASSIGN_OR_RETURN(Graph graph, Graph::Build(edited));   // validates
//
// This file only converts between bytes and the proto: a parsed spec can still
// be an invalid model, which Graph::Build reports. Unknown fields are errors in
// both formats, so a misspelt field name never passes silently.
//
// JSON follows the proto3 JSON mapping; both the proto field names
// ("kernel_size") and the lowerCamelCase ones ("kernelSize") parse. int64
// values print as strings ("dims": ["3", "32", "32"]), as the mapping says;
// plain numbers parse too.
#ifndef SLIMTRAIN_PLANNER_MODEL_IO_H_
#define SLIMTRAIN_PLANNER_MODEL_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/model.pb.h"

namespace slimtrain::planner {

enum class ModelFormat {
  kText,  // protobuf text format (.pbtxt, .textproto, .txt, .prototxt)
  kJson,  // proto3 JSON (.json)
  kOnnx,  // an ONNX model (.onnx, or a binary ModelProto): planner/onnx_import.h
};

// Parses `contents` as a ModelSpec. `filename` only labels errors.
// INVALID_ARGUMENT, in the form compilers use, with 1-based line and column:
//   "my.pbtxt:3:14: Expected integer, got: abc"
//   "my.json:2:11: Expected : between key:value pair."
//   "my.json: (layers[0]): invalid value oneof field 'op' is already set..."
//   "my.pbtxt: layers[2].inputs[0] 'b1.\xc3' is not valid UTF-8"
//   "my.json: layers[2] has an unknown field (number 5)"
// (JSON type errors have no position; they name the field instead.) Every
// string must be valid UTF-8, as proto3 requires, and no unknown field may
// get through (protobuf's JSON parser keeps a "" key as one).
absl::StatusOr<v1::ModelSpec> ParseModel(absl::string_view contents, ModelFormat format,
                                         absl::string_view filename);

// The format of a model file: ONNX for ".onnx" or contents that parse as an
// ONNX ModelProto (by content, whatever the name); else from the extension
// (".json" -> JSON; ".pbtxt", ".textproto", ".txt", ".prototxt" -> text;
// case-insensitive), otherwise sniffed from `contents`: JSON when the first
// non-space character is '{'.
ModelFormat DetectModelFormat(absl::string_view path, absl::string_view contents);

// Reads and parses the model file at `path` (format from DetectModelFormat).
// NOT_FOUND "cannot read 'x': No such file or directory" when it is missing;
// other read errors name the path too; parse errors as ParseModel.
absl::StatusOr<v1::ModelSpec> LoadModelFile(const std::string& path);

// `spec` in protobuf text format: the comment line "# slimtrain model
// '<name>': edit and pass with --model-file", the other fields one a line,
// then one line per layer:
//   layers { name: "conv1" inputs: "input" conv2d { out_channels: 16 ... } }
// ParseModel(ModelToText(s), kText, ...) equals s.
std::string ModelToText(const v1::ModelSpec& spec);

// `spec` as pretty-printed JSON with the proto field names ("out_channels").
// Fields at their defaults are left out. ParseModel(ModelToJson(s), kJson, ...)
// equals s.
std::string ModelToJson(const v1::ModelSpec& spec);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_MODEL_IO_H_
