// See onnx_import.h.
#include "planner/onnx_import.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <exception>
#include <map>
#include <set>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "onnx/checker.h"
#include "onnx/onnx_pb.h"
#include "onnx/shape_inference/implementation.h"
#include "planner/status_macros.h"

namespace slimtrain::planner {
namespace {

constexpr int64_t kMinOpset = 11, kMaxOpset = 17;

const char* const kSupported[] = {
    "Add",         "AveragePool",   "BatchNormalization", "Clip",        "Concat",    "Constant",  "Conv",
    "Div",         "Dropout",       "Elu",                "Erf (in the GELU pattern)", "Flatten",   "Gather (embedding)",
    "Gemm",        "GlobalAveragePool",
    "HardSigmoid", "HardSwish",     "Identity",           "LayerNormalization",      "LeakyRelu", "LogSoftmax",
    "MatMul",      "MaxPool",       "Mul",                "ReduceMean",  "Relu",      "Reshape",   "Sigmoid",
    "Softmax",     "Softplus",      "Squeeze",            "Sub",         "Tanh",      "Transpose", "Unsqueeze"};

// A tensor's values as doubles (FLOAT, DOUBLE, INT32, INT64; raw or typed).
absl::StatusOr<std::vector<double>> Values(const onnx::TensorProto& t) {
  std::vector<double> v;
  const std::string& raw = t.raw_data();
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      if (!raw.empty()) {
        for (size_t i = 0; i + 4 <= raw.size(); i += 4) {
          float f;
          std::memcpy(&f, raw.data() + i, 4);
          v.push_back(f);
        }
      } else {
        v.assign(t.float_data().begin(), t.float_data().end());
      }
      break;
    case onnx::TensorProto::DOUBLE:
      if (!raw.empty()) {
        for (size_t i = 0; i + 8 <= raw.size(); i += 8) {
          double d;
          std::memcpy(&d, raw.data() + i, 8);
          v.push_back(d);
        }
      } else {
        v.assign(t.double_data().begin(), t.double_data().end());
      }
      break;
    case onnx::TensorProto::INT64:
      if (!raw.empty()) {
        for (size_t i = 0; i + 8 <= raw.size(); i += 8) {
          int64_t x;
          std::memcpy(&x, raw.data() + i, 8);
          v.push_back(static_cast<double>(x));
        }
      } else {
        for (int64_t x : t.int64_data()) v.push_back(static_cast<double>(x));
      }
      break;
    case onnx::TensorProto::BOOL:
      if (!raw.empty()) {
        for (char c : raw) v.push_back(c != 0 ? 1.0 : 0.0);
      } else {
        for (int32_t x : t.int32_data()) v.push_back(x != 0 ? 1.0 : 0.0);
      }
      break;
    case onnx::TensorProto::INT32:
      if (!raw.empty()) {
        for (size_t i = 0; i + 4 <= raw.size(); i += 4) {
          int32_t x;
          std::memcpy(&x, raw.data() + i, 4);
          v.push_back(x);
        }
      } else {
        for (int32_t x : t.int32_data()) v.push_back(x);
      }
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrFormat("tensor '%s' has data type %d; constants must be float, double, int32, int64 or bool", t.name(),
                          t.data_type()));
  }
  return v;
}

int64_t OpsetOf(const onnx::ModelProto& model) {
  int64_t opset = 0;
  for (const auto& o : model.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  }
  return opset;
}

