// slimtrain eval: scores saved weights on a dataset.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/flags.h"
#include "client/backend_choice.h"
#include "client/commands.h"
#include "client/model_flags.h"
#include "engine/checkpoint.h"
#include "engine/data.h"
#include "engine/data_metadata.h"
#include "engine/dataset_spec.h"
#include "engine/executor.h"
#include "engine/trainer.h"
#include "planner/graph.h"

namespace slimtrain::client {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "slimtrain eval: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

std::string Floats(const std::vector<float>& v) { return absl::StrJoin(v, ", "); }

}  // namespace

int RunEvalCommand(const std::vector<std::string>& args) {
  std::string model, model_file, weights, dataset = "fashion-mnist", data_dir, split = "test", backend_name = "fast",
                                          format = "table";
  int64_t batch = 256, threads = 0, seed = 13;
  bool normalize = true;
  base::FlagSet flags("slimtrain eval",
                      "Scores saved weights (a .safetensors file from slimtrain train --output, a download, or a\n"
                      "checkpoint) on a dataset in inference mode: loss and accuracy.",
                      "slimtrain eval --model zoo:fmnist_resnet --weights fmnist.safetensors --dataset fashion-mnist");
  flags.String("model", &model, "zoo model, e.g. zoo:fmnist_resnet");
  flags.String("model-file", &model_file, "model file: protobuf text format, JSON or ONNX (detected by content)");
  flags.String("weights", &weights, "weights file (.safetensors), required");
  flags.String("dataset", &dataset, absl::StrCat(engine::DatasetNamesText(), " (as slimtrain train --help)"));
  flags.String("data-dir", &data_dir, "folder of the dataset's files (fashion-mnist: Debian's by default)");
  flags.String("split", &split, "test or train");
  flags.Int("seed", &seed, "synthetic: the training run's seed (a token dataset's Markov chain is drawn from it)");
  flags.Int("batch", &batch, "examples per forward pass");
  flags.Bool("normalize", &normalize,
             "normalise as training did: with the mean and std stored in --weights when it has them, else the\n"
             "training split's; weights that record their data without them were trained unnormalised");
  flags.String("backend", &backend_name, kBackendHelp);
  flags.Int("threads", &threads, "CPU threads (default: the machine's cores)");
  flags.String("format", &format, "table or json");
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (weights.empty()) return Fail(absl::InvalidArgumentError("--weights FILE is required"));
  if (split != "test" && split != "train") {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--split: '", split, "' is not test or train")));
  }
  absl::StatusOr<v1::ModelRef> ref = ModelRefFromFlags(model, model_file);
  if (!ref.ok()) return Fail(ref.status());
  absl::StatusOr<planner::Graph> graph = ModelGraph(*ref);
  if (!graph.ok()) return Fail(graph.status());
  absl::StatusOr<std::unique_ptr<engine::Backend>> backend = MakeBackend(backend_name, threads);
  if (!backend.ok()) return Fail(backend.status());
  absl::StatusOr<engine::Dataset> data =
      engine::LoadNamedDataset(dataset, data_dir, *graph, split == "test" ? engine::Split::kTest : engine::Split::kTrain,
                               static_cast<uint64_t>(seed));
  if (!data.ok()) return Fail(data.status());
  if (absl::Status fits = engine::CheckDatasetFits(*graph, *data); !fits.ok()) return Fail(fits);
  absl::StatusOr<engine::SafetensorsFile> file = engine::ReadSafetensors(weights);
  if (!file.ok()) return Fail(file.status());
  // What the weights say about their data: classes to match, statistics to normalise with.
  absl::StatusOr<engine::DataMetadata> stored = engine::ParseDataMetadata(file->metadata, weights);
  if (!stored.ok()) return Fail(stored.status());
  if (!stored->classes.empty() && !data->class_names.empty() && stored->classes != data->class_names) {
    return Fail(absl::InvalidArgumentError(absl::StrFormat(
        "--dataset: %s's classes are [%s] but %s was trained on [%s]", dataset, absl::StrJoin(data->class_names, ", "),
        weights, absl::StrJoin(stored->classes, ", "))));
  }
  engine::ChannelStats stats;
  if (normalize && stored->normalized()) {
    if (stored->mean.size() != static_cast<size_t>(data->image[0])) {
      return Fail(absl::InvalidArgumentError(absl::StrFormat("%s: metadata 'mean' has %d channels, the data %d", weights,
                                                             stored->mean.size(), data->image[0])));
    }
    stats = stored->stats();
    std::cerr << absl::StrFormat("normalising with the mean [%s] and std [%s] stored in %s\n", Floats(stats.mean),
                                 Floats(stats.std), weights);
  } else if (normalize && stored->recorded() && !flags.WasSet("normalize")) {
    normalize = false;
    std::cerr << absl::StrFormat("not normalising: %s was trained without normalisation (no mean and std stored)\n",
                                 weights);
  } else if (normalize && !data->has_tokens()) {
    absl::StatusOr<engine::Dataset> train =
        split == "train" ? data : engine::LoadNamedDataset(dataset, data_dir, *graph, engine::Split::kTrain,
                                                               static_cast<uint64_t>(seed));
    if (!train.ok()) return Fail(train.status());
    stats = engine::ComputeChannelStats(*train);
    std::cerr << absl::StrFormat("normalising with the training split's mean [%s] and std [%s] (%s stores none)\n",
                                 Floats(stats.mean), Floats(stats.std), weights);
  }
  absl::StatusOr<std::unique_ptr<engine::Executor>> exec = engine::Executor::Create(
      *graph, planner::Strategy::kExact, std::min<int64_t>(batch, data->size), backend->get(), {});
  if (!exec.ok()) return Fail(exec.status());
  if (absl::Status s = engine::ImportWeights(*file, (*exec)->params(), weights); !s.ok()) return Fail(s);
  absl::StatusOr<engine::EvalResult> r = engine::EvaluateDataset(**exec, *data, normalize, stats);
  if (!r.ok()) return Fail(r.status());
  if (format == "json") {
    std::cout << absl::StrFormat("{\n  \"examples\": %d,\n  \"loss\": %.6f,\n  \"accuracy\": %.6f\n}\n", r->examples,
                                 r->loss, r->accuracy);
  } else {
    const bool regression = planner::TargetsPerExample(*graph) > 0;  // mean squared error, no accuracy
    std::cout << absl::StrFormat("%s %s split, %d examples: loss %.4f%s\n", dataset, split, r->examples, r->loss,
                                 regression ? std::string() : absl::StrFormat(", accuracy %.2f%%", 100 * r->accuracy));
  }
  return 0;
}

}  // namespace slimtrain::client
