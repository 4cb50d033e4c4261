// NumPy and IDX datasets: .npy headers and dtypes, .npz archives (stored and
// deflated, written by hand and, where /usr/bin/python3 has numpy, by
// np.savez and np.savez_compressed), layouts, labels and targets, plain IDX
// files, and every error path.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "engine/data.h"
#include "engine/npy.h"
#include "engine/numpy_data.h"
#include "engine/zip_reader.h"
#include "gtest/gtest.h"
#include "tests/testing/data_files.h"
#include "tests/testing/subprocess.h"

namespace slimtrain::engine {
namespace {

using test_util::NpyBytes;
using test_util::RawBytes;
using test_util::TempPath;
using test_util::WriteBytes;
using test_util::ZipBytes;

TEST(NpyTest, ReadsEveryDtypeAndByteOrder) {
  // Each array views its bytes, so they are kept in variables that outlive it.
  const std::string f_bytes = NpyBytes("<f4", {2}, RawBytes<float>({1.5f, -2.0f}));
  absl::StatusOr<NpyArray> f = ParseNpy(f_bytes, "a.npy");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(f->Float(0), 1.5);
  EXPECT_EQ(f->Float(1), -2.0);
  EXPECT_EQ(f->ShapeText(), "(2,)");
  // Big-endian float32 1.0 is 3f 80 00 00.
  const std::string be_bytes = NpyBytes(">f4", {1}, std::string("\x3f\x80\x00\x00", 4));
  absl::StatusOr<NpyArray> be = ParseNpy(be_bytes, "be.npy");
  ASSERT_TRUE(be.ok()) << be.status();
  EXPECT_EQ(be->Float(0), 1.0);
  const std::string i16_bytes = NpyBytes(">i2", {2}, std::string("\xff\xfe\x00\x07", 4));
  absl::StatusOr<NpyArray> i16 = ParseNpy(i16_bytes, "i.npy");
  ASSERT_TRUE(i16.ok()) << i16.status();
  EXPECT_EQ(i16->Int(0), -2);
  EXPECT_EQ(i16->Int(1), 7);
  const std::string i64_bytes = NpyBytes("<i8", {1}, RawBytes<int64_t>({-5}));
  absl::StatusOr<NpyArray> i64 = ParseNpy(i64_bytes, "l.npy");
  ASSERT_TRUE(i64.ok()) << i64.status();
  EXPECT_EQ(i64->Int(0), -5);
  const std::string f8_bytes = NpyBytes("<f8", {1, 1}, RawBytes<double>({0.1}));
  absl::StatusOr<NpyArray> f8 = ParseNpy(f8_bytes, "d.npy");
  ASSERT_TRUE(f8.ok()) << f8.status();
  EXPECT_EQ(f8->Float(0), 0.1);
  EXPECT_EQ(f8->ShapeText(), "(1, 1)");
}

struct BadNpy {
  const char* name;
  std::string bytes;
  const char* message;
};

class BadNpyTest : public testing::TestWithParam<BadNpy> {};

TEST_P(BadNpyTest, IsRefusedNamingTheFileAndField) {
  absl::StatusOr<NpyArray> a = ParseNpy(GetParam().bytes, "x.npy");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(a.status().message()).find(GetParam().message), std::string::npos) << a.status();
}

std::string WithHeader(const std::string& header) {
  std::string h = header + "\n";
  return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(h.size()) + '\0' + h;
}

INSTANTIATE_TEST_SUITE_P(
    Files, BadNpyTest,
    testing::Values(
        BadNpy{"NoMagic", "PK\x03\x04 not npy", "x.npy: not a .npy file"},
        BadNpy{"Fortran", NpyBytes("<f4", {1, 2}, RawBytes<float>({1, 2}), true),
               "x.npy: fortran_order is True; save a C-ordered array (np.ascontiguousarray(a)) instead"},
        BadNpy{"Truncated", NpyBytes("<f4", {3}, RawBytes<float>({1, 2})),
               "x.npy: shape (3,) of '<f4' needs 12 bytes of data but the file holds 8 after its header (truncated)"},
        BadNpy{"ExtraBytes", NpyBytes("|u1", {1}, "ab"), "(extra bytes)"},
        BadNpy{"Complex", NpyBytes("<c8", {1}, std::string(8, '\0')), "x.npy: dtype '<c8' is not read"},
        BadNpy{"Object", NpyBytes("|O", {1}, std::string(8, '\0')), "dtype '|O' is not read"},
        BadNpy{"Structured", WithHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"),
               "a structured dtype"},
        BadNpy{"MissingKey", WithHeader("{'descr': '<f4', 'shape': (1,), }"),
               "descr, fortran_order and shape are all needed"},
        BadNpy{"NegativeDim", WithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"),
               "expected a non-negative dimension"},
        BadNpy{"HugeShape",
               WithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"),
               "needs more than the 0 bytes the file holds"},
        BadNpy{"HeaderPastEnd", std::string("\x93NUMPY\x01\x00\xff\x00{", 11), "the .npy header says 255 bytes"}),
    [](const testing::TestParamInfo<BadNpy>& info) { return info.param.name; });

TEST(ZipTest, ReadsStoredAndDeflatedEntriesAndChecksThem) {
  const std::string payload(1000, 'z');
  for (bool deflate : {false, true}) {
    const std::string zip = ZipBytes({{"x.npy", payload}, {"y.npy", "yy"}}, deflate);
    absl::StatusOr<std::map<std::string, std::string>> e = ReadZipEntries(zip, "a.npz", {"x.npy", "y.npy"}, 1 << 20);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ((*e)["x.npy"], payload);
    EXPECT_EQ((*e)["y.npy"], "yy");
    // The uncompressed size is checked against the cap before inflating.
    EXPECT_EQ(ReadZipEntries(zip, "a.npz", {"x.npy"}, 999).status().message(),
              "a.npz: entry 'x.npy' holds 1000 bytes uncompressed, over the limit of 999 bytes for the archive");
  }
  const std::string zip = ZipBytes({{"x.npy", "abc"}}, false);
  absl::StatusOr<std::map<std::string, std::string>> missing = ReadZipEntries(zip, "a.npz", {"y.npy"}, 100);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "a.npz: no entry 'y.npy' (it holds: x.npy)");
  std::string corrupt = zip;
  corrupt[30 + 5] = 'X';  // the stored data's first byte: the CRC-32 no longer matches
  EXPECT_NE(std::string(ReadZipEntries(corrupt, "a.npz", {"x.npy"}, 100).status().message()).find("CRC-32"),
            std::string::npos);
  EXPECT_NE(std::string(ReadZipEntries("PK not a zip at all....", "a.npz", {"x.npy"}, 100).status().message())
                .find("a.npz: not a valid zip archive: no end-of-central-directory record"),
            std::string::npos);
  // Every prefix of a valid archive is refused cleanly (no crash, no entry).
  const std::string deflated = ZipBytes({{"x.npy", payload}}, true);
  for (size_t n = 0; n < deflated.size(); ++n) {
    EXPECT_FALSE(ReadZipEntries(deflated.substr(0, n), "cut.npz", {"x.npy"}, 1 << 20).ok()) << n;
  }
}

