// PyTorch's own exports (tests/planner/onnx_export.py, run now with Debian's
// python3-torch; skipped with a message where it is missing): each imports
// and its parameter count equals PyTorch's.
#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
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
  EXPECT_EQ(models, 8);
}

}  // namespace
}  // namespace slimtrain::planner
