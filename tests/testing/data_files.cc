// See data_files.h.
#include "tests/testing/data_files.h"

#include <zlib.h>

#include <cstdio>
#include <fstream>

// jpeglib.h needs FILE declared first.
#include <jpeglib.h>
#include <png.h>

namespace slimtrain::test_util {

bool WritePng(const std::string& path, int width, int height, int color_type, int bit_depth,
              const std::vector<uint8_t>& samples, const std::vector<uint8_t>& palette) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    return false;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, width, height, bit_depth, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> colors;
  for (size_t i = 0; i + 2 < palette.size(); i += 3) colors.push_back({palette[i], palette[i + 1], palette[i + 2]});
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_PLTE(png, info, colors.data(), static_cast<int>(colors.size()));
  png_write_info(png, info);
  const size_t row = png_get_rowbytes(png, info);
  for (int y = 0; y < height; ++y) png_write_row(png, const_cast<png_bytep>(samples.data() + y * row));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return std::fclose(f) == 0;
}

bool WriteJpeg(const std::string& path, int width, int height, int channels, const std::vector<uint8_t>& samples,
               int quality) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = width;
  c.image_height = height;
  c.input_components = channels;
  c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(samples.data() + c.next_scanline * width * channels);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  return std::fclose(f) == 0;
}

std::string NpyBytes(const std::string& descr, const std::vector<int64_t>& shape, const std::string& payload,
                     bool fortran_order) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // (3,) keeps its comma
  if (shape.empty()) dims.clear();
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + (fortran_order ? "True" : "False") +
                       ", 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + payload;
}

namespace {

void Le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::string RawDeflate(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

std::string ZipBytes(const std::vector<std::pair<std::string, std::string>>& entries, bool deflate) {
  std::string out, central;
  for (const auto& [name, bytes] : entries) {
    const uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
    const std::string data = deflate ? RawDeflate(bytes) : bytes;
    const uint64_t offset = out.size();
    Le(out, 0x04034b50, 4);
    Le(out, 20, 2);                 // version needed
    Le(out, 0, 2);                  // flags
    Le(out, deflate ? 8 : 0, 2);    // method
    Le(out, 0, 4);                  // time, date
    Le(out, crc, 4);
    Le(out, data.size(), 4);
    Le(out, bytes.size(), 4);
    Le(out, name.size(), 2);
    Le(out, 0, 2);                  // extra
    out += name + data;
    Le(central, 0x02014b50, 4);
    Le(central, 20, 2);             // made by
    Le(central, 20, 2);             // needed
    Le(central, 0, 2);
    Le(central, deflate ? 8 : 0, 2);
    Le(central, 0, 4);
    Le(central, crc, 4);
    Le(central, data.size(), 4);
    Le(central, bytes.size(), 4);
    Le(central, name.size(), 2);
    Le(central, 0, 2);              // extra
    Le(central, 0, 2);              // comment
    Le(central, 0, 2);              // disk
    Le(central, 0, 2);              // internal attributes
    Le(central, 0, 4);              // external attributes
    Le(central, offset, 4);
    central += name;
  }
  const uint64_t dir = out.size();
  out += central;
  Le(out, 0x06054b50, 4);
  Le(out, 0, 4);                    // disks
  Le(out, entries.size(), 2);
  Le(out, entries.size(), 2);
  Le(out, central.size(), 4);
  Le(out, dir, 4);
  Le(out, 0, 2);                    // comment
  return out;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace slimtrain::test_util
