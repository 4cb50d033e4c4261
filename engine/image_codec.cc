// See image_codec.h.
//
// Both libraries report errors by longjmp. Each decoder below keeps every C++
// object it owns in a heap-allocated work struct created before setjmp and
// reached through a pointer that is never modified after it, and no C++
// object with a destructor lives in a frame a longjmp can skip (the read
// callbacks are plain functions on plain structs).
#include "engine/image_codec.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>
#include <png.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace slimtrain::engine {
namespace {

absl::Status CheckSize(const std::string& name, int64_t width, int64_t height, int64_t max_pixels) {
  if (width < 1 || height < 1 || width > kMaxImageSide || height > kMaxImageSide || width * height > max_pixels) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: image of %dx%d pixels (width x height) is over the limits: each side in [1, %d], at most %d pixels",
        name, width, height, kMaxImageSide, max_pixels));
  }
  return absl::OkStatus();
}

// ---- PNG ----

struct PngWork {
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
  char error[256] = "";
  Image image;
  std::vector<png_bytep> rows;
  std::vector<uint8_t> raw;  // the rows as libpng writes them (16-bit: two bytes a sample)
};

void PngRead(png_structp png, png_bytep out, png_size_t n) {
  auto* w = static_cast<PngWork*>(png_get_io_ptr(png));
  if (w->size - w->pos < n) png_error(png, "truncated: the file ends early");
  std::memcpy(out, w->data + w->pos, n);
  w->pos += n;
}

void PngError(png_structp png, png_const_charp message) {
  auto* w = static_cast<PngWork*>(png_get_error_ptr(png));
  std::snprintf(w->error, sizeof(w->error), "%s", message);
  png_longjmp(png, 1);
}

void PngWarning(png_structp, png_const_charp) {}

absl::StatusOr<Image> DecodePng(absl::string_view bytes, const std::string& name, int64_t max_pixels) {
  const std::unique_ptr<PngWork> w = std::make_unique<PngWork>();
  w->data = reinterpret_cast<const uint8_t*>(bytes.data());
  w->size = bytes.size();
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, w.get(), PngError, PngWarning);
  if (png == nullptr) return absl::ResourceExhaustedError("libpng: cannot create a reader");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return absl::ResourceExhaustedError("libpng: cannot create a reader");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return absl::InvalidArgumentError(absl::StrCat(name, ": corrupt PNG (", w->error, ")"));
  }
  png_set_read_fn(png, w.get(), PngRead);
  // libpng's own limits (1,000,000 a side) stay; CheckSize below is ours.
  png_read_info(png, info);
  const int64_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  if (absl::Status s = CheckSize(name, width, height, max_pixels); !s.ok()) {
    png_destroy_read_struct(&png, &info, nullptr);
    return s;
  }
  const int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int64_t channels = png_get_channels(png, info);
  const int64_t sample_bytes = png_get_bit_depth(png, info) == 16 ? 2 : 1;
  const size_t row_bytes = png_get_rowbytes(png, info);
  if (channels < 1 || channels > 4 || row_bytes != static_cast<size_t>(width * channels * sample_bytes)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return absl::InvalidArgumentError(absl::StrFormat("%s: unsupported PNG layout (color type %d, bit depth %d)",
                                                      name, color, depth));
  }
  w->raw.resize(row_bytes * height);
  w->rows.resize(height);
  for (int64_t y = 0; y < height; ++y) w->rows[y] = w->raw.data() + y * row_bytes;
  png_read_image(png, w->rows.data());
  png_destroy_read_struct(&png, &info, nullptr);

  Image& image = w->image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  if (sample_bytes == 1) {
    image.samples = std::move(w->raw);
  } else {  // big-endian 16-bit samples, scaled with rounding
    const size_t n = static_cast<size_t>(height * width * channels);
    image.samples.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t v = (uint32_t{w->raw[2 * i]} << 8) | w->raw[2 * i + 1];
      image.samples[i] = static_cast<uint8_t>((v * 255 + 32767) / 65535);
    }
  }
  return std::move(w->image);
}

