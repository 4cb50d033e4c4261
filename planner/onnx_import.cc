// See onnx_import.h. The walk over the graph, the layers, views and weights;
// what each op becomes is onnx_import_ops.cc.
#include "planner/onnx_import.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "onnx/checker.h"
#include "onnx/onnx_pb.h"
#include "planner/graph.h"
#include "planner/onnx_importer.h"

namespace slimtrain::planner {
namespace onnx_internal {

double FloatAttr(const onnx::NodeProto& n, const char* name, double fallback) {
  const onnx::AttributeProto* a = Attr(n, name);
  return a != nullptr ? a->f() : fallback;
}
std::vector<int64_t> IntsAttr(const onnx::NodeProto& n, const char* name) {
  const onnx::AttributeProto* a = Attr(n, name);
  return a != nullptr ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}
std::string StringAttr(const onnx::NodeProto& n, const char* name, const std::string& fallback) {
  const onnx::AttributeProto* a = Attr(n, name);
  return a != nullptr ? a->s() : fallback;
}

// '/', ':' and spaces as '.', anything else unprintable as '_'.
std::string Printable(const std::string& onnx_name) {
  std::string name;
  for (char c : onnx_name.substr(0, 200)) {
    const unsigned char u = static_cast<unsigned char>(c);
    name += c == '/' || c == ':' || c == ' ' ? '.' : u > 0x20 && u < 0x7f ? c : '_';
  }
  return name;
}

namespace {

int64_t OpsetOf(const onnx::ModelProto& model) {
  int64_t opset = 0;
  for (const auto& o : model.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  }
  return opset;
}

// An op type the importer maps in some use (an unknown one is listed as
// unsupported even behind another unsupported node).
bool KnownOp(const std::string& op) {
  static const std::set<std::string> kKnown = {
      "Add",        "AveragePool", "BatchNormalization", "Cast",     "Clip",       "Concat",      "Constant",
      "ConstantOfShape", "Conv",   "Div",               "Dropout",  "Elu",        "Equal",       "Erf",
      "Expand",     "Flatten",     "Gather",            "Gemm",     "GlobalAveragePool",        "Greater",
      "HardSigmoid", "HardSwish",  "Identity",          "LayerNormalization",       "LeakyRelu",   "Less",
      "LogSoftmax", "MatMul",      "MaxPool",           "Mul",      "Neg",        "Not",         "Pad",
      "Pow",
      "Range",      "ReduceMean",  "ReduceSum",         "Relu",     "Reshape",    "Resize",      "Shape",
      "Sigmoid",    "Slice",       "Softmax",           "Softplus", "Split",      "Sqrt",        "Squeeze",
      "Sub",        "Tanh",        "Transpose",         "Unsqueeze", "Where"};
  return kKnown.count(op) > 0;
}

// Dims of a value as the graph declares them; -1 for a symbolic dimension.
std::vector<int64_t> DimsOf(const onnx::ValueInfoProto& v) {
  std::vector<int64_t> d;
  if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return d;
  for (const auto& dim : v.type().tensor_type().shape().dim()) d.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
  return d;
}

}  // namespace

const ConstTensor* Importer::Folded(const std::string& name) {
  auto it = folded_.find(name);
  if (it != folded_.end()) return &it->second;
  const onnx::TensorProto* t = Constant(name);
  if (t == nullptr) return nullptr;
  int64_t count = 1;
  for (int64_t d : t->dims()) {
    if (d < 0 || __builtin_mul_overflow(count, d, &count)) return nullptr;
  }
  if (count > onnx_values::kMaxFoldedElements) return nullptr;
  absl::StatusOr<ConstTensor> c = onnx_values::FromProto(*t);
  if (!c.ok()) return nullptr;
  return &folded_.emplace(name, std::move(*c)).first->second;
}

bool Importer::Scalar(const std::string& name, double* value) {
  const ConstTensor* c = Folded(name);
  if (c == nullptr || c->size() != 1 || c->symbolic()) return false;
  *value = c->v[0];
  return true;
}

absl::StatusOr<View> Importer::ViewOf(const onnx::NodeProto& n, const std::string& name) const {
  auto it = views_.find(name);
  if (it == views_.end()) {
    return Error(absl::StrFormat("node '%s' (%s) reads '%s', which is neither the input nor a tensor made by a "
                                 "mapped node",
                                 n.name(), n.op_type(), name));
  }
  return it->second;
}

absl::StatusOr<View> Importer::Arrange(const onnx::NodeProto& n, const View& v, int trailing, bool batch_first,
                                       OnnxNodeReport& report) {
  absl::StatusOr<onnx_values::Arrangement> a = onnx_values::PlanArrange(v, trailing, batch_first);
  if (!a.ok()) {
    return Error(absl::StrFormat("node '%s' (%s): %s %s", n.name(), n.op_type(),
                                 onnx_values::SymDimsString(onnx_values::OnnxDims(v)), a.status().message()));
  }
  std::string layer = v.layer;
  if (!a->perm.empty()) {
    v1::Layer t;
    t.set_name(absl::StrCat(Printable(n.name()), ".arrange"));
    t.add_inputs(layer);
    for (int64_t p : a->perm) t.mutable_transpose()->add_perm(p);
    SLIM_ASSIGN_OR_RETURN(layer, AddNow(std::move(t), report));
  }
  if (a->merged_u != a->transposed_u) {
    v1::Layer r;
    r.set_name(absl::StrCat(Printable(n.name()), ".merge"));
    r.add_inputs(layer);
    for (int64_t d : a->merged_u) r.mutable_reshape()->add_dims(d);
    SLIM_ASSIGN_OR_RETURN(layer, AddNow(std::move(r), report));
  }
  return View{layer, a->merged_u, a->groups};
}

absl::StatusOr<std::string> Importer::Producer(const onnx::NodeProto& n, const std::string& name) {
  SLIM_ASSIGN_OR_RETURN(View v, ViewOf(n, name));
  if (onnx_values::IsPlain(v)) return v.layer;
  OnnxNodeReport* report = &out_.nodes.back();
  SLIM_ASSIGN_OR_RETURN(View plain, Arrange(n, v, static_cast<int>(v.groups.size()) - 1, true, *report));
  if (plain.groups.empty() || plain.groups[0] != std::vector<int>{0}) {
    return Error(absl::StrFormat("node '%s' (%s) needs '%s' %s with the batch alone on its first axis", n.name(),
                                 n.op_type(), name, onnx_values::SymDimsString(onnx_values::OnnxDims(v))));
  }
  views_[name] = plain;  // later readers reuse the layout
  return plain.layer;
}

std::string Importer::LayerName(const onnx::NodeProto& n) {
  // A layer with weights named "<module>.weight" (PyTorch's export keeps the
  // state_dict names) takes the module's name, so its parameters are named
  // as PyTorch's; else the node's name.
  std::string name = Printable(n.name());
  static const std::set<std::string> kWeighted = {"Conv", "Gemm", "MatMul", "BatchNormalization",
                                                  "LayerNormalization", "Gather"};
  if (kWeighted.count(n.op_type()) > 0 && n.input_size() >= 2) {
    std::string w = n.input(n.op_type() == "Gather" ? 0 : 1);  // W, scale, or the embedding's table
    if (auto p = pending_.find(w); p != pending_.end()) w = p->second.initializer;
    constexpr absl::string_view kSuffix = ".weight";
    if (Constant(w) != nullptr && w.size() > kSuffix.size() &&
        absl::string_view(w).substr(w.size() - kSuffix.size()) == kSuffix) {
      name = Printable(w.substr(0, w.size() - kSuffix.size()));
    }
  }
  while (!name.empty() && name[0] == '.') name.erase(0, 1);
  if (name.empty() || names_.count(name) > 0) {
    for (int i = 0;; ++i) {
      const std::string candidate = absl::StrCat(n.op_type(), "_", out_.spec.layers_size() + i);
      if (names_.count(candidate) == 0) {
        name = candidate;
        break;
      }
    }
  }
  names_.insert(name);
  return name;
}

v1::Layer* Importer::Add(const onnx::NodeProto& n, const std::vector<std::string>& inputs, OnnxNodeReport& report,
                         const std::string* out) {
  v1::Layer* layer = out_.spec.add_layers();
  layer->set_name(LayerName(n));
  for (const std::string& in : inputs) layer->add_inputs(in);
  report.layers.push_back(layer->name());
  unshaped_.push_back({layer, out != nullptr ? *out : n.output_size() > 0 ? n.output(0) : ""});
  return layer;
}

absl::Status Importer::Shape(v1::Layer* layer) {
  std::vector<Dims> in;
  for (const std::string& name : layer->inputs()) {
    auto it = dims_.find(name);
    if (it == dims_.end()) return Error(absl::StrFormat("layer '%s' reads '%s' of unknown shape", layer->name(), name));
    in.push_back(it->second);
  }
  absl::StatusOr<Dims> d = LayerOutputDims(*layer, in, /*num_classes=*/0);
  if (!d.ok()) return Error(std::string(d.status().message()));
  Shaped(layer, *d);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Importer::AddNow(v1::Layer layer, OnnxNodeReport& report) {
  std::string name = layer.name();
  while (!name.empty() && name[0] == '.') name.erase(0, 1);
  layer.set_name(name);
  while (names_.count(name) > 0) name = absl::StrCat(layer.name(), "_", out_.spec.layers_size());
  names_.insert(name);
  layer.set_name(name);
  v1::Layer* l = out_.spec.add_layers();
  *l = std::move(layer);
  report.layers.push_back(name);
  SLIM_RETURN_IF_ERROR(Shape(l));
  return name;
}

void Importer::Shaped(const v1::Layer* layer, const Dims& dims) {
  dims_[layer->name()] = dims;
  unshaped_.erase(std::remove_if(unshaped_.begin(), unshaped_.end(),
                                 [&](const auto& p) { return p.first == layer; }),
                  unshaped_.end());
}

void Importer::Pointwise(const onnx::NodeProto& n, const View& x, v1::Layer* layer) {
  // Same shape as x: known now, and the output is x's view over the layer.
  Shaped(layer, x.u);
  views_[n.output(0)] = View{layer->name(), x.u, x.groups};
}

namespace {

// u with its leading (all but the last `trailing`) axes merged into one.
Dims MergedRows(const Dims& u, int trailing) {
  const size_t lead = u.size() - static_cast<size_t>(trailing);
  if (lead <= 1) return u;
  Dims merged = {NumElements(Dims(u.begin(), u.begin() + lead))};
  merged.insert(merged.end(), u.begin() + lead, u.end());
  return merged;
}

}  // namespace

absl::StatusOr<std::string> Importer::MergeRows(const onnx::NodeProto& n, const View& rows, int trailing,
                                                OnnxNodeReport& report) {
  const Dims merged = MergedRows(rows.u, trailing);
  if (merged == rows.u) return rows.layer;
  v1::Layer r;
  r.set_name(absl::StrCat(Printable(n.name()), ".rows"));
  r.add_inputs(rows.layer);
  for (int64_t d : merged) r.mutable_reshape()->add_dims(d);
  return AddNow(std::move(r), report);
}

absl::Status Importer::FinishRows(const onnx::NodeProto& n, v1::Layer* layer, const View& rows, int trailing,
                                  const Dims& u, OnnxNodeReport& report) {
  const Dims merged = MergedRows(u, trailing);
  Shaped(layer, merged);
  std::string out = layer->name();
  if (merged != u) {
    v1::Layer r;
    r.set_name(absl::StrCat(Printable(n.name()), ".unrows"));
    r.add_inputs(out);
    for (int64_t d : u) r.mutable_reshape()->add_dims(d);
    SLIM_ASSIGN_OR_RETURN(out, AddNow(std::move(r), report));
  }
  views_[n.output(0)] = View{out, u, rows.groups};
  return absl::OkStatus();
}

absl::Status Importer::Weight(const std::string& param, const std::string& name, bool transpose,
                              const std::vector<int64_t>& shape) {
  const onnx::TensorProto* t = Constant(name);
  if (t == nullptr) return Error(absl::StrFormat("'%s' (for %s) is not an initializer", name, param));
  OnnxWeight w;
  w.name = param;
  w.source = name;
  w.shape.assign(t->dims().begin(), t->dims().end());
  if (!options_.weight_values) {
    // Names and shapes only.
  } else if (t->data_type() == onnx::TensorProto::FLOAT && !t->raw_data().empty()) {
    // The usual case, read straight into floats (a model's weights are most
    // of an import's memory).
    int64_t count = 1;
    for (int64_t d : w.shape) {
      if (d < 0 || __builtin_mul_overflow(count, d, &count)) count = -1;
      if (count < 0) break;
    }
    if (count < 0 || static_cast<uint64_t>(count) * sizeof(float) != t->raw_data().size()) {
      return Error(absl::StrFormat("initializer '%s' has %d bytes for shape [%s]", name, t->raw_data().size(),
                                   absl::StrJoin(w.shape, ", ")));
    }
    w.values.resize(count);
    std::memcpy(w.values.data(), t->raw_data().data(), t->raw_data().size());
  } else {
    SLIM_ASSIGN_OR_RETURN(ConstTensor v, onnx_values::FromProto(*t));
    w.values.assign(v.v.begin(), v.v.end());
  }
  if (transpose && w.shape.size() == 2) {
    // An (in, out) MatMul weight as the linear's (out, in).
    if (!w.values.empty()) {
      const std::vector<float> v = w.values;
      const int64_t rows = w.shape[0], cols = w.shape[1];
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) w.values[j * rows + i] = v[i * cols + j];
      }
    }
    std::swap(w.shape[0], w.shape[1]);
    w.transposed = true;
  } else if (!shape.empty() && shape != w.shape) {
    // A parameter slimtrain shapes otherwise (a position table (L, D) it
    // keeps as (1, L, D)): the region and exported weights keep the
    // initializer's shape (same elements, same order).
    v1::Shape& theirs = (*out_.spec.mutable_parameter_shapes())[param];
    theirs.clear_dims();
    for (int64_t d : w.shape) theirs.add_dims(d);
  }
  out_.weights.push_back(std::move(w));
  return absl::OkStatus();
}

absl::StatusOr<OnnxImport> Importer::Run() {
  const onnx::GraphProto& g = model_.graph();
  out_.opset = OpsetOf(model_);
  for (const auto& t : g.initializer()) {
    constants_[t.name()] = &t;
    ++out_.initializers;
    int64_t count = 1;
    for (int64_t d : t.dims()) {
      if (d < 0 || __builtin_mul_overflow(count, d, &count)) count = 0;  // the checker refuses such a tensor
    }
    if (__builtin_add_overflow(out_.initializer_elements, count, &out_.initializer_elements)) {
      out_.initializer_elements = INT64_MAX;
    }
  }
  // The input: the one graph input that is not an initializer.
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& v : g.input()) {
    if (constants_.count(v.name()) == 0) inputs.push_back(&v);
  }
  if (inputs.size() != 1 || g.output_size() != 1) {
    return Error(absl::StrFormat("the graph has %d inputs (besides initializers) and %d outputs; slimtrain imports "
                                 "models of one input and one output",
                                 inputs.size(), g.output_size()));
  }
  out_.input_name = inputs[0]->name();
  out_.output_name = g.output(0).name();
  const std::vector<int64_t> in_dims = DimsOf(*inputs[0]);
  if (in_dims.size() < 2 || in_dims.size() > 4 ||
      std::any_of(in_dims.begin() + 1, in_dims.end(), [](int64_t d) { return d <= 0; })) {
    return Error(absl::StrFormat("input '%s' has shape [%s]; slimtrain needs a batch axis first and 1 to 3 fixed "
                                 "axes after it",
                                 out_.input_name, absl::StrJoin(in_dims, ", ")));
  }
  v1::ModelSpec& spec = out_.spec;
  spec.set_name(!options_.name.empty() ? options_.name : !g.name().empty() ? Printable(g.name()) : "onnx_model");
  for (size_t i = 1; i < in_dims.size(); ++i) spec.mutable_input()->add_dims(in_dims[i]);
  const Dims input_u(in_dims.begin() + 1, in_dims.end());
  dims_["input"] = input_u;
  views_[out_.input_name] = onnx_values::Plain("input", input_u);
  patterns_ = FindPatterns(g);

