// Graph::Build: every validation error names the layer and the field; shapes,
// parameters and FLOPs are inferred as documented; order is topological.
#include "planner/graph.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace slimtrain::planner {
namespace {

// A small valid model to mutate: conv-bn-relu, a residual add, pool, linear.
constexpr char kTiny[] = R"pb(
  name: "tiny"
  input { dims: 3 dims: 8 dims: 8 }
  num_classes: 10
  layers { name: "conv1" inputs: "input" conv2d { out_channels: 4 kernel_size: 3 padding: 1 bias: false } }
  layers { name: "bn1" inputs: "conv1" batch_norm {} }
  layers { name: "relu1" inputs: "bn1" relu {} }
  layers { name: "conv2" inputs: "relu1" conv2d { out_channels: 4 kernel_size: 3 padding: 1 } }
  layers { name: "add" inputs: "conv2" inputs: "relu1" add {} }
  layers { name: "pool" inputs: "add" max_pool { kernel_size: 2 } }
  layers { name: "gap" inputs: "pool" global_avg_pool {} }
  layers { name: "fc" inputs: "gap" linear { out_features: 10 } }
  layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
)pb";

v1::ModelSpec Parse(const std::string& text) {
  v1::ModelSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec)) << text;
  return spec;
}

v1::Layer* LayerNamed(v1::ModelSpec& spec, const std::string& name) {
  for (v1::Layer& l : *spec.mutable_layers()) {
    if (l.name() == name) return &l;
  }
  ADD_FAILURE() << "no layer " << name;
  return spec.mutable_layers(0);
}

TEST(GraphTest, InfersShapesParametersAndFlops) {
  absl::StatusOr<Graph> g = Graph::Build(Parse(kTiny));
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->size(), 10);  // input + 9 layers
  EXPECT_EQ(g->node(0).name, "input");
  EXPECT_EQ(g->node(g->loss()).name, "loss");
  const Node& conv1 = g->node(g->Find("conv1"));
  EXPECT_EQ(conv1.out, (Dims{4, 8, 8}));
  EXPECT_EQ(conv1.parameter_count, 4 * 3 * 3 * 3);  // no bias
  // 2 · Cout·Ho·Wo · Cin·k²; first layer: no data gradient, so backward = fwd.
  EXPECT_EQ(conv1.forward_flops, 2 * 4 * 8 * 8 * 3 * 9);
  EXPECT_EQ(conv1.backward_flops, conv1.forward_flops);
  const Node& conv2 = g->node(g->Find("conv2"));
  EXPECT_EQ(conv2.parameter_count, 4 * 4 * 9 + 4);  // with bias
  EXPECT_EQ(conv2.forward_flops, 2 * 4 * 64 * 4 * 9 + 4 * 64);
  EXPECT_EQ(conv2.backward_flops, 2 * conv2.forward_flops);
  EXPECT_EQ(g->node(g->Find("bn1")).parameter_count, 8);
  EXPECT_EQ(g->node(g->Find("bn1")).buffer_count, 8);
  EXPECT_EQ(g->node(g->Find("pool")).out, (Dims{4, 4, 4}));
  EXPECT_EQ(g->node(g->Find("gap")).out, (Dims{4}));
  EXPECT_EQ(g->node(g->Find("fc")).parameter_count, 4 * 10 + 10);
  EXPECT_EQ(g->node(g->loss()).out, Dims{});
  EXPECT_EQ(g->parameter_count(), 108 + 8 + 148 + 50);
  EXPECT_EQ(g->buffer_count(), 8);
  // relu1 feeds conv2 and add.
  EXPECT_EQ(g->node(g->Find("relu1")).consumers.size(), 2u);
}

TEST(GraphTest, OrderIsTopologicalWhateverTheSpecOrder) {
  v1::ModelSpec spec = Parse(kTiny);
  std::reverse(spec.mutable_layers()->begin(), spec.mutable_layers()->end());
  absl::StatusOr<Graph> g = Graph::Build(spec);
  ASSERT_TRUE(g.ok()) << g.status();
  for (const Node& n : g->nodes()) {
    for (int in : n.inputs) EXPECT_LT(in, n.id) << n.name;
  }
  EXPECT_EQ(g->node(g->loss()).name, "loss");
}

TEST(GraphTest, ConvStrideDilationGroupsAndPoolDefaults) {
  v1::ModelSpec spec = Parse(kTiny);
  auto* c = LayerNamed(spec, "conv1")->mutable_conv2d();
  c->set_stride(2);
  c->set_dilation(2);
  c->set_padding(2);
  c->set_out_channels(6);
  c->set_groups(3);
  LayerNamed(spec, "conv2")->mutable_conv2d()->set_out_channels(6);
  absl::StatusOr<Graph> g = Graph::Build(spec);
  ASSERT_TRUE(g.ok()) << g.status();
  // (8 + 4 - 2·2 - 1)/2 + 1 = 4
  EXPECT_EQ(g->node(g->Find("conv1")).out, (Dims{6, 4, 4}));
  EXPECT_EQ(g->node(g->Find("conv1")).parameter_count, 6 * 1 * 9);
  EXPECT_EQ(g->node(g->Find("pool")).stride_h, 2);  // defaults to the kernel
  EXPECT_EQ(g->node(g->Find("pool")).stride_w, 2);
}

// Non-square windows and ONNX's (top, left, bottom, right) pads: each axis
// by PyTorch's formula with its own kernel, stride, dilation and padding.
TEST(GraphTest, NonSquareWindowsAndAsymmetricPads) {
  v1::ModelSpec spec = Parse(kTiny);
  auto* c = LayerNamed(spec, "conv1")->mutable_conv2d();
  c->set_kernel_size(0);
  c->set_padding(0);
  for (int64_t v : {3, 1}) c->add_kernel_hw(v);
  for (int64_t v : {2, 1}) c->add_stride_hw(v);
  for (int64_t v : {1, 0, 2, 0}) c->add_pads(v);
  for (int64_t v : {2, 1}) c->add_dilation_hw(v);
  LayerNamed(spec, "conv2")->mutable_conv2d()->set_padding(1);
  auto* p = LayerNamed(spec, "pool")->mutable_max_pool();
  p->set_kernel_size(0);
  for (int64_t v : {1, 2}) p->add_kernel_hw(v);
  for (int64_t v : {0, 1}) p->add_pads(v);
  absl::StatusOr<Graph> g = Graph::Build(spec);
  ASSERT_TRUE(g.ok()) << g.status();
  const Node& conv = g->node(g->Find("conv1"));
  // Height: (8 + 1 + 2 - 2·(3-1) - 1)/2 + 1 = 4; width: (8 - 1)/1 + 1 = 8.
  EXPECT_EQ(conv.out, (Dims{4, 4, 8}));
  EXPECT_EQ(conv.parameter_count, 4 * 3 * 3 * 1);
  EXPECT_EQ(conv.forward_flops, 2 * 4 * 4 * 8 * 3 * 3 * 1);
  EXPECT_EQ(conv.pad_top, 1);
  EXPECT_EQ(conv.pad_bottom, 2);
  const Node& pool = g->node(g->Find("pool"));
  // Stride defaults to the kernel per axis: (4-1)/1 + 1 = 4 rows, (8 + 2 - 2)/2 + 1 = 5 columns.
  EXPECT_EQ(pool.out, (Dims{4, 4, 5}));
  EXPECT_EQ(pool.stride_h, 1);
  EXPECT_EQ(pool.stride_w, 2);
}

