// Dataset readers on the real Fashion-MNIST files and on corrupt, truncated
// and hand-written files; batches shuffled, augmented and resumable.
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/batches.h"
#include "engine/data.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace slimtrain::engine {
namespace {

using test_util::TempPath;

TEST(FashionMnistTest, ReadsDebiansFiles) {
  absl::StatusOr<Dataset> train = LoadFashionMnist(kFashionMnistDir, Split::kTrain);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->size, 60000);
  EXPECT_EQ(train->image, (planner::Dims{1, 28, 28}));
  EXPECT_EQ(train->pixels.size(), 60000u * 784);
  std::vector<int> per_class(10, 0);
  for (int32_t l : train->labels) ++per_class[l];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 6000) << c;  // balanced
  EXPECT_EQ(train->labels[0], 9);  // the first training image is an ankle boot
  absl::StatusOr<Dataset> test = LoadFashionMnist(kFashionMnistDir, Split::kTest);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->size, 10000);
  const ChannelStats stats = ComputeChannelStats(*train);
  EXPECT_NEAR(stats.mean[0], 0.2860, 1e-3);  // the published Fashion-MNIST mean and std
  EXPECT_NEAR(stats.std[0], 0.3530, 1e-3);
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

std::string Be32(uint32_t v) {
  return std::string({static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                      static_cast<char>(v)});
}

// A valid 2-image, 2x2 IDX pair in `dir`, then `corrupt` applied.
std::string WriteIdxPair(const std::string& name, std::string images, std::string labels) {
  const std::string dir = TempPath(name);
  std::filesystem::create_directories(dir);
  WriteGzip(dir + "/train-images-idx3-ubyte.gz", images);
  WriteGzip(dir + "/train-labels-idx1-ubyte.gz", labels);
  return dir;
}

const std::string kImages = Be32(0x803) + Be32(2) + Be32(2) + Be32(2) + std::string("\x01\x02\x03\x04\x05\x06\x07\x08");
const std::string kLabels = Be32(0x801) + Be32(2) + std::string("\x03\x07");

TEST(FashionMnistTest, ReadsAHandWrittenPair) {
  absl::StatusOr<Dataset> d = LoadFashionMnist(WriteIdxPair("good", kImages, kLabels), Split::kTrain);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size, 2);
  EXPECT_EQ(d->image, (planner::Dims{1, 2, 2}));
  EXPECT_EQ(d->pixels, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(d->labels, (std::vector<int32_t>{3, 7}));
}

struct CorruptCase {
  const char* name;
  std::string images, labels;
  const char* message;
};

class CorruptIdxTest : public testing::TestWithParam<CorruptCase> {};

TEST_P(CorruptIdxTest, NamesTheFileAndTheOffset) {
  const std::string dir = WriteIdxPair(GetParam().name, GetParam().images, GetParam().labels);
  absl::StatusOr<Dataset> d = LoadFashionMnist(dir, Split::kTrain);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(d.status().message()).find(GetParam().message), std::string::npos) << d.status();
}

INSTANTIATE_TEST_SUITE_P(
    Files, CorruptIdxTest,
    testing::Values(
        CorruptCase{"BadMagic", Be32(0x802) + kImages.substr(4), kLabels,
                    "train-images-idx3-ubyte.gz: bad IDX magic 0x00000802 at offset 0"},
        CorruptCase{"TooFewPixels", kImages.substr(0, kImages.size() - 3), kLabels,
                    "train-images-idx3-ubyte.gz: the header promises 8 values but the file holds 5: truncated at "
                    "offset 21"},
        CorruptCase{"ShortHeader", kImages.substr(0, 10), kLabels, "truncated: 10 bytes, the IDX header alone"},
        CorruptCase{"LabelOutOfRange", kImages, Be32(0x801) + Be32(2) + std::string("\x03\x0c"),
                    "train-labels-idx1-ubyte.gz: label 12 at offset 9 is outside [0, 10)"},
        CorruptCase{"CountMismatch", kImages, Be32(0x801) + Be32(1) + std::string("\x03"),
                    "has 2 images but"}),
    [](const testing::TestParamInfo<CorruptCase>& info) { return info.param.name; });

TEST(FashionMnistTest, TruncatedGzipStreamNamesTheFile) {
  const std::string dir = WriteIdxPair("cut", kImages, kLabels);
  const std::string path = dir + "/train-images-idx3-ubyte.gz";
  std::ifstream in(path, std::ios::binary);
  std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << gz.substr(0, gz.size() - 12);
  absl::StatusOr<Dataset> d = LoadFashionMnist(dir, Split::kTrain);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(std::string(d.status().message()).find(path), std::string::npos) << d.status();
  EXPECT_NE(std::string(d.status().message()).find("byte"), std::string::npos) << d.status();
}

TEST(FashionMnistTest, MissingFileIsNotFound) {
  absl::StatusOr<Dataset> d = LoadFashionMnist("/nonexistent/fmnist", Split::kTest);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(d.status().message(), "/nonexistent/fmnist/t10k-images-idx3-ubyte.gz: no such file");
}

