// What each ONNX op becomes (see onnx_import.h for the list), and the
// multi-node patterns found before the walk.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "planner/onnx_importer.h"

namespace slimtrain::planner::onnx_internal {
namespace {

using onnx_values::OnnxDims;
using onnx_values::SymDimsString;

// Where each value is made and read.
struct Uses {
  std::map<std::string, int> producer;
  std::map<std::string, std::vector<int>> consumers;
};

Uses UsesOf(const onnx::GraphProto& g) {
  Uses u;
  for (int i = 0; i < g.node_size(); ++i) {
    for (const std::string& o : g.node(i).output()) u.producer[o] = i;
    for (const std::string& in : g.node(i).input()) u.consumers[in].push_back(i);
  }
  for (const auto& o : g.output()) u.consumers[o.name()].push_back(-1);  // the graph reads it
  return u;
}

// A scalar from a Constant node or an initializer, by value name.
bool ConstScalar(const onnx::GraphProto& g, const Uses& u, const std::string& name, double* value) {
  const onnx::TensorProto* t = nullptr;
  for (const auto& init : g.initializer()) {
    if (init.name() == name) t = &init;
  }
  auto p = u.producer.find(name);
  if (t == nullptr && p != u.producer.end() && g.node(p->second).op_type() == "Constant") {
    const onnx::AttributeProto* a = Attr(g.node(p->second), "value");
    if (a != nullptr && a->has_t()) t = &a->t();
  }
  if (t == nullptr) return false;
  absl::StatusOr<ConstTensor> c = onnx_values::FromProto(*t);
  if (!c.ok() || c->size() != 1) return false;
  *value = c->v[0];
  return true;
}

bool IsInitializer(const onnx::GraphProto& g, const std::string& name) {
  return std::any_of(g.initializer().begin(), g.initializer().end(),
                     [&](const onnx::TensorProto& t) { return t.name() == name; });
}

std::vector<int64_t> ReduceAxes(const onnx::NodeProto& n) {
  return IntsAttr(n, "axes");  // opsets 11-17: an attribute
}

}  // namespace

std::map<int, Fused> FindPatterns(const onnx::GraphProto& g) {
  const Uses u = UsesOf(g);
  std::map<int, Fused> out;
  auto node = [&](const std::string& value, const char* op) -> const onnx::NodeProto* {
    auto p = u.producer.find(value);
    if (p == u.producer.end() || g.node(p->second).op_type() != op) return nullptr;
    return &g.node(p->second);
  };
  auto index = [&](const std::string& value) { return u.producer.at(value); };
  auto only = [&](const std::string& value, size_t readers) {
    auto c = u.consumers.find(value);
    return c != u.consumers.end() && c->second.size() == readers;
  };
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    // SiLU: Mul(x, Sigmoid(x)), the sigmoid read by the Mul alone.
    if (n.op_type() == "Mul" && n.input_size() == 2) {
      for (int s = 0; s < 2; ++s) {
        const onnx::NodeProto* sig = node(n.input(s), "Sigmoid");
        if (sig != nullptr && sig->input(0) == n.input(1 - s) && only(n.input(s), 1) && out.count(i) == 0) {
          Fused f;
          f.kind = "silu";
          f.x = n.input(1 - s);
          out[index(n.input(s))] = f;
          f.last = true;
          out[i] = f;
        }
      }
    }
    // LayerNorm as older opsets export it: d = x - ReduceMean(x);
    // d / Sqrt(ReduceMean(Pow(d, 2)) + eps) [· γ] [+ β].
    if (n.op_type() != "Div" || n.input_size() != 2) continue;
    const onnx::NodeProto* sub = node(n.input(0), "Sub");
    const onnx::NodeProto* sqrt = node(n.input(1), "Sqrt");
    if (sub == nullptr || sqrt == nullptr) continue;
    const onnx::NodeProto* mean = node(sub->input(1), "ReduceMean");
    const onnx::NodeProto* add = node(sqrt->input(0), "Add");
    if (mean == nullptr || add == nullptr || mean->input(0) != sub->input(0) ||
        IntAttr(*mean, "keepdims", 1) != 1) {
      continue;
    }
    double eps = 0, two = 0;
    const onnx::NodeProto* var = node(add->input(0), "ReduceMean");
    if (var == nullptr || !ConstScalar(g, u, add->input(1), &eps)) continue;
    const onnx::NodeProto* pow = node(var->input(0), "Pow");
    if (pow == nullptr || pow->input(0) != n.input(0) || !ConstScalar(g, u, pow->input(1), &two) || two != 2 ||
        ReduceAxes(*var) != ReduceAxes(*mean) || ReduceAxes(*mean).empty()) {
      continue;
    }
    if (!only(sub->input(1), 1) || !only(n.input(0), 2) || !only(var->input(0), 1) || !only(add->input(0), 1) ||
        !only(sqrt->input(0), 1) || !only(n.input(1), 1)) {
      continue;
    }
    Fused f;
    f.kind = "layer_norm";
    f.x = sub->input(0);
    f.eps = eps;
    f.axes = ReduceAxes(*mean);
    std::vector<int> parts = {index(sub->input(1)), index(n.input(0)), index(var->input(0)), index(add->input(0)),
                              index(sqrt->input(0)), index(n.input(1)), i};
    // γ and β: Mul and Add of initializers, each the sole reader.
    std::string last = n.output(0);
    for (const char* op : {"Mul", "Add"}) {
      auto c = u.consumers.find(last);
      if (c == u.consumers.end() || c->second.size() != 1 || c->second[0] < 0) break;
      const onnx::NodeProto& next = g.node(c->second[0]);
      if (next.op_type() != op || next.input_size() != 2) break;
      const std::string& other = next.input(0) == last ? next.input(1) : next.input(0);
      if (!IsInitializer(g, other)) break;
      (std::string(op) == "Mul" ? f.gamma : f.beta) = other;
      parts.push_back(c->second[0]);
      last = next.output(0);
    }
    if (f.gamma.empty() && !f.beta.empty()) continue;  // γ must come first
    for (int p : parts) out[p] = f;
    out[parts.back()].last = true;
  }
  return out;
}

