// image_transform.h — a decoded image made into a model's input: its
// channels converted, then resized to H×W, kept as 8-bit pixels.
//
//   std::vector<uint8_t> planes = ToPlanes(image, 3);           // (3,h,w)
//   std::vector<uint8_t> input = ResizeBilinear(planes, 3, h, w, 32, 32);  // (3,32,32)
//
// The rules, chosen so a PyTorch user reproduces the pixels exactly:
//   1. Channels, as PIL's Image.convert: alpha is dropped (no compositing);
//      gray to 3 channels replicates it; RGB to 1 channel is PIL's "L":
//      L = (19595 R + 38470 G + 7471 B + 32768) >> 16, the ITU-R 601-2 weights
//      0.299, 0.587, 0.114 in 16-bit fixed point.
//   2. Size: plain bilinear resize of each channel to H×W (the aspect ratio
//      is not kept, nothing is cropped), half-pixel centres, no antialias:
//      torch.nn.functional.interpolate(x.float(), size=(H, W), mode="bilinear",
//      align_corners=False), computed in float32 in PyTorch's order, then
//      rounded half to even (torch.round) to uint8. That is torchvision's
//      transforms.Resize((H, W), antialias=False) on a uint8 tensor. An image
//      already H×W is unchanged. Shrinking by more than 2x aliases (no
//      antialias): resize such images beforehand if that matters.
// Cost: one pass over the output; no allocation besides the result.
#ifndef SLIMTRAIN_ENGINE_IMAGE_TRANSFORM_H_
#define SLIMTRAIN_ENGINE_IMAGE_TRANSFORM_H_

#include <cstdint>
#include <vector>

#include "engine/image_codec.h"

namespace slimtrain::engine {

// `image`'s samples as (channels,H,W) planes; `channels` is 1 or 3.
std::vector<uint8_t> ToPlanes(const Image& image, int64_t channels);

// `planes` (c,h,w) resized to (c,out_h,out_w) by rule 2 above; all sizes >= 1.
std::vector<uint8_t> ResizeBilinear(const std::vector<uint8_t>& planes, int64_t c, int64_t h, int64_t w,
                                    int64_t out_h, int64_t out_w);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_IMAGE_TRANSFORM_H_
