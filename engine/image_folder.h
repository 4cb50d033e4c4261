// image_folder.h — a dataset from a folder of images, one subfolder per
// class (torchvision's ImageFolder layout):
//
//   DIR/train/<class>/*.png|*.jpg|*.jpeg     DIR/test/<class>/...
//
//   SLIM_ASSIGN_OR_RETURN(Dataset train, LoadImageFolder(dir, Split::kTrain, {3, 32, 32}));
//   // train.class_names: train/'s subfolders, sorted; label i is class_names[i]
//
// 1. Classes are the subfolders of DIR/train, sorted by byte value (as
//    Python's sorted(), so as torchvision's ImageFolder numbers them); each
//    needs at least one image. The test split's subfolders must be among
//    them (a test class missing from train is an error naming it) and take
//    train's label numbers; a class may have no test images.
// 2. Images are the files directly inside a class folder whose names end in
//    .png, .jpg or .jpeg (any case), sorted by name; other files, hidden
//    files and deeper folders are ignored.
// 3. Each image is decoded (image_codec.h), its channels converted to the
//    model's C (1 or 3) and resized to its H×W by the rules of
//    image_transform.h (PIL's convert, then bilinear as
//    torch.nn.functional.interpolate(align_corners=False), rounded to uint8),
//    and stored as pixels: a value is pixel / 255 like the other datasets.
// Before decoding, the split's count of images times C·H·W bytes must fit
// kMaxDatasetBytes; each file may hold at most 256 MiB, and each image's
// header dimensions are checked before its pixels are allocated.
// Errors name the file: INVALID_ARGUMENT for an undecodable image or a bad
// layout, NOT_FOUND for a missing folder. Decoding runs on `threads` threads
// (0: the machine's cores); the result does not depend on them.
#ifndef SLIMTRAIN_ENGINE_IMAGE_FOLDER_H_
#define SLIMTRAIN_ENGINE_IMAGE_FOLDER_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/data.h"
#include "engine/data_files.h"
#include "planner/graph.h"

namespace slimtrain::engine {

inline constexpr int64_t kMaxImageFileBytes = int64_t{256} << 20;

// `input` is the model's (C,H,W) with C 1 or 3.
absl::StatusOr<Dataset> LoadImageFolder(const std::string& dir, Split split, const planner::Dims& input,
                                        const DataFiles& files = {}, int threads = 0);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_IMAGE_FOLDER_H_
