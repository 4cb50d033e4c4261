// onnx_importer.h — the importer's state, private to onnx_import.cc (the
// walk over the graph, layers, views, weights) and onnx_import_ops.cc (what
// each ONNX op becomes).
#ifndef SLIMTRAIN_PLANNER_ONNX_IMPORTER_H_
#define SLIMTRAIN_PLANNER_ONNX_IMPORTER_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "onnx/onnx_pb.h"
#include "planner/onnx_import.h"
#include "planner/onnx_values.h"

namespace slimtrain::planner::onnx_internal {

using onnx_values::ConstTensor;
using onnx_values::SymDims;
using onnx_values::View;

// A pattern of several ONNX nodes that becomes one layer (found before the
// walk, from the graph's structure): every node but the last is skipped,
// the last makes the layer.
struct Fused {
  std::string kind;  // "layer_norm", "silu"
  std::string x;     // the ONNX value the layer reads
  // layer_norm: eps, the reduced axes (ONNX's), γ and β initializers ("" if none).
  double eps = 1e-5;
  std::vector<int64_t> axes;
  std::string gamma, beta;
  bool last = false;  // this node makes the layer
};
// Node index -> its part in a pattern.
std::map<int, Fused> FindPatterns(const onnx::GraphProto& g);

// An initializer used through an op the importer keeps symbolic.
struct Pending {
  std::string kind;         // "transposed" (W^T), "rows" (W[indices]), "broadcast" (Expand over the batch)
  std::string initializer;  // its name
  std::vector<int64_t> indices;  // rows
};

using onnx_values::Attr;
using onnx_values::IntAttr;
double FloatAttr(const onnx::NodeProto& n, const char* name, double fallback);
std::vector<int64_t> IntsAttr(const onnx::NodeProto& n, const char* name);
std::string StringAttr(const onnx::NodeProto& n, const char* name, const std::string& fallback);
// A layer name from an ONNX name: printable ASCII, at most 200 bytes.
std::string Printable(const std::string& onnx_name);

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string source, OnnxImportOptions options)
      : model_(model), source_(std::move(source)), options_(std::move(options)) {}

  absl::StatusOr<OnnxImport> Run();

 private:
  absl::Status Error(const std::string& message) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", message));
  }
  // --- constants
  // The initializer or Constant named `name`, or null.
  const onnx::TensorProto* Constant(const std::string& name) const {
    auto it = constants_.find(name);
    return it == constants_.end() ? nullptr : it->second;
  }
  // A folded constant (initializers of up to kMaxFoldedElements included).
  const ConstTensor* Folded(const std::string& name);
  bool Scalar(const std::string& name, double* value);

  // --- activations
  bool IsActivation(const std::string& name) const { return views_.count(name) > 0; }
  absl::StatusOr<View> ViewOf(const onnx::NodeProto& n, const std::string& name) const;
  // The value as a plain layer (batch first, row-major), emitting the
  // transpose/reshape layers that make it so.
  absl::StatusOr<std::string> Producer(const onnx::NodeProto& n, const std::string& name);
  absl::StatusOr<View> Arrange(const onnx::NodeProto& n, const View& v, int trailing, bool batch_first,
                               OnnxNodeReport& report);
  // --- layers
  std::string LayerName(const onnx::NodeProto& n);
  // A new layer for node `n` reading `inputs`; its output becomes ONNX value
  // `out` (default: n's first output) as a plain view once the node is done,
  // unless the node sets a view for it.
  v1::Layer* Add(const onnx::NodeProto& n, const std::vector<std::string>& inputs, OnnxNodeReport& report,
                 const std::string* out = nullptr);
  // A layer fully set up now (a transpose or reshape Arrange makes): shaped
  // at once.
  absl::StatusOr<std::string> AddNow(v1::Layer layer, OnnxNodeReport& report);
  // `layer`'s output dims are `dims`, known without asking its op rules.
  void Shaped(const v1::Layer* layer, const Dims& dims);
  absl::Status Shape(v1::Layer* layer);
  // A pointwise layer on `x` (same shape): its output is x's view over it.
  void Pointwise(const onnx::NodeProto& n, const View& x, v1::Layer* layer);
  // A row op (linear, layer_norm) on `rows` (Arrange's, the last `trailing`
  // axes the rows): its layers take (rows, trailing...) per example, and
  // images are stored channels last, so rows over several leading axes
  // ((H, W, C) in ConvNeXt) are merged into one first (MergeRows: the layer
  // to read) and the op's output split back (FinishRows: its output `u`
  // as the node's output, over the rows' groups).
  absl::StatusOr<std::string> MergeRows(const onnx::NodeProto& n, const View& rows, int trailing,
                                        OnnxNodeReport& report);
  absl::Status FinishRows(const onnx::NodeProto& n, v1::Layer* layer, const View& rows, int trailing, const Dims& u,
                          OnnxNodeReport& report);
  // Initializer `name` as parameter `param` (transposed from (in, out) when
  // `transpose`; `shape`: slimtrain's shape of it when not the initializer's,
  // which parameter_shapes then records).
  absl::Status Weight(const std::string& param, const std::string& name, bool transpose = false,
                      const std::vector<int64_t>& shape = {});

  // Maps node `n` (index `index`); false when its op (or this use of it) is unsupported.
  absl::StatusOr<bool> Map(int index, const onnx::NodeProto& n, OnnxNodeReport& report);
  absl::StatusOr<bool> MapView(const onnx::NodeProto& n, OnnxNodeReport& report);
  absl::StatusOr<bool> MapMatMul(const onnx::NodeProto& n, OnnxNodeReport& report);
  absl::StatusOr<bool> MapElementwise(const onnx::NodeProto& n, OnnxNodeReport& report);
  absl::StatusOr<bool> MapSpatial(const onnx::NodeProto& n, OnnxNodeReport& report);
  absl::StatusOr<bool> MapResize(const onnx::NodeProto& n, const std::string& x, const Dims& in_shape,
                                 OnnxNodeReport& report);
  absl::StatusOr<bool> MapActivation(const onnx::NodeProto& n, OnnxNodeReport& report);
  absl::StatusOr<bool> MapFused(const onnx::NodeProto& n, const Fused& f, OnnxNodeReport& report);

  const onnx::ModelProto& model_;
  std::string source_;
  OnnxImportOptions options_;
  OnnxImport out_;
  std::map<std::string, const onnx::TensorProto*> constants_;
  std::vector<std::unique_ptr<onnx::TensorProto>> constant_nodes_;
  std::map<std::string, ConstTensor> folded_;
  std::map<std::string, Pending> pending_;
  std::map<std::string, View> views_;
  std::set<std::string> failed_;  // outputs of unsupported nodes
  // Per-example dims of every layer made, and the input.
  std::map<std::string, Dims> dims_;
  // Layers of the current node whose shape is not yet known, with the ONNX
  // value each makes.
  std::vector<std::pair<v1::Layer*, std::string>> unshaped_;
  std::set<std::string> names_ = {"input", "loss"};
  std::map<int, Fused> patterns_;
  // linear layers without a bias, by the ONNX value they produce: a
  // following Add of an initializer vector is their bias.
  std::map<std::string, v1::Layer*> biasless_;
  // Scores under attention's causal mask (Where or Add of a constant),
  // waiting for their softmax.
  std::map<std::string, View> causal_;
  // PyTorch's exact GELU, x·0.5·(1 + erf(x/√2)), exported as Div, Erf,
  // Add, Mul, Mul: each intermediate value, with the stage it reached and
  // the ONNX value x.
  struct GeluPart {
    int stage = 0;  // 1 x/√2, 2 erf, 3 1 + erf, 4 x·(1 + erf)
    std::string x;
  };
  std::map<std::string, GeluPart> gelu_;
};

}  // namespace slimtrain::planner::onnx_internal

#endif  // SLIMTRAIN_PLANNER_ONNX_IMPORTER_H_
