// See data.h.
#include "engine/data.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace slimtrain::engine {
namespace {

uint32_t BigEndian32(const std::string& data, size_t offset) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(data[offset])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(data[offset + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(data[offset + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(data[offset + 3]));
}

// An IDX file of unsigned bytes with `rank` dimensions: its dims and payload.
struct Idx {
  std::vector<int64_t> dims;
  std::string data;
  size_t payload = 0;  // offset of the first value
};

absl::StatusOr<Idx> ReadIdx(const DataFiles& files, const std::string& file, int rank) {
  SLIM_ASSIGN_OR_RETURN(std::string data, files.ReadMaybeGzip(file));
  const std::string path = files.Display(file);
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (data.size() < header) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: truncated: %d bytes, the IDX header alone needs %d (at offset %d)", path, data.size(), header,
        data.size()));
  }
  const uint32_t magic = BigEndian32(data, 0);
  const uint32_t want = 0x0800u | static_cast<uint32_t>(rank);
  if (magic != want) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: bad IDX magic 0x%08x at offset 0 (expected 0x%08x: unsigned bytes, %d dimensions)", path, magic, want,
        rank));
  }
  Idx idx;
  int64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    idx.dims.push_back(BigEndian32(data, 4 + 4 * d));
    count *= idx.dims.back();
  }
  if (static_cast<int64_t>(data.size() - header) != count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the header promises %d values but the file holds %d: %s at offset %d", path, count,
        data.size() - header, static_cast<int64_t>(data.size() - header) < count ? "truncated" : "extra bytes",
        data.size()));
  }
  idx.payload = header;
  idx.data = std::move(data);
  return idx;
}

absl::Status CheckLabels(const std::string& path, const std::vector<int32_t>& labels, int64_t classes,
                         int64_t first_offset, int64_t stride) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: label %d at offset %d is outside [0, %d)", path,
                                                        labels[i], first_offset + stride * i, classes));
    }
  }
  return absl::OkStatus();
}

// The images and labels of an IDX pair.
absl::StatusOr<Dataset> ReadIdxPair(const DataFiles& files, const std::string& images_file,
                                    const std::string& labels_file, int64_t classes) {
  SLIM_ASSIGN_OR_RETURN(Idx images, ReadIdx(files, images_file, 3));
  SLIM_ASSIGN_OR_RETURN(Idx labels, ReadIdx(files, labels_file, 1));
  const std::string images_path = files.Display(images_file), labels_path = files.Display(labels_file);
  if (images.dims[0] != labels.dims[0]) {
    return absl::InvalidArgumentError(absl::StrFormat("%s has %d images but %s has %d labels", images_path,
                                                      images.dims[0], labels_path, labels.dims[0]));
  }
  Dataset d;
  d.size = images.dims[0];
  d.image = {1, images.dims[1], images.dims[2]};
  d.classes = classes;
  d.pixels.assign(images.data.begin() + images.payload, images.data.end());
  d.labels.reserve(d.size);
  for (size_t i = labels.payload; i < labels.data.size(); ++i) {
    d.labels.push_back(static_cast<uint8_t>(labels.data[i]));
  }
  SLIM_RETURN_IF_ERROR(CheckLabels(labels_path, d.labels, d.classes, labels.payload, 1));
  return d;
}

}  // namespace

bool IsDatasetName(const std::string& name) {
  for (const char* known : kDatasetNames) {
    if (name == known) return true;
  }
  return false;
}

std::string DatasetNamesText() { return absl::StrJoin(kDatasetNames, ", "); }

std::vector<std::string> NumberedClasses(int64_t classes) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < classes; ++i) names.push_back(absl::StrCat(i));
  return names;
}

absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split, const DataFiles& files) {
  const std::string prefix = dir + (split == Split::kTrain ? "/train" : "/t10k");
  SLIM_ASSIGN_OR_RETURN(Dataset d, ReadIdxPair(files, prefix + "-images-idx3-ubyte.gz",
                                               prefix + "-labels-idx1-ubyte.gz", 10));
  d.name = "fashion-mnist";
  d.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return d;
}

