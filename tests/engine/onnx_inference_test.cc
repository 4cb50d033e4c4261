// PyTorch's exports (tests/planner/onnx_export.py, run now with Debian's
// python3-torch; skipped with a message where it is missing), imported with
// their initializers as weights: slimtrain's inference on PyTorch's fixed
// input gives PyTorch's logits within 1e-4 (relative, over the batch).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "engine/cpu/fast_backend.h"
#include "engine/executor.h"
#include "engine/onnx_weights.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "planner/file_util.h"
#include "planner/graph.h"
#include "planner/model_io.h"
#include "tests/testing/subprocess.h"

namespace slimtrain::engine {
namespace {

std::vector<float> Floats(const google::protobuf::Value& list) {
  std::vector<float> v;
  for (const auto& x : list.list_value().values()) v.push_back(static_cast<float>(x.number_value()));
  return v;
}

TEST(OnnxInferenceTest, ImportedWeightsGivePyTorchsLogits) {
  const std::string dir = test_util::TempPath("onnx_exports");
  const test_util::CommandResult r =
      test_util::RunCommandSplit("mkdir -p " + dir + " && /usr/bin/python3 tests/planner/onnx_export.py " + dir);
  if (r.exit_code == 77) GTEST_SKIP() << "PyTorch is not installed here (tools/setup.sh --bench): " << r.output;
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int models = 0;
  for (absl::string_view line : absl::StrSplit(r.stdout_only, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct s;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &s).ok()) << line;
    const std::string name = s.fields().at("name").string_value(), file = s.fields().at("file").string_value();
    absl::StatusOr<std::string> json = planner::ReadFile(s.fields().at("reference").string_value());
    ASSERT_TRUE(json.ok()) << json.status();
    google::protobuf::Struct ref;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &ref).ok()) << name;
    const std::vector<float> input = Floats(ref.fields().at("input")), want = Floats(ref.fields().at("logits"));
    absl::StatusOr<v1::ModelSpec> spec = planner::LoadModelFile(file);
    ASSERT_TRUE(spec.ok()) << name << ": " << spec.status();
    absl::StatusOr<planner::Graph> g = planner::Graph::Build(*spec);
    ASSERT_TRUE(g.ok()) << name << ": " << g.status();
    const int64_t batch = static_cast<int64_t>(input.size()) / planner::NumElements(g->node(0).out);
    ASSERT_EQ(batch, 2) << name;
    FastBackend backend;
    absl::StatusOr<std::unique_ptr<Executor>> e = Executor::Create(*g, planner::Strategy::kExact, batch, &backend, {});
    ASSERT_TRUE(e.ok()) << name << ": " << e.status();
    absl::StatusOr<int> loaded = LoadOnnxInitialWeights(file, (*e)->params());
    ASSERT_TRUE(loaded.ok()) << name << ": " << loaded.status();
    EXPECT_GT(*loaded, 0) << name;
    std::vector<float> logits(want.size());
    ASSERT_TRUE((*e)->Predict(input.data(), logits.data()).ok()) << name;
    double diff = 0, norm = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      diff += std::pow(static_cast<double>(logits[i]) - want[i], 2);
      norm += std::pow(static_cast<double>(want[i]), 2);
    }
    const double rel = std::sqrt(diff / norm);
    std::printf("%s: logits relative difference %.2e (%zu values)\n", name.c_str(), rel, want.size());
    EXPECT_LT(rel, 1e-4) << name;
    ++models;
  }
  EXPECT_EQ(models, 3);
}

}  // namespace
}  // namespace slimtrain::engine