absl::StatusOr<bool> Importer::MapFused(const onnx::NodeProto& n, const Fused& f, OnnxNodeReport& report) {
  SLIM_ASSIGN_OR_RETURN(View x, ViewOf(n, f.x));
  if (f.kind == "silu") {
    v1::Layer* l = Add(n, {x.layer}, report);
    l->mutable_silu();
    Pointwise(n, x, l);
    report.note = "SiLU: Sigmoid, Mul";
    return true;
  }
  // layer_norm over trailing axes.
  const int64_t rank = static_cast<int64_t>(x.groups.size());
  std::vector<int64_t> axes;
  for (int64_t a : f.axes) axes.push_back(a < 0 ? a + rank : a);
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] != rank - static_cast<int64_t>(axes.size()) + static_cast<int64_t>(i) || axes[i] <= 0) {
      report.note = "a LayerNorm pattern over axes other than the trailing ones";
      return false;
    }
  }
  SLIM_ASSIGN_OR_RETURN(View rows, Arrange(n, x, static_cast<int>(axes.size()), false, report));
  SLIM_ASSIGN_OR_RETURN(std::string in, MergeRows(n, rows, static_cast<int>(axes.size()), report));
  v1::Layer* layer = Add(n, {in}, report);
  v1::LayerNorm* l = layer->mutable_layer_norm();
  l->set_axes(static_cast<int64_t>(axes.size()));
  l->set_eps(f.eps);
  if (f.gamma.empty()) {
    l->set_elementwise_affine(false);
  } else {
    l->set_bias(!f.beta.empty());
  }
  // Named after γ's module ("<module>.weight"), as LayerNormalization is.
  constexpr absl::string_view kSuffix = ".weight";
  if (f.gamma.size() > kSuffix.size() && absl::string_view(f.gamma).substr(f.gamma.size() - kSuffix.size()) == kSuffix) {
    const std::string module = Printable(f.gamma.substr(0, f.gamma.size() - kSuffix.size()));
    if (names_.count(module) == 0) {
      names_.erase(layer->name());
      layer->set_name(module);
      names_.insert(module);
      report.layers.back() = module;
    }
  }
  if (!f.gamma.empty()) SLIM_RETURN_IF_ERROR(Weight(layer->name() + ".weight", f.gamma));
  if (!f.beta.empty()) SLIM_RETURN_IF_ERROR(Weight(layer->name() + ".bias", f.beta));
  SLIM_RETURN_IF_ERROR(FinishRows(n, layer, rows, static_cast<int>(axes.size()), rows.u, report));
  report.note = "LayerNorm: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add";
  return true;
}

