// image_fuzzer — an image file as the image-folder dataset reads it: decoded
// (PNG or JPEG, by content), its channels converted to 1 and 3, and resized.
//
// Checks besides "no crash": a decoded image has 1 to 4 channels, sides
// within the limits, and exactly height * width * channels samples; the
// planes and the resized image have exactly the sizes asked for.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "engine/image_codec.h"
#include "engine/image_transform.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slimtrain;  // NOLINT: a fuzz target's one function
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  // A smaller pixel cap than the dataset's keeps executions fast.
  absl::StatusOr<engine::Image> image = engine::DecodeImage(bytes, "fuzz.img", /*max_pixels=*/1 << 20);
  if (!image.ok()) return 0;
  FUZZ_CHECK(image->channels >= 1 && image->channels <= 4, "channels " << image->channels);
  FUZZ_CHECK(image->height >= 1 && image->width >= 1 && image->height * image->width <= (1 << 20),
             image->width << "x" << image->height);
  FUZZ_CHECK(static_cast<int64_t>(image->samples.size()) == image->height * image->width * image->channels,
             image->samples.size() << " samples");
  for (int64_t c : {1, 3}) {
    const std::vector<uint8_t> planes = engine::ToPlanes(*image, c);
    FUZZ_CHECK(static_cast<int64_t>(planes.size()) == c * image->height * image->width, "planes");
    const std::vector<uint8_t> resized = engine::ResizeBilinear(planes, c, image->height, image->width, 5, 7);
    FUZZ_CHECK(static_cast<int64_t>(resized.size()) == c * 35, "resized");
  }
  return 0;
}
