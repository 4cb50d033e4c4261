// Image datasets: every kind of PNG and JPEG decoded to known samples,
// channel conversion as PIL's, the bilinear resize against values worked out
// by hand (and against PyTorch's interpolate and PIL's convert where
// /usr/bin/python3 has them), the image-folder layout, and every error path.
#include <png.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "engine/image_codec.h"
#include "engine/image_folder.h"
#include "engine/image_transform.h"
#include "gtest/gtest.h"
#include "tests/testing/data_files.h"
#include "tests/testing/subprocess.h"

namespace slimtrain::engine {
namespace {

using test_util::TempPath;
using test_util::WriteJpeg;
using test_util::WritePng;

std::string Read(const std::string& path) { return base::ReadFile(path).value(); }

struct PngCase {
  const char* name;
  int color_type, bit_depth, width;
  std::vector<uint8_t> stored;    // what the file holds (one row)
  std::vector<uint8_t> palette;
  int64_t channels;               // decoded
  std::vector<uint8_t> expected;  // decoded samples
};

class PngKindsTest : public testing::TestWithParam<PngCase> {};

TEST_P(PngKindsTest, DecodesToTheDocumentedSamples) {
  const PngCase& c = GetParam();
  const std::string path = TempPath(std::string("kind_") + c.name + ".png");
  ASSERT_TRUE(WritePng(path, c.width, 1, c.color_type, c.bit_depth, c.stored, c.palette));
  absl::StatusOr<Image> image = DecodeImage(Read(path), path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, c.width);
  EXPECT_EQ(image->height, 1);
  EXPECT_EQ(image->channels, c.channels);
  EXPECT_EQ(image->samples, c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, PngKindsTest,
    testing::Values(
        PngCase{"Gray8", PNG_COLOR_TYPE_GRAY, 8, 3, {0, 7, 255}, {}, 1, {0, 7, 255}},
        // 1-bit 1,0,1 packed in one byte: widened to 255, 0, 255.
        PngCase{"Gray1", PNG_COLOR_TYPE_GRAY, 1, 3, {0xa0}, {}, 1, {255, 0, 255}},
        PngCase{"GrayAlpha", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 2, {10, 99, 20, 0}, {}, 2, {10, 99, 20, 0}},
        PngCase{"Rgb", PNG_COLOR_TYPE_RGB, 8, 2, {1, 2, 3, 4, 5, 6}, {}, 3, {1, 2, 3, 4, 5, 6}},
        PngCase{"Rgba", PNG_COLOR_TYPE_RGB_ALPHA, 8, 1, {9, 8, 7, 6}, {}, 4, {9, 8, 7, 6}},
        PngCase{"Palette", PNG_COLOR_TYPE_PALETTE, 8, 3, {1, 0, 1}, {10, 20, 30, 200, 100, 50}, 3,
                {200, 100, 50, 10, 20, 30, 200, 100, 50}},
        // 16-bit big-endian 0x1234 = 4660 -> round(4660 * 255 / 65535) = 18; 0xffff -> 255; 0x0080 -> 0.
        PngCase{"Gray16", PNG_COLOR_TYPE_GRAY, 16, 3, {0x12, 0x34, 0xff, 0xff, 0x00, 0x80}, {}, 1, {18, 255, 0}},
        PngCase{"Rgb16", PNG_COLOR_TYPE_RGB, 16, 1, {0x80, 0x00, 0x7f, 0x7f, 0x01, 0x01}, {}, 3, {128, 127, 1}}),
    [](const testing::TestParamInfo<PngCase>& info) { return info.param.name; });

TEST(JpegTest, FlatImagesDecodeToTheirValue) {
  // A flat 8x8 block is its DC coefficient alone: exact at quality 100 for
  // gray; RGB passes through YCbCr, so within 1.
  const std::string gray = TempPath("flat_gray.jpg"), rgb = TempPath("flat_rgb.jpg");
  ASSERT_TRUE(WriteJpeg(gray, 8, 8, 1, std::vector<uint8_t>(64, 77)));
  std::vector<uint8_t> rgb_samples;
  for (int i = 0; i < 64; ++i) rgb_samples.insert(rgb_samples.end(), {200, 30, 90});
  ASSERT_TRUE(WriteJpeg(rgb, 8, 8, 3, rgb_samples));
  absl::StatusOr<Image> g = DecodeImage(Read(gray), gray);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->channels, 1);
  EXPECT_EQ(g->samples, std::vector<uint8_t>(64, 77));
  absl::StatusOr<Image> c = DecodeImage(Read(rgb), rgb);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->channels, 3);
  ASSERT_EQ(c->samples.size(), 192u);
  for (size_t i = 0; i < 192; ++i) EXPECT_NEAR(c->samples[i], rgb_samples[i], 1) << i;
}

struct BadImage {
  const char* name;
  std::string bytes;
  const char* message;
};

std::string PngFile(int width, int height) {
  const std::string path = TempPath("size.png");
  EXPECT_TRUE(WritePng(path, width, height, PNG_COLOR_TYPE_GRAY, 8, std::vector<uint8_t>(width * height, 1)));
  return Read(path);
}

std::string CutJpeg() {
  const std::string path = TempPath("cut.jpg");
  EXPECT_TRUE(WriteJpeg(path, 16, 16, 1, std::vector<uint8_t>(256, 5)));
  return Read(path).substr(0, 100);
}

class BadImageTest : public testing::TestWithParam<BadImage> {};

TEST_P(BadImageTest, IsRefusedNamingTheFile) {
  absl::StatusOr<Image> image = DecodeImage(GetParam().bytes, "train/cat/x.png");
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(image.status().message()).find(GetParam().message), std::string::npos) << image.status();
  EXPECT_EQ(std::string(image.status().message()).rfind("train/cat/x.png: ", 0), 0u) << image.status();
}

