// A model's parameter_names and parameter_shapes (an imported model's own
// names and shapes for its parameters): the parameter region and the weights
// exported from it use them, weights load back by them, and a shape that does
// not fit its parameter is refused when the model is set up to run.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/checkpoint.h"
#include "engine/cpu/reference_backend.h"
#include "engine/executor.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "planner/graph.h"

namespace slimtrain::engine {
namespace {

v1::ModelSpec Model(const std::string& extra) {
  v1::ModelSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(absl::StrCat(R"pb(
    input { dims: 4 dims: 3 }
    num_classes: 2
    layers { name: "pos" inputs: "input" positional_embedding {} }
    layers { name: "fc" inputs: "pos" linear { out_features: 2 } }
    layers { name: "flat" inputs: "fc" flatten {} }
    layers { name: "head" inputs: "flat" linear { out_features: 2 } }
    layers { name: "loss" inputs: "head" softmax_cross_entropy {} })pb",
                                                                        extra),
                                                           &spec));
  return spec;
}

TEST(ParameterNamesTest, ExportedWeightsUseTheSourceModelsNamesAndShapes) {
  const v1::ModelSpec spec = Model(R"pb(
    parameter_names { key: "pos.weight" value: "wpe.weight" }
    parameter_names { key: "fc.weight" value: "proj.w" }
    parameter_shapes { key: "pos.weight" value { dims: 4 dims: 3 } })pb");
  absl::StatusOr<planner::Graph> g = planner::Graph::Build(spec);
  ASSERT_TRUE(g.ok()) << g.status();
  ReferenceBackend backend(DType::kF32);
  absl::StatusOr<std::unique_ptr<Executor>> e = Executor::Create(*g, planner::Strategy::kExact, 2, &backend, {});
  ASSERT_TRUE(e.ok()) << e.status();
  (*e)->params().Initialize(3);
  const SafetensorsFile file = ExportWeights((*e)->params(), 0);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const SafeTensor& t : file.tensors) shapes[t.name] = t.shape;
  EXPECT_EQ(shapes.at("wpe.weight"), (std::vector<int64_t>{4, 3}));  // slimtrain's (1, 4, 3)
  EXPECT_EQ(shapes.at("proj.w"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(shapes.at("fc.bias"), (std::vector<int64_t>{2}));
  EXPECT_EQ(shapes.count("pos.weight") + shapes.count("fc.weight"), 0u);
  // And they load back by those names into a fresh region, value for value.
  absl::StatusOr<std::unique_ptr<Executor>> fresh = Executor::Create(*g, planner::Strategy::kExact, 2, &backend, {});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_TRUE(ImportWeights(file, (*fresh)->params(), "w.safetensors").ok());
  for (int64_t i = 0; i < (*e)->params().total_count(); ++i) {
    EXPECT_EQ((*fresh)->params().Get(i), (*e)->params().Get(i)) << i;
  }
}

TEST(ParameterNamesTest, AShapeOfOtherElementsOrABadKeyIsRefused) {
  ReferenceBackend backend(DType::kF32);
  absl::StatusOr<planner::Graph> g =
      planner::Graph::Build(Model(R"pb(parameter_shapes { key: "pos.weight" value { dims: 4 dims: 4 } })pb"));
  ASSERT_TRUE(g.ok()) << g.status();
  absl::StatusOr<std::unique_ptr<Executor>> e = Executor::Create(*g, planner::Strategy::kExact, 2, &backend, {});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(std::string(e.status().message()).find("parameter_shapes['pos.weight']: [4,4] has 16 elements, the "
                                                   "parameter 12"),
            std::string::npos)
      << e.status();
  // Graph::Build: keys are parts of the model's layers, shapes sizes > 0,
  // names unique and printable; each message names the field and the value.
  const std::pair<const char*, const char*> kBad[] = {
      {R"pb(parameter_shapes { key: "pos.gamma" value { dims: 12 } })pb", "parameter_shapes: key 'pos.gamma' is not"},
      {R"pb(parameter_shapes { key: "pos.weight" value { dims: 0 } })pb",
       "parameter_shapes['pos.weight']: dims [0] must be 1 to 8 sizes > 0"},
      {R"pb(parameter_shapes { key: "pos.weight" value {} })pb",
       "parameter_shapes['pos.weight']: dims [] must be 1 to 8 sizes > 0"},
      {R"pb(parameter_names { key: "fc2.weight" value: "w" })pb", "parameter_names: key 'fc2.weight' is not"},
      {R"pb(parameter_names { key: "fc.weight" value: "" })pb", "parameter_names['fc.weight']: the name must be"},
      {R"pb(parameter_names { key: "fc.weight" value: "w" } parameter_names { key: "fc.bias" value: "w" })pb",
       "parameter_names: 'w' names both 'fc.bias' and 'fc.weight'"},
  };
  for (const auto& [bad, message] : kBad) {
    absl::StatusOr<planner::Graph> refused = planner::Graph::Build(Model(bad));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(std::string(refused.status().message()).find(message), std::string::npos) << refused.status();
  }
}

}  // namespace
}  // namespace slimtrain::engine