// CIFAR records: label byte(s) then 3072 pixel bytes.
std::string CifarRecord(int coarse, int label, uint8_t fill, bool hundred) {
  std::string r;
  if (hundred) r += static_cast<char>(coarse);
  r += static_cast<char>(label);
  r += std::string(3072, static_cast<char>(fill));
  return r;
}

TEST(CifarTest, ReadsCifar10And100Files) {
  const std::string dir = TempPath("cifar");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/test_batch.bin", std::ios::binary) << CifarRecord(0, 4, 7, false) + CifarRecord(0, 9, 8, false);
  absl::StatusOr<Dataset> ten = LoadCifar(dir, 10, Split::kTest);
  ASSERT_TRUE(ten.ok()) << ten.status();
  EXPECT_EQ(ten->size, 2);
  EXPECT_EQ(ten->labels, (std::vector<int32_t>{4, 9}));
  EXPECT_EQ(ten->pixels[3072], 8);
  std::ofstream(dir + "/test.bin", std::ios::binary) << CifarRecord(3, 42, 1, true);
  absl::StatusOr<Dataset> hundred = LoadCifar(dir, 100, Split::kTest);
  ASSERT_TRUE(hundred.ok()) << hundred.status();
  EXPECT_EQ(hundred->labels, (std::vector<int32_t>{42}));  // the fine label
}

TEST(CifarTest, TruncatedFileNamesTheOffset) {
  const std::string dir = TempPath("cifar_cut");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/test_batch.bin", std::ios::binary) << CifarRecord(0, 1, 0, false) + std::string(100, 'x');
  absl::StatusOr<Dataset> d = LoadCifar(dir, 10, Split::kTest);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), dir + "/test_batch.bin: 3173 bytes is not a whole number of 3073-byte records: "
                                        "truncated at offset 3073");
  EXPECT_EQ(LoadCifar(dir, 10, Split::kTrain).status().code(), absl::StatusCode::kNotFound);
}

TEST(BatchesTest, SameSeedSameStreamAndSeekResumesIt) {
  const Dataset data = SyntheticDataset(50, {3, 8, 8}, 10, 1, Split::kTrain);
  BatchOptions options;
  options.shuffle = options.flip = true;
  options.crop_padding = 2;
  BatchIterator a(data, 8, options, 42), b(data, 8, options, 42), c(data, 8, options, 43);
  std::vector<float> ia(8 * 192), ib(8 * 192), ic(8 * 192);
  std::vector<int32_t> la(8), lb(8), lc(8);
  for (int i = 0; i < 3; ++i) {
    a.Next(ia.data(), la.data());
    b.Next(ib.data(), lb.data());
    c.Next(ic.data(), lc.data());
    EXPECT_EQ(ia, ib);
    EXPECT_EQ(la, lb);
    EXPECT_NE(ia, ic);
  }
  // Resume a fresh iterator at b's position: the streams continue equal.
  BatchIterator resumed(data, 8, options, 42);
  resumed.Seek(b.epoch(), b.position());
  for (int i = 0; i < 10; ++i) {  // across the epoch boundary (6 batches per epoch)
    b.Next(ib.data(), lb.data());
    resumed.Next(ia.data(), la.data());
    EXPECT_EQ(ia, ib) << i;
    EXPECT_EQ(la, lb) << i;
  }
  EXPECT_EQ(b.epoch(), 2);  // 13 batches of 6 per epoch
  EXPECT_EQ(b.batches_per_epoch(), 6);
}

TEST(BatchesTest, EveryExampleOncePerEpochInANewOrder) {
  Dataset data = SyntheticDataset(20, {1, 1, 1}, 20, 1, Split::kTrain);
  for (int i = 0; i < 20; ++i) data.labels[i] = i;
  BatchOptions options;
  options.shuffle = true;
  BatchIterator it(data, 5, options, 7);
  std::vector<float> images(5);
  std::vector<int32_t> labels(5);
  std::vector<int32_t> epoch0, epoch1;
  for (int i = 0; i < 4; ++i) {
    it.Next(images.data(), labels.data());
    epoch0.insert(epoch0.end(), labels.begin(), labels.end());
  }
  for (int i = 0; i < 4; ++i) {
    it.Next(images.data(), labels.data());
    epoch1.insert(epoch1.end(), labels.begin(), labels.end());
  }
  EXPECT_NE(epoch0, epoch1);
  std::sort(epoch0.begin(), epoch0.end());
  std::sort(epoch1.begin(), epoch1.end());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(epoch0[i], i);
  EXPECT_EQ(epoch0, epoch1);
}

