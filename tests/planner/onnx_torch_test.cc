// PyTorch's own exports (tests/planner/onnx_export.py, run now with Debian's
// python3-torch; skipped with a message where it is missing): each imports
// and its parameter count equals PyTorch's.
#include <map>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "planner/model_io.h"
#include "tests/testing/subprocess.h"

namespace slimtrain::planner {
namespace {

TEST(OnnxTorchTest, PyTorchExportsImportWithPyTorchsParameterCounts) {
  const std::string dir = test_util::TempPath("onnx_exports");
  const test_util::CommandResult r =
      test_util::RunCommandSplit("mkdir -p " + dir + " && /usr/bin/python3 tests/planner/onnx_export.py " + dir);
  if (r.exit_code == 77) GTEST_SKIP() << "PyTorch is not installed here (tools/setup.sh --bench): " << r.output;
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int models = 0;
  for (absl::string_view line : absl::StrSplit(r.stdout_only, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct s;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &s).ok()) << line;
    const std::string name = s.fields().at("name").string_value();
    const int64_t torch_count = static_cast<int64_t>(s.fields().at("parameters").number_value());
    absl::StatusOr<v1::ModelSpec> spec = LoadModelFile(s.fields().at("file").string_value());
    ASSERT_TRUE(spec.ok()) << name << ": " << spec.status();
    absl::StatusOr<Graph> g = Graph::Build(*spec);
    ASSERT_TRUE(g.ok()) << name << ": " << g.status();
    EXPECT_EQ(g->parameter_count(), torch_count) << name;
    std::printf("%s: %lld parameters, PyTorch %lld\n", name.c_str(), static_cast<long long>(g->parameter_count()),
                static_cast<long long>(torch_count));
    ++models;
  }
  EXPECT_EQ(models, 13);
}

// The transformer models and EfficientNet at the first and last opsets
// slimtrain imports (11: Dropout without a training mode, Split and
// Unsqueeze by attribute; 17: LayerNormalization as one op): the same
// parameters, and as many dropout layers as opset 13 gives.
TEST(OnnxTorchTest, OpsetsElevenAndSeventeenImportLikeThirteen) {
  std::map<std::string, std::map<int, std::pair<int64_t, int>>> seen;  // model -> opset -> (parameters, dropouts)
  for (int opset : {11, 13, 17}) {
    const std::string dir = test_util::TempPath(absl::StrCat("onnx_opset_", opset));
    const test_util::CommandResult r = test_util::RunCommandSplit(
        absl::StrCat("mkdir -p ", dir, " && /usr/bin/python3 tests/planner/onnx_export.py ", dir, " --opset=", opset,
                     " --only=vit_encoder,gpt_block,efficientnet_b0"));
    if (r.exit_code == 77) GTEST_SKIP() << "PyTorch is not installed here (tools/setup.sh --bench): " << r.output;
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (absl::string_view line : absl::StrSplit(r.stdout_only, '\n', absl::SkipEmpty())) {
      google::protobuf::Struct s;
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &s).ok()) << line;
      const std::string name = s.fields().at("name").string_value();
      absl::StatusOr<v1::ModelSpec> spec = LoadModelFile(s.fields().at("file").string_value());
      ASSERT_TRUE(spec.ok()) << name << " opset " << opset << ": " << spec.status();
      absl::StatusOr<Graph> g = Graph::Build(*spec);
      ASSERT_TRUE(g.ok()) << name << " opset " << opset << ": " << g.status();
      int dropouts = 0;
      for (const v1::Layer& l : spec->layers()) dropouts += l.has_dropout() ? 1 : 0;
      EXPECT_EQ(g->parameter_count(), static_cast<int64_t>(s.fields().at("parameters").number_value()))
          << name << " opset " << opset;
      seen[name][opset] = {g->parameter_count(), dropouts};
    }
  }
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& [name, by_opset] : seen) {
    ASSERT_EQ(by_opset.size(), 3u) << name;
    EXPECT_EQ(by_opset.at(11), by_opset.at(13)) << name;
    EXPECT_EQ(by_opset.at(17), by_opset.at(13)) << name;
    EXPECT_GT(by_opset.at(13).second, 0) << name << " has dropout layers";
  }
}

}  // namespace
}  // namespace slimtrain::planner