INSTANTIATE_TEST_SUITE_P(
    Files, BadImageTest,
    testing::Values(BadImage{"NotAnImage", "GIF89a...", "not a PNG or JPEG file (it starts with 47 49 46)"},
                    BadImage{"Empty", "", "not a PNG or JPEG file"},
                    BadImage{"TruncatedPng", PngFile(4, 4).substr(0, 40), "corrupt PNG"},
                    // 20000 pixels wide: over kMaxImageSide, refused from the header.
                    BadImage{"TooWidePng", PngFile(20000, 1), "image of 20000x1 pixels (width x height) is over"},
                    BadImage{"TruncatedJpeg", CutJpeg(), "corrupt JPEG"}),
    [](const testing::TestParamInfo<BadImage>& info) { return info.param.name; });

TEST(ImageLimitsTest, PixelCountIsCheckedFromTheHeaderBeforeDecoding) {
  absl::StatusOr<Image> image = DecodeImage(PngFile(64, 64), "big.png", /*max_pixels=*/1000);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().message(),
            "big.png: image of 64x64 pixels (width x height) is over the limits: each side in [1, 16384], at most "
            "1000 pixels");
}

TEST(ToPlanesTest, ConvertsChannelsAsPil) {
  Image rgba{1, 2, 4, {10, 200, 30, 99, 255, 255, 255, 0}};
  // L = (19595 R + 38470 G + 7471 B + 32768) >> 16: (10, 200, 30) -> 124, white -> 255.
  EXPECT_EQ(ToPlanes(rgba, 1), (std::vector<uint8_t>{124, 255}));
  EXPECT_EQ(ToPlanes(rgba, 3), (std::vector<uint8_t>{10, 255, 200, 255, 30, 255}));  // alpha dropped, planar
  Image gray_alpha{1, 2, 2, {7, 1, 9, 2}};
  EXPECT_EQ(ToPlanes(gray_alpha, 3), (std::vector<uint8_t>{7, 9, 7, 9, 7, 9}));  // replicated
  EXPECT_EQ(ToPlanes(gray_alpha, 1), (std::vector<uint8_t>{7, 9}));
}

