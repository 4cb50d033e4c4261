// slimtrain fidelity: approx-K's weight-gradient error per layer, next to SGD's
// own noise.
#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/flags.h"
#include "client/backend_choice.h"
#include "client/commands.h"
#include "client/model_flags.h"
#include "engine/data.h"
#include "engine/dataset_spec.h"
#include "engine/fidelity.h"
#include "planner/strategy.h"

namespace slimtrain::client {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "slimtrain fidelity: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int RunFidelityCommand(const std::vector<std::string>& args) {
  std::string model, model_file, strategy = "approx4", weights, dataset = "fashion-mnist", data_dir, svg,
                                 format = "table", backend_name = "fast";
  int64_t batch = 128, batches = 16, seed = 1, threads = 0;
  bool per_tensor = true;
  base::FlagSet flags("slimtrain fidelity",
                      "The gradient-error report: on the same weights and batch b, per layer, the approximation error\n"
                      "|g_K(b) - g(b)| / |g(b)| of the approx-K weight gradient, next to SGD's own noise: the mean\n"
                      "over other batches b' of |g(b') - mean g| / |mean g|. The paper's claim: the first is an\n"
                      "order of magnitude smaller.",
                      "slimtrain fidelity --model zoo:fmnist_resnet --strategy approx4 --svg fidelity.svg");
  flags.String("model", &model, "zoo model, e.g. zoo:fmnist_resnet");
  flags.String("model-file", &model_file, "model file: protobuf text format, JSON or ONNX (detected by content)");
  flags.String("strategy", &strategy, "approx8, approx4, approx2, naive8 or naive4");
  flags.String("weights", &weights, "trained weights (.safetensors); default: the seed's initialisation");
  flags.String("dataset", &dataset, absl::StrCat(engine::DatasetNamesText(), " (the training split)"));
  flags.String("data-dir", &data_dir, "folder of the dataset's files");
  flags.Int("batch", &batch, "examples per batch");
  flags.Int("batches", &batches, "other batches for SGD's noise");
  flags.Int("seed", &seed, "initialisation and batch order");
  flags.String("svg", &svg, "write the plot to this file");
  flags.String("format", &format, "table or json");
  flags.Bool("per-tensor", &per_tensor, "approx-K: also each coded tensor coded alone (one pass per tensor)");
  flags.String("backend", &backend_name, kBackendHelp);
  flags.Int("threads", &threads, "CPU threads (default: the machine's cores)");
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  absl::StatusOr<planner::Strategy> s = planner::ParseStrategy(strategy);
  if (!s.ok()) return Fail(absl::InvalidArgumentError(absl::StrCat("--strategy: ", s.status().message())));
  absl::StatusOr<v1::ModelRef> ref = ModelRefFromFlags(model, model_file);
  if (!ref.ok()) return Fail(ref.status());
  absl::StatusOr<planner::Graph> graph = ModelGraph(*ref);
  if (!graph.ok()) return Fail(graph.status());
  // synthetic: exactly the batches measured.
  absl::StatusOr<engine::Dataset> data = engine::LoadNamedDataset(
      dataset, data_dir, *graph, engine::Split::kTrain, static_cast<uint64_t>(seed), batch * (batches + 1));
  if (!data.ok()) return Fail(data.status());
  absl::StatusOr<std::unique_ptr<engine::Backend>> backend = MakeBackend(backend_name, threads);
  if (!backend.ok()) return Fail(backend.status());
  engine::FidelityOptions options;
  options.batch = batch;
  options.other_batches = batches;
  options.seed = static_cast<uint64_t>(seed);
  options.per_tensor = per_tensor;
  engine::SafetensorsFile file;
  if (!weights.empty()) {
    absl::StatusOr<engine::SafetensorsFile> decoded = engine::ReadSafetensors(weights);
    if (!decoded.ok()) return Fail(decoded.status());
    file = *std::move(decoded);
    options.weights = &file;
  }
  std::cerr << "slimtrain fidelity: " << batches + 2 << " forward-backward passes at batch " << batch
            << (per_tensor ? ", then one per coded tensor" : "") << "...\n";
  absl::StatusOr<engine::FidelityReport> r = engine::MeasureFidelity(*graph, *s, *data, options, backend->get());
  if (!r.ok()) return Fail(r.status());
  if (format == "json") {
    std::cout << absl::StrFormat("{\n  \"model\": \"%s\",\n  \"strategy\": \"%s\",\n  \"median_ratio\": %.4g,\n"
                                 "  \"layers\": [",
                                 r->model, r->strategy, r->median_ratio);
    for (size_t i = 0; i < r->layers.size(); ++i) {
      const auto& l = r->layers[i];
      std::cout << absl::StrFormat(
          "%s\n    {\"layer\": \"%s\", \"input\": \"%s\", \"approx_error\": %.6g, \"sgd_noise\": %.6g}",
          i == 0 ? "" : ",", l.layer, l.input, l.approx_error, l.sgd_noise);
    }
    std::cout << absl::StrFormat("\n  ],\n  \"model_error\": %.6g,\n  \"model_sgd_noise\": %.6g,\n  \"tensors\": [",
                                 r->model_error, r->model_sgd_noise);
    for (size_t i = 0; i < r->tensors.size(); ++i) {
      const auto& t = r->tensors[i];
      std::cout << absl::StrFormat("%s\n    {\"tensor\": \"%s\", \"coding\": \"%s\", \"approx_error\": %.6g}",
                                   i == 0 ? "" : ",", t.tensor, t.coding, t.approx_error);
    }
    std::cout << "\n  ]\n}\n";
  } else {
    std::cout << absl::StrFormat("%s, %s, batch %d, SGD noise over %d batches\n\n%-28s %-16s %14s %14s %10s\n",
                                 r->model, r->strategy, r->batch, r->other_batches, "layer", "input kept as",
                                 "approx error", "SGD noise", "ratio");
    for (const auto& l : r->layers) {
      std::cout << absl::StrFormat("%-28s %-16s %14.4g %14.4g %10s\n", l.layer, l.input, l.approx_error, l.sgd_noise,
                                   l.approx_error > 0 ? absl::StrFormat("%.1fx", l.sgd_noise / l.approx_error)
                                                      : std::string("exact"));
    }
    std::cout << absl::StrFormat("\nmedian SGD noise / approx error over the approximated layers: %.1fx\n",
                                 r->median_ratio);
    std::cout << absl::StrFormat("every conv2d/linear weight together: approx error %.4g, SGD noise %.4g (%.1fx)\n",
                                 r->model_error, r->model_sgd_noise,
                                 r->model_error > 0 ? r->model_sgd_noise / r->model_error : 0.0);
    if (!r->tensors.empty()) {
      std::cout << absl::StrFormat("\neach coded tensor alone, error of every conv2d/linear weight together\n\n"
                                   "%-28s %-16s %14s %14s %10s\n",
                                   "tensor (output of)", "kept as", "approx error", "SGD noise", "ratio");
      double worst = 0;
      for (const auto& t : r->tensors) {
        std::cout << absl::StrFormat("%-28s %-16s %14.4g %14.4g %10s\n", t.tensor, t.coding, t.approx_error,
                                     r->model_sgd_noise,
                                     t.approx_error > 0
                                         ? absl::StrFormat("%.1fx", r->model_sgd_noise / t.approx_error)
                                         : std::string("exact"));
        worst = std::max(worst, t.approx_error);
      }
      std::cout << absl::StrFormat("largest tensor error / SGD noise: %.3g\n",
                                   r->model_sgd_noise > 0 ? worst / r->model_sgd_noise : 0.0);
    }
  }
  if (!svg.empty()) {
    if (absl::Status w = base::WriteFileAtomically(svg, engine::FidelitySvg(*r)); !w.ok()) return Fail(w);
    std::cerr << "wrote " << svg << "\n";
  }
  return 0;
}

}  // namespace slimtrain::client