TEST(NumpyDataTest, PixelsValuesLayoutsLabelsAndTargets) {
  // uint8 (N,H,W) for a one-channel model: the pixels as they are.
  const std::string y = NpyBytes("<i8", {2}, RawBytes<int64_t>({1, 0}));
  absl::StatusOr<Dataset> d =
      DatasetFromNpy(NpyBytes("|u1", {2, 2, 2}, "\x01\x02\x03\x04\x05\x06\x07\x08"), "x", y, "y", {{1, 2, 2}, 3, 0});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->pixels, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(d->labels, (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(d->class_names, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(d->value(1), 2.0f / 255.0f);
  // float32 channels last (N,H,W,C) = (1,1,2,3) for a (3,1,2) model: transposed.
  d = DatasetFromNpy(NpyBytes("<f4", {1, 1, 2, 3}, RawBytes<float>({0, 1, 2, 10, 11, 12})), "x",
                     NpyBytes("|u1", {1}, "\x02"), "y", {{3, 1, 2}, 3, 0});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->pixels.empty());
  EXPECT_EQ(d->values, (std::vector<float>{0, 10, 1, 11, 2, 12}));
  EXPECT_EQ(d->value(3), 11.0f);
  // float64 targets (N,2) for a regression with 2 targets.
  d = DatasetFromNpy(NpyBytes("<f8", {1, 4}, RawBytes<double>({0.5, 1, 2, 3})), "x",
                     NpyBytes("<f8", {1, 2}, RawBytes<double>({-1.25, 4})), "y", {{4}, 0, 2});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->values, (std::vector<float>{0.5f, 1, 2, 3}));
  EXPECT_EQ(d->targets, (std::vector<float>{-1.25f, 4}));
  EXPECT_EQ(d->labels_per_example, 0);
  EXPECT_EQ(d->targets_per_example, 2);
  EXPECT_TRUE(d->class_names.empty());
}

struct BadArrays {
  const char* name;
  std::string x, y;
  NumpyTarget target;
  const char* message;
};

class BadArraysTest : public testing::TestWithParam<BadArrays> {};

TEST_P(BadArraysTest, NameTheArrayAndWhatIsWrong) {
  absl::StatusOr<Dataset> d = DatasetFromNpy(GetParam().x, "train_x.npy", GetParam().y, "train_y.npy",
                                             GetParam().target);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.status().message(), GetParam().message);
}