struct BadCase {
  const char* name;
  void (*mutate)(v1::ModelSpec&);
  const char* message;  // a substring the error must contain
};

class GraphErrorTest : public testing::TestWithParam<BadCase> {};

TEST_P(GraphErrorTest, NamesTheLayerAndField) {
  v1::ModelSpec spec = Parse(kTiny);
  GetParam().mutate(spec);
  absl::StatusOr<Graph> g = Graph::Build(spec);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(g.status().message()).find(GetParam().message), std::string::npos)
      << g.status().message();
}

const BadCase kBadCases[] = {
    {"NoInputDims", [](v1::ModelSpec& s) { s.mutable_input()->clear_dims(); }, "model input: dims must be given"},
    {"ZeroInputDim", [](v1::ModelSpec& s) { s.mutable_input()->set_dims(1, 0); }, "dims[1] must be > 0, got 0"},
    {"ZeroClasses", [](v1::ModelSpec& s) { s.set_num_classes(0); }, "num_classes must be > 0, got 0"},
    {"NoLayers", [](v1::ModelSpec& s) { s.clear_layers(); }, "model has no layers"},
    {"EmptyName", [](v1::ModelSpec& s) { s.mutable_layers(2)->clear_name(); }, "layers[2]: name must not be empty"},
    {"ReservedName", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->set_name("input"); }, "'input' is reserved"},
    {"DuplicateName", [](v1::ModelSpec& s) { LayerNamed(s, "conv2")->set_name("conv1"); },
     "layer 'conv1': duplicate name"},
    {"NoOp", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->clear_op(); }, "layer 'relu1': no op set"},
    {"NoOpListsTheKnownOps", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->clear_op(); },
     "layer 'relu1': no op set; known ops: conv2d, batch_norm, relu, sigmoid, tanh, add, concat"},
    {"ClipMinAboveMax", [](v1::ModelSpec& s) {
       auto* c = LayerNamed(s, "relu1")->mutable_clip();
       c->set_min(2);
       c->set_max(1);
     }, "layer 'relu1': clip.min 2 is above clip.max 1"},
    {"ClipInfiniteMax", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_clip()->set_max(INFINITY); },
     "layer 'relu1': clip.max must be finite, got inf"},
    {"LeakyReluNanSlope", [](v1::ModelSpec& s) {
       LayerNamed(s, "relu1")->mutable_leaky_relu()->set_negative_slope(NAN);
     }, "layer 'relu1': leaky_relu.negative_slope must be finite, got nan"},
    {"EluInfiniteAlpha", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_elu()->set_alpha(-INFINITY); },
     "layer 'relu1': elu.alpha must be finite, got -inf"},
    {"GeluUnknownApproximation", [](v1::ModelSpec& s) {
       LayerNamed(s, "relu1")->mutable_gelu()->set_approximate("erf");
     }, "layer 'relu1': gelu.approximate must be \"none\" or \"tanh\", got \"erf\""},
    {"SoftplusZeroBeta", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_softplus()->set_beta(0); },
     "layer 'relu1': softplus.beta must be > 0 and finite, got 0"},
    {"SoftplusNanThreshold", [](v1::ModelSpec& s) {
       LayerNamed(s, "relu1")->mutable_softplus()->set_threshold(NAN);
     }, "layer 'relu1': softplus.threshold must be finite, got nan"},
    {"SoftmaxOverTheBatch", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_softmax()->set_axis(0); },
     "layer 'relu1': softmax.axis 0 is not an axis of the (N,4,8,8) input: it must be in [1, 3] or [-3, -1] "
     "(0 is the batch)"},
    {"LogSoftmaxAxisTooLarge", [](v1::ModelSpec& s) {
       LayerNamed(s, "relu1")->mutable_log_softmax()->set_axis(4);
     }, "layer 'relu1': log_softmax.axis 4 is not an axis"},
    {"LogSoftmaxAxisTooNegative", [](v1::ModelSpec& s) {
       LayerNamed(s, "relu1")->mutable_log_softmax()->set_axis(-4);
     }, "layer 'relu1': log_softmax.axis -4 is not an axis"},
    {"MulOneInput", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_mul(); },
     "layer 'relu1': mul takes exactly two inputs, got 1"},
    {"MulDoesNotBroadcast", [](v1::ModelSpec& s) {
       LayerNamed(s, "add")->mutable_mul();
       LayerNamed(s, "conv2")->mutable_conv2d()->set_out_channels(2);
     }, "layer 'add': mul: input 'conv2' (N,2,8,8) and input 'relu1' (N,4,8,8) do not broadcast: axis 1 has sizes "
        "2 and 4"},
    {"ScaleNotFinite", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_scale()->set_value(NAN); },
     "layer 'relu1': scale.value must be finite, got nan"},
    {"ReshapeCountMismatch", [](v1::ModelSpec& s) {
       auto* r = LayerNamed(s, "relu1")->mutable_reshape();
       r->add_dims(4);
       r->add_dims(65);
     }, "layer 'relu1': reshape: the input has 256 elements (4x8x8), dims [4, 65] have 260"},
    {"ReshapeTwoFree", [](v1::ModelSpec& s) {
       auto* r = LayerNamed(s, "relu1")->mutable_reshape();
       r->add_dims(-1);
       r->add_dims(-1);
     }, "layer 'relu1': reshape.dims[1] must be > 0 or one -1, got -1"},
    {"ReshapeTooManyAxes", [](v1::ModelSpec& s) {
       auto* r = LayerNamed(s, "relu1")->mutable_reshape();
       for (int i = 0; i < 4; ++i) r->add_dims(i == 0 ? 16 : 2);
     }, "layer 'relu1': reshape.dims must have 1 to 3 entries"},
    {"SqueezeAxisNotOne", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_squeeze()->add_axes(2); },
     "layer 'relu1': squeeze: axis 2 of the (N,4,8,8) input has size 8, not 1"},
    {"UnsqueezeTooManyAxes", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_unsqueeze()->add_axes(1); },
     "layer 'relu1': unsqueeze.axes must name 1 to 0 new axes"},
    {"TransposeMovesTheBatch", [](v1::ModelSpec& s) {
       auto* t = LayerNamed(s, "relu1")->mutable_transpose();
       for (int64_t p : {1, 0, 2, 3}) t->add_perm(p);
     }, "layer 'relu1': transpose.perm [1, 0, 2, 3] must be a permutation of 0..3 with the batch first"},
    {"TransposeNotAPermutation", [](v1::ModelSpec& s) {
       auto* t = LayerNamed(s, "relu1")->mutable_transpose();
       for (int64_t p : {0, 1, 1, 3}) t->add_perm(p);
     }, "must be a permutation of 0..3"},
    {"SliceEmpty", [](v1::ModelSpec& s) {
       auto* c = LayerNamed(s, "relu1")->mutable_slice();
       c->set_axis(2);
       c->set_start(5);
       c->set_end(5);
     }, "layer 'relu1': slice of axis 2 (size 8) from 5 to 5 is empty"},
    {"SliceZeroStep", [](v1::ModelSpec& s) {
       auto* c = LayerNamed(s, "relu1")->mutable_slice();
       c->set_axis(2);
       c->set_step(0);
     }, "layer 'relu1': slice.step must be > 0, got 0"},
    {"SliceTheBatch", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_slice()->set_axis(0); },
     "layer 'relu1': slice.axis 0 is not an axis"},
    {"ReduceEverythingWithoutKeepdim", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_reduce_sum(); },
     "layer 'relu1': reduce_sum over every axis of the (N,4,8,8) input leaves none besides the batch: set keepdim"},
    {"ReduceAxisTwice", [](v1::ModelSpec& s) {
       auto* r = LayerNamed(s, "relu1")->mutable_reduce_mean();
       r->add_axes(2);
       r->add_axes(-2);
     }, "layer 'relu1': reduce_mean.axes names axis 2 twice"},
    {"ConcatAxisMismatch", [](v1::ModelSpec& s) {
       LayerNamed(s, "conv2")->mutable_conv2d()->set_out_channels(5);
       LayerNamed(s, "add")->mutable_concat()->set_axis(2);
     }, "layer 'add': concat: input 'relu1' has shape 4x8x8, which does not match input 'conv2' (5x8x8) outside "
        "axis 2"},
    {"LayerNormImageLastAxis", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_layer_norm(); },
     "layer 'relu1': layer_norm over the last 1 axes of an image (N,4,8,8) is not supported"},
    {"LayerNormTooManyAxes", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_layer_norm()->set_axes(4); },
     "layer 'relu1': layer_norm.axes 4 is more than the 3 axes of the (N,4,8,8) input"},
    {"LayerNormZeroEps", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->mutable_layer_norm()->set_eps(0); },
     "layer 'relu1': layer_norm.eps must be > 0 and finite, got 0"},
    {"EmbeddingNotOnTheInput", [](v1::ModelSpec& s) {
       auto* e = LayerNamed(s, "conv2")->mutable_embedding();
       e->set_num_embeddings(10);
       e->set_embedding_dim(4);
     }, "layer 'conv2': embedding reads token ids: its input must be the model input of shape (L), got 'relu1' "
        "(N,4,8,8)"},
    {"EmbeddingZeroVocabulary", [](v1::ModelSpec& s) {
       LayerNamed(s, "conv2")->mutable_embedding()->set_embedding_dim(4);
     }, "layer 'conv2': embedding.num_embeddings must be > 0, got 0"},
    {"GroupNormGroupsDoNotDivide", [](v1::ModelSpec& s) {
       LayerNamed(s, "relu1")->mutable_group_norm()->set_groups(3);
     }, "layer 'relu1': group_norm.groups 3 must divide the 4 channels of the (N,4,8,8) input"},
    {"AdaptivePoolLargerThanInput", [](v1::ModelSpec& s) {
       auto* a = LayerNamed(s, "relu1")->mutable_adaptive_avg_pool();
       a->set_out_h(9);
       a->set_out_w(2);
     }, "layer 'relu1': adaptive_avg_pool: output 9x2 must be positive and at most the input's 8x8"},
    {"UpsampleUnknownMode", [](v1::ModelSpec& s) {
       auto* u = LayerNamed(s, "relu1")->mutable_upsample();
       u->set_scale_factor(2);
       u->set_mode("bicubic");
     }, "layer 'relu1': upsample.mode must be \"nearest\" or \"bilinear\", got \"bicubic\""},
    {"UpsampleSizeAndFactor", [](v1::ModelSpec& s) {
       auto* u = LayerNamed(s, "relu1")->mutable_upsample();
       u->set_scale_factor(2);
       u->set_out_h(16);
     }, "layer 'relu1': upsample: give out_h and out_w, or scale_factor (got out_h 16, out_w 0, scale_factor 2)"},
    {"UpsampleNegativeFactor", [](v1::ModelSpec& s) {
       LayerNamed(s, "relu1")->mutable_upsample()->set_scale_factor(-2);
     }, "layer 'relu1': upsample.scale_factor must be > 0, got -2"},
    {"UpsampleAlignCornersNearest", [](v1::ModelSpec& s) {
       auto* u = LayerNamed(s, "relu1")->mutable_upsample();
       u->set_scale_factor(2);
       u->set_align_corners(true);
     }, "layer 'relu1': upsample.align_corners applies to mode \"bilinear\" only"},
    {"TooFewAddInputs", [](v1::ModelSpec& s) { LayerNamed(s, "add")->mutable_inputs()->RemoveLast(); },
     "layer 'add': add takes two or more inputs, got 1"},
    {"TwoReluInputs", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->add_inputs("conv1"); },
     "layer 'relu1': relu takes exactly one input, got 2"},
    {"UnknownInput", [](v1::ModelSpec& s) { LayerNamed(s, "bn1")->set_inputs(0, "conv9"); },
     "layer 'bn1': input 'conv9' is not a layer or 'input'"},
    {"Cycle", [](v1::ModelSpec& s) { LayerNamed(s, "conv1")->set_inputs(0, "relu1"); }, "layers form a cycle: "},
    {"KernelLargerThanPaddedInput",
     [](v1::ModelSpec& s) {
       LayerNamed(s, "conv1")->mutable_conv2d()->set_kernel_size(11);
     },
     "layer 'conv1': kernel 11 is larger than padded input 10x10"},
    {"DilatedKernelTooLarge",
     [](v1::ModelSpec& s) { LayerNamed(s, "conv1")->mutable_conv2d()->set_dilation(5); },
     "layer 'conv1': dilated kernel 11 is larger than padded input 10x10"},
    {"AddShapeMismatch", [](v1::ModelSpec& s) { LayerNamed(s, "conv2")->mutable_conv2d()->set_out_channels(5); },
     "layer 'add': add: input 'conv2' (N,5,8,8) and input 'relu1' (N,4,8,8) do not broadcast: axis 1 has sizes 5 "
     "and 4"},
    {"AddOfThreeShapeMismatch", [](v1::ModelSpec& s) {
       LayerNamed(s, "conv2")->mutable_conv2d()->set_out_channels(5);
       LayerNamed(s, "add")->add_inputs("relu1");
     }, "layer 'add': add: input 'relu1' has shape 4x8x8 but input 'conv2' has 5x8x8"},
    {"ConcatSpatialMismatch",
     [](v1::ModelSpec& s) {
       v1::Layer* add = LayerNamed(s, "add");
       add->mutable_concat();
       add->set_inputs(1, "pool");
       LayerNamed(s, "pool")->set_inputs(0, "relu1");
     },
     "concat: input 'pool' has shape 4x4x4, which does not match input 'conv2' (4x8x8)"},
    {"GroupsDoNotDivide", [](v1::ModelSpec& s) { LayerNamed(s, "conv2")->mutable_conv2d()->set_groups(3); },
     "layer 'conv2': conv2d.groups 3 must divide input channels 4 and out_channels 4"},
    {"ZeroOutChannels", [](v1::ModelSpec& s) { LayerNamed(s, "conv1")->mutable_conv2d()->set_out_channels(0); },
     "layer 'conv1': conv2d.out_channels must be > 0, got 0"},
    {"ZeroStride", [](v1::ModelSpec& s) { LayerNamed(s, "conv1")->mutable_conv2d()->set_stride(0); },
     "layer 'conv1': conv2d.stride must be > 0, got 0"},
    {"NegativePadding", [](v1::ModelSpec& s) { LayerNamed(s, "conv1")->mutable_conv2d()->set_padding(-1); },
     "layer 'conv1': conv2d.padding must be >= 0, got -1"},
    {"PoolPaddingOverHalfKernel", [](v1::ModelSpec& s) { LayerNamed(s, "pool")->mutable_max_pool()->set_padding(2); },
     "layer 'pool': max_pool.padding 2 must be at most half the kernel 2"},
    {"KernelSizeAndPair", [](v1::ModelSpec& s) {
       for (int64_t v : {3, 1}) LayerNamed(s, "conv1")->mutable_conv2d()->add_kernel_hw(v);
     }, "layer 'conv1': give conv2d.kernel_size or conv2d.kernel_hw, not both"},
    {"KernelPairOfOne", [](v1::ModelSpec& s) {
       auto* c = LayerNamed(s, "conv1")->mutable_conv2d();
       c->set_kernel_size(0);
       c->add_kernel_hw(3);
     }, "layer 'conv1': conv2d.kernel_hw takes 2 values (height, width), got 1"},
    {"ZeroStridePair", [](v1::ModelSpec& s) {
       for (int64_t v : {1, 0}) LayerNamed(s, "conv1")->mutable_conv2d()->add_stride_hw(v);
     }, "layer 'conv1': conv2d.stride_hw[1] must be > 0, got 0"},
    {"ThreePads", [](v1::ModelSpec& s) {
       auto* c = LayerNamed(s, "conv1")->mutable_conv2d();
       c->set_padding(0);
       for (int64_t v : {1, 1, 1}) c->add_pads(v);
     }, "layer 'conv1': conv2d.pads takes 2 values (height, width) or 4 (top, left, bottom, right), got 3"},
    {"NegativePad", [](v1::ModelSpec& s) {
       auto* c = LayerNamed(s, "conv1")->mutable_conv2d();
       c->set_padding(0);
       for (int64_t v : {1, 1, -1, 1}) c->add_pads(v);
     }, "layer 'conv1': conv2d.pads[2] must be >= 0, got -1"},
    {"PaddingAndPads", [](v1::ModelSpec& s) {
       for (int64_t v : {1, 1}) LayerNamed(s, "conv1")->mutable_conv2d()->add_pads(v);
     }, "layer 'conv1': give conv2d.padding or conv2d.pads, not both"},
    {"PoolBottomPadOverHalfKernel", [](v1::ModelSpec& s) {
       for (int64_t v : {0, 0, 2, 0}) LayerNamed(s, "pool")->mutable_max_pool()->add_pads(v);
     }, "layer 'pool': max_pool.padding 2 must be at most half the kernel 2"},
    {"NonSquareKernelTooTall", [](v1::ModelSpec& s) {
       auto* c = LayerNamed(s, "conv1")->mutable_conv2d();
       c->set_kernel_size(0);
       for (int64_t v : {11, 1}) c->add_kernel_hw(v);
     }, "layer 'conv1': kernel 11x1 is larger than padded input 10x10"},
    {"ConvOnFeatures",
     [](v1::ModelSpec& s) {
       LayerNamed(s, "fc")->mutable_conv2d()->set_out_channels(10);
       LayerNamed(s, "fc")->mutable_conv2d()->set_kernel_size(1);
     },
     "layer 'fc': conv2d needs a (C,H,W) input, got 4"},
    {"DropoutOne",
     [](v1::ModelSpec& s) {
       v1::Layer* relu = LayerNamed(s, "relu1");
       relu->mutable_dropout()->set_p(1.0);
     },
     "layer 'relu1': dropout.p must be in [0, 1), got 1"},
    {"BatchNormEps", [](v1::ModelSpec& s) { LayerNamed(s, "bn1")->mutable_batch_norm()->set_eps(0); },
     "layer 'bn1': batch_norm.eps must be > 0, got 0"},
    {"LinearZero", [](v1::ModelSpec& s) { LayerNamed(s, "fc")->mutable_linear()->set_out_features(0); },
     "layer 'fc': linear.out_features must be > 0, got 0"},
    {"LogitsDoNotMatchClasses", [](v1::ModelSpec& s) { s.set_num_classes(12); },
     "layer 'loss': softmax_cross_entropy: logits have shape 10 but num_classes is 12"},
    {"NoLoss", [](v1::ModelSpec& s) { LayerNamed(s, "loss")->mutable_relu(); },
     "exactly one loss layer (softmax_cross_entropy or mse_loss), has 0"},
    {"TwoLosses",
     [](v1::ModelSpec& s) {
       v1::Layer* extra = s.add_layers();
       extra->set_name("loss2");
       extra->add_inputs("fc");
       extra->mutable_softmax_cross_entropy();
     },
     "exactly one loss layer (softmax_cross_entropy or mse_loss), has 2"},
    {"DanglingOutput",
     [](v1::ModelSpec& s) {
       v1::Layer* extra = s.add_layers();
       extra->set_name("unused");
       extra->add_inputs("relu1");
       extra->mutable_relu();
     },
     "layer 'unused': output is never used"},
    // Sizes: every product is checked for overflow and against SizeLimits
    // before anything (a backend library) sees the shape.
    {"HugeInput",
     [](v1::ModelSpec& s) {
       for (int i = 0; i < 3; ++i) s.mutable_input()->set_dims(i, int64_t{1} << 31);
     },
     "model input: a 2147483648x2147483648x2147483648 tensor is over the limit of 274877906944 elements"},
    {"HugeOutChannels",
     [](v1::ModelSpec& s) { LayerNamed(s, "conv1")->mutable_conv2d()->set_out_channels(int64_t{1} << 40); },
     "layer 'conv1': a 1099511627776x8x8 tensor is over the limit"},
    {"HugeOutFeatures", [](v1::ModelSpec& s) { LayerNamed(s, "fc")->mutable_linear()->set_out_features(int64_t{1} << 40); },
     "layer 'fc': a 1099511627776 tensor is over the limit"},
    {"HugePaddingOverflows",
     [](v1::ModelSpec& s) { LayerNamed(s, "conv1")->mutable_conv2d()->set_padding(int64_t{1} << 62); },
     "layer 'conv1': the padded input height overflows 64-bit integers"},
    {"HugeDilationOverflows",
     [](v1::ModelSpec& s) { LayerNamed(s, "conv1")->mutable_conv2d()->set_dilation(int64_t{1} << 62); },
     "layer 'conv1': the dilated kernel overflows 64-bit integers"},
    {"HugePoolWindowFlopsOverflow",
     [](v1::ModelSpec& s) {
       v1::Layer* pool = LayerNamed(s, "pool");
       pool->mutable_max_pool()->set_kernel_size(int64_t{1} << 40);
       pool->mutable_max_pool()->set_padding(int64_t{1} << 39);
     },
     "layer 'pool': max_pool FLOPs overflows 64-bit integers"},
    {"TooManyParameters",
     [](v1::ModelSpec& s) {
       LayerNamed(s, "conv2")->mutable_conv2d()->set_kernel_size(17);
       LayerNamed(s, "conv2")->mutable_conv2d()->set_padding(8);
       LayerNamed(s, "conv2")->mutable_conv2d()->set_out_channels(4);
       LayerNamed(s, "conv1")->mutable_conv2d()->set_out_channels(int64_t{1} << 30);
       LayerNamed(s, "conv1")->mutable_conv2d()->set_kernel_size(1);
       LayerNamed(s, "conv1")->mutable_conv2d()->set_padding(0);
     },
     "over the limit of 17179869184"},
    {"LongLayerName", [](v1::ModelSpec& s) { LayerNamed(s, "relu1")->set_name(std::string(257, 'r')); },
     "name of 257 bytes, over the limit of 256"},
    {"ControlCharacterInName",
     [](v1::ModelSpec& s) {
       LayerNamed(s, "relu1")->set_name("relu\n1");
       LayerNamed(s, "conv2")->set_inputs(0, "relu\n1");
       LayerNamed(s, "add")->set_inputs(1, "relu\n1");
     },
     "layers[2]: name contains the control character 0x0a"},
};

