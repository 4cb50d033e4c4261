// Acceptance 3 of issue 14, from PyTorch to slimtrain and back
// (tests/client/finetune_roundtrip.py does the work; this test holds the
// checks): a torchvision resnet18 pretrained in PyTorch, exported to ONNX,
// fine-tuned by `slimtrain train` for 200 steps on an image folder of
// Fashion-MNIST PNGs, exported as safetensors, loads back into torchvision's
// resnet18 with strict=True, and PyTorch's test accuracy and loss equal
// `slimtrain eval`'s. Skipped with a message where python3-torch is missing.
#include <cmath>
#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace {

using slimtrain::test_util::RunCommandSplit;
using slimtrain::test_util::TempPath;

TEST(FinetuneRoundTripTest, PretrainedResnet18FineTunesAndLoadsBackIntoTorchvision) {
  const slimtrain::test_util::CommandResult r = RunCommandSplit(
      "/usr/bin/python3 tests/client/finetune_roundtrip.py client/slimtrain " + TempPath("finetune") + " --steps 200");
  if (r.exit_code == 77) GTEST_SKIP() << "PyTorch is not installed here (tools/setup.sh --bench): " << r.output;
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string line = r.stdout_only.substr(r.stdout_only.rfind("{\"steps\""));
  google::protobuf::Struct s;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &s).ok()) << line;
  auto number = [&](const char* key) { return s.fields().at(key).number_value(); };
  std::printf("%s\n", line.c_str());

  EXPECT_EQ(s.fields().at("strict_load").string_value(), "<All keys matched successfully>");
  EXPECT_EQ(number("steps"), 200);
  EXPECT_EQ(number("examples"), 500);
  // The weights name their classes as the folder did.
  std::string classes, stored;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(s.fields().at("classes"), &classes).ok());
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(s.fields().at("stored_classes"), &stored).ok());
  EXPECT_EQ(classes, stored);
  // Both sides score the same function: the same accuracy, the same loss.
  EXPECT_NEAR(number("pytorch_accuracy"), number("slimtrain_accuracy"), 1.0 / 500 + 1e-9);
  EXPECT_NEAR(number("pytorch_loss"), number("slimtrain_loss"), 1e-4 * number("slimtrain_loss"));
  // Fine-tuning from the pretrained weights learned the folder's task.
  EXPECT_GT(number("slimtrain_accuracy"), number("pretrained_pytorch_accuracy") + 0.1);
}

}  // namespace