TEST(ResizeTest, BilinearHalfPixelCentresMatchValuesWorkedOutByHand) {
  // 2x2 -> 4x4: source positions 0, 0.25, 0.75, 1 (clamped) on both axes.
  const std::vector<uint8_t> in = {0, 100, 200, 255};
  EXPECT_EQ(ResizeBilinear(in, 1, 2, 2, 4, 4), (std::vector<uint8_t>{0, 25, 75, 100,        //
                                                                      50, 72, 117, 139,     // 72.19 116.56 138.75
                                                                      150, 167, 200, 216,   // 166.56 199.69 216.25
                                                                      200, 214, 241, 255}));
  // 4 -> 2 averages pairs (source 0.5 and 2.5); ties round half to even: 10.5 -> 10, 12.5 -> 12.
  EXPECT_EQ(ResizeBilinear({10, 11, 12, 13}, 1, 1, 4, 1, 2), (std::vector<uint8_t>{10, 12}));
  EXPECT_EQ(ResizeBilinear({11, 12, 13, 14}, 1, 1, 4, 1, 2), (std::vector<uint8_t>{12, 14}));
  // The same size is unchanged; channels are resized alike.
  EXPECT_EQ(ResizeBilinear(in, 1, 2, 2, 2, 2), in);
  EXPECT_EQ(ResizeBilinear({0, 0, 9, 9}, 2, 1, 2, 1, 1), (std::vector<uint8_t>{0, 9}));
}

// /usr/bin/python3 with torch and PIL: their answers for the same inputs.
TEST(ResizeTest, EqualsPyTorchInterpolateAndPilConvertExactly) {
  if (test_util::RunCommand("/usr/bin/python3 -c 'import torch, PIL' 2>&1").exit_code != 0) {
    GTEST_SKIP() << "/usr/bin/python3 has no torch or PIL (Debian's python3-torch, python3-pil)";
  }
  // A fixed pseudo-random 7x5 RGB image.
  std::vector<uint8_t> rgb(7 * 5 * 3);
  uint32_t state = 12345;
  for (uint8_t& v : rgb) v = static_cast<uint8_t>((state = state * 1103515245u + 12345u) >> 23);
  const std::string script = TempPath("resize.py");
  std::ofstream(script) << "import sys, numpy as np, torch, torch.nn.functional as F\n"
                           "from PIL import Image\n"
                           "a = np.array([int(v) for v in sys.argv[1].split(',')], dtype=np.uint8).reshape(7, 5, 3)\n"
                           "out = []\n"
                           "x = torch.from_numpy(a).permute(2, 0, 1)[None].float()\n"
                           "for h, w in ((3, 4), (11, 13), (7, 2)):\n"
                           "  y = F.interpolate(x, size=(h, w), mode='bilinear', align_corners=False)\n"
                           "  out.append(torch.round(y).clamp(0, 255).to(torch.uint8).flatten().tolist())\n"
                           "out.append(list(np.asarray(Image.fromarray(a).convert('L')).flatten()))\n"
                           "print(';'.join(','.join(str(int(v)) for v in o) for o in out))\n";
  const test_util::CommandResult r = test_util::RunCommandSplit(absl::StrCat(
      "/usr/bin/python3 ", script, " ", absl::StrJoin(rgb, ",")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<std::string> parts = absl::StrSplit(absl::StripAsciiWhitespace(r.stdout_only), ';');
  ASSERT_EQ(parts.size(), 4u) << r.stdout_only;
  const Image image{7, 5, 3, rgb};
  const std::vector<uint8_t> planes = ToPlanes(image, 3);
  const int sizes[3][2] = {{3, 4}, {11, 13}, {7, 2}};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(absl::StrJoin(ResizeBilinear(planes, 3, 7, 5, sizes[i][0], sizes[i][1]), ","), parts[i])
        << sizes[i][0] << "x" << sizes[i][1];
  }
  EXPECT_EQ(absl::StrJoin(ToPlanes(image, 1), ","), parts[3]) << "PIL's convert('L')";
}

// A folder of two classes: gray PNGs and an RGB JPEG.
std::string MakeFolder(const std::string& name) {
  const std::string dir = TempPath(name);
  std::filesystem::remove_all(dir);
  for (const char* sub : {"train/cat", "train/dog", "test/dog"}) std::filesystem::create_directories(dir + "/" + sub);
  EXPECT_TRUE(WritePng(dir + "/train/cat/b.png", 2, 2, PNG_COLOR_TYPE_GRAY, 8, {1, 2, 3, 4}));
  EXPECT_TRUE(WritePng(dir + "/train/cat/a.PNG", 2, 2, PNG_COLOR_TYPE_GRAY, 8, {5, 6, 7, 8}));
  EXPECT_TRUE(WriteJpeg(dir + "/train/dog/x.jpeg", 8, 8, 1, std::vector<uint8_t>(64, 40)));
  EXPECT_TRUE(WritePng(dir + "/test/dog/t.png", 4, 4, PNG_COLOR_TYPE_GRAY, 8, std::vector<uint8_t>(16, 9)));
  std::ofstream(dir + "/train/cat/notes.txt") << "ignored";
  std::ofstream(dir + "/train/cat/.hidden.png") << "ignored";
  return dir;
}

TEST(ImageFolderTest, ClassesAreSortedFoldersAndImagesAreResizedPixels) {
  const std::string dir = MakeFolder("folder_ok");
  absl::StatusOr<Dataset> train = LoadImageFolder(dir, Split::kTrain, {1, 2, 2});
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->name, "image-folder");
  EXPECT_EQ(train->class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(train->classes, 2);
  EXPECT_EQ(train->size, 3);
  EXPECT_EQ(train->labels, (std::vector<int32_t>{0, 0, 1}));
  // a.PNG before b.png (byte order: 'a' < 'b'); the 8x8 JPEG shrunk to 2x2.
  EXPECT_EQ(train->pixels, (std::vector<uint8_t>{5, 6, 7, 8, 1, 2, 3, 4, 40, 40, 40, 40}));
  absl::StatusOr<Dataset> test = LoadImageFolder(dir, Split::kTest, {3, 2, 2}, {}, /*threads=*/2);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->labels, (std::vector<int32_t>{1}));  // dog keeps train's number
  EXPECT_EQ(test->pixels, std::vector<uint8_t>(12, 9));  // gray replicated to 3 channels
}