INSTANTIATE_TEST_SUITE_P(EveryError, GraphErrorTest, testing::ValuesIn(kBadCases),
                         [](const testing::TestParamInfo<BadCase>& info) { return info.param.name; });

// The activations of issue 13: shapes pass through, attributes resolve with
// PyTorch's defaults, FLOPs per graph.h's table, and backward reads the
// output or the input as graph.h says.
TEST(GraphTest, ActivationsResolveDefaultsFlopsAndWhatBackwardReads) {
  const char* kModel = R"pb(
    input { dims: 3 dims: 4 dims: 5 }
    num_classes: 2
    layers { name: "relu6" inputs: "input" relu6 {} }
    layers { name: "clip" inputs: "relu6" clip { max: 2.5 } }
    layers { name: "leaky" inputs: "clip" leaky_relu {} }
    layers { name: "leaky_neg" inputs: "leaky" leaky_relu { negative_slope: -0.1 } }
    layers { name: "elu" inputs: "leaky_neg" elu {} }
    layers { name: "elu_neg" inputs: "elu" elu { alpha: -1 } }
    layers { name: "gelu" inputs: "elu_neg" gelu {} }
    layers { name: "gelu_tanh" inputs: "gelu" gelu { approximate: "tanh" } }
    layers { name: "silu" inputs: "gelu_tanh" silu {} }
    layers { name: "hardswish" inputs: "silu" hardswish {} }
    layers { name: "hardsigmoid" inputs: "hardswish" hardsigmoid {} }
    layers { name: "softplus" inputs: "hardsigmoid" softplus {} }
    layers { name: "softmax" inputs: "softplus" softmax { axis: 1 } }
    layers { name: "log_softmax" inputs: "softmax" log_softmax {} }
    layers { name: "fc" inputs: "log_softmax" linear { out_features: 2 } }
    layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
  )pb";
  absl::StatusOr<Graph> g = Graph::Build(Parse(kModel));
  ASSERT_TRUE(g.ok()) << g.status();
  auto node = [&](const char* name) -> const Node& { return g->node(g->Find(name)); };
  const int64_t e = 3 * 4 * 5;
  for (const char* name : {"relu6", "clip", "leaky", "leaky_neg", "elu", "elu_neg", "gelu", "gelu_tanh", "silu",
                           "hardswish", "hardsigmoid", "softplus", "softmax", "log_softmax"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(node(name).out, (Dims{3, 4, 5}));
    EXPECT_EQ(node(name).parameter_count, 0);
  }
  EXPECT_EQ(node("relu6").clip_min, 0);
  EXPECT_EQ(node("relu6").clip_max, 6);
  EXPECT_EQ(node("clip").clip_min, -INFINITY);
  EXPECT_EQ(node("clip").clip_max, 2.5);
  EXPECT_EQ(node("leaky").negative_slope, 0.01);
  EXPECT_EQ(node("elu").alpha, 1.0);
  EXPECT_FALSE(node("gelu").gelu_tanh);
  EXPECT_TRUE(node("gelu_tanh").gelu_tanh);
  EXPECT_EQ(node("softplus").beta, 1.0);
  EXPECT_EQ(node("softplus").threshold, 20.0);
  EXPECT_EQ(node("softmax").axis, 0);      // batched axis 1: the channels
  EXPECT_EQ(node("log_softmax").axis, 2);  // -1: the width
  // FLOPs per element: 1 forward / 2 backward for the piecewise-linear ops,
  // 4 / 4 for the transcendental ones, 5 / 4 for the softmaxes.
  for (const char* name : {"relu6", "clip", "leaky", "hardsigmoid"}) {
    EXPECT_EQ(node(name).forward_flops, e) << name;
    EXPECT_EQ(node(name).backward_flops, 2 * e) << name;
  }
  for (const char* name : {"elu", "gelu", "silu", "hardswish", "softplus"}) {
    EXPECT_EQ(node(name).forward_flops, 4 * e) << name;
    EXPECT_EQ(node(name).backward_flops, 4 * e) << name;
  }
  EXPECT_EQ(node("softmax").forward_flops, 5 * e);
  EXPECT_EQ(node("softmax").backward_flops, 4 * e);
  // What backward reads.
  for (const char* name : {"relu6", "clip", "leaky", "elu", "hardsigmoid", "softmax", "log_softmax"}) {
    EXPECT_TRUE(BackwardReadsOutput(node(name))) << name;
  }
  for (const char* name : {"leaky_neg", "elu_neg", "gelu", "gelu_tanh", "silu", "hardswish", "softplus"}) {
    EXPECT_FALSE(BackwardReadsOutput(node(name))) << name;
  }
  for (const char* name : {"relu6", "clip", "leaky", "elu", "gelu", "silu", "hardswish", "hardsigmoid",
                           "softplus"}) {
    EXPECT_TRUE(IsPointwise(node(name).kind)) << name;
  }
  EXPECT_FALSE(IsPointwise(node("softmax").kind));
  EXPECT_FALSE(IsPointwise(OpKind::kRelu));
}