const std::string kX = NpyBytes("|u1", {2, 1, 2, 2}, std::string(8, '\x01'));
const std::string kY = NpyBytes("<i4", {2}, RawBytes<int32_t>({0, 1}));

INSTANTIATE_TEST_SUITE_P(
    Arrays, BadArraysTest,
    testing::Values(
        BadArrays{"XShape", kX, kY, {{1, 3, 3}, 2, 0},
                  "train_x.npy: x has shape (2, 1, 2, 2) but the model takes 1x3x3: expected (N, 1, 3, 3), or "
                  "channels last (N, 3, 3, 1), or (N, H, W)"},
        BadArrays{"XDtype", NpyBytes("<i8", {1, 1}, RawBytes<int64_t>({1})), kY, {{1}, 2, 0},
                  "train_x.npy: x has dtype '<i8'; expected uint8 (pixels, value / 255), float32 or float64 "
                  "(values as they are)"},
        BadArrays{"LabelRange", kX, NpyBytes("<i4", {2}, RawBytes<int32_t>({0, 2})), {{1, 2, 2}, 2, 0},
                  "train_y.npy: y[1] = 2 is outside [0, 2) (the model's classes)"},
        BadArrays{"NegativeLabel", kX, NpyBytes("<i8", {2}, RawBytes<int64_t>({-1, 0})), {{1, 2, 2}, 2, 0},
                  "train_y.npy: y[0] = -1 is outside [0, 2) (the model's classes)"},
        BadArrays{"YCount", kX, NpyBytes("<i4", {3}, RawBytes<int32_t>({0, 1, 0})), {{1, 2, 2}, 2, 0},
                  "train_y.npy: y has shape (3,) but x has 2 examples: expected (2,)"},
        BadArrays{"FloatLabels", kX, NpyBytes("<f4", {2}, RawBytes<float>({0, 1})), {{1, 2, 2}, 2, 0},
                  "train_y.npy: y has dtype '<f4': expected integer class labels (int64, int32, uint8, ...) (float "
                  "targets need a model ending in mse_loss)"},
        BadArrays{"TargetWidth", NpyBytes("<f4", {1, 2}, RawBytes<float>({0, 1})),
                  NpyBytes("<f4", {1, 3}, RawBytes<float>({0, 1, 2})), {{2}, 0, 2},
                  "train_y.npy: y has shape (1, 3) but the model's mse_loss takes 2 targets per example: expected "
                  "(1, 2)"},
        BadArrays{"NanInput", NpyBytes("<f4", {1, 2}, RawBytes<float>({0, NAN})),
                  NpyBytes("<i4", {1}, RawBytes<int32_t>({0})), {{2}, 2, 0},
                  "train_x.npy: x[0] element 1 is nan: every value must be a finite float32"}),
    [](const testing::TestParamInfo<BadArrays>& info) { return info.param.name; });

TEST(NumpyDataTest, LoadsNpyFoldersAndNpzArchivesWithErrorsNamingFiles) {
  const std::string dir = TempPath("numpy_files");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const NumpyTarget target{{1, 2, 2}, 2, 0};
  WriteBytes(dir + "/train_x.npy", kX);
  WriteBytes(dir + "/train_y.npy", kY);
  absl::StatusOr<Dataset> d = LoadNumpy(dir, NumpyLayout::kNpy, Split::kTrain, target);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->name, "npy");
  EXPECT_EQ(d->size, 2);
  d = LoadNumpy(dir, NumpyLayout::kNpy, Split::kTest, target);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(d.status().message(), dir + "/test_x.npy: no such file");
  for (bool deflate : {false, true}) {
    WriteBytes(dir + "/train.npz", ZipBytes({{"x.npy", kX}, {"y.npy", kY}}, deflate));
    d = LoadNumpy(dir, NumpyLayout::kNpz, Split::kTrain, target);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->name, "npz");
    EXPECT_EQ(d->labels, (std::vector<int32_t>{0, 1}));
  }
  WriteBytes(dir + "/train.npz", ZipBytes({{"x.npy", kX}, {"y.npy", NpyBytes("<i4", {2}, RawBytes<int32_t>({0, 5}))}},
                                          true));
  d = LoadNumpy(dir, NumpyLayout::kNpz, Split::kTrain, target);
  EXPECT_EQ(d.status().message(), dir + "/train.npz y: y[1] = 5 is outside [0, 2) (the model's classes)");
}