absl::StatusOr<Dataset> LoadIdx(const std::string& dir, Split split, int64_t classes, const DataFiles& files) {
  const std::string prefix = dir + (split == Split::kTrain ? "/train" : "/t10k");
  // The plain file, else the gzip one; NOT_FOUND names both.
  auto find = [&](const std::string& base) -> absl::StatusOr<std::string> {
    if (DataFiles::Exists(base)) return base;
    if (DataFiles::Exists(base + ".gz")) return base + ".gz";
    return absl::NotFoundError(absl::StrCat(files.Display(base), ": no such file (nor with .gz)"));
  };
  SLIM_ASSIGN_OR_RETURN(const std::string images, find(prefix + "-images-idx3-ubyte"));
  SLIM_ASSIGN_OR_RETURN(const std::string labels, find(prefix + "-labels-idx1-ubyte"));
  SLIM_ASSIGN_OR_RETURN(Dataset d, ReadIdxPair(files, images, labels, classes));
  d.name = "idx";
  d.class_names = NumberedClasses(classes);
  return d;
}

absl::StatusOr<Dataset> LoadCifar(const std::string& dir, int classes, Split split, const DataFiles& files) {
  if (classes != 10 && classes != 100) {
    return absl::InvalidArgumentError(absl::StrCat("CIFAR has 10 or 100 classes, not ", classes));
  }
  std::vector<std::string> names;
  if (classes == 10) {
    if (split == Split::kTrain) {
      for (int i = 1; i <= 5; ++i) names.push_back(absl::StrCat(dir, "/data_batch_", i, ".bin"));
    } else {
      names.push_back(dir + "/test_batch.bin");
    }
  } else {
    names.push_back(dir + (split == Split::kTrain ? "/train.bin" : "/test.bin"));
  }
  const int64_t label_bytes = classes == 10 ? 1 : 2;
  constexpr int64_t kPixels = 3 * 32 * 32;
  const int64_t record = label_bytes + kPixels;
  Dataset d;
  d.name = classes == 10 ? "cifar10" : "cifar100";
  d.image = {3, 32, 32};
  d.classes = classes;
  for (const std::string& file : names) {
    SLIM_ASSIGN_OR_RETURN(const std::string data, files.Read(file));
    const std::string path = files.Display(file);
    const int64_t size = static_cast<int64_t>(data.size());
    if (size == 0 || size % record != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: %d bytes is not a whole number of %d-byte records: truncated at offset %d", path, size, record,
          size - size % record));
    }
    std::vector<int32_t> labels;
    for (int64_t off = 0; off < size; off += record) {
      labels.push_back(static_cast<uint8_t>(data[off + label_bytes - 1]));
      d.pixels.insert(d.pixels.end(), data.begin() + off + label_bytes, data.begin() + off + record);
    }
    SLIM_RETURN_IF_ERROR(CheckLabels(path, labels, classes, label_bytes - 1, record));
    d.labels.insert(d.labels.end(), labels.begin(), labels.end());
  }
  d.size = static_cast<int64_t>(d.labels.size());
  d.class_names = classes == 10 ? std::vector<std::string>{"airplane", "automobile", "bird", "cat", "deer", "dog",
                                                           "frog", "horse", "ship", "truck"}
                                : NumberedClasses(classes);
  return d;
}

Dataset SyntheticDataset(int64_t size, const planner::Dims& image, int64_t classes, uint64_t seed, Split split,
                         int64_t labels_per_example) {
  Dataset d;
  d.name = "synthetic";
  d.size = size;
  d.image = image;
  d.classes = classes;
  d.labels_per_example = labels_per_example;
  std::mt19937_64 rng(seed * 2 + (split == Split::kTest ? 1 : 0));
  d.pixels.resize(size * planner::NumElements(image));
  for (uint8_t& p : d.pixels) p = static_cast<uint8_t>(rng() >> 56);
  d.labels.resize(size * labels_per_example);
  for (int32_t& l : d.labels) l = static_cast<int32_t>(rng() % static_cast<uint64_t>(classes));
  d.class_names = NumberedClasses(classes);
  return d;
}