absl::StatusOr<bool> Importer::Map(int index, const onnx::NodeProto& n, OnnxNodeReport& report) {
  const std::string& op = n.op_type();
  if (!n.domain().empty() && n.domain() != "ai.onnx") return false;
  if (auto p = patterns_.find(index); p != patterns_.end()) {
    if (p->second.last) return MapFused(n, p->second, report);
    report.note = absl::StrCat("part of a ", p->second.kind);
    return true;
  }
  if (op == "Constant") {
    const onnx::AttributeProto* value = Attr(n, "value");
    if (value == nullptr || !value->has_t()) return false;
    auto t = std::make_unique<onnx::TensorProto>(value->t());
    constants_[n.output(0)] = t.get();
    constant_nodes_.push_back(std::move(t));
    report.note = "folded";
    return true;
  }
  if (op == "Identity" || op == "Dropout") {
    const std::string& x = n.input(0);
    if (const onnx::TensorProto* c = Constant(x); c != nullptr) {
      constants_[n.output(0)] = c;  // an initializer passed through (shared weights)
      report.note = "constant";
      return true;
    }
    if (auto it = folded_.find(x); it != folded_.end()) {
      folded_[n.output(0)] = it->second;
      report.note = "folded";
      return true;
    }
    SLIM_ASSIGN_OR_RETURN(View v, ViewOf(n, x));
    // A training export's Dropout (training_mode true) is a dropout layer
    // with its ratio; an inference export's is the identity.
    double mode = 0, ratio = 0.5;
    // Opsets before 12 have no training mode: a Dropout there (ratio an
    // attribute) is one a training export kept (an inference export has none).
    if (op == "Dropout" && out_.opset < 12) {
      v1::Layer* l = Add(n, {v.layer}, report);
      l->mutable_dropout()->set_p(FloatAttr(n, "ratio", 0.5));
      Pointwise(n, v, l);
      report.note = "dropout (opset < 12: kept by a training export)";
      return true;
    }
    if (op == "Dropout" && n.input_size() >= 3 && Scalar(n.input(2), &mode) && mode != 0) {
      if (n.input_size() >= 2 && !n.input(1).empty() && !Scalar(n.input(1), &ratio)) return false;
      v1::Layer* l = Add(n, {v.layer}, report);
      l->mutable_dropout()->set_p(ratio);
      Pointwise(n, v, l);
      return true;
    }
    views_[n.output(0)] = v;
    report.note = op == "Identity" ? "identity" : "dropout of an inference export: identity";
    return true;
  }
  // Parameters kept symbolic: W^T, W[rows], W expanded over the batch.
  if (op == "Transpose" && Constant(n.input(0)) != nullptr && Constant(n.input(0))->dims_size() == 2 &&
      IntsAttr(n, "perm") == std::vector<int64_t>{1, 0}) {
    pending_[n.output(0)] = {"transposed", n.input(0), {}};
    report.note = "transposed parameter";
    return true;
  }
  if (op == "Gather" && Constant(n.input(0)) != nullptr && Constant(n.input(0))->dims_size() == 2 &&
      Constant(n.input(0))->data_type() == onnx::TensorProto::FLOAT && IntAttr(n, "axis", 0) == 0 &&
      Folded(n.input(1)) != nullptr && !Folded(n.input(1))->symbolic() && Folded(n.input(1))->dims.size() == 1) {
    Pending p{"rows", n.input(0), {}};
    for (double d : Folded(n.input(1))->v) p.indices.push_back(onnx_values::SafeInt(d));
    pending_[n.output(0)] = p;
    report.note = "rows of a parameter (position embedding)";
    return true;
  }
  if (op == "Expand" && Constant(n.input(0)) != nullptr &&
      Constant(n.input(0))->data_type() == onnx::TensorProto::FLOAT && Folded(n.input(1)) != nullptr &&
      Folded(n.input(1))->symbolic()) {
    pending_[n.output(0)] = {"broadcast", n.input(0), {}};
    report.note = "a parameter over the batch (class token)";
    return true;
  }
  // Shape arithmetic and other constants: folded.
  {
    std::vector<const ConstTensor*> in;
    std::vector<std::optional<SymDims>> act;
    bool all_const = true;
    for (const std::string& name : n.input()) {
      const ConstTensor* c = name.empty() ? nullptr : Folded(name);
      in.push_back(c);
      act.push_back(IsActivation(name) ? std::optional<SymDims>(OnnxDims(views_.at(name))) : std::nullopt);
      all_const &= name.empty() || c != nullptr;
    }
    if (all_const || op == "Shape") {
      absl::StatusOr<std::optional<std::vector<ConstTensor>>> r = onnx_values::FoldNode(n, in, act);
      if (!r.ok()) return Error(std::string(r.status().message()));
      if (r->has_value()) {
        for (int i = 0; i < n.output_size() && i < static_cast<int>((*r)->size()); ++i) {
          folded_[n.output(i)] = (**r)[i];
        }
        report.note = "folded";
        return true;
      }
    }
  }
  SLIM_ASSIGN_OR_RETURN(bool mapped, MapActivation(n, report));
  if (mapped || !report.note.empty()) return mapped;
  SLIM_ASSIGN_OR_RETURN(mapped, MapElementwise(n, report));
  if (mapped || !report.note.empty()) return mapped;
  SLIM_ASSIGN_OR_RETURN(mapped, MapMatMul(n, report));
  if (mapped || !report.note.empty()) return mapped;
  SLIM_ASSIGN_OR_RETURN(mapped, MapSpatial(n, report));
  if (mapped || !report.note.empty()) return mapped;
  return MapView(n, report);
}

