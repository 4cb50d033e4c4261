// dataset_spec.h — the one place a DatasetSpec (proto/job.proto) becomes a
// Dataset: the trainer, `slimtrain eval` and `slimtrain fidelity` all call it.
//
//   DatasetLoadOptions options{.data_root = "/srv/data", .confine = true, .seed = spec.seed()};
//   SLIM_ASSIGN_OR_RETURN(Dataset train, LoadDatasetSpec(spec.dataset(), graph, Split::kTrain, options));
//
// By name (data.h's kDatasetNames):
//   fashion-mnist  IDX gzip files in path, default Debian's kFashionMnistDir
//   cifar10/100    CIFAR binary files in path
//   image-folder   path/train/<class>/*.png|jpg, path/test/...   (image_folder.h)
//   npy            path/{train,test}_{x,y}.npy                   (numpy_data.h)
//   npz            path/train.npz, path/test.npz with x and y    (numpy_data.h)
//   idx            path/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (data.h)
//   synthetic      made from the seed, shaped as the model's input
// image-folder, npy, npz and idx take their shape, classes and targets from
// the model: labels must lie in [0, num_classes). path is needed for all but
// fashion-mnist and synthetic (INVALID_ARGUMENT naming dataset.path).
// A relative path is read inside options.data_root; with options.confine,
// every file opened must resolve inside it (data_files.h), so a symbolic
// link out of the root fails naming the file. A spec's empty path (the
// dataset's default location) is the server's own choice and not confined.
#ifndef SLIMTRAIN_ENGINE_DATASET_SPEC_H_
#define SLIMTRAIN_ENGINE_DATASET_SPEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/data.h"
#include "planner/graph.h"
#include "proto/job.pb.h"

namespace slimtrain::engine {

struct DatasetLoadOptions {
  std::string data_root;  // relative paths are read inside it; empty: as given
  bool confine = false;   // every file opened must lie inside data_root
  uint64_t seed = 0;      // synthetic data's
};

absl::StatusOr<Dataset> LoadDatasetSpec(const v1::DatasetSpec& d, const planner::Graph& graph, Split split,
                                        const DatasetLoadOptions& options);

// The dataset a local command names (--dataset, --data-dir): a DatasetSpec
// of `name`, `path` and (synthetic: 0 for the default) `synthetic_examples`,
// loaded with `seed`.
absl::StatusOr<Dataset> LoadNamedDataset(const std::string& name, const std::string& path,
                                         const planner::Graph& graph, Split split, uint64_t seed,
                                         int64_t synthetic_examples = 0);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_DATASET_SPEC_H_