Dataset SyntheticTokens(int64_t size, int64_t length, int64_t vocabulary, int64_t labels_per_example, uint64_t seed,
                        Split split) {
  Dataset d;
  d.name = "synthetic";
  d.size = size;
  d.image = {length};
  d.classes = vocabulary;
  d.vocabulary = vocabulary;
  d.labels_per_example = labels_per_example;
  const uint64_t v = static_cast<uint64_t>(vocabulary);
  // The chain, from the seed alone: three successors per token.
  std::mt19937_64 chain_rng(seed ^ 0x5eedc4a1d0c0ffeeULL);
  std::vector<int32_t> successors(3 * vocabulary);
  for (int32_t& s : successors) s = static_cast<int32_t>(chain_rng() % v);
  // Walks, from the seed and the split; a draw u in [0, 1) picks the step.
  std::mt19937_64 rng(seed * 2 + (split == Split::kTest ? 1 : 0) + 0x9e3779b97f4a7c15ULL);
  auto uniform = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  d.tokens.resize(size * length);
  d.labels.resize(size * labels_per_example);
  std::vector<int32_t> walk(length + 1);
  for (int64_t i = 0; i < size; ++i) {
    walk[0] = static_cast<int32_t>(rng() % v);
    for (int64_t t = 1; t <= length; ++t) {
      const double u = uniform();
      const int32_t* next = &successors[3 * walk[t - 1]];
      walk[t] = u < 0.6 ? next[0] : u < 0.85 ? next[1] : u < 0.95 ? next[2] : static_cast<int32_t>(rng() % v);
    }
    std::copy(walk.begin(), walk.begin() + length, d.tokens.begin() + i * length);
    std::copy(walk.end() - labels_per_example, walk.end(), d.labels.begin() + i * labels_per_example);
  }
  return d;
}

namespace {

// Regression targets of `d` (inputs made): tanh(3·(v[a] − v[b])) per target.
void AddRegressionTargets(int64_t per_example, uint64_t seed, Dataset& d) {
  const int64_t elements = d.example_elements();
  std::mt19937_64 rng(seed ^ 0x7a26e7ULL);
  std::vector<int64_t> a(per_example), b(per_example);
  for (int64_t j = 0; j < per_example; ++j) {
    a[j] = static_cast<int64_t>(rng() % static_cast<uint64_t>(elements));
    b[j] = static_cast<int64_t>(rng() % static_cast<uint64_t>(elements));
  }
  auto value = [&](int64_t i, int64_t k) {
    return d.has_tokens() ? static_cast<double>(d.tokens[i * elements + k]) / static_cast<double>(d.vocabulary)
                          : d.pixels[i * elements + k] / 255.0;
  };
  d.labels.clear();
  d.class_names.clear();
  d.labels_per_example = 0;
  d.targets_per_example = per_example;
  d.targets.resize(d.size * per_example);
  for (int64_t i = 0; i < d.size; ++i) {
    for (int64_t j = 0; j < per_example; ++j) {
      d.targets[i * per_example + j] = static_cast<float>(std::tanh(3.0 * (value(i, a[j]) - value(i, b[j]))));
    }
  }
}

}  // namespace

Dataset SyntheticDatasetFor(const planner::Graph& graph, int64_t size, uint64_t seed, Split split) {
  const planner::Dims& input = graph.node(0).out;
  const int64_t vocabulary = planner::TokenVocabulary(graph), classes = graph.spec().num_classes();
  const int64_t per_example = planner::LabelsPerExample(graph);
  if (const int64_t targets = planner::TargetsPerExample(graph); targets > 0) {
    Dataset d = SyntheticDataset(size, input, std::max<int64_t>(classes, 1), seed, split, 1);
    if (vocabulary > 0) {
      d.pixels.clear();
      d.vocabulary = vocabulary;
      std::mt19937_64 rng(seed * 2 + (split == Split::kTest ? 1 : 0) + 17);
      d.tokens.resize(size * planner::NumElements(input));
      for (int32_t& t : d.tokens) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocabulary));
    }
    d.classes = classes;
    AddRegressionTargets(targets, seed, d);
    return d;
  }
  if (vocabulary > 0 && classes == vocabulary && (per_example == 1 || per_example == input[0])) {
    return SyntheticTokens(size, input[0], vocabulary, per_example, seed, split);
  }
  Dataset d = SyntheticDataset(size, input, classes, seed, split, per_example);
  if (vocabulary > 0) {
    // Token ids of another vocabulary than the classes: uniform ids.
    d.pixels.clear();
    d.vocabulary = vocabulary;
    std::mt19937_64 rng(seed * 2 + (split == Split::kTest ? 1 : 0) + 17);
    d.tokens.resize(size * planner::NumElements(input));
    for (int32_t& t : d.tokens) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocabulary));
  }
  return d;
}

