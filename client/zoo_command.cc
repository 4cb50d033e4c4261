// slimtrain zoo list | export NAME: the zoo's models, as files users can edit.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/flags.h"
#include "client/commands.h"
#include "planner/graph.h"
#include "planner/model_io.h"
#include "planner/zoo.h"

namespace slimtrain::client {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "slimtrain zoo: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int RunZooCommand(const std::vector<std::string>& args) {
  std::string format = "text", output;
  base::FlagSet flags("slimtrain zoo",
                      "The model zoo.\n"
                      "  slimtrain zoo list                  the models, with parameters and input shape\n"
                      "  slimtrain zoo export NAME [--format text|json] [--output FILE]\n"
                      "                                      the model as a file to edit and pass to --model-file",
                      "slimtrain zoo export resnet56 --output resnet56.pbtxt");
  flags.String("format", &format, "export: text (protobuf text format) or json");
  flags.String("output", &output, "export: write to this file instead of stdout");
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  const std::vector<std::string>& pos = flags.positional();
  if (flags.help_requested() || pos.empty()) {
    std::cout << flags.Usage();
    return flags.help_requested() ? 0 : 2;
  }
  if (pos[0] == "list") {
    std::cout << absl::StrFormat("%-16s %12s %12s  %s\n", "name", "parameters", "input", "description");
    for (const planner::ZooEntry& e : planner::ZooModels()) {
      absl::StatusOr<v1::ModelSpec> spec = planner::ZooModel(e.name);
      if (!spec.ok()) return Fail(spec.status());
      absl::StatusOr<planner::Graph> graph = planner::Graph::Build(*spec);
      if (!graph.ok()) return Fail(graph.status());
      std::cout << absl::StrFormat("%-16s %12d %12s  %s\n", e.name, graph->parameter_count(),
                                   planner::DimsString(graph->node(0).out), e.description);
    }
    return 0;
  }
  if (pos[0] == "export") {
    if (pos.size() != 2) return Fail(absl::InvalidArgumentError("usage: slimtrain zoo export NAME"));
    if (format != "text" && format != "json") {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--format: '", format, "' is not text or json")));
    }
    absl::StatusOr<v1::ModelSpec> spec = planner::ZooModel(pos[1]);
    if (!spec.ok()) return Fail(spec.status());
    const std::string contents = format == "json" ? planner::ModelToJson(*spec) : planner::ModelToText(*spec);
    if (output.empty()) {
      std::cout << contents;
      return 0;
    }
    if (absl::Status s = base::WriteFileAtomically(output, contents); !s.ok()) return Fail(s);
    std::cerr << "wrote " << output << " (" << spec->layers_size() << " layers)\n";
    return 0;
  }
  return Fail(absl::InvalidArgumentError(
      absl::StrCat("unknown zoo command '", pos[0], "'; use list or export (slimtrain zoo --help)")));
}

}  // namespace slimtrain::client