absl::StatusOr<bool> Importer::MapActivation(const onnx::NodeProto& n, OnnxNodeReport& report) {
  const std::string& op = n.op_type();
  // The exact GELU's five nodes, one stage at a time.
  double c = 0;
  if (op == "Div" && n.input_size() == 2 && Scalar(n.input(1), &c) && std::fabs(c - std::sqrt(2.0)) < 1e-5 &&
      IsActivation(n.input(0))) {
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
        SLIM_ASSIGN_OR_RETURN(View x, ViewOf(n, part->second.x));
        v1::Layer* l = Add(n, {x.layer}, report);
        l->mutable_gelu();
        Pointwise(n, x, l);
        report.note = "GELU (erf): Div, Erf, Add, Mul, Mul";
        return true;
      }
    }
  }
  static const std::set<std::string> kUnary = {"Relu", "Sigmoid", "Tanh", "HardSwish", "LeakyRelu",
                                               "Elu",  "Softplus", "HardSigmoid", "Clip"};
  if (kUnary.count(op) == 0 || !IsActivation(n.input(0))) return false;
  if (op == "HardSigmoid" && (std::fabs(FloatAttr(n, "alpha", 0.2) - 1.0 / 6) > 1e-6 ||
                              std::fabs(FloatAttr(n, "beta", 0.5) - 0.5) > 1e-6)) {
    report.note = "only PyTorch's hardsigmoid (alpha 1/6, beta 1/2)";
    return false;
  }
  double lo = -INFINITY, hi = INFINITY;
  if (op == "Clip") {
    for (int i = 1; i < std::min(n.input_size(), 3); ++i) {
      if (n.input(i).empty()) continue;
      double v = 0;
      if (!Scalar(n.input(i), &v)) {
        report.note = "bounds must be constants";
        return false;
      }
      (i == 1 ? lo : hi) = v;
    }
  }
  SLIM_ASSIGN_OR_RETURN(View x, ViewOf(n, n.input(0)));
  v1::Layer* l = Add(n, {x.layer}, report);
  if (op == "Relu") l->mutable_relu();
  if (op == "Sigmoid") l->mutable_sigmoid();
  if (op == "Tanh") l->mutable_tanh();
  if (op == "HardSwish") l->mutable_hardswish();
  if (op == "LeakyRelu") l->mutable_leaky_relu()->set_negative_slope(FloatAttr(n, "alpha", 0.01));
  if (op == "Elu") l->mutable_elu()->set_alpha(FloatAttr(n, "alpha", 1.0));
  if (op == "Softplus") l->mutable_softplus();
  if (op == "HardSigmoid") l->mutable_hardsigmoid();
  if (op == "Clip") {
    if (lo == 0 && hi == 6) {
      l->mutable_relu6();
    } else {
      v1::Clip* c = l->mutable_clip();
      if (std::isfinite(lo)) c->set_min(lo);
      if (std::isfinite(hi)) c->set_max(hi);
    }
  }
  Pointwise(n, x, l);
  return true;
}