ChannelStats ComputeChannelStats(const Dataset& data) {
  if (data.has_tokens() || data.image.empty()) return {};
  const int64_t c = data.image[0], plane = data.example_elements() / c;
  std::vector<double> sum(c, 0), sq(c, 0);
  for (int64_t i = 0; i < data.size; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t k = 0; k < plane; ++k) {
        const int64_t idx = (i * c + ch) * plane + k;
        const double v = data.pixels.empty() ? data.values[idx] : data.pixels[idx] / 255.0;
        sum[ch] += v;
        sq[ch] += v * v;
      }
    }
  }
  ChannelStats s;
  const double n = static_cast<double>(data.size * plane);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double mean = sum[ch] / n;
    s.mean.push_back(static_cast<float>(mean));
    s.std.push_back(static_cast<float>(std::sqrt(std::max(sq[ch] / n - mean * mean, 1e-12))));
  }
  return s;
}

absl::Status CheckDatasetFits(const planner::Graph& graph, const Dataset& data) {
  const std::string& model = graph.spec().name();
  const planner::Dims& input = graph.node(0).out;
  const int64_t vocabulary = planner::TokenVocabulary(graph);
  auto error = [](const std::string& message) { return absl::InvalidArgumentError("dataset: " + message); };
  if (vocabulary > 0 && !data.has_tokens()) {
    return error(absl::StrFormat("model '%s' reads token ids (an embedding on its input) and %s has images; "
                                 "train it on synthetic (token sequences)",
                                 model, data.name));
  }
  if (vocabulary == 0 && data.has_tokens()) {
    return error(absl::StrFormat("%s has token sequences but model '%s' takes %s values, not token ids", data.name,
                                 model, planner::DimsString(input)));
  }
  if (data.image != input) {
    return error(absl::StrFormat("%s has %s %s but model '%s' takes %s", data.name, planner::DimsString(data.image),
                                 data.has_tokens() ? "tokens" : "images", model, planner::DimsString(input)));
  }
  if (data.has_tokens() && data.vocabulary > vocabulary) {
    return error(absl::StrFormat("%s has token ids up to %d but model '%s''s embedding has %d", data.name,
                                 data.vocabulary - 1, model, vocabulary));
  }
  if (data.classes != graph.spec().num_classes()) {
    return error(absl::StrFormat("%s has %d classes but model '%s' has %d", data.name, data.classes, model,
                                 graph.spec().num_classes()));
  }
  if (data.targets_per_example != planner::TargetsPerExample(graph)) {
    return planner::TargetsPerExample(graph) > 0
               ? error(absl::StrFormat("model '%s' ends in mse_loss, a regression with %d targets per example, and "
                                       "%s has %s; train it on synthetic",
                                       model, planner::TargetsPerExample(graph), data.name,
                                       data.targets_per_example > 0
                                           ? absl::StrCat(data.targets_per_example, " targets")
                                           : std::string("class labels")))
               : error(absl::StrFormat("%s has regression targets but model '%s' ends in %s", data.name, model,
                                       planner::OpKindName(graph.node(graph.loss()).kind)));
  }
  if (data.labels_per_example != planner::LabelsPerExample(graph)) {
    return error(absl::StrFormat("%s has %d label(s) per example but model '%s''s loss takes %d", data.name,
                                 data.labels_per_example, model, planner::LabelsPerExample(graph)));
  }
  return absl::OkStatus();
}

}  // namespace slimtrain::engine
