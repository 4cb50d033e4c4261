// See dataset_spec.h.
#include "engine/dataset_spec.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/data_files.h"
#include "engine/image_folder.h"
#include "engine/job_spec.h"
#include "engine/numpy_data.h"

namespace slimtrain::engine {

absl::StatusOr<Dataset> LoadDatasetSpec(const v1::DatasetSpec& d, const planner::Graph& graph, Split split,
                                        const DatasetLoadOptions& options) {
  const std::string& name = d.name();
  if (!IsDatasetName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.name: unknown dataset '", name, "'; known: ", DatasetNamesText()));
  }
  if (name == "synthetic") {
    const int64_t n = TrainingExamples(d);
    return SyntheticDatasetFor(graph, split == Split::kTrain ? n : std::max<int64_t>(n / 5, 1), options.seed, split);
  }
  if (name == "fashion-mnist" && d.path().empty()) return LoadFashionMnist(kFashionMnistDir, split);
  if (d.path().empty()) {
    const bool cifar = name == "cifar10" || name == "cifar100";
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.path: the folder of the ", cifar ? "CIFAR binary" : name, " files is needed"));
  }
  const std::string& root = options.data_root;
  const std::string dir =
      root.empty() || d.path()[0] == '/' ? d.path() : root + "/" + d.path();
  const DataFiles files = options.confine ? DataFiles::ConfinedTo(root) : DataFiles();
  const planner::Dims& input = graph.node(0).out;
  const int64_t classes = graph.spec().num_classes();
  if (name == "fashion-mnist") return LoadFashionMnist(dir, split, files);
  if (name == "cifar10" || name == "cifar100") return LoadCifar(dir, name == "cifar10" ? 10 : 100, split, files);
  if (name == "idx") return LoadIdx(dir, split, classes, files);
  if (name == "image-folder") return LoadImageFolder(dir, split, input, files);
  const NumpyTarget target{input, classes, planner::TargetsPerExample(graph)};
  return LoadNumpy(dir, name == "npy" ? NumpyLayout::kNpy : NumpyLayout::kNpz, split, target, files);
}

absl::StatusOr<Dataset> LoadNamedDataset(const std::string& name, const std::string& path,
                                         const planner::Graph& graph, Split split, uint64_t seed,
                                         int64_t synthetic_examples) {
  v1::DatasetSpec spec;
  spec.set_name(name);
  spec.set_path(path);
  spec.set_synthetic_examples(synthetic_examples);
  DatasetLoadOptions options;
  options.seed = seed;
  return LoadDatasetSpec(spec, graph, split, options);
}

}  // namespace slimtrain::engine