// Dims of a value from shape inference; -1 for a symbolic dimension.
std::vector<int64_t> DimsOf(const onnx::ValueInfoProto& v) {
  std::vector<int64_t> d;
  if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return d;
  for (const auto& dim : v.type().tensor_type().shape().dim()) d.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
  return d;
}

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string source, OnnxImportOptions options)
      : model_(model), source_(std::move(source)), options_(std::move(options)) {}

  absl::StatusOr<OnnxImport> Run();

 private:
  absl::Status Error(const std::string& message) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", message));
  }
  // The constant (initializer or folded Constant) named `name`, or null.
  const onnx::TensorProto* Constant(const std::string& name) const {
    auto it = constants_.find(name);
    return it == constants_.end() ? nullptr : it->second;
  }
  // The layer producing ONNX value `name` ("input" for the graph input).
  absl::StatusOr<std::string> Producer(const onnx::NodeProto& n, const std::string& name) const {
    auto it = producer_.find(name);
    if (it == producer_.end()) {
      return Error(absl::StrFormat("node '%s' (%s) reads '%s', which is neither the input nor a tensor made by a "
                                   "mapped node",
                                   n.name(), n.op_type(), name));
    }
    return it->second;
  }
  std::string LayerName(const onnx::NodeProto& n);
  v1::Layer* Add(const onnx::NodeProto& n, const std::vector<std::string>& inputs, OnnxNodeReport& report);
  // Maps node `n`; false when its op (or this use of it) is unsupported.
  absl::StatusOr<bool> Map(const onnx::NodeProto& n, OnnxNodeReport& report);

  const onnx::ModelProto& model_;
  std::string source_;
  OnnxImportOptions options_;
  OnnxImport out_;
  std::map<std::string, const onnx::TensorProto*> constants_;
  std::vector<std::unique_ptr<onnx::TensorProto>> folded_;
  std::map<std::string, std::vector<int64_t>> shapes_;
  std::map<std::string, std::string> producer_;
  std::set<std::string> names_ = {"input", "loss"};
  // Initializer `name` as parameter `param` of the model (transposed from
  // (in, out) when `transpose`).
  absl::Status Weight(const std::string& param, const std::string& name, bool transpose = false);
  // linear layers without a bias, by the ONNX value they produce (MatMul by
  // an initializer): a following Add of an initializer vector is their bias.
  std::map<std::string, v1::Layer*> biasless_;
  // PyTorch's exact GELU, x·0.5·(1 + erf(x/√2)), exported as Div, Erf,
  // Add, Mul, Mul: each intermediate value, with the stage it reached and
  // the ONNX value x.
  struct GeluPart {
    int stage = 0;  // 1 x/√2, 2 erf, 3 1 + erf, 4 x·(1 + erf)
    std::string x;
  };
  std::map<std::string, GeluPart> gelu_;
  // A scalar constant's value, if `name` is one.
  bool Scalar(const std::string& name, double* value) const {
    const onnx::TensorProto* c = Constant(name);
    if (c == nullptr) return false;
    absl::StatusOr<std::vector<double>> v = Values(*c);
    if (!v.ok() || v->size() != 1) return false;
    *value = (*v)[0];
    return true;
  }
};

// A layer name from an ONNX name (any bytes, any length): printable ASCII,
// '/', ':' and spaces as '.', anything else as '_', at most 200 bytes.
std::string Printable(const std::string& onnx_name) {
  std::string name;
  for (char c : onnx_name.substr(0, 200)) {
    const unsigned char u = static_cast<unsigned char>(c);
    name += c == '/' || c == ':' || c == ' ' ? '.' : u > 0x20 && u < 0x7f ? c : '_';
  }
  return name;
}

absl::Status Importer::Weight(const std::string& param, const std::string& name, bool transpose) {
  const onnx::TensorProto* t = Constant(name);
  if (t == nullptr) return Error(absl::StrFormat("'%s' (for %s) is not an initializer", name, param));
  SLIM_ASSIGN_OR_RETURN(std::vector<double> v, Values(*t));
  OnnxWeight w;
  w.name = param;
  w.shape.assign(t->dims().begin(), t->dims().end());
  int64_t count = 1;
  for (int64_t d : w.shape) count *= d;
  if (static_cast<int64_t>(v.size()) != count) {
    return Error(absl::StrFormat("initializer '%s' has %d values for shape [%s]", name, v.size(),
                                 absl::StrJoin(w.shape, ", ")));
  }
  w.values.assign(v.begin(), v.end());
  if (transpose && w.shape.size() == 2) {
    const int64_t rows = w.shape[0], cols = w.shape[1];
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) w.values[j * rows + i] = static_cast<float>(v[i * cols + j]);
    }
    w.shape = {cols, rows};
  }
  out_.weights.push_back(std::move(w));
  return absl::OkStatus();
}