  std::vector<std::string> unsupported;
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    out_.nodes.push_back({n.name(), n.op_type(), {}, ""});
    OnnxNodeReport& report = out_.nodes.back();
    unshaped_.clear();
    bool reads_failed = false;
    for (const std::string& in : n.input()) reads_failed |= failed_.count(in) > 0;
    bool mapped = false;
    if (!reads_failed) {
      SLIM_ASSIGN_OR_RETURN(mapped, Map(i, n, report));
    }
    if (mapped) {
      const auto made = unshaped_;  // Shape takes each off the list
      for (auto& [layer, value] : made) {
        SLIM_RETURN_IF_ERROR(Shape(layer));
        if (!value.empty() && views_.count(value) == 0) {
          views_[value] = onnx_values::Plain(layer->name(), dims_[layer->name()]);
        }
      }
    } else if (reads_failed && KnownOp(n.op_type())) {
      // Reported through the node it reads; its outputs fail likewise.
      report.note = "reads the output of an unsupported node";
      for (const std::string& o : n.output()) failed_.insert(o);
    } else {
      unsupported.push_back(absl::StrFormat("'%s' (%s, opset %d%s)", n.name().empty() ? "(unnamed)" : n.name(),
                                            n.op_type(), out_.opset,
                                            report.note.empty() ? "" : absl::StrCat(": ", report.note)));
      // Keep going, so every unsupported node is listed.
      for (const std::string& o : n.output()) failed_.insert(o);
    }
  }
  if (!unsupported.empty()) {
    return absl::UnimplementedError(absl::StrFormat(
        "%s: %d node(s) slimtrain cannot import: %s. Supported ops: %s", source_, unsupported.size(),
        absl::StrJoin(unsupported, ", "), absl::StrJoin(SupportedOps(), ", ")));
  }
  // The loss on the output.
  if (views_.count(out_.output_name) == 0 || views_[out_.output_name].layer == "input") {
    return Error(absl::StrFormat("output '%s' is not made by any mapped node", out_.output_name));
  }
  onnx::NodeProto loss_node;
  loss_node.set_name("loss");
  loss_node.set_op_type("(loss)");
  out_.nodes.push_back({"", "(loss)", {}, "the loss's input, batch first"});
  SLIM_ASSIGN_OR_RETURN(std::string logits, Producer(loss_node, out_.output_name));
  if (out_.nodes.back().layers.empty()) out_.nodes.pop_back();
  const Dims& out_dims = dims_[logits];
  v1::Layer* loss = spec.add_layers();
  loss->set_name("loss");
  loss->add_inputs(logits);
  if (options_.loss == "mse") {
    loss->mutable_mse_loss();
    spec.set_num_classes(1);
  } else if (options_.loss == "cross_entropy") {
    if (out_dims.empty() || out_dims.back() <= 0) {
      return Error(absl::StrFormat("output '%s' has shape (N,%s): no class axis for the cross-entropy loss",
                                   out_.output_name, absl::StrJoin(out_dims, ",")));
    }
    loss->mutable_softmax_cross_entropy();
    spec.set_num_classes(out_dims.back());
  } else {
    return absl::InvalidArgumentError(absl::StrCat("loss: '", options_.loss, "' is not cross_entropy or mse"));
  }
  // Parameters keep their initializers' names in exported weights.
  // (A shared initializer names its first parameter only.)
  std::set<std::string> exported;
  for (const OnnxWeight& w : out_.weights) exported.insert(w.name);
  for (OnnxWeight& w : out_.weights) {
    if (!w.source.empty() && w.source != w.name && exported.insert(Printable(w.source)).second) {
      (*spec.mutable_parameter_names())[w.name] = Printable(w.source);
      w.name = Printable(w.source);
    }
  }
  std::string source = source_;  // a path: any bytes; the description is UTF-8
  for (char& c : source) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  spec.set_description(absl::StrFormat("imported from %s (ONNX opset %d, %d nodes, %d initializers)", source,
                                       out_.opset, g.node_size(), out_.initializers));
  return std::move(out_);
}

}  // namespace onnx_internal

