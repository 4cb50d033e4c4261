// See image_transform.h.
#include "engine/image_transform.h"

#include <algorithm>
#include <cmath>

namespace slimtrain::engine {
namespace {

// Source index and weights along one axis, as PyTorch's
// area_pixel_compute_source_index and compute_indices_weights_linear
// (align_corners=False) compute them in float32.
struct Tap {
  int64_t i0, i1;
  float w0, w1;
};

std::vector<Tap> Taps(int64_t in, int64_t out) {
  std::vector<Tap> taps(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    if (src < 0) src = 0;
    const int64_t i0 = static_cast<int64_t>(src);
    const float w1 = src - static_cast<float>(i0);
    taps[o] = {i0, i0 + (i0 < in - 1 ? 1 : 0), 1.0f - w1, w1};
  }
  return taps;
}

}  // namespace

std::vector<uint8_t> ToPlanes(const Image& image, int64_t channels) {
  const int64_t plane = image.height * image.width, c = image.channels;
  std::vector<uint8_t> out(channels * plane);
  const bool color = c >= 3;  // RGB or RGBA; else gray or gray+alpha
  for (int64_t p = 0; p < plane; ++p) {
    const uint8_t* s = &image.samples[p * c];
    if (channels == 1) {
      out[p] = color ? static_cast<uint8_t>((s[0] * 19595u + s[1] * 38470u + s[2] * 7471u + 32768u) >> 16) : s[0];
    } else {
      for (int64_t ch = 0; ch < 3; ++ch) out[ch * plane + p] = color ? s[ch] : s[0];
    }
  }
  return out;
}

std::vector<uint8_t> ResizeBilinear(const std::vector<uint8_t>& planes, int64_t c, int64_t h, int64_t w,
                                    int64_t out_h, int64_t out_w) {
  if (h == out_h && w == out_w) return planes;
  const std::vector<Tap> ys = Taps(h, out_h), xs = Taps(w, out_w);
  std::vector<uint8_t> out(c * out_h * out_w);
  for (int64_t ch = 0; ch < c; ++ch) {
    const uint8_t* in = &planes[ch * h * w];
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const Tap& ty = ys[oy];
      const uint8_t *r0 = in + ty.i0 * w, *r1 = in + ty.i1 * w;
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const Tap& tx = xs[ox];
        // PyTorch's order: the width taps inside, the height taps outside.
        const float top = static_cast<float>(r0[tx.i0]) * tx.w0 + static_cast<float>(r0[tx.i1]) * tx.w1;
        const float bottom = static_cast<float>(r1[tx.i0]) * tx.w0 + static_cast<float>(r1[tx.i1]) * tx.w1;
        const float v = top * ty.w0 + bottom * ty.w1;
        out[(ch * out_h + oy) * out_w + ox] = static_cast<uint8_t>(std::clamp(std::nearbyint(v), 0.0f, 255.0f));
      }
    }
  }
  return out;
}

}  // namespace slimtrain::engine
