// See test_models.h.
#include "tests/testing/test_models.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "google/protobuf/text_format.h"
#include "planner/zoo.h"

namespace slimtrain::test_util {

v1::ModelSpec ReluChainModel(int relus, int name_bytes) {
  v1::ModelSpec m;
  m.set_name("relu_chain");
  m.mutable_input()->add_dims(8);
  m.set_num_classes(4);
  std::string previous = "input";
  for (int i = 0; i < relus; ++i) {
    v1::Layer* l = m.add_layers();
    std::string name = "r" + std::to_string(i) + (name_bytes > 0 ? "_" : "");
    name.resize(std::max<size_t>(name.size(), name_bytes), 'x');
    l->set_name(name);
    l->add_inputs(previous);
    l->mutable_relu();
    previous = name;
  }
  v1::Layer* fc = m.add_layers();
  fc->set_name("fc");
  fc->add_inputs(previous);
  fc->mutable_linear()->set_out_features(4);
  v1::Layer* loss = m.add_layers();
  loss->set_name("loss");
  loss->add_inputs("fc");
  loss->mutable_softmax_cross_entropy();
  return m;
}

v1::JobSpec TinySyntheticJob(int64_t steps) {
  constexpr char kTinyJob[] = R"pb(
    model {
      spec {
        name: "tiny"
        input { dims: 1 dims: 8 dims: 8 }
        num_classes: 4
        layers { name: "conv1" inputs: "input" conv2d { out_channels: 4 kernel_size: 3 padding: 1 bias: false } }
        layers { name: "bn1" inputs: "conv1" batch_norm {} }
        layers { name: "relu1" inputs: "bn1" relu {} }
        layers { name: "gap" inputs: "relu1" global_avg_pool {} }
        layers { name: "fc" inputs: "gap" linear { out_features: 4 } }
        layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
      }
    }
    dataset { name: "synthetic" synthetic_examples: 128 }
    optimizer { kind: "sgd" learning_rate: 0.05 momentum: 0.9 }
    batch_size: 16
    strategy: "approx4"
    checkpoint_interval_steps: 4
    seed: 3
  )pb";
  v1::JobSpec spec;
  google::protobuf::TextFormat::ParseFromString(kTinyJob, &spec);
  spec.set_steps(steps);
  return spec;
}

v1::ModelSpec SmallImageModel(int64_t channels, int64_t height, int64_t width) {
  constexpr char kLayers[] = R"pb(
    num_classes: 10
    layers { name: "conv1" inputs: "input" conv2d { out_channels: 8 kernel_size: 3 stride: 2 padding: 1 bias: false } }
    layers { name: "bn1" inputs: "conv1" batch_norm {} }
    layers { name: "relu1" inputs: "bn1" relu {} }
    layers { name: "gap" inputs: "relu1" global_avg_pool {} }
    layers { name: "fc" inputs: "gap" linear { out_features: 10 } }
    layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
  )pb";
  v1::ModelSpec spec;
  google::protobuf::TextFormat::ParseFromString(kLayers, &spec);
  spec.set_name("small_image");
  for (int64_t d : {channels, height, width}) spec.mutable_input()->add_dims(d);
  return spec;
}

v1::JobSpec FashionMnistJob(int64_t steps) {
  v1::JobSpec spec;
  *spec.mutable_model()->mutable_spec() = SmallImageModel();
  spec.mutable_dataset()->set_name("fashion-mnist");
  v1::OptimizerSpec* optimizer = spec.mutable_optimizer();
  optimizer->set_kind("sgd");
  optimizer->set_learning_rate(0.05);
  optimizer->set_momentum(0.9);
  spec.set_batch_size(32);
  spec.set_steps(steps);
  spec.set_strategy("approx4");
  spec.set_checkpoint_interval_steps(10);
  return spec;
}

absl::StatusOr<planner::Graph> GraphFromText(const std::string& text) {
  v1::ModelSpec spec;
  if (!google::protobuf::TextFormat::ParseFromString(text, &spec)) {
    return absl::InvalidArgumentError("not a ModelSpec in protobuf text format:\n" + text);
  }
  return planner::Graph::Build(spec);
}

absl::StatusOr<planner::Graph> ZooGraph(const std::string& name) {
  absl::StatusOr<v1::ModelSpec> spec = planner::ZooModel(name);
  if (!spec.ok()) return spec.status();
  return planner::Graph::Build(*spec);
}

}  // namespace slimtrain::test_util