// Synthetic token sequences: a walk on one Markov chain per seed (the same
// in both splits, different walks), labels the next tokens, a successor
// distribution near 0.6/0.25/0.1/0.05 so there is something to learn.
TEST(SyntheticTokensTest, WalksOnTheSeedsChainLabelledWithTheNextToken) {
  const Dataset train = SyntheticTokens(2000, 16, 50, 16, 3, Split::kTrain);
  const Dataset again = SyntheticTokens(2000, 16, 50, 16, 3, Split::kTrain);
  const Dataset test = SyntheticTokens(400, 16, 50, 16, 3, Split::kTest);
  const Dataset last = SyntheticTokens(10, 16, 50, 1, 3, Split::kTrain);
  EXPECT_EQ(train.tokens, again.tokens);
  EXPECT_EQ(train.labels, again.labels);
  EXPECT_TRUE(train.has_tokens());
  EXPECT_EQ(train.image, planner::Dims{16});
  EXPECT_EQ(train.labels.size(), 2000u * 16);
  EXPECT_EQ(last.labels.size(), 10u);
  // Label t is token t+1; the last label continues the walk.
  for (int64_t i = 0; i < 10; ++i) {
    for (int64_t t = 0; t + 1 < 16; ++t) EXPECT_EQ(train.labels[i * 16 + t], train.tokens[i * 16 + t + 1]);
    EXPECT_EQ(last.labels[i], train.labels[i * 16 + 15]) << "the same walk, its last label";
  }
  // Transition counts: each token's most frequent successor about 0.6 of
  // the time, and the same successor in the test split.
  auto top = [](const Dataset& d, std::vector<int>* best) {
    std::vector<std::vector<int>> count(50, std::vector<int>(50, 0));
    for (int64_t i = 0; i < d.size * 16; ++i) ++count[d.tokens[i]][d.labels[i]];
    double share = 0;
    int rows = 0;
    best->assign(50, -1);
    for (int a = 0; a < 50; ++a) {
      int total = 0, most = 0;
      for (int b = 0; b < 50; ++b) {
        total += count[a][b];
        if (count[a][b] > most) most = count[a][b], (*best)[a] = b;
      }
      if (total >= 200) share += static_cast<double>(most) / total, ++rows;
    }
    return rows > 0 ? share / rows : 0.0;
  };
  std::vector<int> best_train, best_test;
  EXPECT_NEAR(top(train, &best_train), 0.6, 0.06);
  top(test, &best_test);
  int same = 0;
  for (int a = 0; a < 50; ++a) same += best_train[a] == best_test[a];
  EXPECT_GE(same, 45) << "one chain for both splits";
  EXPECT_NE(std::vector<int32_t>(train.tokens.begin(), train.tokens.begin() + 64),
            std::vector<int32_t>(test.tokens.begin(), test.tokens.begin() + 64))
      << "different walks";
}

TEST(SyntheticTokensTest, BatchesAreIdsAsValuesWithALabelPerPosition) {
  const Dataset data = SyntheticTokens(6, 4, 9, 4, 1, Split::kTrain);
  BatchOptions options;
  options.normalize = true;  // no pixels: ignored
  BatchIterator it(data, 3, options, 5);
  std::vector<float> ids(3 * 4);
  std::vector<int32_t> labels(3 * 4);
  ASSERT_EQ(it.Next(ids.data(), labels.data()), 3);
  for (int i = 0; i < 3; ++i) {
    // Find the example served at row i: its ids and labels together.
    int match = -1;
    for (int e = 0; e < 6; ++e) {
      bool same = true;
      for (int t = 0; t < 4; ++t) same = same && ids[i * 4 + t] == static_cast<float>(data.tokens[e * 4 + t]);
      if (same) match = e;
    }
    ASSERT_GE(match, 0);
    for (int t = 0; t < 4; ++t) EXPECT_EQ(labels[i * 4 + t], data.labels[match * 4 + t]);
  }
}

TEST(BatchesTest, CropPadsWithZerosFlipMirrorsAndNormalizeCenters) {
  // One 1x1x4 image of pixels 51, 102, 153, 204: values 0.2, 0.4, 0.6, 0.8.
  Dataset data = SyntheticDataset(1, {1, 1, 4}, 2, 1, Split::kTrain);
  data.pixels = {51, 102, 153, 204};
  const float a = 51 / 255.0f, b = 102 / 255.0f, c = 153 / 255.0f, d = 204 / 255.0f;
  BatchOptions flip_only;
  flip_only.flip = true;
  bool seen_flip = false, seen_plain = false;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    BatchIterator it(data, 1, flip_only, seed);
    std::vector<float> x(4);
    int32_t label;
    it.Next(x.data(), &label);
    if (x == std::vector<float>{d, c, b, a}) seen_flip = true;
    if (x == std::vector<float>{a, b, c, d}) seen_plain = true;
  }
  EXPECT_TRUE(seen_flip && seen_plain);
  BatchOptions crop;
  crop.crop_padding = 1;
  bool shifted = false;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    BatchIterator it(data, 1, crop, seed);
    std::vector<float> x(4);
    int32_t label;
    it.Next(x.data(), &label);
    if (x == std::vector<float>{0, a, b, c} || x == std::vector<float>{b, c, d, 0}) shifted = true;
  }
  EXPECT_TRUE(shifted);
  BatchOptions norm;
  norm.normalize = true;
  BatchIterator it(data, 1, norm, 1);
  std::vector<float> x(4);
  int32_t label;
  it.Next(x.data(), &label);
  EXPECT_NEAR(x[0] + x[1] + x[2] + x[3], 0.0, 1e-5);
}

}  // namespace
}  // namespace slimtrain::engine
