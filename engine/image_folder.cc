// See image_folder.h.
#include "engine/image_folder.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "engine/image_codec.h"
#include "engine/image_transform.h"

namespace slimtrain::engine {
namespace {

bool IsImageName(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  return absl::EndsWith(lower, ".png") || absl::EndsWith(lower, ".jpg") || absl::EndsWith(lower, ".jpeg");
}

// One image file made into the model's (C,H,W) pixels at `out`.
absl::Status LoadOne(const DataFiles& files, const std::string& path, const planner::Dims& input, uint8_t* out) {
  SLIM_ASSIGN_OR_RETURN(const std::string bytes, files.Read(path, kMaxImageFileBytes));
  SLIM_ASSIGN_OR_RETURN(const Image image, DecodeImage(bytes, files.Display(path)));
  const std::vector<uint8_t> planes = ToPlanes(image, input[0]);
  const std::vector<uint8_t> resized = ResizeBilinear(planes, input[0], image.height, image.width, input[1], input[2]);
  std::copy(resized.begin(), resized.end(), out);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Dataset> LoadImageFolder(const std::string& dir, Split split, const planner::Dims& input,
                                        const DataFiles& files, int threads) {
  if (input.size() != 3 || (input[0] != 1 && input[0] != 3)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "dataset: image-folder makes (C,H,W) images with C = 1 (gray) or 3 (RGB), and the model takes %s",
        planner::DimsString(input)));
  }
  // 1. Classes.
  const std::string train_dir = dir + "/train", split_dir = dir + (split == Split::kTrain ? "/train" : "/test");
  SLIM_ASSIGN_OR_RETURN(const std::vector<std::string> classes, files.List(train_dir, DataFiles::kFolders));
  if (classes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(files.Display(train_dir), ": no class folders"));
  }
  SLIM_ASSIGN_OR_RETURN(const std::vector<std::string> split_classes, files.List(split_dir, DataFiles::kFolders));
  // 2. Images, and their labels.
  std::vector<std::string> paths;
  std::vector<int32_t> labels;
  for (const std::string& cls : split_classes) {
    const auto it = std::lower_bound(classes.begin(), classes.end(), cls);
    if (it == classes.end() || *it != cls) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: class '%s' is not a class of the training split (%s has: %s)", files.Display(split_dir + "/" + cls),
          cls, files.Display(train_dir), absl::StrJoin(classes, ", ")));
    }
    SLIM_ASSIGN_OR_RETURN(const std::vector<std::string> names, files.List(split_dir + "/" + cls, DataFiles::kFiles));
    int64_t found = 0;
    for (const std::string& name : names) {
      if (!IsImageName(name)) continue;
      paths.push_back(absl::StrCat(split_dir, "/", cls, "/", name));
      labels.push_back(static_cast<int32_t>(it - classes.begin()));
      ++found;
    }
    if (found == 0 && split == Split::kTrain) {
      return absl::InvalidArgumentError(
          absl::StrCat(files.Display(split_dir + "/" + cls), ": no .png, .jpg or .jpeg files"));
    }
  }
  const int64_t n = static_cast<int64_t>(paths.size()), elements = planner::NumElements(input);
  if (n > kMaxDatasetBytes / (elements + 4)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %d images of %s take more than the limit of %d bytes",
                                                      files.Display(split_dir), n, planner::DimsString(input),
                                                      kMaxDatasetBytes));
  }
  // 3. Decoded in parallel; the first error in file order is reported.
  Dataset d;
  d.name = "image-folder";
  d.size = n;
  d.image = input;
  d.classes = static_cast<int64_t>(classes.size());
  d.class_names = classes;
  d.labels = std::move(labels);
  d.pixels.resize(n * elements);
  std::vector<absl::Status> status(n);
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t i = next++; i < n; i = next++) status[i] = LoadOne(files, paths[i], input, &d.pixels[i * elements]);
  };
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t count = std::min<int64_t>(threads > 0 ? threads : cores, std::max<int64_t>(n, 1));
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < count; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  for (const absl::Status& s : status) SLIM_RETURN_IF_ERROR(s);
  return d;
}

}  // namespace slimtrain::engine
