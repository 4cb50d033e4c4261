// The real `slimtrain train` and `slimtrain eval`: a short run's JSON summary,
// weights that eval scores to the same test accuracy, a resumed run that
// continues where the checkpoint was, metrics lines, --profile's table, and
// errors.
#include <fstream>
#include <sstream>
#include <string>

#include "engine/cuda/cuda_backend.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_models.h"

namespace slimtrain {
namespace {

using test_util::CommandResult;
using test_util::RunCommand;
using test_util::RunCommandSplit;
using test_util::TempPath;

// test_models.h's small Fashion-MNIST model as a model file.
std::string ModelFile() {
  std::string text;
  EXPECT_TRUE(google::protobuf::TextFormat::PrintToString(test_util::SmallImageModel(), &text));
  const std::string path = TempPath("tiny.pbtxt");
  std::ofstream(path) << text;
  return path;
}

google::protobuf::Struct Json(const std::string& text) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &s).ok()) << text;
  return s;
}

// --backend cuda trains wherever it runs: on GPU 0 when one is usable, else
// on the CPU after one line saying why.
TEST(TrainCommandTest, CudaBackendRunsOrFallsBackToTheCpu) {
  const bool gpu = engine::NewCudaBackend().ok();
  const CommandResult train = RunCommandSplit("client/slimtrain train --model-file " + ModelFile() +
                                              " --dataset synthetic --steps 2 --batch 8 --backend cuda --format json");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_EQ(Json(train.stdout_only).fields().at("steps").number_value(), 2);
  const std::string fallback = "; running on the CPU instead";
  if (gpu) {
    EXPECT_EQ(train.output.find(fallback), std::string::npos) << train.output;
  } else {
    EXPECT_NE(train.output.find("--backend cuda: "), std::string::npos) << train.output;
    EXPECT_NE(train.output.find(fallback), std::string::npos) << train.output;
  }
}

TEST(TrainCommandTest, TrainsExportsAndEvalAgrees) {
  const std::string weights = TempPath("tiny.safetensors"), metrics = TempPath("metrics.jsonl");
  const CommandResult train = RunCommandSplit(
      "client/slimtrain train --model-file " + ModelFile() +
      " --dataset fashion-mnist --strategy approx4 --steps 12 --batch 32 --lr 0.05 --format json --output " +
      weights + " --metrics-out " + metrics);
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const google::protobuf::Struct summary = Json(train.stdout_only);
  const auto& f = summary.fields();
  EXPECT_EQ(f.at("strategy").string_value(), "approx4");
  EXPECT_EQ(f.at("steps").number_value(), 12);
  EXPECT_GT(f.at("images_per_second").number_value(), 0);
  EXPECT_GT(f.at("measured_peak_bytes").number_value(), 0);
  // What the process held before training: at least the training images as
  // bytes (60000 × 28 × 28), and less than the peak.
  EXPECT_GE(f.at("other_bytes").number_value(), 60000.0 * 28 * 28);
  EXPECT_LT(f.at("other_bytes").number_value(), f.at("measured_peak_bytes").number_value());
  const double accuracy = f.at("test_accuracy").number_value();
  EXPECT_GT(accuracy, 0.1);  // better than chance after 12 steps
  // One JSON line per step, and the final evaluation.
  std::ifstream in(metrics);
  std::string line;
  int lines = 0, evals = 0;
  while (std::getline(in, line)) {
    ++lines;
    if (Json(line).fields().count("has_eval")) ++evals;
  }
  EXPECT_EQ(lines, 13);
  EXPECT_EQ(evals, 1);

  const CommandResult eval = RunCommandSplit("client/slimtrain eval --model-file " + ModelFile() + " --weights " +
                                             weights + " --dataset fashion-mnist --batch 100 --format json");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NEAR(Json(eval.stdout_only).fields().at("accuracy").number_value(), accuracy, 1e-9);
  EXPECT_EQ(Json(eval.stdout_only).fields().at("examples").number_value(), 10000);
}

