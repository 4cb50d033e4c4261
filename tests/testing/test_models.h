// test_models.h — small models and jobs the tests share, and graphs built
// from model text or the zoo without aborting the test binary.
//
//   v1::ModelSpec deep = ReluChainModel(9997);        // 9999 layers
//   v1::JobSpec job = TinySyntheticJob(/*steps=*/12);  // trains in moments
//   v1::JobSpec fmnist = FashionMnistJob(/*steps=*/30);  // a real dataset, seconds
//   ASSERT_OK_AND_ASSIGN(const Graph g, GraphFromText(kModel));  // status_assertions.h
#ifndef SLIMTRAIN_TESTS_TESTING_TEST_MODELS_H_
#define SLIMTRAIN_TESTS_TESTING_TEST_MODELS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "planner/graph.h"
#include "proto/job.pb.h"
#include "proto/model.pb.h"

namespace slimtrain::test_util {

// input (8) -> `relus` ReLUs -> a linear classifier (4) -> the loss: the
// deepest model of its size, and checkpoint_optimal's worst case. Each ReLU's
// name is padded with 'x' to `name_bytes` (for models of a given byte size).
v1::ModelSpec ReluChainModel(int relus, int name_bytes = 0);

// A conv-bn-relu model on 1x8x8 synthetic data (128 examples, 4 classes),
// batch 16, approx4, a checkpoint every 4 steps, seed 3: a step takes
// milliseconds.
v1::JobSpec TinySyntheticJob(int64_t steps = 12);

// A conv-bn-relu block on a (channels, height, width) image, pooled, and a
// classifier of 10: conv (8 channels, 3x3, stride 2, padding 1, no bias) ->
// batch norm -> relu -> global average pool -> linear (10) -> the loss. The
// end-to-end model of the client and server tests: a Fashion-MNIST step
// (1x28x28) takes milliseconds on a CPU.
// Two convolutions with batch norm (approx4 codes a BN→ReLU), a residual
// add, a classifier; input 2x8x8, 5 classes (protobuf text).
inline constexpr char kConvNetBnModel[] = R"pb(
  name: "convnet_bn"
  input { dims: 2 dims: 8 dims: 8 }
  num_classes: 5
  layers { name: "conv1" inputs: "input" conv2d { out_channels: 8 kernel_size: 3 padding: 1 } }
  layers { name: "bn1" inputs: "conv1" batch_norm {} }
  layers { name: "relu1" inputs: "bn1" relu {} }
  layers { name: "conv2" inputs: "relu1" conv2d { out_channels: 8 kernel_size: 3 padding: 1 bias: false } }
  layers { name: "bn2" inputs: "conv2" batch_norm {} }
  layers { name: "relu2" inputs: "bn2" relu {} }
  layers { name: "add" inputs: "relu2" inputs: "relu1" add {} }
  layers { name: "gap" inputs: "add" global_avg_pool {} }
  layers { name: "fc" inputs: "gap" linear { out_features: 5 } }
  layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
)pb";

v1::ModelSpec SmallImageModel(int64_t channels = 1, int64_t height = 28, int64_t width = 28);

// SmallImageModel on Fashion-MNIST: SGD (learning rate 0.05, momentum 0.9),
// batch 32, approx4, a checkpoint every 10 steps, `steps` steps.
v1::JobSpec FashionMnistJob(int64_t steps);

// The graph of a ModelSpec in protobuf text format: INVALID_ARGUMENT with the
// text when it does not parse, Graph::Build's error when it does not build.
absl::StatusOr<planner::Graph> GraphFromText(const std::string& text);

// The graph of the zoo model `name`: ZooModel's or Graph::Build's error.
absl::StatusOr<planner::Graph> ZooGraph(const std::string& name);

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_TESTING_TEST_MODELS_H_
