// slimtrain calibrate: each saved tensor's gradient sensitivity to its code,
// the data `mixed` plans choose bits from (engine/calibrate.h).
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/flags.h"
#include "client/backend_choice.h"
#include "client/commands.h"
#include "client/model_flags.h"
#include "engine/calibrate.h"
#include "engine/checkpoint.h"
#include "engine/dataset_spec.h"
#include "engine/onnx_weights.h"
#include "engine/safetensors.h"
#include "google/protobuf/util/json_util.h"

namespace slimtrain::client {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "slimtrain calibrate: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int RunCalibrateCommand(const std::vector<std::string>& args) {
  std::string model, model_file, weights, dataset = "fashion-mnist", data_dir, output, backend_name = "fast";
  int64_t batch = 128, batches = 2, seed = 1, threads = 0;
  base::FlagSet flags("slimtrain calibrate",
                      "Measures, for every tensor approx-K would code, how much coding it alone at 2, 4 and 8 bits\n"
                      "moves the weight gradient: |g_K - g|^2 / |g|^2 on the same weights and batches. A `mixed`\n"
                      "plan (slimtrain plan/train/submit --sensitivity FILE) spends its budget where this is\n"
                      "largest. 3 forward-backward passes per tensor and batch.",
                      "slimtrain calibrate --model zoo:fmnist_resnet_post --output sensitivity.json");
  flags.String("model", &model, "zoo model, e.g. zoo:fmnist_resnet_post");
  flags.String("model-file", &model_file, "model file: protobuf text format, JSON or ONNX (detected by content)");
  flags.String("weights", &weights, "weights to measure on (.safetensors); default: the seed's initialisation");
  flags.String("dataset", &dataset, absl::StrCat(engine::DatasetNamesText(), " (the training split)"));
  flags.String("data-dir", &data_dir, "folder of the dataset's files");
  flags.Int("batch", &batch, "examples per batch (as the training job's)");
  flags.Int("batches", &batches, "batches averaged over");
  flags.Int("seed", &seed, "initialisation and batch order");
  flags.String("output", &output, "write the table (JSON) here; default: standard output");
  flags.String("backend", &backend_name, kBackendHelp);
  flags.Int("threads", &threads, "CPU threads (default: the machine's cores)");
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  absl::StatusOr<v1::ModelRef> ref = ModelRefFromFlags(model, model_file);
  if (!ref.ok()) return Fail(ref.status());
  absl::StatusOr<planner::Graph> graph = ModelGraph(*ref);
  if (!graph.ok()) return Fail(graph.status());
  // synthetic: exactly the batches measured.
  absl::StatusOr<engine::Dataset> data = engine::LoadNamedDataset(dataset, data_dir, *graph, engine::Split::kTrain,
                                                                  static_cast<uint64_t>(seed), batch * batches);
  if (!data.ok()) return Fail(data.status());
  absl::StatusOr<std::unique_ptr<engine::Backend>> backend = MakeBackend(backend_name, threads);
  if (!backend.ok()) return Fail(backend.status());
  engine::CalibrationOptions options;
  options.batch = batch;
  options.batches = batches;
  options.seed = static_cast<uint64_t>(seed);
  options.stats = engine::ComputeChannelStats(*data);
  engine::SafetensorsFile file;
  if (!weights.empty()) {
    absl::StatusOr<engine::SafetensorsFile> decoded = engine::ReadSafetensors(weights);
    if (!decoded.ok()) return Fail(decoded.status());
    file = *std::move(decoded);
    options.weights = [&file](engine::ParameterRegion& params) {
      return engine::ImportWeights(file, params, "--weights");
    };
  } else if (ref->has_onnx()) {
    options.weights = [&ref](engine::ParameterRegion& params) {
      return engine::SetOnnxInitialWeights(ref->onnx().model(), "--model-file", params);
    };
  }
  options.progress = [](int64_t done, int64_t total) {
    std::cerr << absl::StrFormat("\rslimtrain calibrate: %d/%d tensors", done, total) << std::flush;
    if (done == total) std::cerr << "\n";
  };
  absl::StatusOr<v1::SensitivityTable> table = engine::MeasureSensitivity(*graph, *data, options, backend->get());
  if (!table.ok()) return Fail(table.status());
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.preserve_proto_field_names = true;
  if (auto s = google::protobuf::util::MessageToJsonString(*table, &json, print); !s.ok()) {
    return Fail(absl::InternalError(std::string(s.message())));
  }
  if (output.empty()) {
    std::cout << json;
  } else {
    if (absl::Status w = base::WriteFileAtomically(output, json); !w.ok()) return Fail(w);
    std::cerr << absl::StrFormat("wrote %s: %d tensors of %s at batch %d\n", output, table->tensors_size(),
                                 table->model(), batch);
  }
  return 0;
}

}  // namespace slimtrain::client