namespace {

// Whether constant `mask` (broadcast to (..., L, L)) is attention's causal
// mask: `masked(i, j)` exactly where j > i. `masked` reads an element.
bool IsCausal(const ConstTensor& mask, int64_t L, const std::function<bool(double)>& masked) {
  const size_t r = mask.dims.size();
  if (r < 2 || mask.dims[r - 1] != L || mask.dims[r - 2] != L) return false;
  for (size_t i = 0; i + 2 < r; ++i) {
    if (mask.dims[i] != 1) return false;
  }
  for (int64_t i = 0; i < L; ++i) {
    for (int64_t j = 0; j < L; ++j) {
      if (masked(mask.v[i * L + j]) != (j > i)) return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<bool> Importer::MapElementwise(const onnx::NodeProto& n, OnnxNodeReport& report) {
  const std::string& op = n.op_type();
  if (op == "Where" && n.input_size() == 3 && IsActivation(n.input(2)) && Folded(n.input(0)) != nullptr) {
    // masked_fill(mask, -inf) of attention scores, before their softmax.
    SLIM_ASSIGN_OR_RETURN(View s, ViewOf(n, n.input(2)));
    const SymDims d = OnnxDims(s);
    double fill = 0;
    if (d.size() >= 2 && d.back().n == 0 && Scalar(n.input(1), &fill) && std::isinf(fill) && fill < 0 &&
        IsCausal(*Folded(n.input(0)), d.back().k, [](double v) { return v != 0; })) {
      causal_[n.output(0)] = s;
      report.note = "attention's causal mask (for the softmax)";
      return true;
    }
    report.note = "only attention's causal mask (masked_fill of the scores above the diagonal with -inf)";
    return false;
  }
  if (op != "Add" && op != "Sub" && op != "Mul" && op != "Div") return false;
  const bool a_act = IsActivation(n.input(0)), b_act = IsActivation(n.input(1));
  if (a_act && b_act) {
    SLIM_ASSIGN_OR_RETURN(View a, ViewOf(n, n.input(0)));
    SLIM_ASSIGN_OR_RETURN(View b, ViewOf(n, n.input(1)));
    const bool same = a.groups == b.groups && a.u == b.u;
    std::vector<std::string> ins = {a.layer, b.layer};
    if (!same) {  // broadcasting, or different layouts: both batch first
      SLIM_ASSIGN_OR_RETURN(ins[0], Producer(n, n.input(0)));
      SLIM_ASSIGN_OR_RETURN(ins[1], Producer(n, n.input(1)));
    }
    v1::Layer* l = Add(n, ins, report);
    if (op == "Add") l->mutable_add();
    if (op == "Sub") l->mutable_sub();
    if (op == "Mul") l->mutable_mul();
    if (op == "Div") l->mutable_div();
    if (same) Pointwise(n, a, l);
    return true;
  }
  if (!a_act && !b_act) return false;
  const int act = a_act ? 0 : 1;
  const std::string& other = n.input(1 - act);
  SLIM_ASSIGN_OR_RETURN(View x, ViewOf(n, n.input(act)));
  // MatMul + Add: the linear layer's bias.
  if (op == "Add" && biasless_.count(n.input(act)) > 0 && Constant(other) != nullptr &&
      Constant(other)->dims_size() == 1) {
    v1::Layer* linear = biasless_[n.input(act)];
    linear->mutable_linear()->set_bias(true);
    SLIM_RETURN_IF_ERROR(Weight(linear->name() + ".bias", other));
    biasless_.erase(n.input(act));
    views_[n.output(0)] = x;
    report.note = absl::StrCat("bias of '", linear->name(), "'");
    return true;
  }
  double c = 0;
  if ((op == "Mul" || (op == "Div" && act == 0)) && Scalar(other, &c)) {
    v1::Layer* l = Add(n, {x.layer}, report);
    l->mutable_scale()->set_value(op == "Mul" ? c : 1.0 / c);
    Pointwise(n, x, l);
    return true;
  }
  if (op == "Add" && Folded(other) != nullptr && x.groups.size() >= 2) {
    // An additive causal mask (0 on and below the diagonal, -inf above).
    const SymDims d = OnnxDims(x);
    if (d.back().n == 0 && IsCausal(*Folded(other), d.back().k, [](double v) { return std::isinf(v) && v < 0; })) {
      causal_[n.output(0)] = x;
      report.note = "attention's causal mask (for the softmax)";
      return true;
    }
  }
  // A learned per-channel scale (ConvNeXt's layer scale): x (N,C,H,W) times a
  // (C,1,1) parameter is a depthwise 1x1 convolution without bias (its
  // weight exported in the parameter's shape).
  if (op == "Mul" && Constant(other) != nullptr && Constant(other)->data_type() == onnx::TensorProto::FLOAT) {
    const onnx::TensorProto* t = Constant(other);
    std::vector<int64_t> shape(t->dims().begin(), t->dims().end());
    if (shape.size() == 4 && shape[0] == 1) shape.erase(shape.begin());
    SLIM_ASSIGN_OR_RETURN(std::string px, Producer(n, n.input(act)));
    const Dims& u = dims_.at(px);
    if (u.size() == 3 && shape == std::vector<int64_t>{u[0], 1, 1}) {
      v1::Layer* l = Add(n, {px}, report);
      v1::Conv2d* c = l->mutable_conv2d();
      c->set_out_channels(u[0]);
      c->set_kernel_size(1);
      c->set_groups(u[0]);
      c->set_bias(false);
      std::string module = other;
      if (module.size() > 7 && module.substr(module.size() - 7) == ".weight") module.resize(module.size() - 7);
      if (names_.count(Printable(module)) == 0) {
        names_.erase(l->name());
        l->set_name(Printable(module));
        names_.insert(l->name());
        report.layers.back() = l->name();
      }
      SLIM_RETURN_IF_ERROR(Weight(l->name() + ".weight", other, false, {u[0], 1, 1, 1}));
      report.note = "a per-channel scale: depthwise 1x1 conv";
      return true;
    }
  }
  // A learned position embedding: x (N, L, D) + P of x's per-example shape
  // (an initializer (1, L, D) or (L, D), or the rows 0..L-1 of a table).
  if (op == "Add") {
    std::string init = other;
    const Pending* p = pending_.count(other) > 0 ? &pending_.at(other) : nullptr;
    if (p != nullptr && p->kind == "rows") init = p->initializer;
    const onnx::TensorProto* t = Constant(init);
    SLIM_ASSIGN_OR_RETURN(std::string px, Producer(n, n.input(act)));
    const Dims& u = dims_.at(px);
    if (t != nullptr && t->data_type() == onnx::TensorProto::FLOAT && u.size() == 2) {
      std::vector<int64_t> shape(t->dims().begin(), t->dims().end());
      bool rows_ok = p == nullptr;
      if (p != nullptr) {
        rows_ok = static_cast<int64_t>(p->indices.size()) == u[0] && shape.size() == 2 && shape[0] == u[0];
        for (size_t i = 0; rows_ok && i < p->indices.size(); ++i) rows_ok = p->indices[i] == static_cast<int64_t>(i);
      }
      const bool fits = rows_ok && ((shape.size() == 3 && shape[0] == 1 && shape[1] == u[0] && shape[2] == u[1]) ||
                                    (shape.size() == 2 && shape[0] == u[0] && shape[1] == u[1]));
      if (fits) {
        v1::Layer* l = Add(n, {px}, report);
        l->mutable_positional_embedding();
        const std::string module = init.size() > 7 && init.substr(init.size() - 7) == ".weight"
                                       ? init.substr(0, init.size() - 7)
                                       : init;
        if (names_.count(Printable(module)) == 0) {
          names_.erase(l->name());
          l->set_name(Printable(module));
          names_.insert(l->name());
          report.layers.back() = l->name();
        }
        SLIM_RETURN_IF_ERROR(Weight(l->name() + ".weight", init, false, {1, u[0], u[1]}));
        report.note = "position embedding";
        return true;
      }
    }
  }
  report.note = "a constant operand (other than a scalar factor, a matmul's bias, a position embedding or a causal "
                "mask)";
  return false;
}

absl::StatusOr<bool> Importer::MapMatMul(const onnx::NodeProto& n, OnnxNodeReport& report) {
  const std::string& op = n.op_type();
  if (op != "MatMul" && op != "Gemm") return false;
  const Pending* pb = pending_.count(n.input(1)) > 0 ? &pending_.at(n.input(1)) : nullptr;
  const onnx::TensorProto* b = Constant(n.input(1));
  if (op == "MatMul" && b == nullptr && pb == nullptr) {
    // Two activations: batched over the leading axes.
    SLIM_ASSIGN_OR_RETURN(View a, ViewOf(n, n.input(0)));
    SLIM_ASSIGN_OR_RETURN(View bv, ViewOf(n, n.input(1)));
    if (a.groups.size() != bv.groups.size() || a.groups.size() < 3) {
      report.note = absl::StrFormat("matmul of %s and %s: both need the batch and the same leading axes",
                                    SymDimsString(OnnxDims(a)), SymDimsString(OnnxDims(bv)));
      return false;
    }
    SLIM_ASSIGN_OR_RETURN(View ax, Arrange(n, a, 2, true, report));
    SLIM_ASSIGN_OR_RETURN(View bx, Arrange(n, bv, 2, true, report));
    if (ax.groups[0] != bx.groups[0] || ax.u.size() != bx.u.size() ||
        !std::equal(ax.u.begin(), ax.u.end() - 2, bx.u.begin())) {
      report.note = absl::StrFormat("matmul of %s and %s: the leading axes differ", SymDimsString(OnnxDims(a)),
                                    SymDimsString(OnnxDims(bv)));
      return false;
    }
    v1::Layer* l = Add(n, {ax.layer, bx.layer}, report);
    l->mutable_matmul();
    Dims u = ax.u;
    u.back() = bx.u.back();
    Shaped(l, u);
    views_[n.output(0)] = View{l->name(), u, ax.groups};
    return true;
  }
  const bool transposed = pb != nullptr && pb->kind == "transposed";
  if (transposed) b = Constant(pb->initializer);
  if (b == nullptr || b->dims_size() != 2 || (pb != nullptr && !transposed) || !IsActivation(n.input(0))) {
    report.note = "B must be a 2-D initializer";
    return false;
  }
  if (op == "Gemm" && (IntAttr(n, "transA", 0) != 0 || FloatAttr(n, "alpha", 1) != 1 || FloatAttr(n, "beta", 1) != 1)) {
    report.note = "transA, alpha and beta must be the defaults";
    return false;
  }
  // PyTorch's (out, in) weight: Gemm's transB, or MatMul by its Transpose.
  const bool out_in = transposed || (op == "Gemm" && IntAttr(n, "transB", 0) != 0);
  const int64_t out = out_in ? b->dims(0) : b->dims(1);
  SLIM_ASSIGN_OR_RETURN(View x, ViewOf(n, n.input(0)));
  SLIM_ASSIGN_OR_RETURN(View rows, Arrange(n, x, 1, false, report));
  SLIM_ASSIGN_OR_RETURN(std::string in_layer, MergeRows(n, rows, 1, report));
  v1::Layer* l = Add(n, {in_layer}, report);
  l->mutable_linear()->set_out_features(out);
  const bool bias = op == "Gemm" && n.input_size() >= 3 && !n.input(2).empty();
  l->mutable_linear()->set_bias(bias);
  if (op == "MatMul") biasless_[n.output(0)] = l;
  const std::string weight = transposed ? pb->initializer : n.input(1);
  SLIM_RETURN_IF_ERROR(Weight(l->name() + ".weight", weight, /*transpose=*/!out_in));
  if (bias) SLIM_RETURN_IF_ERROR(Weight(l->name() + ".bias", n.input(2)));
  if (!out_in) report.note = "weight transposed from (in, out)";
  Dims u = rows.u;
  u.back() = out;
  SLIM_RETURN_IF_ERROR(FinishRows(n, l, rows, 1, u, report));
  return true;
}

}  // namespace slimtrain::planner::onnx_internal