TEST(TrainCommandTest, ResumeContinuesFromTheCheckpoint) {
  const std::string ckpt = TempPath("resume.ckpt");
  const std::string base = "client/slimtrain train --model-file " + ModelFile() +
                           " --dataset synthetic --synthetic-examples 256 --batch 32 --format json --checkpoint " +
                           ckpt + " --resume";
  std::remove(ckpt.c_str());
  const CommandResult first = RunCommandSplit(base + " --steps 4");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const CommandResult second = RunCommandSplit(base + " --steps 10");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("resumed at step 4"), std::string::npos) << second.output;
  EXPECT_EQ(Json(second.stdout_only).fields().at("steps").number_value(), 10);
}

// --profile: where the time went, per step kind and op, in both formats;
// with the evaluation's forward steps, the schedule's steps ran at least
// once per training step.
TEST(TrainCommandTest, ProfilePrintsTheTimePerStepKindAndOp) {
  const std::string base = "client/slimtrain train --model-file " + ModelFile() +
                           " --dataset synthetic --synthetic-examples 64 --batch 16 --steps 3 --profile";
  const CommandResult json = RunCommandSplit(base + " --format json");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const google::protobuf::Struct summary = Json(json.stdout_only);
  ASSERT_EQ(summary.fields().count("profile"), 1u) << json.stdout_only;
  const auto& entries = summary.fields().at("profile").list_value().values();
  ASSERT_FALSE(entries.empty());
  bool conv_backward = false;
  double previous = 1e300;
  for (const auto& v : entries) {
    const auto& f = v.struct_value().fields();
    const std::string what = f.at("what").string_value();
    EXPECT_GE(f.at("calls").number_value(), 3) << what;
    EXPECT_GE(f.at("seconds").number_value(), 0) << what;
    EXPECT_LE(f.at("seconds").number_value(), previous) << "largest first: " << what;
    previous = f.at("seconds").number_value();
    conv_backward = conv_backward || what == "BACKWARD conv2d";
  }
  EXPECT_TRUE(conv_backward) << json.stdout_only;
  const CommandResult table = RunCommandSplit(base);
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.stdout_only.find("time per step of the schedule, training and evaluation (--profile):"), std::string::npos)
      << table.stdout_only;
  EXPECT_NE(table.stdout_only.find("BACKWARD conv2d"), std::string::npos) << table.stdout_only;
  const CommandResult plain = RunCommandSplit("client/slimtrain train --model-file " + ModelFile() +
                                              " --dataset synthetic --synthetic-examples 64 --batch 16 --steps 1 "
                                              "--format json");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(Json(plain.stdout_only).fields().count("profile"), 0u);
}

struct BadRun {
  const char* name;
  const char* args;
  int exit_code;
  const char* message;
};

class TrainErrorTest : public testing::TestWithParam<BadRun> {};

TEST_P(TrainErrorTest, SaysWhatIsWrong) {
  const CommandResult r = RunCommand(std::string("client/slimtrain ") + GetParam().args);
  EXPECT_EQ(r.exit_code, GetParam().exit_code) << r.output;
  EXPECT_NE(r.output.find(GetParam().message), std::string::npos) << r.output;
}

INSTANTIATE_TEST_SUITE_P(
    Errors, TrainErrorTest,
    testing::Values(
        BadRun{"UnknownDataset", "train --model zoo:fmnist_resnet --dataset imagenet --steps 1", 2,
               "dataset.name: unknown dataset 'imagenet'"},
        BadRun{"ShapeMismatch", "train --model zoo:resnet20 --dataset fashion-mnist --steps 1", 2,
               "fashion-mnist has 1x28x28 images but model 'resnet20' takes 3x32x32"},
        BadRun{"UnknownStrategy", "train --model zoo:fmnist_resnet --strategy fast --steps 1", 2,
               "strategy: unknown strategy 'fast'"},
        BadRun{"ResumeNeedsCheckpoint", "train --model zoo:fmnist_resnet --resume --steps 1", 2,
               "--resume needs --checkpoint FILE"},
        BadRun{"UnknownBackend", "train --model zoo:fmnist_resnet --backend tpu --steps 1", 2,
               "--backend: 'tpu' is not fast, reference, cuda or auto"},
        BadRun{"EvalNeedsWeights", "eval --model zoo:fmnist_resnet", 2, "--weights FILE is required"},
        BadRun{"EvalMissingWeights", "eval --model zoo:fmnist_resnet --weights /nonexistent.safetensors", 1,
               "/nonexistent.safetensors"}),
    [](const testing::TestParamInfo<BadRun>& info) { return info.param.name; });

}  // namespace
}  // namespace slimtrain
