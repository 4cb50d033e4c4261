// The real `slimtrain` on a user's image folder, as a user runs it: a few
// hundred Fashion-MNIST images written as PNGs (train/<class>/, test/<class>/)
// train a 3x32x32 model (gray replicated, 28x28 resized) with normalisation;
// `slimtrain eval` then normalises with the mean and std the weights store,
// says so, and scores the test split exactly as training's last evaluation.
#include <png.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/data.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/testing/data_files.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_models.h"

namespace slimtrain {
namespace {

using test_util::CommandResult;
using test_util::RunCommand;
using test_util::TempPath;

// The first `n` images of a Fashion-MNIST split as PNGs under dir/<split>/<class>/.
void WriteSplit(const std::string& dir, const char* split, engine::Split which, int n) {
  const engine::Dataset d = engine::LoadFashionMnist(engine::kFashionMnistDir, which).value();
  for (int i = 0; i < n; ++i) {
    const std::string cls = absl::StrCat(dir, "/", split, "/class", d.labels[i]);
    std::filesystem::create_directories(cls);
    const std::vector<uint8_t> pixels(d.pixels.begin() + i * 784, d.pixels.begin() + (i + 1) * 784);
    ASSERT_TRUE(test_util::WritePng(absl::StrCat(cls, "/", i, ".png"), 28, 28, PNG_COLOR_TYPE_GRAY, 8, pixels));
  }
}

std::string LineWith(const std::string& text, const std::string& needle) {
  const size_t at = text.find(needle);
  if (at == std::string::npos) return "";
  return text.substr(at, text.find('\n', at) - at);
}

TEST(UserDataCommandTest, TrainOnAnImageFolderThenEvalWithTheStoredStatistics) {
  const std::string dir = TempPath("fmnist_folder");
  std::filesystem::remove_all(dir);
  WriteSplit(dir, "train", engine::Split::kTrain, 300);
  WriteSplit(dir, "test", engine::Split::kTest, 100);
  const std::string model = TempPath("small_rgb32.pbtxt"), weights = TempPath("folder.safetensors");
  std::string model_text;  // test_models.h's small model on 3x32x32 images
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(test_util::SmallImageModel(3, 32, 32), &model_text));
  std::ofstream(model) << model_text;
  const std::string data = " --dataset image-folder --data-dir " + dir;
  const CommandResult train = RunCommand("client/slimtrain train --model-file " + model + data +
                                         " --normalize --batch 32 --steps 20 --lr 0.1 --threads 1 --output " + weights);
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const std::string trained = LineWith(train.output, "test set: ");
  ASSERT_FALSE(trained.empty()) << train.output;
  const CommandResult eval =
      RunCommand("client/slimtrain eval --model-file " + model + data + " --threads 1 --weights " + weights);
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NE(eval.output.find("normalising with the mean ["), std::string::npos) << eval.output;
  EXPECT_NE(eval.output.find("] stored in " + weights), std::string::npos) << eval.output;
  // "test set: loss L, accuracy A%" and "image-folder test split, 100 examples: loss L, accuracy A%".
  EXPECT_EQ(LineWith(eval.output, "loss ").substr(0, 30), trained.substr(trained.find("loss "), 30)) << eval.output;
  // Weights trained on other classes are refused, naming both lists.
  std::filesystem::rename(dir + "/train/class9", dir + "/train/class9b");
  std::filesystem::rename(dir + "/test/class9", dir + "/test/class9b");
  const CommandResult other =
      RunCommand("client/slimtrain eval --model-file " + model + data + " --threads 1 --weights " + weights);
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_NE(other.output.find("--dataset: image-folder's classes are [class0, "), std::string::npos) << other.output;
}

}  // namespace
}  // namespace slimtrain
