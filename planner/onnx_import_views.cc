// What the spatial ops (Conv, pools, BatchNormalization) and the ops that
// move or select elements (Reshape, Transpose, Slice, Split, Concat, Gather,
// Softmax, reductions, LayerNormalization) become.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "planner/onnx_importer.h"

namespace slimtrain::planner::onnx_internal {

using onnx_values::OnnxDims;
using onnx_values::SymDimsString;
using onnx_values::SymInt;

absl::StatusOr<bool> Importer::MapSpatial(const onnx::NodeProto& n, OnnxNodeReport& report) {
  const std::string& op = n.op_type();
  static const std::set<std::string> kOps = {"Conv", "BatchNormalization", "MaxPool", "AveragePool",
                                             "GlobalAveragePool", "Flatten", "Resize"};
  if (kOps.count(op) == 0 || !IsActivation(n.input(0))) return false;
  SLIM_ASSIGN_OR_RETURN(std::string x, Producer(n, n.input(0)));
  const Dims in_shape = dims_.at(x);  // per example
  if (op == "Resize") return MapResize(n, x, in_shape, report);
  if (op == "Conv") {
    const onnx::TensorProto* w = Constant(n.input(1));
    if (w == nullptr || w->dims_size() != 4 || in_shape.size() != 3) {
      report.note = w == nullptr ? "weights must be an initializer" : "2-D convolutions only";
      return false;
    }
    const int64_t group = IntAttr(n, "group", 1);
    std::vector<int64_t> kernel = IntsAttr(n, "kernel_shape");
    if (kernel.empty()) kernel = {w->dims(2), w->dims(3)};
    std::vector<int64_t> strides = IntsAttr(n, "strides"), dil = IntsAttr(n, "dilations"), pads = IntsAttr(n, "pads");
    if (strides.empty()) strides = {1, 1};
    if (dil.empty()) dil = {1, 1};
    auto positive_pair = [](const std::vector<int64_t>& v) { return v.size() == 2 && v[0] > 0 && v[1] > 0; };
    if (!positive_pair(kernel) || !positive_pair(strides) || !positive_pair(dil) ||
        (!pads.empty() && pads.size() != 4)) {
      report.note = absl::StrFormat("kernel_shape [%s], strides [%s], dilations [%s] must be two sizes > 0, pads four",
                                    absl::StrJoin(kernel, ","), absl::StrJoin(strides, ","), absl::StrJoin(dil, ","));
      return false;
    }
    const std::string auto_pad = StringAttr(n, "auto_pad", "NOTSET");
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      pads.assign(4, 0);
      for (int a = 0; a < 2; ++a) {
        const int64_t in = in_shape[1 + a], out = (in + strides[a] - 1) / strides[a];
        const int64_t total = std::max<int64_t>((out - 1) * strides[a] + (kernel[a] - 1) * dil[a] + 1 - in, 0);
        const int64_t small = total / 2, large = total - small;
        pads[a] = auto_pad == "SAME_UPPER" ? small : large;
        pads[a + 2] = auto_pad == "SAME_UPPER" ? large : small;
      }
    } else if (auto_pad != "NOTSET" && auto_pad != "VALID") {
      return false;
    }
    if (pads.empty()) pads.assign(4, 0);
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
    for (int i = 1; i <= 4; ++i) {
      if (n.input_size() <= i || Constant(n.input(i)) == nullptr) {
        report.note = "scale, bias, mean and variance must be initializers";
        return false;
      }
    }
    v1::Layer* l = Add(n, {x}, report);
    l->mutable_batch_norm()->set_eps(FloatAttr(n, "epsilon", 1e-5));
    l->mutable_batch_norm()->set_momentum(1.0 - FloatAttr(n, "momentum", 0.9));
    const char* const kParts[] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; ++i) {
      SLIM_RETURN_IF_ERROR(Weight(absl::StrCat(l->name(), ".", kParts[i]), n.input(i + 1)));
    }
    return true;
  }
  if (op == "MaxPool" || op == "AveragePool") {
    const bool ceil_mode = IntAttr(n, "ceil_mode", 0) != 0;
    if ((ceil_mode && op == "AveragePool") || IntAttr(n, "storage_order", 0) != 0 ||
        StringAttr(n, "auto_pad", "NOTSET") != "NOTSET") {
      report.note = "ceil_mode (but max pooling's), storage_order and auto_pad are not supported";
      return false;
    }
    for (int64_t d : IntsAttr(n, "dilations")) {
      if (d != 1) {
        report.note = "dilated pooling is not supported";
        return false;
      }
    }
    std::vector<int64_t> kernel = IntsAttr(n, "kernel_shape"), strides = IntsAttr(n, "strides"),
                         pads = IntsAttr(n, "pads");
    if (kernel.size() != 2) {
      report.note = "2-D pooling only";
      return false;
    }
    if (strides.empty()) strides = {1, 1};  // ONNX's default is 1, not the kernel
    if (pads.empty()) pads.assign(4, 0);
    if (pads.size() != 4 || strides.size() != 2) return false;
    if (ceil_mode) {
      // Max pooling with ceil_mode is max pooling over more -inf padding at
      // the bottom and right: as many outputs as PyTorch gives (the last
      // window starts inside the input or its top/left padding).
      for (int a = 0; a < 2; ++a) {
        const int64_t in = in_shape[1 + a], span = in + pads[a] + pads[a + 2] - kernel[a];
        if (span < 0 || strides[a] <= 0) return false;
        int64_t out = (span + strides[a] - 1) / strides[a] + 1;
        if ((out - 1) * strides[a] >= in + pads[a]) --out;
        pads[a + 2] = std::max<int64_t>(pads[a + 2], (out - 1) * strides[a] + kernel[a] - in - pads[a]);
      }
      report.note = "ceil_mode as more padding at the bottom and right";
    }
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
    v1::Layer* l = Add(n, {x}, report);
    l->mutable_adaptive_avg_pool()->set_out_h(1);
    l->mutable_adaptive_avg_pool()->set_out_w(1);
    report.note = "adaptive_avg_pool to 1x1 (keeps ONNX's (C,1,1))";
    return true;
  }
  // Flatten.
  if (IntAttr(n, "axis", 1) != 1) {
    report.note = "Flatten with axis 1 only";
    return false;
  }
  Add(n, {x}, report)->mutable_flatten();
  return true;
}