TEST(ImageFolderTest, ErrorsNameTheFileOrFolder) {
  const std::string dir = MakeFolder("folder_bad");
  std::filesystem::create_directories(dir + "/test/bird");
  absl::StatusOr<Dataset> d = LoadImageFolder(dir, Split::kTest, {1, 2, 2});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), dir + "/test/bird: class 'bird' is not a class of the training split (" + dir +
                                      "/train has: cat, dog)");

  std::filesystem::create_directories(dir + "/train/empty");
  d = LoadImageFolder(dir, Split::kTrain, {1, 2, 2});
  EXPECT_EQ(d.status().message(), dir + "/train/empty: no .png, .jpg or .jpeg files");
  std::filesystem::remove(dir + "/train/empty");

  std::ofstream(dir + "/train/dog/broken.png") << "\x89PNG\r\n\x1a\n garbage";
  d = LoadImageFolder(dir, Split::kTrain, {1, 2, 2});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(std::string(d.status().message()).rfind(dir + "/train/dog/broken.png: corrupt PNG", 0), 0u) << d.status();

  EXPECT_EQ(LoadImageFolder(dir, Split::kTrain, {4, 2, 2}).status().message(),
            "dataset: image-folder makes (C,H,W) images with C = 1 (gray) or 3 (RGB), and the model takes 4x2x2");
  d = LoadImageFolder(TempPath("no_such_folder"), Split::kTrain, {1, 2, 2});
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(d.status().message(), TempPath("no_such_folder") + "/train: no such folder");
}

}  // namespace
}  // namespace slimtrain::engine