// ---- JPEG ----

struct JpegWork {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr err;
  jpeg_progress_mgr progress;
  std::jmp_buf jump;
  char error[JMSG_LENGTH_MAX] = "";
  Image image;
};

void JpegErrorExit(j_common_ptr cinfo) {
  auto* w = reinterpret_cast<JpegWork*>(cinfo->client_data);
  (*cinfo->err->format_message)(cinfo, w->error);
  std::longjmp(w->jump, 1);
}

void JpegMessage(j_common_ptr, int) {}  // warnings (a premature end, as PIL) are not errors

void JpegProgress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > 100) {
    auto* w = reinterpret_cast<JpegWork*>(cinfo->client_data);
    std::snprintf(w->error, sizeof(w->error), "more than 100 progressive scans");
    std::longjmp(w->jump, 1);
  }
}

absl::StatusOr<Image> DecodeJpeg(absl::string_view bytes, const std::string& name, int64_t max_pixels) {
  const std::unique_ptr<JpegWork> w = std::make_unique<JpegWork>();
  jpeg_decompress_struct* cinfo = &w->cinfo;
  cinfo->err = jpeg_std_error(&w->err);
  w->err.error_exit = JpegErrorExit;
  w->err.emit_message = JpegMessage;
  cinfo->client_data = w.get();
  jpeg_create_decompress(cinfo);
  if (setjmp(w->jump)) {
    jpeg_destroy_decompress(cinfo);
    return absl::InvalidArgumentError(absl::StrCat(name, ": corrupt JPEG (", w->error, ")"));
  }
  w->progress.progress_monitor = JpegProgress;
  cinfo->progress = &w->progress;
  cinfo->mem->max_memory_to_use = int64_t{1} << 30;
  jpeg_mem_src(cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(cinfo, TRUE);
  if (absl::Status s = CheckSize(name, cinfo->image_width, cinfo->image_height, max_pixels); !s.ok()) {
    jpeg_destroy_decompress(cinfo);
    return s;
  }
  if (cinfo->jpeg_color_space == JCS_GRAYSCALE) {
    cinfo->out_color_space = JCS_GRAYSCALE;
  } else if (cinfo->jpeg_color_space == JCS_YCbCr || cinfo->jpeg_color_space == JCS_RGB) {
    cinfo->out_color_space = JCS_RGB;
  } else {
    jpeg_destroy_decompress(cinfo);
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: JPEG color space %d (CMYK or YCCK) is not supported; save it as RGB", name, cinfo->jpeg_color_space));
  }
  jpeg_start_decompress(cinfo);
  Image& image = w->image;
  image.height = cinfo->output_height;
  image.width = cinfo->output_width;
  image.channels = cinfo->output_components;
  image.samples.resize(image.height * image.width * image.channels);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = image.samples.data() + static_cast<size_t>(cinfo->output_scanline) * image.width * image.channels;
    if (jpeg_read_scanlines(cinfo, &row, 1) != 1) break;
  }
  jpeg_destroy_decompress(cinfo);  // no finish: trailing data after the image is tolerated, as PIL does
  return std::move(w->image);
}

}  // namespace

absl::StatusOr<Image> DecodeImage(absl::string_view bytes, const std::string& name, int64_t max_pixels) {
  const auto b = [&](size_t i) { return i < bytes.size() ? static_cast<uint8_t>(bytes[i]) : 0; };
  if (bytes.size() >= 8 && png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0) {
    return DecodePng(bytes, name, max_pixels);
  }
  if (b(0) == 0xff && b(1) == 0xd8 && b(2) == 0xff) return DecodeJpeg(bytes, name, max_pixels);
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: not a PNG or JPEG file (it starts with %02x %02x %02x)", name, b(0), b(1), b(2)));
}

}  // namespace slimtrain::engine