absl::StatusOr<bool> Importer::MapResize(const onnx::NodeProto& n, const std::string& x, const Dims& in_shape,
                                         OnnxNodeReport& report) {
  // nn.Upsample / F.interpolate: nearest (asymmetric, floor: PyTorch's) or
  // bilinear (half_pixel: align_corners=False; align_corners), on (C,H,W),
  // by whole equal factors or to a size.
  const std::string mode = StringAttr(n, "mode", "nearest");
  const std::string coords = StringAttr(n, "coordinate_transformation_mode", "half_pixel");
  const bool nearest = mode == "nearest" && coords == "asymmetric" && StringAttr(n, "nearest_mode", "round_prefer_floor") == "floor";
  const bool bilinear = mode == "linear" && (coords == "half_pixel" || coords == "pytorch_half_pixel" ||
                                             coords == "align_corners");
  if (in_shape.size() != 3 || (!nearest && !bilinear)) {
    report.note = absl::StrFormat("only PyTorch's nearest and bilinear upsampling of (C,H,W) (mode %s, "
                                  "coordinate_transformation_mode %s)",
                                  mode, coords);
    return false;
  }
  const ConstTensor* scales = n.input_size() >= 3 && !n.input(2).empty() ? Folded(n.input(2)) : nullptr;
  const ConstTensor* sizes = n.input_size() >= 4 && !n.input(3).empty() ? Folded(n.input(3)) : nullptr;
  int64_t factor = 0, out_h = 0, out_w = 0;
  if (scales != nullptr && scales->size() == 4 && !scales->symbolic()) {
    const double sh = scales->v[2], sw = scales->v[3];
    if (scales->v[0] != 1 || scales->v[1] != 1 || sh != sw || sh < 1 || sh != std::floor(sh) || sh > 1 << 16) {
      report.note = absl::StrFormat("scales [%s]: whole factors >= 1, the same on H and W",
                                    absl::StrJoin(scales->v, ","));
      return false;
    }
    factor = static_cast<int64_t>(sh);
  } else if (sizes != nullptr && sizes->size() == 4 && sizes->at(1) == SymInt{in_shape[0], 0}) {
    out_h = sizes->at(2).k;
    out_w = sizes->at(3).k;
    if (sizes->at(2).n != 0 || sizes->at(3).n != 0 || out_h <= 0 || out_w <= 0) return false;
  } else {
    report.note = "scales or sizes must be constants over (N,C,H,W)";
    return false;
  }
  v1::Layer* l = Add(n, {x}, report);
  v1::Upsample* u = l->mutable_upsample();
  if (factor > 0) {
    u->set_scale_factor(factor);
  } else {
    u->set_out_h(out_h);
    u->set_out_w(out_w);
  }
  u->set_mode(nearest ? "nearest" : "bilinear");
  if (bilinear) u->set_align_corners(coords == "align_corners");
  return true;
}

