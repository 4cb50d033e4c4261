// ONNX import: models built here with Debian's ONNX messages, imported,
// built, and their mapping, shapes and parameter counts checked; every
// unsupported node listed at once; ONNX files found by content.
#include "planner/onnx_import.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "planner/graph.h"
#include "planner/model_io.h"
#include "tests/testing/subprocess.h"

namespace slimtrain::planner {
namespace {

// A model of opset `opset` with input x (N, dims...).
onnx::ModelProto Model(const std::vector<int64_t>& dims, int opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(opset);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("built");
  onnx::ValueInfoProto* in = g->add_input();
  in->set_name("x");
  auto* t = in->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("N");
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
  return m;
}

// Output `name` of shape (N, dims...), as exporters write it.
void Output(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims) {
  onnx::ValueInfoProto* out = m.mutable_graph()->add_output();
  out->set_name(name);
  auto* t = out->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("N");
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

void Init(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims, float value = 0.5f) {
  onnx::TensorProto* t = m.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  int64_t count = 1;
  for (int64_t d : dims) {
    t->add_dims(d);
    count *= d;
  }
  for (int64_t i = 0; i < count; ++i) t->add_float_data(value);
}

onnx::NodeProto* AddNode(onnx::ModelProto& m, const std::string& op, const std::vector<std::string>& inputs,
                      const std::string& output, const std::string& name = "") {
  onnx::NodeProto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const std::string& i : inputs) n->add_input(i);
  n->add_output(output);
  return n;
}

void Ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void Int(onnx::NodeProto* n, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void Text(onnx::NodeProto* n, const std::string& name, const std::string& value) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}

std::string Bytes(const onnx::ModelProto& m) { return m.SerializeAsString(); }

// conv (non-square, asymmetric pads) -> batch norm -> relu -> clip(0, 6)
// -> max pool (SAME_UPPER-free explicit pads) -> global average pool ->
// flatten -> gemm, weights named as PyTorch's state_dict.
onnx::ModelProto SmallCnn() {
  onnx::ModelProto m = Model({3, 8, 8});
  Init(m, "conv1.weight", {6, 3, 3, 1});
  Init(m, "conv1.bias", {6});
  for (const char* p : {"bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"}) Init(m, p, {6}, 1.0f);
  Init(m, "fc.weight", {10, 6});
  Init(m, "fc.bias", {10});
  Init(m, "lo", {}, 0.0f);
  Init(m, "hi", {}, 6.0f);
  onnx::NodeProto* conv = AddNode(m, "Conv", {"x", "conv1.weight", "conv1.bias"}, "c", "/conv1/Conv");
  Ints(conv, "kernel_shape", {3, 1});
  Ints(conv, "pads", {1, 0, 2, 0});
  Ints(conv, "strides", {2, 1});
  onnx::NodeProto* bn = AddNode(m, "BatchNormalization",
                             {"c", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"}, "b", "/bn1/BN");
  (void)bn;
  AddNode(m, "Relu", {"b"}, "r", "/relu/Relu");
  AddNode(m, "Clip", {"r", "lo", "hi"}, "r6", "");
  onnx::NodeProto* pool = AddNode(m, "MaxPool", {"r6"}, "p", "/pool/MaxPool");
  Ints(pool, "kernel_shape", {2, 2});
  Ints(pool, "strides", {2, 2});
  AddNode(m, "GlobalAveragePool", {"p"}, "g", "/gap");
  AddNode(m, "Flatten", {"g"}, "f", "/flatten");
  onnx::NodeProto* gemm = AddNode(m, "Gemm", {"f", "fc.weight", "fc.bias"}, "y", "/fc/Gemm");
  Int(gemm, "transB", 1);
  Output(m, "y", {10});
  return m;
}

TEST(OnnxImportTest, MapsACnnWithPyTorchsNamesShapesAndCounts) {
  absl::StatusOr<OnnxImport> im = ImportOnnx(Bytes(SmallCnn()), "cnn.onnx", {});
  ASSERT_TRUE(im.ok()) << im.status();
  EXPECT_EQ(im->opset, 13);
  EXPECT_EQ(im->initializers, 10);
  absl::StatusOr<Graph> g = Graph::Build(im->spec);
  ASSERT_TRUE(g.ok()) << g.status() << "\n" << ModelToText(im->spec);
  EXPECT_EQ(g->node(0).out, (Dims{3, 8, 8}));
  const Node& conv = g->node(g->Find("conv1"));
  EXPECT_EQ(conv.kind, OpKind::kConv2d);
  EXPECT_EQ(conv.kernel_h, 3);
  EXPECT_EQ(conv.kernel_w, 1);
  EXPECT_EQ(conv.pad_bottom, 2);
  // (8 + 1 + 2 - 3)/2 + 1 = 5 rows, 8 columns.
  EXPECT_EQ(conv.out, (Dims{6, 5, 8}));
  EXPECT_EQ(g->node(g->Find("bn1")).kind, OpKind::kBatchNorm);
  EXPECT_NEAR(g->node(g->Find("bn1")).momentum, 0.1, 1e-6);  // ONNX's 0.9 (the default)
  EXPECT_EQ(g->node(g->Find("fc")).out, (Dims{10}));
  // The clip of (0, 6) is a relu6; the global pool keeps (C,1,1).
  bool relu6 = false;
  for (const Node& n : g->nodes()) relu6 = relu6 || n.kind == OpKind::kRelu6;
  EXPECT_TRUE(relu6);
  // Every initializer but the clip bounds and BN's running statistics is a
  // trainable parameter: 6·3·3 + 6 + 6 + 6 + 10·6 + 10.
  EXPECT_EQ(g->parameter_count(), 54 + 6 + 12 + 70);
  EXPECT_EQ(g->spec().num_classes(), 10);
  const std::string report = OnnxReportText(*im);
  EXPECT_NE(report.find("Clip"), std::string::npos) << report;
  EXPECT_NE(report.find("adaptive_avg_pool to 1x1"), std::string::npos) << report;
}

TEST(OnnxImportTest, MatMulAddBecomesALinearWithBiasAndScalarFactorsAScale) {
  onnx::ModelProto m = Model({5, 4});  // (N, L, D)
  Init(m, "proj.weight", {4, 3});       // (in, out): MatMul's B
  Init(m, "proj.bias", {3});
  Init(m, "half", {}, 0.5f);
  AddNode(m, "MatMul", {"x", "proj.weight"}, "mm", "/proj/MatMul");
  AddNode(m, "Add", {"mm", "proj.bias"}, "lin", "/proj/Add");
  AddNode(m, "Mul", {"lin", "half"}, "y", "/scale");
  Output(m, "y", {5, 3});
  OnnxImportOptions options;
  options.loss = "mse";
  absl::StatusOr<OnnxImport> im = ImportOnnx(Bytes(m), "mlp.onnx", options);
  ASSERT_TRUE(im.ok()) << im.status();
  absl::StatusOr<Graph> g = Graph::Build(im->spec);
  ASSERT_TRUE(g.ok()) << g.status();
  const Node& proj = g->node(g->Find("proj"));
  EXPECT_EQ(proj.kind, OpKind::kLinear);
  EXPECT_TRUE(proj.bias);
  EXPECT_EQ(proj.out, (Dims{5, 3}));
  EXPECT_EQ(g->parameter_count(), 4 * 3 + 3);
  EXPECT_EQ(g->node(g->loss()).kind, OpKind::kMseLoss);
  EXPECT_EQ(TargetsPerExample(*g), 15);
}

TEST(OnnxImportTest, ListsEveryUnsupportedNodeAtOnce) {
  onnx::ModelProto m = Model({3, 8, 8});
  AddNode(m, "Relu", {"x"}, "a", "ok");
  AddNode(m, "Erf", {"a"}, "b", "first_bad");
  AddNode(m, "Floor", {"b"}, "c", "second_bad");
  AddNode(m, "Flatten", {"c"}, "y", "flat");
  Output(m, "y", {192});
  absl::StatusOr<OnnxImport> im = ImportOnnx(Bytes(m), "bad.onnx", {});
  ASSERT_FALSE(im.ok());
  EXPECT_EQ(im.status().code(), absl::StatusCode::kUnimplemented);
  const std::string message(im.status().message());
  EXPECT_NE(message.find("bad.onnx: 2 node(s) slimtrain cannot import: 'first_bad' (Erf, opset 13), "
                         "'second_bad' (Floor, opset 13). Supported ops: Add,"),
            std::string::npos)
      << message;
}

TEST(OnnxImportTest, NamesBadInputs) {
  EXPECT_EQ(ImportOnnx("not a model", "x.onnx", {}).status().message(),
            "x.onnx: not an ONNX model (no ModelProto with a graph)");
  onnx::ModelProto old = SmallCnn();
  old.mutable_opset_import(0)->set_version(9);
  const absl::Status opset = ImportOnnx(Bytes(old), "old.onnx", {}).status();
  EXPECT_NE(std::string(opset.message()).find("old.onnx: opset 9 of the default domain; slimtrain imports opsets 11 "
                                              "to 17"),
            std::string::npos)
      << opset;
  onnx::ModelProto broken = SmallCnn();
  broken.mutable_graph()->mutable_node(0)->set_input(1, "missing");
  const absl::Status checker = ImportOnnx(Bytes(broken), "broken.onnx", {}).status();
  EXPECT_EQ(checker.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(checker.message()).find("broken.onnx: invalid ONNX model"), std::string::npos) << checker;
  OnnxImportOptions bad_loss;
  bad_loss.loss = "hinge";
  EXPECT_EQ(ImportOnnx(Bytes(SmallCnn()), "cnn.onnx", bad_loss).status().message(),
            "loss: 'hinge' is not cross_entropy or mse");
}

// SAME_UPPER (TensorFlow's "same"): the extra padding goes after.
TEST(OnnxImportTest, SameUpperPaddingIsAsymmetric) {
  onnx::ModelProto m = Model({2, 7, 7});
  Init(m, "w", {4, 2, 2, 2});
  onnx::NodeProto* conv = AddNode(m, "Conv", {"x", "w"}, "c", "conv");
  Ints(conv, "kernel_shape", {2, 2});
  Ints(conv, "strides", {2, 2});
  Text(conv, "auto_pad", "SAME_UPPER");
  AddNode(m, "Flatten", {"c"}, "y", "flat");
  Output(m, "y", {64});
  absl::StatusOr<OnnxImport> im = ImportOnnx(Bytes(m), "same.onnx", {});
  ASSERT_TRUE(im.ok()) << im.status();
  absl::StatusOr<Graph> g = Graph::Build(im->spec);
  ASSERT_TRUE(g.ok()) << g.status();
  const Node& c = g->node(g->Find("conv"));
  EXPECT_EQ(c.out, (Dims{4, 4, 4}));  // ceil(7 / 2)
  EXPECT_EQ(c.pad_top, 0);
  EXPECT_EQ(c.pad_bottom, 1);
}

// PyTorch's exact GELU (Div by √2, Erf, Add 1, Mul by x, Mul by 0.5) is one
// gelu layer; a Gather of an initializer table by the input is an
// embedding.
TEST(OnnxImportTest, GeluPatternAndGatherEmbedding) {
  onnx::ModelProto m = Model({5});  // token ids
  Init(m, "wte.weight", {20, 8});
  Init(m, "sqrt2", {}, 1.41421356f);
  Init(m, "one", {}, 1.0f);
  Init(m, "half", {}, 0.5f);
  Init(m, "fc.weight", {3, 40});
  AddNode(m, "Gather", {"wte.weight", "x"}, "e", "/wte/Gather");
  AddNode(m, "Div", {"e", "sqrt2"}, "d", "/act/Div");
  AddNode(m, "Erf", {"d"}, "erf", "/act/Erf");
  AddNode(m, "Add", {"erf", "one"}, "a", "/act/Add");
  AddNode(m, "Mul", {"e", "a"}, "m1", "/act/Mul");
  AddNode(m, "Mul", {"m1", "half"}, "g", "/act/Mul_1");
  AddNode(m, "Flatten", {"g"}, "f", "/flat");
  onnx::NodeProto* fc = AddNode(m, "Gemm", {"f", "fc.weight"}, "y", "/fc/Gemm");
  Int(fc, "transB", 1);
  Output(m, "y", {3});
  absl::StatusOr<OnnxImport> im = ImportOnnx(Bytes(m), "gelu.onnx", {});
  ASSERT_TRUE(im.ok()) << im.status();
  absl::StatusOr<Graph> g = Graph::Build(im->spec);
  ASSERT_TRUE(g.ok()) << g.status() << "\n" << ModelToText(im->spec);
  EXPECT_EQ(g->node(g->Find("wte")).kind, OpKind::kEmbedding);
  EXPECT_EQ(g->node(g->Find("wte")).out, (Dims{5, 8}));
  int gelus = 0;
  for (const Node& n : g->nodes()) gelus += n.kind == OpKind::kGelu && !n.gelu_tanh;
  EXPECT_EQ(gelus, 1);
  EXPECT_EQ(g->parameter_count(), 20 * 8 + 3 * 40);
  EXPECT_EQ(TokenVocabulary(*g), 20);
  // An Erf outside the pattern is unsupported.
  onnx::ModelProto lone = Model({4});
  AddNode(lone, "Erf", {"x"}, "y", "lone");
  Output(lone, "y", {4});
  EXPECT_EQ(ImportOnnx(Bytes(lone), "erf.onnx", {}).status().code(), absl::StatusCode::kUnimplemented);
}

// --model-file takes an ONNX file by content, whatever its name.
TEST(OnnxImportTest, ModelFilesAreRecognisedByContent) {
  const std::string path = test_util::TempPath("model.bin");
  ASSERT_TRUE(base::WriteFileAtomically(path, Bytes(SmallCnn())).ok());
  EXPECT_EQ(DetectModelFormat(path, Bytes(SmallCnn())), ModelFormat::kOnnx);
  EXPECT_EQ(DetectModelFormat("m.pbtxt", "name: \"x\""), ModelFormat::kText);
  absl::StatusOr<v1::ModelSpec> spec = LoadModelFile(path);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->input().dims_size(), 3);
  EXPECT_TRUE(LooksLikeOnnx(Bytes(SmallCnn())));
  EXPECT_FALSE(LooksLikeOnnx("name: \"resnet\""));
}

}  // namespace
}  // namespace slimtrain::planner
