// data_files.h — dataset files made in tests without Python: PNG and JPEG
// images (libpng, libjpeg-turbo), .npy arrays and .npz (ZIP) archives written
// byte by byte.
//
//   WritePng(dir + "/a.png", 2, 2, PNG_COLOR_TYPE_GRAY, 8, {0, 64, 128, 255});
//   std::string x = NpyBytes("|u1", {2, 2, 2}, std::string(8, '\x07'));
//   std::string npz = ZipBytes({{"x.npy", x}, {"y.npy", y}}, /*deflate=*/true);
#ifndef SLIMTRAIN_TESTS_TESTING_DATA_FILES_H_
#define SLIMTRAIN_TESTS_TESTING_DATA_FILES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace slimtrain::test_util {

// A PNG of `samples` (rows of width * channels samples; 16-bit samples as
// big-endian byte pairs) with libpng's color type and bit depth; a palette
// image takes `palette` (r, g, b triples). Returns false when libpng fails.
bool WritePng(const std::string& path, int width, int height, int color_type, int bit_depth,
              const std::vector<uint8_t>& samples, const std::vector<uint8_t>& palette = {});

// A baseline JPEG of `samples` (1 or 3 channels, interleaved) at `quality`.
bool WriteJpeg(const std::string& path, int width, int height, int channels, const std::vector<uint8_t>& samples,
               int quality = 100);

// A version 1.0 .npy file: `descr` (e.g. "<f4"), `shape`, C-order `payload`.
std::string NpyBytes(const std::string& descr, const std::vector<int64_t>& shape, const std::string& payload,
                     bool fortran_order = false);

// A ZIP archive of (name, bytes) entries, stored or deflated, with CRC-32s.
std::string ZipBytes(const std::vector<std::pair<std::string, std::string>>& entries, bool deflate);

// Raw little-endian bytes of `values`.
template <typename T>
std::string RawBytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

void WriteBytes(const std::string& path, const std::string& bytes);

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_TESTING_DATA_FILES_H_
