// data.h — image classification datasets, read whole into memory.
//
//   SLIM_ASSIGN_OR_RETURN(Dataset train, LoadFashionMnist(kFashionMnistDir, Split::kTrain));
//   // train.size == 60000, train.image == {1, 28, 28}, train.classes == 10
//
// Sources:
//   Fashion-MNIST  Debian's dataset-fashion-mnist: IDX files, gzip
//                  (train-images-idx3-ubyte.gz, ...), in kFashionMnistDir.
//   CIFAR-10/100   the binary versions: data_batch_1..5.bin and test_batch.bin
//                  (CIFAR-10: a label byte, then 3072 pixel bytes (C,H,W)),
//                  train.bin and test.bin (CIFAR-100: coarse and fine label
//                  bytes, then the pixels; the fine label is used).
//   synthetic      random pixels and labels for benchmarks, any shape.
// A corrupt or truncated file gives INVALID_ARGUMENT naming the file and the
// byte offset (in the decompressed stream for gzip files); a missing one
// NOT_FOUND naming it. Nothing is half-loaded: an error returns no dataset.
#ifndef SLIMTRAIN_ENGINE_DATA_H_
#define SLIMTRAIN_ENGINE_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "planner/graph.h"

namespace slimtrain::engine {

inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

enum class Split { kTrain, kTest };

struct Dataset {
  std::string name;        // "fashion-mnist", "cifar10", "cifar100", "synthetic"
  int64_t size = 0;        // examples
  planner::Dims image;     // (C,H,W)
  int64_t classes = 0;
  // (N,C,H,W) pixel bytes 0..255; a value is pixel / 255.
  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;  // (N), in [0, classes)

  int64_t example_elements() const { return planner::NumElements(image); }
};

// OK when `graph` trains on these datasets (images with one label each);
// FAILED_PRECONDITION naming the layer for a model that reads token ids
// (an embedding on the input) or takes a label per position (a loss over
// (N,L,classes)): no dataset here has those yet (the Executor runs such
// models; the trainer, eval and fidelity refuse them instead of misreading
// labels).
absl::Status CheckImageClassifier(const planner::Graph& graph);

absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split);

// `classes` is 10 or 100.
absl::StatusOr<Dataset> LoadCifar(const std::string& dir, int classes, Split split);

// `size` examples of shape `image` with uniformly random pixels and labels;
// the same for a seed. The test split uses a different stream than the train
// split.
Dataset SyntheticDataset(int64_t size, const planner::Dims& image, int64_t classes, uint64_t seed, Split split);

// Per-channel mean and standard deviation of a dataset's values (pixels
// scaled to [0, 1]), for normalisation.
struct ChannelStats {
  std::vector<float> mean, std;
};
ChannelStats ComputeChannelStats(const Dataset& data);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_DATA_H_