std::string Importer::LayerName(const onnx::NodeProto& n) {
  // A layer with weights named "<module>.weight" (PyTorch's export keeps the
  // state_dict names) takes the module's name, so its parameters are named
  // as PyTorch's; else the node's name.
  std::string name = Printable(n.name());
  static const std::set<std::string> kWeighted = {"Conv", "Gemm", "MatMul", "BatchNormalization",
                                                  "LayerNormalization", "Gather"};
  if (kWeighted.count(n.op_type()) > 0 && n.input_size() >= 2) {
    const std::string& w = n.input(n.op_type() == "Gather" ? 0 : 1);  // W, scale, or the embedding's table
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

v1::Layer* Importer::Add(const onnx::NodeProto& n, const std::vector<std::string>& inputs, OnnxNodeReport& report) {
  v1::Layer* layer = out_.spec.add_layers();
  layer->set_name(LayerName(n));
  for (const std::string& in : inputs) layer->add_inputs(in);
  report.layers.push_back(layer->name());
  if (n.output_size() > 0) producer_[n.output(0)] = layer->name();
  return layer;
}

// Attributes by name.
const onnx::AttributeProto* Attr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}
int64_t IntAttr(const onnx::NodeProto& n, const char* name, int64_t fallback) {
  const onnx::AttributeProto* a = Attr(n, name);
  return a != nullptr ? a->i() : fallback;
}
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

absl::StatusOr<bool> Importer::Map(const onnx::NodeProto& n, OnnxNodeReport& report) {
  const std::string& op = n.op_type();
  if (!n.domain().empty() && n.domain() != "ai.onnx") return false;
  auto input = [&](int i) { return Producer(n, n.input(i)); };
  // Pass-throughs.
  if (op == "Identity" || (op == "Dropout" && n.output_size() >= 1)) {
    // An initializer passed through (PyTorch's export of shared weights):
    // the same constant under the new name.
    if (const onnx::TensorProto* c = Constant(n.input(0)); c != nullptr) {
      constants_[n.output(0)] = c;
      report.note = "constant";
      return true;
    }
    auto it = producer_.find(n.input(0));
    if (it == producer_.end()) return false;
    // A training export's Dropout (training_mode true) is a dropout layer
    // with its ratio; an inference export's is the identity.
    if (op == "Dropout" && n.input_size() >= 3 && Constant(n.input(2)) != nullptr) {
      SLIM_ASSIGN_OR_RETURN(std::vector<double> mode, Values(*Constant(n.input(2))));
      double ratio = 0.5;
      if (n.input_size() >= 2 && !n.input(1).empty()) {
        const onnx::TensorProto* r = Constant(n.input(1));
        if (r == nullptr) return false;
        SLIM_ASSIGN_OR_RETURN(std::vector<double> rv, Values(*r));
        if (rv.size() != 1) return false;
        ratio = rv[0];
      }
      if (mode.size() == 1 && mode[0] != 0) {
        Add(n, {it->second}, report)->mutable_dropout()->set_p(ratio);
        return true;
      }
    }
    producer_[n.output(0)] = it->second;
    report.note = op == "Identity" ? "identity" : "dropout of an inference export: identity";
    return true;
  }
  if (op == "Constant") {
    const onnx::AttributeProto* value = Attr(n, "value");
    if (value == nullptr || !value->has_t()) return false;
    auto t = std::make_unique<onnx::TensorProto>(value->t());
    constants_[n.output(0)] = t.get();
    folded_.push_back(std::move(t));
    report.note = "folded";
    return true;
  }
  const std::vector<int64_t>& in_shape = shapes_[n.input(0)];
  // The exact GELU's five nodes, one stage at a time.
  double c = 0;
  if (op == "Div" && n.input_size() == 2 && Scalar(n.input(1), &c) && std::fabs(c - std::sqrt(2.0)) < 1e-5 &&
      producer_.count(n.input(0)) > 0) {
    gelu_[n.output(0)] = {1, n.input(0)};
    report.note = "part of a GELU";
    return true;
  }
  if (op == "Erf" && gelu_.count(n.input(0)) > 0 && gelu_[n.input(0)].stage == 1) {
    gelu_[n.output(0)] = {2, gelu_[n.input(0)].x};
    report.note = "part of a GELU";
    return true;
  }
  if (op == "Add" && n.input_size() == 2) {
    for (int i = 0; i < 2; ++i) {
      if (gelu_.count(n.input(i)) > 0 && gelu_[n.input(i)].stage == 2 && Scalar(n.input(1 - i), &c) && c == 1.0) {
        gelu_[n.output(0)] = {3, gelu_[n.input(i)].x};
        report.note = "part of a GELU";
        return true;
      }
    }
  }
  if (op == "Mul" && n.input_size() == 2) {
    for (int i = 0; i < 2; ++i) {
      auto part = gelu_.find(n.input(i));
      if (part == gelu_.end()) continue;
      if (part->second.stage == 3 && n.input(1 - i) == part->second.x) {
        gelu_[n.output(0)] = {4, part->second.x};
        report.note = "part of a GELU";
        return true;
      }
      if (part->second.stage == 4 && Scalar(n.input(1 - i), &c) && c == 0.5) {
        SLIM_ASSIGN_OR_RETURN(std::string x, Producer(n, part->second.x));
        Add(n, {x}, report)->mutable_gelu();
        report.note = "GELU (erf): Div, Erf, Add, Mul, Mul";
        return true;
      }
    }
  }
  if (op == "Gather") {
    // nn.Embedding: a table initializer gathered by the model input's ids.
    const onnx::TensorProto* table = Constant(n.input(0));
    if (table == nullptr || table->dims_size() != 2 || IntAttr(n, "axis", 0) != 0 || n.input(1) != out_.input_name) {
      report.note = "only an embedding: an initializer table gathered by the model input";
      return false;
    }
    v1::Layer* l = Add(n, {"input"}, report);
    l->mutable_embedding()->set_num_embeddings(table->dims(0));
    l->mutable_embedding()->set_embedding_dim(table->dims(1));
    SLIM_RETURN_IF_ERROR(Weight(l->name() + ".weight", n.input(0)));
    return true;
  }
  if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "HardSwish") {
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Layer* l = Add(n, {x}, report);
    if (op == "Relu") l->mutable_relu();
    if (op == "Sigmoid") l->mutable_sigmoid();
    if (op == "Tanh") l->mutable_tanh();
    if (op == "HardSwish") l->mutable_hardswish();
    return true;
  }
  if (op == "LeakyRelu" || op == "Elu" || op == "Softplus" || op == "HardSigmoid") {
    if (op == "HardSigmoid" && (std::fabs(FloatAttr(n, "alpha", 0.2) - 1.0 / 6) > 1e-6 ||
                                std::fabs(FloatAttr(n, "beta", 0.5) - 0.5) > 1e-6)) {
      report.note = "only PyTorch's hardsigmoid (alpha 1/6, beta 1/2)";
      return false;
    }
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Layer* l = Add(n, {x}, report);
    if (op == "LeakyRelu") l->mutable_leaky_relu()->set_negative_slope(FloatAttr(n, "alpha", 0.01));
    if (op == "Elu") l->mutable_elu()->set_alpha(FloatAttr(n, "alpha", 1.0));
    if (op == "Softplus") l->mutable_softplus();
    if (op == "HardSigmoid") l->mutable_hardsigmoid();
    return true;
  }
  if (op == "Clip") {
    double lo = -INFINITY, hi = INFINITY;
    for (int i = 1; i < std::min(n.input_size(), 3); ++i) {
      if (n.input(i).empty()) continue;
      const onnx::TensorProto* c = Constant(n.input(i));
      if (c == nullptr) {
        report.note = "bounds must be constants";
        return false;
      }
      SLIM_ASSIGN_OR_RETURN(std::vector<double> v, Values(*c));
      if (v.size() != 1) return false;
      (i == 1 ? lo : hi) = v[0];
    }
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Layer* l = Add(n, {x}, report);
    if (lo == 0 && hi == 6) {
      l->mutable_relu6();
    } else {
      v1::Clip* c = l->mutable_clip();
      if (std::isfinite(lo)) c->set_min(lo);
      if (std::isfinite(hi)) c->set_max(hi);
    }
    return true;
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    const onnx::TensorProto* ca = Constant(n.input(0));
    const onnx::TensorProto* cb = Constant(n.input(1));
    if (ca == nullptr && cb == nullptr) {
      SLIM_ASSIGN_OR_RETURN(std::string a, input(0));
      SLIM_ASSIGN_OR_RETURN(std::string b, input(1));
      v1::Layer* l = Add(n, {a, b}, report);
      if (op == "Add") l->mutable_add();
      if (op == "Sub") l->mutable_sub();
      if (op == "Mul") l->mutable_mul();
      if (op == "Div") l->mutable_div();
      return true;
    }
    // One constant operand.
    const onnx::TensorProto* c = cb != nullptr ? cb : ca;
    const std::string& other = cb != nullptr ? n.input(0) : n.input(1);
    SLIM_ASSIGN_OR_RETURN(std::vector<double> v, Values(*c));
    if (op == "Add" && cb != nullptr && biasless_.count(other) > 0) {
      // MatMul + Add: the linear layer's bias (recorded for the weights).
      v1::Layer* linear = biasless_[other];
      linear->mutable_linear()->set_bias(true);
      SLIM_RETURN_IF_ERROR(Weight(linear->name() + ".bias", n.input(1)));
      biasless_.erase(other);
      producer_[n.output(0)] = linear->name();
      report.note = absl::StrCat("bias of '", linear->name(), "'");
      return true;
    }
    if ((op == "Mul" || (op == "Div" && cb != nullptr)) && v.size() == 1) {
      SLIM_ASSIGN_OR_RETURN(std::string x, Producer(n, other));
      v1::Layer* l = Add(n, {x}, report);
      l->mutable_scale()->set_value(op == "Mul" ? v[0] : 1.0 / v[0]);
      return true;
    }
    report.note = "a constant operand (other than a scalar factor or a matmul's bias)";
    return false;
  }
  if (op == "Conv") {
    const onnx::TensorProto* w = Constant(n.input(1));
    if (w == nullptr || w->dims_size() != 4 || in_shape.size() != 4) {
      report.note = w == nullptr ? "weights must be an initializer" : "2-D convolutions only";
      return false;
    }
    const int64_t group = IntAttr(n, "group", 1);
    std::vector<int64_t> kernel = IntsAttr(n, "kernel_shape");
    if (kernel.empty()) kernel = {w->dims(2), w->dims(3)};
    std::vector<int64_t> strides = IntsAttr(n, "strides"), dil = IntsAttr(n, "dilations"), pads = IntsAttr(n, "pads");
    if (strides.empty()) strides = {1, 1};
    if (dil.empty()) dil = {1, 1};
    const std::string auto_pad = StringAttr(n, "auto_pad", "NOTSET");
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      pads.assign(4, 0);
      for (int a = 0; a < 2; ++a) {
        const int64_t in = in_shape[2 + a], out = (in + strides[a] - 1) / strides[a];
        const int64_t total = std::max<int64_t>((out - 1) * strides[a] + (kernel[a] - 1) * dil[a] + 1 - in, 0);
        const int64_t small = total / 2, large = total - small;
        pads[a] = auto_pad == "SAME_UPPER" ? small : large;
        pads[a + 2] = auto_pad == "SAME_UPPER" ? large : small;
      }
    } else if (auto_pad != "NOTSET" && auto_pad != "VALID") {
      return false;
    }
    if (pads.empty()) pads.assign(4, 0);
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Layer* l = Add(n, {x}, report);
    v1::Conv2d* c = l->mutable_conv2d();
    c->set_out_channels(w->dims(0));
    for (int64_t k : kernel) c->add_kernel_hw(k);
    for (int64_t s : strides) c->add_stride_hw(s);
    for (int64_t d : dil) c->add_dilation_hw(d);
    for (int64_t p : pads) c->add_pads(p);
    if (group != 1) c->set_groups(group);
    c->set_bias(n.input_size() >= 3 && !n.input(2).empty());
    SLIM_RETURN_IF_ERROR(Weight(l->name() + ".weight", n.input(1)));
    if (c->bias()) SLIM_RETURN_IF_ERROR(Weight(l->name() + ".bias", n.input(2)));
    return true;
  }
  if (op == "BatchNormalization") {
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Layer* l = Add(n, {x}, report);
    l->mutable_batch_norm()->set_eps(FloatAttr(n, "epsilon", 1e-5));
    l->mutable_batch_norm()->set_momentum(1.0 - FloatAttr(n, "momentum", 0.9));
    const char* const kParts[] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; ++i) {
      if (n.input_size() <= i + 1 || Constant(n.input(i + 1)) == nullptr) {
        report.note = "scale, bias, mean and variance must be initializers";
        return false;
      }
      SLIM_RETURN_IF_ERROR(Weight(absl::StrCat(l->name(), ".", kParts[i]), n.input(i + 1)));
    }
    return true;
  }
  if (op == "MaxPool" || op == "AveragePool") {
    if (IntAttr(n, "ceil_mode", 0) != 0 || IntAttr(n, "storage_order", 0) != 0 ||
        StringAttr(n, "auto_pad", "NOTSET") != "NOTSET") {
      report.note = "ceil_mode, storage_order and auto_pad are not supported";
      return false;
    }
    for (int64_t d : IntsAttr(n, "dilations")) {
      if (d != 1) return false;
    }
    std::vector<int64_t> kernel = IntsAttr(n, "kernel_shape"), strides = IntsAttr(n, "strides"),
                         pads = IntsAttr(n, "pads");
    if (kernel.size() != 2) return false;
    if (strides.empty()) strides = {1, 1};  // ONNX's default is 1, not the kernel
    if (pads.empty()) pads.assign(4, 0);
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Layer* l = Add(n, {x}, report);
    auto fill = [&](auto* p) {
      for (int64_t k : kernel) p->add_kernel_hw(k);
      for (int64_t s : strides) p->add_stride_hw(s);
      for (int64_t q : pads) p->add_pads(q);
    };
    if (op == "MaxPool") {
      fill(l->mutable_max_pool());
    } else {
      fill(l->mutable_avg_pool());
      l->mutable_avg_pool()->set_count_include_pad(IntAttr(n, "count_include_pad", 0) != 0);
    }
    return true;
  }
  if (op == "GlobalAveragePool") {
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Layer* l = Add(n, {x}, report);
    l->mutable_adaptive_avg_pool()->set_out_h(1);
    l->mutable_adaptive_avg_pool()->set_out_w(1);
    report.note = "adaptive_avg_pool to 1x1 (keeps ONNX's (C,1,1))";
    return true;
  }
  if (op == "Flatten") {
    if (IntAttr(n, "axis", 1) != 1) return false;
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    Add(n, {x}, report)->mutable_flatten();
    return true;
  }
  if (op == "Gemm" || op == "MatMul") {
    const onnx::TensorProto* b = Constant(n.input(1));
    if (op == "MatMul" && b == nullptr) {
      SLIM_ASSIGN_OR_RETURN(std::string a, input(0));
      SLIM_ASSIGN_OR_RETURN(std::string bb, input(1));
      Add(n, {a, bb}, report)->mutable_matmul();
      return true;
    }
    if (b == nullptr || b->dims_size() != 2 || Constant(n.input(0)) != nullptr) {
      report.note = "B must be a 2-D initializer";
      return false;
    }
    if (op == "Gemm" && (IntAttr(n, "transA", 0) != 0 || FloatAttr(n, "alpha", 1) != 1 || FloatAttr(n, "beta", 1) != 1)) {
      report.note = "transA, alpha and beta must be the defaults";
      return false;
    }
    const bool trans_b = op == "Gemm" && IntAttr(n, "transB", 0) != 0;
    const int64_t out = trans_b ? b->dims(0) : b->dims(1);
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Layer* l = Add(n, {x}, report);
    l->mutable_linear()->set_out_features(out);
    const bool bias = op == "Gemm" && n.input_size() >= 3 && !n.input(2).empty();
    l->mutable_linear()->set_bias(bias);
    if (op == "MatMul") biasless_[n.output(0)] = l;
    SLIM_RETURN_IF_ERROR(Weight(l->name() + ".weight", n.input(1), /*transpose=*/!trans_b));
    if (bias) SLIM_RETURN_IF_ERROR(Weight(l->name() + ".bias", n.input(2)));
    if (!trans_b) report.note = "weight transposed from (in, out)";
    return true;
  }
  if (op == "Softmax" || op == "LogSoftmax") {
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Layer* l = Add(n, {x}, report);
    const int64_t axis = IntAttr(n, "axis", -1);
    if (op == "Softmax") l->mutable_softmax()->set_axis(axis);
    if (op == "LogSoftmax") l->mutable_log_softmax()->set_axis(axis);
    return true;
  }
  if (op == "Concat") {
    std::vector<std::string> ins;
    for (const std::string& name : n.input()) {
      SLIM_ASSIGN_OR_RETURN(std::string x, Producer(n, name));
      ins.push_back(x);
    }
    Add(n, ins, report)->mutable_concat()->set_axis(IntAttr(n, "axis", 1));
    return true;
  }
  if (op == "Reshape") {
    const onnx::TensorProto* s = n.input_size() >= 2 ? Constant(n.input(1)) : nullptr;
    const std::vector<int64_t>& out_shape = shapes_[n.output(0)];
    if (s == nullptr && out_shape.size() < 2) {
      report.note = "the shape must be a constant";
      return false;
    }
    std::vector<int64_t> dims;
    if (out_shape.size() >= 2 && std::all_of(out_shape.begin() + 1, out_shape.end(), [](int64_t d) { return d > 0; })) {
      dims.assign(out_shape.begin() + 1, out_shape.end());  // inferred, batch dropped
    } else {
      SLIM_ASSIGN_OR_RETURN(std::vector<double> v, Values(*s));
      for (size_t i = 1; i < v.size(); ++i) dims.push_back(static_cast<int64_t>(v[i]));
    }
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Reshape* r = Add(n, {x}, report)->mutable_reshape();
    for (int64_t d : dims) r->add_dims(d);
    return true;
  }
  if (op == "Transpose") {
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Transpose* t = Add(n, {x}, report)->mutable_transpose();
    for (int64_t p : IntsAttr(n, "perm")) t->add_perm(p);
    return true;
  }
  if (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceMean") {
    std::vector<int64_t> axes = IntsAttr(n, "axes");
    if (axes.empty() && n.input_size() >= 2 && Constant(n.input(1)) != nullptr) {
      SLIM_ASSIGN_OR_RETURN(std::vector<double> v, Values(*Constant(n.input(1))));
      for (double a : v) axes.push_back(static_cast<int64_t>(a));
    }
    if (axes.empty()) {
      report.note = "axes must be given";
      return false;
    }
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Layer* l = Add(n, {x}, report);
    if (op == "Squeeze") {
      for (int64_t a : axes) l->mutable_squeeze()->add_axes(a);
    } else if (op == "Unsqueeze") {
      for (int64_t a : axes) l->mutable_unsqueeze()->add_axes(a);
    } else {
      for (int64_t a : axes) l->mutable_reduce_mean()->add_axes(a);
      l->mutable_reduce_mean()->set_keepdim(IntAttr(n, "keepdims", 1) != 0);
    }
    return true;
  }
  if (op == "LayerNormalization") {
    const int64_t rank = static_cast<int64_t>(in_shape.size());
    int64_t axis = IntAttr(n, "axis", -1);
    if (axis < 0) axis += rank;
    if (rank == 0 || axis <= 0 || axis >= rank) return false;
    SLIM_ASSIGN_OR_RETURN(std::string x, input(0));
    v1::Layer* layer = Add(n, {x}, report);
    v1::LayerNorm* l = layer->mutable_layer_norm();
    l->set_axes(rank - axis);
    l->set_eps(FloatAttr(n, "epsilon", 1e-5));
    l->set_bias(n.input_size() >= 3 && !n.input(2).empty());
    SLIM_RETURN_IF_ERROR(Weight(layer->name() + ".weight", n.input(1)));
    if (l->bias()) SLIM_RETURN_IF_ERROR(Weight(layer->name() + ".bias", n.input(2)));
    return true;
  }
  return false;
}