namespace {

constexpr int64_t kMinOpset = 11, kMaxOpset = 17;

// The opset of the default domain; checked before the checker runs, whose
// messages about an old opset's node specs say less.
absl::Status CheckOpset(const onnx::ModelProto& model, const std::string& source) {
  const int64_t opset = onnx_internal::OpsetOf(model);
  if (opset >= kMinOpset && opset <= kMaxOpset) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: opset %d of the default domain; slimtrain imports opsets %d to %d (export with "
                      "torch.onnx.export(..., opset_version=17))",
                      source, opset, kMinOpset, kMaxOpset));
}

}  // namespace

std::vector<std::string> SupportedOps() {
  return {"Add",
          "AveragePool",
          "BatchNormalization",
          "Cast (constants)",
          "Clip",
          "Concat",
          "Constant",
          "ConstantOfShape",
          "Conv",
          "Div",
          "Dropout",
          "Elu",
          "Equal (constants)",
          "Erf (in the GELU pattern)",
          "Expand (a parameter over the batch: class token)",
          "Flatten",
          "Gather (embedding, positions, constants, one index of an axis)",
          "Gemm",
          "GlobalAveragePool",
          "HardSigmoid",
          "HardSwish",
          "Identity",
          "LayerNormalization (and ReduceMean, Sub, Pow, Sqrt, Div, Mul, Add)",
          "LeakyRelu",
          "LogSoftmax",
          "MatMul",
          "MaxPool (ceil_mode too)",
          "Mul",
          "Pad (of zeros: the identity)",
          "Range (constants)",
          "ReduceMean",
          "ReduceSum",
          "Relu",
          "Reshape",
          "Resize (nearest, bilinear)",
          "Shape",
          "Sigmoid (and Mul: SiLU)",
          "Slice",
          "Softmax",
          "Softplus",
          "Split",
          "Squeeze",
          "Sub",
          "Tanh",
          "Transpose",
          "Unsqueeze",
          "Where (constants, the causal mask)"};
}