// Shapes of the view ops, with batched axes resolved to per-example ones.
TEST(GraphTest, ViewOpsInferShapesAsPyTorch) {
  const char* kModel = R"pb(
    input { dims: 4 dims: 6 dims: 8 }
    num_classes: 2
    layers { name: "gap" inputs: "input" reduce_mean { axes: [-2, -1] keepdim: true } }
    layers { name: "gate" inputs: "input" inputs: "gap" mul {} }
    layers { name: "t" inputs: "gate" transpose { perm: [0, 2, 3, 1] } }
    layers { name: "tokens" inputs: "t" reshape { dims: [-1, 4] } }
    layers { name: "cls" inputs: "tokens" slice { axis: 1 end: 1 } }
    layers { name: "cat" inputs: "cls" inputs: "tokens" concat { axis: 1 } }
    layers { name: "odd" inputs: "cat" slice { axis: -2 start: 1 step: 2 } }
    layers { name: "u" inputs: "odd" unsqueeze { axes: [1] } }
    layers { name: "s" inputs: "u" squeeze { axes: [1] } }
    layers { name: "sum" inputs: "s" reduce_sum { axes: [1] } }
    layers { name: "row" inputs: "s" reduce_mean { axes: [2] keepdim: true } }
    layers { name: "centred" inputs: "s" inputs: "row" sub {} }
    layers { name: "scaled" inputs: "centred" scale { value: 0.5 } }
    layers { name: "total" inputs: "scaled" reduce_sum { axes: [1] } }
    layers { name: "both" inputs: "sum" inputs: "total" add {} }
    layers { name: "fc" inputs: "both" linear { out_features: 2 } }
    layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
  )pb";
  absl::StatusOr<Graph> g = Graph::Build(Parse(kModel));
  ASSERT_TRUE(g.ok()) << g.status();
  auto out = [&](const char* name) { return g->node(g->Find(name)).out; };
  EXPECT_EQ(out("gap"), (Dims{4, 1, 1}));
  EXPECT_EQ(out("gate"), (Dims{4, 6, 8}));
  EXPECT_EQ(out("t"), (Dims{6, 8, 4}));
  EXPECT_EQ(out("tokens"), (Dims{48, 4}));
  EXPECT_EQ(out("cls"), (Dims{1, 4}));
  EXPECT_EQ(out("cat"), (Dims{49, 4}));
  EXPECT_EQ(out("odd"), (Dims{24, 4}));  // 1, 3, ..., 47
  EXPECT_EQ(out("u"), (Dims{1, 24, 4}));
  EXPECT_EQ(out("s"), (Dims{24, 4}));
  EXPECT_EQ(out("sum"), (Dims{4}));
  EXPECT_EQ(out("row"), (Dims{24, 1}));
  EXPECT_EQ(out("centred"), (Dims{24, 4}));
  EXPECT_EQ(out("both"), (Dims{4}));
  const Node& t = g->node(g->Find("t"));
  EXPECT_EQ(t.axes, (std::vector<int64_t>{1, 2, 0}));
  const Node& odd = g->node(g->Find("odd"));
  EXPECT_EQ(odd.axis, 0);
  EXPECT_EQ(odd.slice_start, 1);
  EXPECT_EQ(odd.slice_step, 2);
  EXPECT_TRUE(IsBroadcastBinary(g->node(g->Find("gate"))));
  EXPECT_TRUE(IsBroadcastBinary(g->node(g->Find("centred"))));
  EXPECT_FALSE(IsBroadcastBinary(g->node(g->Find("both"))));  // same shapes: add's own kernel
  EXPECT_TRUE(IsLayoutOp(g->node(g->Find("cat"))));           // not an image's channels
  EXPECT_EQ(g->node(g->Find("gate")).forward_flops, 4 * 6 * 8);
  EXPECT_EQ(g->node(g->Find("t")).forward_flops, 0);
  EXPECT_EQ(g->node(g->Find("sum")).forward_flops, 24 * 4);
}

