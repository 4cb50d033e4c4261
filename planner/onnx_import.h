// onnx_import.h — ONNX models (torch.onnx.export, tf2onnx, ...) as ModelSpecs.
//
//   SLIM_ASSIGN_OR_RETURN(std::string bytes, ReadFile("m.onnx"));
//   SLIM_ASSIGN_OR_RETURN(OnnxImport im, ImportOnnx(bytes, "m.onnx", {}));
//   // im.spec: the graph as slimtrain's ops, ending in the loss
//   // im.nodes: what each ONNX node became, for `slimtrain import`
//
// Reading is Debian's ONNX library's (libonnx-dev): its protobuf messages
// and its checker. Shapes are the importer's own (onnx_values.h: the
// batch symbolic), not libonnx's shape inference, which crashes on some
// malformed models (a Conv with stride 0). Opsets 11 to 17 of the default
// domain.
//
// Mapping (ONNX op -> layer):
//   Conv (2-D; kernel_shape, strides, pads, dilations, group, auto_pad)
//   -> conv2d; BatchNormalization -> batch_norm (ONNX's momentum m is
//   PyTorch's 1 - m); Relu, Sigmoid, Tanh, LeakyRelu, Elu, HardSwish,
//   HardSigmoid (PyTorch's: alpha 1/6, beta 1/2), Softplus -> the
//   activation; Clip with constant bounds -> relu6 (0, 6) or clip; Add,
//   Sub, Mul, Div of two tensors -> the elementwise op; Mul or Div by a
//   constant scalar -> scale; MaxPool, AveragePool (ceil_mode 0) -> the
//   pool; GlobalAveragePool -> adaptive_avg_pool to 1x1 (ONNX keeps the
//   (C,1,1) shape); Flatten (axis 1) -> flatten; Gemm (B an initializer,
//   alpha = beta = 1, transA 0) and MatMul by an initializer -> linear (a
//   following Add of an initializer vector becomes its bias); MatMul of two
//   tensors -> matmul; Softmax, LogSoftmax -> the op on the same axis;
//   Concat, Reshape (constant shape, batch first), Transpose, Squeeze,
//   Unsqueeze (constant axes) -> the view op; LayerNormalization ->
//   layer_norm; ReduceMean -> reduce_mean; Identity, Dropout (inference
//   export) -> nothing; Constant -> folded; PyTorch's exact GELU (Div by
//   √2, Erf, Add 1, Mul by x, Mul by 0.5) -> gelu; Gather of an
//   initializer table by the model input -> embedding.
// Everything else is unsupported: the error lists every such node at once
// (name, op type, opset) and the supported ops.
//
// Layers are named after the ONNX nodes (their names, or "<op>_<index>"
// when empty or taken; a layer with a "<module>.weight" initializer after
// the module), so a layer's parameters are "<layer>.weight" and
// "<layer>.bias", PyTorch's state_dict names. The initializers come back
// as OnnxImport::weights, the model's initial weights.
#ifndef SLIMTRAIN_PLANNER_ONNX_IMPORT_H_
#define SLIMTRAIN_PLANNER_ONNX_IMPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/model.pb.h"

namespace slimtrain::planner {

struct OnnxImportOptions {
  // The loss appended on the graph's output: "cross_entropy" (softmax
  // cross-entropy, num_classes = the output's last axis) or "mse".
  std::string loss = "cross_entropy";
  // The model's name; empty: the ONNX graph's name (or "onnx_model").
  std::string name;
  // Read the initializers' values into OnnxImport::weights; false: their
  // names and shapes only (planning and checking need no more, and a
  // large model's weights are most of an import's memory).
  bool weight_values = true;
};

// What one ONNX node became.
struct OnnxNodeReport {
  std::string name;     // the ONNX node's name ("" when it has none)
  std::string op_type;  // e.g. "Conv"
  std::vector<std::string> layers;  // the layers made (none: folded or skipped)
  std::string note;     // e.g. "folded", "bias of 'fc'", "identity"
};

// An initializer as a parameter of the imported model, named and laid out as
// the engine's parameter region names it ("<layer>.weight", PyTorch's
// shapes; a MatMul's or Gemm's (in, out) weight transposed to (out, in)).
struct OnnxWeight {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
  std::string source;       // the initializer's name in the ONNX graph
  bool transposed = false;  // values are the initializer's, transposed
};

struct OnnxImport {
  v1::ModelSpec spec;
  // The initial weights: every parameter and batch-norm running statistic
  // the ONNX graph gives (an inference export may have folded some away).
  std::vector<OnnxWeight> weights;
  std::vector<OnnxNodeReport> nodes;
  int64_t opset = 0;
  std::string input_name, output_name;  // the ONNX graph's input and output
  int64_t initializers = 0;             // tensors
  int64_t initializer_elements = 0;
};

// True when `bytes` look like a serialized ONNX ModelProto (a binary
// protobuf beginning with ir_version, that parses with a graph).
bool LooksLikeOnnx(absl::string_view bytes);

// The ModelSpec of ONNX model `bytes`. INVALID_ARGUMENT naming `source` for
// bytes that are not a valid ONNX model (the checker's message), a graph
// without exactly one non-initializer input and one output, an opset outside
// 11-17, shapes that do not fit their ops; UNIMPLEMENTED listing every
// unsupported node. The spec still has to pass Graph::Build.
absl::StatusOr<OnnxImport> ImportOnnx(absl::string_view bytes, const std::string& source,
                                      const OnnxImportOptions& options);

// The ONNX ops the importer maps (with the patterns it recognises), for
// messages and `slimtrain import`.
std::vector<std::string> SupportedOps();

// The report as a table: one line per ONNX node, what it became.
std::string OnnxReportText(const OnnxImport& im);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_ONNX_IMPORT_H_