bool LooksLikeOnnx(absl::string_view bytes) {
  // A ModelProto starts with field 1 (ir_version, a varint): byte 0x08.
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != 0x08) return false;
  onnx::ModelProto m;
  return m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) && m.has_graph();
}

absl::StatusOr<OnnxImport> ImportOnnx(absl::string_view bytes, const std::string& source,
                                      const OnnxImportOptions& options) {
  onnx::ModelProto model;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || !model.has_graph()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not an ONNX model (no ModelProto with a graph)"));
  }
  SLIM_RETURN_IF_ERROR(CheckOpset(model, source));
  try {
    // Not libonnx's shape inference: the importer infers every shape itself
    // (the batch symbolic), and libonnx's divides by a Conv's zero stride
    // (SIGFPE; a fuzzer finding), which a server must never run.
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid ONNX model: ", e.what()));
  }
  onnx_internal::Importer importer(model, source, options);
  return importer.Run();
}

std::string OnnxReportText(const OnnxImport& im) {
  std::string s = absl::StrFormat("ONNX opset %d, input '%s', output '%s', %d initializers (%d values)\n\n",
                                  im.opset, im.input_name, im.output_name, im.initializers,
                                  im.initializer_elements);
  absl::StrAppendFormat(&s, "%-32s %-20s %s\n", "ONNX node", "op", "slimtrain");
  for (const OnnxNodeReport& r : im.nodes) {
    std::string became = absl::StrJoin(r.layers, ", ");
    if (!r.note.empty()) became = became.empty() ? r.note : absl::StrCat(became, " (", r.note, ")");
    absl::StrAppendFormat(&s, "%-32s %-20s %s\n", r.name.empty() ? "(unnamed)" : r.name, r.op_type,
                          became.empty() ? "-" : became);
  }
  return s;
}

}  // namespace slimtrain::planner
