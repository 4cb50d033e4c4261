// slimtrain import MODEL.onnx: what each ONNX node becomes, and the model as
// an editable file (planner/onnx_import.h).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/flags.h"
#include "client/commands.h"
#include "planner/graph.h"
#include "planner/model_io.h"
#include "planner/onnx_import.h"

namespace slimtrain::client {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "slimtrain import: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int RunImportCommand(const std::vector<std::string>& args) {
  std::string output, format = "text", loss = "cross_entropy", name;
  base::FlagSet flags("slimtrain import",
                      "Imports an ONNX model (torch.onnx.export(model, x, \"m.onnx\"), opsets 11-17): prints what\n"
                      "each ONNX node becomes, the model's parameters and input, and with --output writes it as a\n"
                      "model file (the graph: the weights stay in the .onnx file). Any command's --model-file takes\n"
                      "the .onnx file directly, too, and training starts from its initializers. Unsupported nodes\n"
                      "are listed all at once.",
                      "slimtrain import resnet18.onnx --output resnet18.pbtxt");
  flags.String("output", &output, "write the model to this file (text or JSON, --format)");
  flags.String("format", &format, "text (protobuf text format) or json");
  flags.String("loss", &loss, "the loss on the graph's output: cross_entropy or mse");
  flags.String("name", &name, "the model's name (default: the ONNX graph's)");
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  const std::vector<std::string>& pos = flags.positional();
  if (flags.help_requested() || pos.size() != 1) {
    std::cout << flags.Usage();
    return flags.help_requested() ? 0 : 2;
  }
  if (format != "text" && format != "json") {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--format: '", format, "' is not text or json")));
  }
  if (loss != "cross_entropy" && loss != "mse") {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--loss: '", loss, "' is not cross_entropy or mse")));
  }
  absl::StatusOr<std::string> bytes = base::ReadFile(pos[0]);
  if (!bytes.ok()) return Fail(bytes.status());
  planner::OnnxImportOptions options;
  options.loss = loss;
  options.name = name;
  options.weight_values = false;  // the report and the graph need no values
  absl::StatusOr<planner::OnnxImport> im = planner::ImportOnnx(*bytes, pos[0], options);
  if (!im.ok()) return Fail(im.status());
  absl::StatusOr<planner::Graph> graph = planner::Graph::Build(im->spec);
  if (!graph.ok()) return Fail(absl::Status(graph.status().code(), absl::StrCat(pos[0], ": the imported model: ",
                                                                                 graph.status().message())));
  std::cout << planner::OnnxReportText(*im);
  std::cout << absl::StrFormat("\nmodel '%s': input %s, %d layers, %d parameters, loss %s over %s\n",
                               im->spec.name(), planner::DimsString(graph->node(0).out), im->spec.layers_size(),
                               graph->parameter_count(), loss,
                               planner::DimsString(graph->node(graph->loss()).input_dims[0]));
  if (output.empty()) return 0;
  const std::string contents = format == "json" ? planner::ModelToJson(im->spec) : planner::ModelToText(im->spec);
  if (absl::Status s = base::WriteFileAtomically(output, contents); !s.ok()) return Fail(s);
  std::cerr << "wrote " << output << "\n";
  return 0;
}

}  // namespace slimtrain::client