absl::StatusOr<OnnxImport> Importer::Run() {
  const onnx::GraphProto& g = model_.graph();
  out_.opset = OpsetOf(model_);
  for (const auto& t : g.initializer()) {
    constants_[t.name()] = &t;
    ++out_.initializers;
    int64_t count = 1;
    for (int64_t d : t.dims()) count *= d;
    out_.initializer_elements += count;
  }
  for (const auto& v : g.input()) shapes_[v.name()] = DimsOf(v);
  for (const auto& v : g.value_info()) shapes_[v.name()] = DimsOf(v);
  for (const auto& v : g.output()) shapes_[v.name()] = DimsOf(v);
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
  producer_[out_.input_name] = "input";

  std::vector<std::string> unsupported;
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    OnnxNodeReport report;
    report.name = n.name();
    report.op_type = n.op_type();
    SLIM_ASSIGN_OR_RETURN(bool mapped, Map(n, report));
    if (!mapped) {
      unsupported.push_back(absl::StrFormat("'%s' (%s, opset %d%s)", n.name().empty() ? "(unnamed)" : n.name(),
                                            n.op_type(), out_.opset,
                                            report.note.empty() ? "" : absl::StrCat(": ", report.note)));
      // Keep going, so every unsupported node is listed; later nodes that
      // read its output are reported for that reason only through it.
      for (const std::string& o : n.output()) producer_[o] = "?";
    }
    out_.nodes.push_back(report);
  }
  if (!unsupported.empty()) {
    return absl::UnimplementedError(absl::StrFormat(
        "%s: %d node(s) slimtrain cannot import: %s. Supported ops: %s", source_, unsupported.size(),
        absl::StrJoin(unsupported, ", "), absl::StrJoin(std::begin(kSupported), std::end(kSupported), ", ")));
  }
  // The loss on the output.
  auto it = producer_.find(out_.output_name);
  if (it == producer_.end() || it->second == "input") {
    return Error(absl::StrFormat("output '%s' is not made by any mapped node", out_.output_name));
  }
  const std::vector<int64_t>& out_dims = shapes_[out_.output_name];
  v1::Layer* loss = spec.add_layers();
  loss->set_name("loss");
  loss->add_inputs(it->second);
  if (options_.loss == "mse") {
    loss->mutable_mse_loss();
    spec.set_num_classes(1);
  } else if (options_.loss == "cross_entropy") {
    if (out_dims.size() < 2 || out_dims.back() <= 0) {
      return Error(absl::StrFormat("output '%s' has shape [%s]: no class axis for the cross-entropy loss",
                                   out_.output_name, absl::StrJoin(out_dims, ", ")));
    }
    loss->mutable_softmax_cross_entropy();
    spec.set_num_classes(out_dims.back());
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("loss: '", options_.loss, "' is not cross_entropy or mse"));
  }
  std::string source = source_;  // a path: any bytes; the description is UTF-8
  for (char& c : source) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  spec.set_description(absl::StrFormat("imported from %s (ONNX opset %d, %d nodes, %d initializers)", source,
                                       out_.opset, g.node_size(), out_.initializers));
  return std::move(out_);
}

}  // namespace

namespace {

// The opset of the default domain; checked before the checker runs, whose
// messages about an old opset's node specs say less.
absl::Status CheckOpset(const onnx::ModelProto& model, const std::string& source) {
  const int64_t opset = OpsetOf(model);
  if (opset >= kMinOpset && opset <= kMaxOpset) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: opset %d of the default domain; slimtrain imports opsets %d to %d (export with "
                      "torch.onnx.export(..., opset_version=17))",
                      source, opset, kMinOpset, kMaxOpset));
}

}  // namespace

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
    onnx::checker::check_model(model);
    onnx::shape_inference::InferShapes(model);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid ONNX model: ", e.what()));
  }
  Importer importer(model, source, options);
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