absl::StatusOr<bool> Importer::MapView(const onnx::NodeProto& n, OnnxNodeReport& report) {
  const std::string& op = n.op_type();
  if (op == "Gather" && n.input(1) == out_.input_name) {
    // nn.Embedding: a table initializer gathered by the model input's ids.
    const onnx::TensorProto* table = Constant(n.input(0));
    if (table == nullptr || table->dims_size() != 2 || IntAttr(n, "axis", 0) != 0) {
      report.note = "only an embedding: an initializer table gathered by the model input";
      return false;
    }
    v1::Layer* l = Add(n, {"input"}, report);
    l->mutable_embedding()->set_num_embeddings(table->dims(0));
    l->mutable_embedding()->set_embedding_dim(table->dims(1));
    SLIM_RETURN_IF_ERROR(Weight(l->name() + ".weight", n.input(0)));
    return true;
  }
  if ((op == "Concat" && n.input_size() == 1) || op == "Pad") {
    // A concatenation of one tensor, or a padding of zeros on every side
    // (torchvision's DenseNet exports both): the identity.
    if (op == "Pad") {
      const ConstTensor* pads = n.input_size() >= 2 ? Folded(n.input(1)) : nullptr;
      const bool zero = pads != nullptr && std::all_of(pads->v.begin(), pads->v.end(), [](double p) { return p == 0; });
      if (!zero) {
        report.note = "only a padding of 0 on every side (fold others into the next Conv's pads)";
        return false;
      }
    }
    if (!IsActivation(n.input(0))) return false;
    SLIM_ASSIGN_OR_RETURN(views_[n.output(0)], ViewOf(n, n.input(0)));
    report.note = "identity";
    return true;
  }
  if (op == "Concat") {
    // ViT's class token: [W expanded over the batch, x] along the sequence.
    if (n.input_size() == 2 && pending_.count(n.input(0)) > 0 && pending_.at(n.input(0)).kind == "broadcast" &&
        IntAttr(n, "axis", 0) == 1 && IsActivation(n.input(1))) {
      const std::string& init = pending_.at(n.input(0)).initializer;
      SLIM_ASSIGN_OR_RETURN(std::string x, Producer(n, n.input(1)));
      const onnx::TensorProto* t = Constant(init);
      const Dims& u = dims_.at(x);
      if (u.size() != 2 || t->dims_size() != 3 || t->dims(0) != 1 || t->dims(1) != 1 || t->dims(2) != u[1]) {
        report.note = "a class token must be a (1, 1, D) parameter before (N, L, D) tokens";
        return false;
      }
      v1::Layer* l = Add(n, {x}, report);
      l->mutable_class_token();
      if (names_.count(Printable(init)) == 0) {
        names_.erase(l->name());
        l->set_name(Printable(init));
        names_.insert(l->name());
        report.layers.back() = l->name();
      }
      SLIM_RETURN_IF_ERROR(Weight(l->name() + ".weight", init));
      report.note = "class token";
      return true;
    }
    std::vector<std::string> ins;
    for (const std::string& name : n.input()) {
      if (!IsActivation(name)) {
        report.note = "every input must be an activation";
        return false;
      }
      SLIM_ASSIGN_OR_RETURN(std::string x, Producer(n, name));
      ins.push_back(x);
    }
    Add(n, ins, report)->mutable_concat()->set_axis(IntAttr(n, "axis", 1));
    return true;
  }
  if ((op == "Softmax" || op == "LogSoftmax") && causal_.count(n.input(0)) > 0) {
    views_[n.input(0)] = causal_.at(n.input(0));  // the scores, masked by the softmax
  }
  if (!IsActivation(n.input(0))) {
    if (causal_.count(n.input(0)) > 0) report.note = "a causal mask must be followed by the softmax";
    if (pending_.count(n.input(0)) > 0) {
      report.note = absl::StrCat("reads a parameter used as ", pending_.at(n.input(0)).kind,
                                 " in a way slimtrain does not map");
    }
    return false;
  }
  SLIM_ASSIGN_OR_RETURN(View v, ViewOf(n, n.input(0)));
  const SymDims d = OnnxDims(v);
  const int64_t rank = static_cast<int64_t>(d.size());
  auto axis_of = [&](int64_t a) { return a < 0 ? a + rank : a; };
  if (op == "Transpose") {
    std::vector<int64_t> perm = IntsAttr(n, "perm");
    if (perm.empty()) {
      for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
    }
    std::vector<int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < static_cast<int64_t>(sorted.size()); ++i) {
      if (sorted[i] != i || static_cast<int64_t>(perm.size()) != rank) {
        report.note = absl::StrFormat("perm [%s] is not a permutation of %d axes", absl::StrJoin(perm, ","), rank);
        return false;
      }
    }
    if (static_cast<int64_t>(perm.size()) != rank) return false;
    View t = v;
    for (int64_t i = 0; i < rank; ++i) t.groups[i] = v.groups[perm[i]];
    views_[n.output(0)] = t;
    report.note = absl::StrFormat("a view %s", SymDimsString(OnnxDims(t)));
    return true;
  }
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze") {
    SymDims target;
    if (op == "Reshape") {
      const ConstTensor* s = Folded(n.input(1));
      if (s == nullptr) {
        report.note = "the shape must fold to a constant";
        return false;
      }
      for (int64_t i = 0; i < s->size(); ++i) target.push_back(s->at(i));
    } else if (op == "Flatten") {
      const int64_t axis = axis_of(IntAttr(n, "axis", 1));
      if (axis < 0 || axis > rank) {
        report.note = "axis out of range";
        return false;
      }
      std::optional<SymInt> rows = onnx_values::Product(SymDims(d.begin(), d.begin() + axis));
      std::optional<SymInt> cols = onnx_values::Product(SymDims(d.begin() + axis, d.end()));
      if (!rows || !cols) return false;
      target = {*rows, *cols};
    } else {
      std::vector<int64_t> axes = IntsAttr(n, "axes");
      if (axes.empty() && n.input_size() >= 2 && Folded(n.input(1)) != nullptr) {
        for (double a : Folded(n.input(1))->v) axes.push_back(onnx_values::SafeInt(a));
      }
      if (op == "Squeeze") {
        for (int64_t i = 0; i < rank; ++i) {
          const bool listed = std::any_of(axes.begin(), axes.end(), [&](int64_t a) { return axis_of(a) == i; });
          if (axes.empty() ? !(d[i] == SymInt{1, 0}) : !listed) target.push_back(d[i]);
        }
      } else {
        const int64_t out_rank = rank + static_cast<int64_t>(axes.size());
        std::vector<bool> inserted(out_rank, false);
        for (int64_t a : axes) {
          const int64_t at = a < 0 ? a + out_rank : a;
          if (at < 0 || at >= out_rank || inserted[at]) {
            report.note = absl::StrCat("axis ", a, " out of range or repeated");
            return false;
          }
          inserted[at] = true;
        }
        for (int64_t i = 0, j = 0; i < out_rank; ++i) target.push_back(inserted[i] ? SymInt{1, 0} : d[j++]);
      }
    }
    absl::StatusOr<onnx_values::ReshapePlan> plan =
        onnx_values::PlanReshape(v, target, op == "Reshape" && IntAttr(n, "allowzero", 0) != 0);
    if (!plan.ok()) {
      report.note = std::string(plan.status().message());
      return false;
    }
    View r{v.layer, plan->split_u, plan->groups};
    if (plan->split_u != v.u) {
      v1::Layer split;
      split.set_name(absl::StrCat(Printable(n.name()), ".split"));
      split.add_inputs(v.layer);
      for (int64_t x : plan->split_u) split.mutable_reshape()->add_dims(x);
      SLIM_ASSIGN_OR_RETURN(r.layer, AddNow(std::move(split), report));
    }
    views_[n.output(0)] = r;
    if (report.note.empty()) report.note = absl::StrFormat("a view %s", SymDimsString(OnnxDims(r)));
    return true;
  }
  if (op == "Slice" || op == "Split" || op == "Gather") {
    // Ranges of one axis: a slice layer on the layer's axis when the ONNX axis is one.
    struct Range {
      int64_t start, end, step;
      std::string out;
      bool drop_axis;
    };
    std::vector<Range> ranges;
    int64_t axis = 0;
    if (op == "Slice") {
      const ConstTensor *starts = Folded(n.input(1)), *ends = Folded(n.input(2));
      const ConstTensor* axes = n.input_size() > 3 && !n.input(3).empty() ? Folded(n.input(3)) : nullptr;
      const ConstTensor* steps = n.input_size() > 4 && !n.input(4).empty() ? Folded(n.input(4)) : nullptr;
      if (starts == nullptr || ends == nullptr || starts->size() != 1 || ends->size() != 1 ||
          (n.input_size() > 3 && !n.input(3).empty() && axes == nullptr) || starts->symbolic()) {
        report.note = "one axis, constant bounds";
        return false;
      }
      if ((axes != nullptr && axes->size() != 1) || (steps != nullptr && steps->size() != 1)) {
        report.note = "one axis, constant bounds";
        return false;
      }
      axis = axis_of(axes != nullptr ? axes->at(0).k : 0);
      const int64_t step = steps != nullptr ? steps->at(0).k : 1;
      // An end past the axis (INT64_MAX, or the symbolic batch) clamps.
      const int64_t end = ends->at(0).n != 0 || ends->at(0).k >= (int64_t{1} << 62) ? INT64_MAX : ends->at(0).k;
      ranges.push_back({starts->at(0).k, end, step, n.output(0), false});
    } else if (op == "Split") {
      axis = axis_of(IntAttr(n, "axis", 0));
      std::vector<int64_t> sizes = IntsAttr(n, "split");
      if (sizes.empty() && n.input_size() >= 2 && Folded(n.input(1)) != nullptr) {
        for (double s : Folded(n.input(1))->v) sizes.push_back(onnx_values::SafeInt(s));
      }
      if (axis < 0 || axis >= rank || d[axis].n != 0) {
        report.note = "a split of the batch axis";
        return false;
      }
      if (sizes.empty() && n.output_size() > 0) sizes.assign(n.output_size(), d[axis].k / n.output_size());
      int64_t at = 0, total = 0;
      for (int64_t size : sizes) {
        if (size < 0 || __builtin_add_overflow(total, size, &total)) total = -1;
        if (total < 0) break;
      }
      if (total != d[axis].k || static_cast<int>(sizes.size()) != n.output_size()) {
        report.note = absl::StrFormat("split sizes [%s] of an axis of %d", absl::StrJoin(sizes, ","), d[axis].k);
        return false;
      }
      for (int i = 0; i < n.output_size() && i < static_cast<int>(sizes.size()); ++i) {
        ranges.push_back({at, at + sizes[i], 1, n.output(i), false});
        at += sizes[i];
      }
    } else {
      const ConstTensor* index = Folded(n.input(1));
      axis = axis_of(IntAttr(n, "axis", 0));
      if (index == nullptr || index->size() != 1 || !index->dims.empty() || index->symbolic()) {
        report.note = "only one constant index of an axis (x[:, 0]), or an embedding";
        return false;
      }
      const int64_t i = index->at(0).k;
      ranges.push_back({i, i == -1 ? INT64_MAX : i + 1, 1, n.output(0), true});
    }
    if (axis <= 0 || axis >= rank || v.groups[axis].size() != 1 || v.groups[axis][0] == 0) {
      SLIM_ASSIGN_OR_RETURN(std::string plain, Producer(n, n.input(0)));
      v = views_.at(n.input(0));
      (void)plain;
      if (axis <= 0 || axis >= rank) {
        report.note = "a slice of the batch axis";
        return false;
      }
    }
    const int layer_axis = v.groups[axis][0];
    for (const Range& r : ranges) {
      const std::string out = r.out;
      v1::Layer* l = Add(n, {v.layer}, report, &out);
      v1::Slice* s = l->mutable_slice();
      s->set_axis(layer_axis);
      s->set_start(r.start);
      if (r.end != INT64_MAX) s->set_end(r.end);
      if (r.step != 1) s->set_step(r.step);
      SLIM_RETURN_IF_ERROR(Shape(l));
      View sv{l->name(), dims_.at(l->name()), v.groups};
      if (r.drop_axis) sv.groups.erase(sv.groups.begin() + axis);  // a size-1 axis in no group
      views_[out] = sv;
    }
    return true;
  }
  if (op == "Softmax" || op == "LogSoftmax") {
    const int64_t axis = axis_of(IntAttr(n, "axis", -1));
    const bool causal = causal_.count(n.input(0)) > 0;
    if (causal && (op != "Softmax" || axis != rank - 1)) {
      report.note = "a causal mask must be followed by a softmax over the last axis";
      return false;
    }
    if (axis != rank - 1) {
      SLIM_ASSIGN_OR_RETURN(std::string x, Producer(n, n.input(0)));
      v1::Layer* l = Add(n, {x}, report);
      if (op == "Softmax") l->mutable_softmax()->set_axis(axis);
      if (op == "LogSoftmax") l->mutable_log_softmax()->set_axis(axis);
      return true;
    }
    SLIM_ASSIGN_OR_RETURN(View rows, Arrange(n, v, causal ? 2 : 1, false, report));
    v1::Layer* l = Add(n, {rows.layer}, report);
    if (op == "Softmax") {
      l->mutable_softmax()->set_axis(-1);
      if (causal) l->mutable_softmax()->set_causal(true);
    } else {
      l->mutable_log_softmax()->set_axis(-1);
    }
    Pointwise(n, rows, l);
    return true;
  }
  if (op == "ReduceMean" || op == "ReduceSum") {
    // Axes: an attribute (ReduceMean to opset 17, ReduceSum to 12) or a
    // constant input (ReduceSum from 13).
    std::vector<int64_t> axes = IntsAttr(n, "axes");
    if (axes.empty() && n.input_size() >= 2 && Folded(n.input(1)) != nullptr && !Folded(n.input(1))->symbolic()) {
      for (int64_t i = 0; i < Folded(n.input(1))->size(); ++i) axes.push_back(Folded(n.input(1))->at(i).k);
    }
    if (axes.empty()) {
      report.note = "axes must be given (constants)";
      return false;
    }
    const bool keepdim = IntAttr(n, "keepdims", 1) != 0;
    // Over a view, when each reduced axis is one axis of the layer but the
    // batch ((L, N, E).mean(0)): the layer's axes, kept as size 1; without
    // keepdims the view drops them.
    if (!onnx_values::IsPlain(v)) {
      std::vector<int64_t> layer_axes;
      std::vector<bool> reduced(rank, false);
      for (int64_t a : axes) {
        const int64_t at = axis_of(a);
        if (at < 0 || at >= rank || reduced[at] || v.groups[at].size() != 1 || v.groups[at][0] == 0) {
          layer_axes.clear();
          break;
        }
        reduced[at] = true;
        layer_axes.push_back(v.groups[at][0]);
      }
      if (!layer_axes.empty()) {
        v1::Layer* l = Add(n, {v.layer}, report);
        for (int64_t a : layer_axes) {
          if (op == "ReduceMean") l->mutable_reduce_mean()->add_axes(a);
          if (op == "ReduceSum") l->mutable_reduce_sum()->add_axes(a);
        }
        if (op == "ReduceMean") l->mutable_reduce_mean()->set_keepdim(true);
        if (op == "ReduceSum") l->mutable_reduce_sum()->set_keepdim(true);
        SLIM_RETURN_IF_ERROR(Shape(l));
        View r{l->name(), dims_.at(l->name()), {}};
        for (int64_t i = 0; i < rank; ++i) {
          if (keepdim || !reduced[i]) r.groups.push_back(v.groups[i]);
        }
        views_[n.output(0)] = r;
        return true;
      }
    }
    SLIM_ASSIGN_OR_RETURN(std::string x, Producer(n, n.input(0)));
    v1::Layer* l = Add(n, {x}, report);
    if (op == "ReduceMean") {
      for (int64_t a : axes) l->mutable_reduce_mean()->add_axes(a);
      l->mutable_reduce_mean()->set_keepdim(keepdim);
    } else {
      for (int64_t a : axes) l->mutable_reduce_sum()->add_axes(a);
      l->mutable_reduce_sum()->set_keepdim(keepdim);
    }
    return true;
  }
  if (op == "LayerNormalization") {
    const int64_t axis = axis_of(IntAttr(n, "axis", -1));
    if (axis <= 0 || axis >= rank) return false;
    SLIM_ASSIGN_OR_RETURN(View rows, Arrange(n, v, static_cast<int>(rank - axis), false, report));
    SLIM_ASSIGN_OR_RETURN(std::string in, MergeRows(n, rows, static_cast<int>(rank - axis), report));
    v1::Layer* layer = Add(n, {in}, report);
    v1::LayerNorm* l = layer->mutable_layer_norm();
    l->set_axes(rank - axis);
    l->set_eps(FloatAttr(n, "epsilon", 1e-5));
    l->set_bias(n.input_size() >= 3 && !n.input(2).empty());
    SLIM_RETURN_IF_ERROR(Weight(layer->name() + ".weight", n.input(1)));
    if (l->bias()) SLIM_RETURN_IF_ERROR(Weight(layer->name() + ".bias", n.input(2)));
    SLIM_RETURN_IF_ERROR(FinishRows(n, layer, rows, static_cast<int>(rank - axis), rows.u, report));
    return true;
  }
  return false;
}

}  // namespace slimtrain::planner::onnx_internal
