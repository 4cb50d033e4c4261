// data.h — datasets, read or made whole in memory: images with a label each,
// or token sequences with a label per position.
//
//   SLIM_ASSIGN_OR_RETURN(Dataset train, LoadFashionMnist(kFashionMnistDir, Split::kTrain));
//   // train.size == 60000, train.image == {1, 28, 28}, train.classes == 10
//   Dataset text = SyntheticDatasetFor(gpt, 10000, seed, Split::kTrain);
//   // text.image == {256}, text.tokens (N,256) ids, text.labels (N,256) the next ids
//
// Sources:
//   Fashion-MNIST  Debian's dataset-fashion-mnist: IDX files, gzip
//                  (train-images-idx3-ubyte.gz, ...), in kFashionMnistDir.
//   CIFAR-10/100   the binary versions: data_batch_1..5.bin and test_batch.bin
//                  (CIFAR-10: a label byte, then 3072 pixel bytes (C,H,W)),
//                  train.bin and test.bin (CIFAR-100: coarse and fine label
//                  bytes, then the pixels; the fine label is used).
//   idx            a folder of MNIST-named IDX files, plain or gzip (LoadIdx).
//   synthetic      random pixels and labels for benchmarks, any shape; for
//                  a model that reads token ids, sequences drawn from a
//                  fixed random Markov chain (so a model can learn them).
//   image-folder   image_folder.h;  npy, npz: numpy_data.h.
// dataset_spec.h picks the loader a DatasetSpec names. Files are read through
// data_files.h (size caps, gzip, a server's data root).
// A corrupt or truncated file gives INVALID_ARGUMENT naming the file and the
// byte offset (in the decompressed stream for gzip files); a missing one
// NOT_FOUND naming it. Nothing is half-loaded: an error returns no dataset.
#ifndef SLIMTRAIN_ENGINE_DATA_H_
#define SLIMTRAIN_ENGINE_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/data_files.h"
#include "planner/graph.h"

namespace slimtrain::engine {

inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

enum class Split { kTrain, kTest };

// The names a DatasetSpec may give, in the order help texts list them.
inline constexpr const char* kDatasetNames[] = {"fashion-mnist", "cifar10", "cifar100", "image-folder",
                                                "npy",           "npz",     "idx",      "synthetic"};
bool IsDatasetName(const std::string& name);
// "fashion-mnist, cifar10, ..., synthetic", for error messages.
std::string DatasetNamesText();

struct Dataset {
  std::string name;        // one of kDatasetNames
  int64_t size = 0;        // examples
  planner::Dims image;     // one example's input: (C,H,W), (F), or (L) token ids
  int64_t classes = 0;
  // The classes' names, label order ("T-shirt/top", ..., or image-folder's
  // folder names, or "0", "1", ...); empty for token datasets and regressions.
  std::vector<std::string> class_names;
  // Exactly one of pixels, values and tokens holds the inputs.
  // (N,C,H,W) pixel bytes 0..255; a value is pixel / 255.
  std::vector<uint8_t> pixels;
  // (N, example elements) float inputs used as they are (NumPy float arrays).
  std::vector<float> values;
  // Token datasets: (N,L) ids in [0, vocabulary), given to the model as its
  // input's values. Empty (and vocabulary 0) for images.
  std::vector<int32_t> tokens;
  int64_t vocabulary = 0;
  // 1, or L for a label per position; 0 for a regression.
  int64_t labels_per_example = 1;
  std::vector<int32_t> labels;  // (N, labels_per_example), in [0, classes)
  // A regression's float targets (N, targets_per_example) (mse_loss);
  // empty, and targets_per_example 0, for a classification.
  int64_t targets_per_example = 0;
  std::vector<float> targets;

  int64_t example_elements() const { return planner::NumElements(image); }
  bool has_tokens() const { return vocabulary > 0; }
  // Input element `i` (of (N, example elements)) as the model sees it before
  // normalisation: pixel / 255, or the float value. Not for token datasets.
  float value(int64_t i) const { return values.empty() ? pixels[i] / 255.0f : values[i]; }
};

// OK when `data` can feed `graph`: the input's shape, the classes, token
// ids for a model whose input an embedding reads (within its vocabulary)
// and pixels otherwise, and as many labels per example as the loss takes.
// INVALID_ARGUMENT naming "dataset", the dataset and the model otherwise.
absl::Status CheckDatasetFits(const planner::Graph& graph, const Dataset& data);

absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split, const DataFiles& files = {});

// A folder of IDX files named as MNIST's: train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
// each plain or gzip (".gz" added to the name). Images (N,H,W) bytes are
// (1,H,W) pixels; labels must lie in [0, classes), named "0", "1", ...
absl::StatusOr<Dataset> LoadIdx(const std::string& dir, Split split, int64_t classes, const DataFiles& files = {});

// `classes` is 10 or 100.
absl::StatusOr<Dataset> LoadCifar(const std::string& dir, int classes, Split split, const DataFiles& files = {});

// "0", "1", ..., classes - 1.
std::vector<std::string> NumberedClasses(int64_t classes);

// `size` examples of shape `image` with uniformly random pixels and labels
// (`labels_per_example` each); the same for a seed. The test split uses a
// different stream than the train split.
Dataset SyntheticDataset(int64_t size, const planner::Dims& image, int64_t classes, uint64_t seed, Split split,
                         int64_t labels_per_example = 1);

// `size` sequences of `length` token ids in [0, vocabulary), each a walk
// on a Markov chain drawn from the seed (the same for both splits): a token
// is followed by one of three successors of its own with probabilities
// 0.6, 0.25, 0.1, or by any token with 0.05, so the next token's entropy
// is 1.2 to 1.6 nats (vocabularies of 50 to 50,000) and a model can learn what a uniform guess
// (log vocabulary) cannot. Labels: the next token at every position
// (labels_per_example = length), or after the last one (1); both need
// classes = vocabulary. Splits sample different walks.
Dataset SyntheticTokens(int64_t size, int64_t length, int64_t vocabulary, int64_t labels_per_example, uint64_t seed,
                        Split split);

// The synthetic dataset `graph` trains on: SyntheticTokens for a model
// whose input an embedding reads and whose classes are its vocabulary,
// else SyntheticDataset shaped as the input (random labels, as many per
// example as the loss takes). For a regression (mse_loss), random inputs
// with targets a fixed, learnable function of them: target j is
// tanh(3·(v[a_j] − v[b_j])) for input positions a_j, b_j drawn from the seed,
// v the input's values (pixel/255, or id/vocabulary).
Dataset SyntheticDatasetFor(const planner::Graph& graph, int64_t size, uint64_t seed, Split split);

// Per-channel mean and standard deviation of a dataset's values (pixels
// scaled to [0, 1], float values as they are), for normalisation (a channel
// is the first input dimension: a (F) input has F channels of one value); empty for token
// datasets. Computed in double; population std (divided by N, as
// torch.std(unbiased=False)), at least 1e-6.
struct ChannelStats {
  std::vector<float> mean, std;
};
ChannelStats ComputeChannelStats(const Dataset& data);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_DATA_H_