// nn.Linear on (N,L,D) multiplies each of the L rows: weights D × out, FLOPs
// times L; its kernels see N·L rows of D (KernelShape).
TEST(GraphTest, LinearOnTokensActsOnTheLastAxis) {
  absl::StatusOr<Graph> g = Graph::Build(Parse(R"pb(
    input { dims: 7 dims: 16 }
    num_classes: 3
    layers { name: "proj" inputs: "input" linear { out_features: 8 } }
    layers { name: "flat" inputs: "proj" flatten {} }
    layers { name: "fc" inputs: "flat" linear { out_features: 3 } }
    layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
  )pb"));
  ASSERT_TRUE(g.ok()) << g.status();
  const Node& proj = g->node(g->Find("proj"));
  EXPECT_EQ(proj.out, (Dims{7, 8}));
  EXPECT_EQ(proj.parameter_count, 16 * 8 + 8);
  EXPECT_EQ(proj.forward_flops, 7 * (2 * 16 * 8 + 8));
  const KernelView k = KernelShape(proj, 5);
  EXPECT_EQ(k.rows, 35);
  EXPECT_EQ(k.node.input_dims[0], (Dims{16}));
  EXPECT_EQ(k.node.out, (Dims{8}));
  EXPECT_EQ(g->node(g->Find("fc")).parameter_count, 56 * 3 + 3);
  EXPECT_EQ(KernelShape(g->node(g->Find("fc")), 5).rows, 5);
}

// A causal softmax needs axis -1 over square (L, L) trailing axes.
TEST(GraphTest, CausalSoftmaxNeedsTheLastAxisOfSquareScores) {
  auto build = [](const std::string& dims, const std::string& softmax) {
    return Graph::Build(Parse(absl::StrCat("input { ", dims, R"pb( }
      num_classes: 2
      layers { name: "p" inputs: "input" )pb", softmax, R"pb( }
      layers { name: "flat" inputs: "p" flatten {} }
      layers { name: "fc" inputs: "flat" linear { out_features: 2 } }
      layers { name: "loss" inputs: "fc" softmax_cross_entropy {} })pb")));
  };
  EXPECT_TRUE(build("dims: 2 dims: 5 dims: 5", "softmax { causal: true }").ok());
  EXPECT_TRUE(build("dims: 5 dims: 5", "softmax { axis: -1 causal: true }").ok());
  for (const auto& [dims, softmax] : std::vector<std::pair<std::string, std::string>>{
           {"dims: 5 dims: 6", "softmax { causal: true }"},
           {"dims: 5 dims: 5", "softmax { axis: 1 causal: true }"},
           {"dims: 5", "softmax { causal: true }"}}) {
    absl::StatusOr<Graph> g = build(dims, softmax);
    ASSERT_FALSE(g.ok()) << dims << " " << softmax;
    EXPECT_NE(std::string(g.status().message()).find("layer 'p': softmax.causal needs axis -1 and the last two axes "
                                                     "equal"),
              std::string::npos)
        << g.status().message();
  }
}

// Attention's checks name the layer: three different inputs of (N,L,D),
// heads dividing D, causal only for equal lengths; its FLOPs per graph.h.
TEST(GraphTest, AttentionShapesFlopsAndErrors) {
  auto build = [](const std::string& attention, const char* v_from = "v") {
    return Graph::Build(Parse(absl::StrCat(R"pb(
      input { dims: 6 dims: 8 }
      num_classes: 2
      layers { name: "q" inputs: "input" linear { out_features: 8 } }
      layers { name: "k" inputs: "input" linear { out_features: 8 } }
      layers { name: "v" inputs: "input" linear { out_features: 8 } }
      layers { name: "attn" inputs: "q" inputs: "k" inputs: ")pb", v_from, "\" ", attention, R"pb( }
      layers { name: "flat" inputs: "attn" flatten {} }
      layers { name: "fc" inputs: "flat" linear { out_features: 2 } }
      layers { name: "loss" inputs: "fc" softmax_cross_entropy {} })pb")));
  };
  absl::StatusOr<Graph> g = build("attention { heads: 2 causal: true }");
  ASSERT_TRUE(g.ok()) << g.status();
  const Node& a = g->node(g->Find("attn"));
  EXPECT_EQ(a.out, (Dims{6, 8}));
  EXPECT_DOUBLE_EQ(a.attention_scale, 0.5);  // 1/sqrt(8/2)
  EXPECT_EQ(a.forward_flops, 4 * 6 * 6 * 8 + 5 * 2 * 6 * 6);
  EXPECT_EQ(a.backward_flops, a.forward_flops * 5 / 2);
  struct Bad {
    std::string attention;
    const char* v_from;
    const char* message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"attention { heads: 3 }", "v", "layer 'attn': attention.heads 3 does not divide D = 8"},
           {"attention { heads: 0 }", "v", "layer 'attn': attention.heads must be > 0, got 0"},
           {"attention { heads: 1 scale: -1 }", "v", "layer 'attn': attention.scale must be > 0 and finite, got -1"},
           {"attention { heads: 1 }", "k",
            "layer 'attn': attention: q, k and v must be three different layers"},
           {"relu {}", "v", "layer 'attn': relu takes exactly one input, got 3"},
       }) {
    absl::StatusOr<Graph> bad_graph = build(bad.attention, bad.v_from);
    ASSERT_FALSE(bad_graph.ok()) << bad.attention;
    EXPECT_NE(std::string(bad_graph.status().message()).find(bad.message), std::string::npos)
        << bad_graph.status().message();
  }
}

// Weight tying: the linear owns no weight, only its bias; the embedding
// must be upstream and its table (out_features, in_features).
TEST(GraphTest, TiedLinearCountsTheTableOnceAndChecksItsEmbedding) {
  auto build = [](const std::string& head) {
    return Graph::Build(Parse(absl::StrCat(R"pb(
      input { dims: 6 }
      num_classes: 11
      layers { name: "wte" inputs: "input" embedding { num_embeddings: 11 embedding_dim: 8 } }
      layers { name: "other" inputs: "input" embedding { num_embeddings: 11 embedding_dim: 8 } }
      layers { name: "sum" inputs: "wte" inputs: "other" add {} }
      layers { name: "ln" inputs: "sum" layer_norm { bias: false } }
      layers { name: "head" inputs: "ln" )pb", head, R"pb( }
      layers { name: "loss" inputs: "head" softmax_cross_entropy {} })pb")));
  };
  absl::StatusOr<Graph> tied = build(R"pb(linear { out_features: 11 tied_to: "wte" })pb");
  absl::StatusOr<Graph> own = build(R"pb(linear { out_features: 11 })pb");
  ASSERT_TRUE(tied.ok()) << tied.status();
  ASSERT_TRUE(own.ok()) << own.status();
  const Node& head = tied->node(tied->Find("head"));
  EXPECT_EQ(head.tied_to, tied->Find("wte"));
  EXPECT_EQ(head.parameter_count, 11);  // the bias
  EXPECT_EQ(own->parameter_count() - tied->parameter_count(), 11 * 8);
  EXPECT_EQ(head.forward_flops, own->node(own->Find("head")).forward_flops);
  EXPECT_EQ(tied->node(tied->Find("ln")).parameter_count, 8);  // γ only
  struct Bad {
    std::string head;
    const char* message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {R"pb(linear { out_features: 11 tied_to: "nope" })pb",
            "layer 'head': linear.tied_to: 'nope' is not a layer of the model"},
           {R"pb(linear { out_features: 11 tied_to: "ln" })pb", "layer 'head': linear.tied_to: 'ln' is not an embedding"},
           {R"pb(linear { out_features: 10 tied_to: "wte" })pb",
            "layer 'head': linear.tied_to: embedding 'wte' has a table of 11x8, so this layer must map (L,8) or (8) to "
            "11 features; it maps 6x8 to 10"},
       }) {
    absl::StatusOr<Graph> g = build(bad.head);
    ASSERT_FALSE(g.ok()) << bad.head;
    EXPECT_EQ(g.status().message(), bad.message);
  }
}

// The ops issue 13 added last: shapes, parameters and FLOPs per example.
TEST(GraphTest, UpsampleBatchNorm1dAndMseShapesParametersFlops) {
  absl::StatusOr<Graph> g = Graph::Build(Parse(R"pb(
    input { dims: 4 dims: 10 }
    num_classes: 1
    layers { name: "bn" inputs: "input" batch_norm {} }
    layers { name: "img" inputs: "bn" unsqueeze { axes: [2] } }
    layers { name: "up" inputs: "img" upsample { scale_factor: 2 mode: "bilinear" } }
    layers { name: "near" inputs: "up" upsample { out_h: 3 out_w: 7 } }
    layers { name: "flat" inputs: "near" flatten {} }
    layers { name: "fc" inputs: "flat" linear { out_features: 6 } }
    layers { name: "loss" inputs: "fc" mse_loss {} })pb"));
  ASSERT_TRUE(g.ok()) << g.status();
  const Node& bn = g->node(g->Find("bn"));
  EXPECT_EQ(bn.out, (Dims{4, 10}));
  EXPECT_EQ(bn.parameter_count, 8);  // γ, β per channel
  EXPECT_EQ(bn.buffer_count, 8);     // running mean, variance
  EXPECT_EQ(bn.forward_flops, 6 * 40);
  const Node& up = g->node(g->Find("up"));
  EXPECT_EQ(up.out, (Dims{4, 2, 20}));
  EXPECT_EQ(up.forward_flops, 7 * 4 * 2 * 20);  // 4 products, 3 sums per output
  EXPECT_EQ(up.parameter_count, 0);
  const Node& near = g->node(g->Find("near"));
  EXPECT_EQ(near.out, (Dims{4, 3, 7}));
  EXPECT_EQ(near.forward_flops, 4 * 3 * 7);
  const Node& loss = g->node(g->Find("loss"));
  EXPECT_EQ(loss.out, Dims{});
  EXPECT_EQ(loss.forward_flops, 3 * 6);
  EXPECT_EQ(loss.backward_flops, 2 * 6);
  EXPECT_EQ(planner::TargetsPerExample(*g), 6);
  EXPECT_EQ(planner::LabelsPerExample(*g), 0);
  // An image into the loss: flatten first.
  absl::StatusOr<Graph> image = Graph::Build(Parse(R"pb(
    input { dims: 1 dims: 4 dims: 4 } num_classes: 1
    layers { name: "loss" inputs: "input" mse_loss {} })pb"));
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().message(),
            "layer 'loss': mse_loss needs an (F) or (L,D) input, got 1x4x4; flatten an image first");
}

TEST(GraphTest, LayerCountIsLimited) {
  v1::ModelSpec spec = Parse(kTiny);
  SizeLimits limits;
  limits.max_layers = spec.layers_size();
  EXPECT_TRUE(Graph::Build(spec, limits).ok());
  limits.max_layers = spec.layers_size() - 1;
  const absl::Status s = Graph::Build(spec, limits).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "model: 9 layers, over the limit of 8");
}

// CheckBatch: the batch and every tensor at it, before anything is planned.
TEST(GraphTest, CheckBatchNamesTheBatchOrTheLayerOverTheLimit) {
  SizeLimits limits;
  limits.max_batch_size = 1000;
  limits.max_tensor_bytes = 4 * 8 * 8 * 4 * 100;  // conv1's output (4x8x8 fp32) at batch 100
  absl::StatusOr<Graph> g = Graph::Build(Parse(kTiny), limits);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(g->CheckBatch(1, 4).ok());
  EXPECT_TRUE(g->CheckBatch(100, 4).ok());
  absl::Status s = g->CheckBatch(0, 4);
  EXPECT_EQ(s.message(), "batch_size: 0 is outside [1, 1000] (examples per step)");
  s = g->CheckBatch(int64_t{1} << 40, 4);
  EXPECT_EQ(s.message(), "batch_size: 1099511627776 is outside [1, 1000] (examples per step)");
  s = g->CheckBatch(101, 4);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "layer 'conv1': its 4x8x8 output at batch_size 101, 4 bytes an element, is over the "
                         "limit of 102400 bytes per tensor");
  // float64 elements: half the batch.
  EXPECT_TRUE(g->CheckBatch(50, 8).ok());
  EXPECT_FALSE(g->CheckBatch(51, 8).ok());
  EXPECT_EQ(g->MaxCheckedBatch(4), 100);
  EXPECT_EQ(g->MaxCheckedBatch(8), 50);
  // Everything up to MaxCheckedBatch passes, one more does not.
  for (int64_t bytes : {4, 8}) {
    EXPECT_TRUE(g->CheckBatch(g->MaxCheckedBatch(bytes), bytes).ok());
    EXPECT_FALSE(g->CheckBatch(g->MaxCheckedBatch(bytes) + 1, bytes).ok());
  }
}

TEST(GraphTest, DefaultLimitsTakeTheLargestZooModelsAtLargeBatches) {
  // The limits are there against overflow, not against real models: a
  // 1 TiB tensor is far beyond any device.
  absl::StatusOr<Graph> g = Graph::Build(Parse(kTiny));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->MaxCheckedBatch(4), int64_t{1} << 24);
}

}  // namespace
}  // namespace slimtrain::planner
