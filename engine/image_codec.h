// image_codec.h — PNG and JPEG files decoded to 8-bit samples, with Debian's
// libpng and libjpeg-turbo (the libraries PIL uses, so a JPEG decodes to the
// same pixels there).
//
//   SLIM_ASSIGN_OR_RETURN(Image img, DecodeImage(bytes, "train/cat/001.png"));
//   // img.samples is (H,W,C) interleaved, C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
//
// The format is taken from the content (PNG's signature, JPEG's FF D8 FF),
// not the file name. What each kind of file gives:
//   PNG gray, gray+alpha, RGB, RGBA   as stored; 1, 2 and 4-bit gray widened
//                                     to 8 bits (v * 255 / (2^bits - 1));
//   PNG palette                       expanded to RGB (transparency ignored);
//   PNG 16-bit                        each sample v scaled to round(v * 255 / 65535)
//                                     (PIL instead clips 16-bit gray to 255);
//   JPEG gray, YCbCr, RGB             gray or RGB, libjpeg's default IDCT and
//                                     upsampling (as PIL); CMYK/YCCK refused.
// Fuzz-safe: the width and height from the header are checked (each at most
// kMaxImageSide, their product at most `max_pixels`) before any pixel
// memory is allocated; a truncated or corrupt file gives INVALID_ARGUMENT
// naming `name` and the decoder's reason; progressive JPEGs with more than
// 100 scans are refused (their decoding time is unbounded otherwise).
#ifndef SLIMTRAIN_ENGINE_IMAGE_CODEC_H_
#define SLIMTRAIN_ENGINE_IMAGE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slimtrain::engine {

inline constexpr int64_t kMaxImageSide = 16384;
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;  // 64 Mi pixels

struct Image {
  int64_t height = 0, width = 0;
  int64_t channels = 0;          // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  std::vector<uint8_t> samples;  // (H,W,C) interleaved, row-major
};

absl::StatusOr<Image> DecodeImage(absl::string_view bytes, const std::string& name,
                                  int64_t max_pixels = kMaxImagePixels);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_IMAGE_CODEC_H_