// np.savez / np.savez_compressed / np.save as a user runs them.
TEST(NumpyDataTest, ReadsWhatNumpyWrites) {
  if (test_util::RunCommand("/usr/bin/python3 -c 'import numpy' 2>&1").exit_code != 0) {
    GTEST_SKIP() << "/usr/bin/python3 has no numpy (Debian's python3-numpy): np.savez files not tested";
  }
  const std::string dir = TempPath("numpy_written");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string script = TempPath("write_npz.py");
  std::ofstream(script) << "import sys, numpy as np\n"
                           "d = sys.argv[1]\n"
                           "x = (np.arange(5 * 3 * 4 * 2) % 251).astype(np.uint8).reshape(5, 4, 2, 3)  # NHWC\n"
                           "y = np.array([0, 1, 2, 1, 0], dtype=np.int64)\n"
                           "np.savez(d + '/train.npz', x=x, y=y)\n"
                           "np.savez_compressed(d + '/test.npz', x=x.astype(np.float64) / 7, y=y.astype(np.int32))\n"
                           "np.save(d + '/train_x.npy', x.astype('>f4'))\n"
                           "np.save(d + '/train_y.npy', y.astype(np.uint8))\n"
                           "np.save(d + '/test_x.npy', np.asfortranarray(x.astype(np.float32)))\n"
                           "np.save(d + '/test_y.npy', y)\n";
  const test_util::CommandResult r = test_util::RunCommand("/usr/bin/python3 " + script + " " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const NumpyTarget target{{3, 4, 2}, 3, 0};
  absl::StatusOr<Dataset> stored = LoadNumpy(dir, NumpyLayout::kNpz, Split::kTrain, target);
  ASSERT_TRUE(stored.ok()) << stored.status();
  absl::StatusOr<Dataset> deflated = LoadNumpy(dir, NumpyLayout::kNpz, Split::kTest, target);
  ASSERT_TRUE(deflated.ok()) << deflated.status();
  absl::StatusOr<Dataset> big_endian = LoadNumpy(dir, NumpyLayout::kNpy, Split::kTrain, target);
  ASSERT_TRUE(big_endian.ok()) << big_endian.status();
  ASSERT_EQ(stored->size, 5);
  EXPECT_EQ(stored->labels, (std::vector<int32_t>{0, 1, 2, 1, 0}));
  EXPECT_EQ(deflated->labels, stored->labels);
  EXPECT_EQ(big_endian->labels, stored->labels);
  // Example 1, channel 2, row 3, column 1 is x[1, 3, 1, 2] = (1*24 + 3*6 + 1*3 + 2) % 251 = 47.
  const int64_t at = 1 * 24 + (2 * 4 + 3) * 2 + 1;
  EXPECT_EQ(stored->pixels[at], 47);
  EXPECT_EQ(deflated->values[at], static_cast<float>(47.0 / 7));
  EXPECT_EQ(big_endian->values[at], 47.0f);
  absl::StatusOr<Dataset> fortran = LoadNumpy(dir, NumpyLayout::kNpy, Split::kTest, target);
  ASSERT_FALSE(fortran.ok());
  EXPECT_NE(std::string(fortran.status().message()).find("test_x.npy: fortran_order is True"), std::string::npos)
      << fortran.status();
}

TEST(IdxTest, PlainAndGzipFilesWithMnistNames) {
  const std::string dir = TempPath("idx_plain");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto be32 = [](uint32_t v) {
    return std::string({static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                        static_cast<char>(v)});
  };
  WriteBytes(dir + "/t10k-images-idx3-ubyte", be32(0x803) + be32(1) + be32(1) + be32(2) + "\x09\x0a");
  WriteBytes(dir + "/t10k-labels-idx1-ubyte", be32(0x801) + be32(1) + "\x04");
  absl::StatusOr<Dataset> d = LoadIdx(dir, Split::kTest, 5);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->name, "idx");
  EXPECT_EQ(d->image, (planner::Dims{1, 1, 2}));
  EXPECT_EQ(d->pixels, (std::vector<uint8_t>{9, 10}));
  EXPECT_EQ(d->labels, (std::vector<int32_t>{4}));
  EXPECT_EQ(LoadIdx(dir, Split::kTest, 4).status().message(),
            dir + "/t10k-labels-idx1-ubyte: label 4 at offset 8 is outside [0, 4)");
  d = LoadIdx(dir, Split::kTrain, 5);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(d.status().message(), dir + "/train-images-idx3-ubyte: no such file (nor with .gz)");
  // Debian's Fashion-MNIST folder is gzip IDX with these names.
  absl::StatusOr<Dataset> fm = LoadIdx(kFashionMnistDir, Split::kTest, 10);
  ASSERT_TRUE(fm.ok()) << fm.status();
  EXPECT_EQ(fm->size, 10000);
}

}  // namespace
}  // namespace slimtrain::engine
