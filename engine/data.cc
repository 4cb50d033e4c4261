// See data.h.
#include "engine/data.h"

#include <zlib.h>

#include <cmath>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "planner/status_macros.h"

namespace slimtrain::engine {
namespace {

bool Exists(const std::string& path) { return std::ifstream(path).good(); }

// The whole decompressed contents of a gzip file.
absl::StatusOr<std::string> ReadGzip(const std::string& path) {
  if (!Exists(path)) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string out;
  char buf[1 << 16];
  while (true) {
    const int n = gzread(f, buf, sizeof(buf));
    if (n < 0) {
      int code = 0;
      const std::string why = gzerror(f, &code);
      gzclose(f);
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: corrupt gzip data at byte %d of the decompressed stream (%s)", path, out.size(),
                          why));
    }
    if (n == 0) break;
    out.append(buf, n);
  }
  // gzread reports a stream cut short as the end of the data; gzclose_r tells.
  const int close = gzclose_r(f);
  if (close != Z_OK) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: truncated gzip data: the stream ends early, after byte %d of the decompressed stream", path,
        out.size()));
  }
  return out;
}

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

absl::StatusOr<Idx> ReadIdx(const std::string& path, int rank) {
  SLIM_ASSIGN_OR_RETURN(std::string data, ReadGzip(path));
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

}  // namespace

absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split) {
  const std::string prefix = dir + (split == Split::kTrain ? "/train" : "/t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = prefix + "-labels-idx1-ubyte.gz";
  SLIM_ASSIGN_OR_RETURN(Idx images, ReadIdx(images_path, 3));
  SLIM_ASSIGN_OR_RETURN(Idx labels, ReadIdx(labels_path, 1));
  if (images.dims[0] != labels.dims[0]) {
    return absl::InvalidArgumentError(absl::StrFormat("%s has %d images but %s has %d labels", images_path,
                                                      images.dims[0], labels_path, labels.dims[0]));
  }
  Dataset d;
  d.name = "fashion-mnist";
  d.size = images.dims[0];
  d.image = {1, images.dims[1], images.dims[2]};
  d.classes = 10;
  d.pixels.assign(images.data.begin() + images.payload, images.data.end());
  d.labels.reserve(d.size);
  for (size_t i = labels.payload; i < labels.data.size(); ++i) {
    d.labels.push_back(static_cast<uint8_t>(labels.data[i]));
  }
  SLIM_RETURN_IF_ERROR(CheckLabels(labels_path, d.labels, d.classes, labels.payload, 1));
  return d;
}

absl::StatusOr<Dataset> LoadCifar(const std::string& dir, int classes, Split split) {
  if (classes != 10 && classes != 100) {
    return absl::InvalidArgumentError(absl::StrCat("CIFAR has 10 or 100 classes, not ", classes));
  }
  std::vector<std::string> files;
  if (classes == 10) {
    if (split == Split::kTrain) {
      for (int i = 1; i <= 5; ++i) files.push_back(absl::StrCat(dir, "/data_batch_", i, ".bin"));
    } else {
      files.push_back(dir + "/test_batch.bin");
    }
  } else {
    files.push_back(dir + (split == Split::kTrain ? "/train.bin" : "/test.bin"));
  }
  const int64_t label_bytes = classes == 10 ? 1 : 2;
  constexpr int64_t kPixels = 3 * 32 * 32;
  const int64_t record = label_bytes + kPixels;
  Dataset d;
  d.name = classes == 10 ? "cifar10" : "cifar100";
  d.image = {3, 32, 32};
  d.classes = classes;
  for (const std::string& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
  return d;
}

Dataset SyntheticDataset(int64_t size, const planner::Dims& image, int64_t classes, uint64_t seed, Split split) {
  Dataset d;
  d.name = "synthetic";
  d.size = size;
  d.image = image;
  d.classes = classes;
  std::mt19937_64 rng(seed * 2 + (split == Split::kTest ? 1 : 0));
  d.pixels.resize(size * planner::NumElements(image));
  for (uint8_t& p : d.pixels) p = static_cast<uint8_t>(rng() >> 56);
  d.labels.resize(size);
  for (int32_t& l : d.labels) l = static_cast<int32_t>(rng() % static_cast<uint64_t>(classes));
  return d;
}

ChannelStats ComputeChannelStats(const Dataset& data) {
  const int64_t c = data.image[0], plane = data.example_elements() / c;
  std::vector<double> sum(c, 0), sq(c, 0);
  for (int64_t i = 0; i < data.size; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t k = 0; k < plane; ++k) {
        const int64_t idx = (i * c + ch) * plane + k;
        const double v = data.pixels[idx] / 255.0;
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

absl::Status CheckImageClassifier(const planner::Graph& graph) {
  for (int c : graph.node(0).consumers) {
    if (graph.node(c).kind == planner::OpKind::kEmbedding) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "model '%s': layer '%s' reads token ids, and the datasets here are images (token datasets are not built "
          "yet)",
          graph.spec().name(), graph.node(c).name));
    }
  }
  if (planner::LabelsPerExample(graph) != 1) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "model '%s': the loss '%s' takes a label per position, and the datasets here have one label per example "
        "(token datasets are not built yet)",
        graph.spec().name(), graph.node(graph.loss()).name));
  }
  return absl::OkStatus();
}

}  // namespace slimtrain::engine
