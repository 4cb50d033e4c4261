// See op_rules.h.
#include "planner/op_rules.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace slimtrain::planner::op_rules {

using v1::Layer;

absl::Status LayerError(const std::string& layer, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("layer '", layer, "': ", message));
}

// The product of `factors`; INVALID_ARGUMENT naming the layer and `what`
// when it overflows int64.
absl::StatusOr<int64_t> Product(const std::string& layer, const char* what, std::initializer_list<int64_t> factors) {
  int64_t p = 1;
  for (int64_t f : factors) {
    if (__builtin_mul_overflow(p, f, &p)) {
      return LayerError(layer, absl::StrCat(what, " overflows 64-bit integers"));
    }
  }
  return p;
}

absl::StatusOr<int64_t> Sum(const std::string& layer, const char* what, std::initializer_list<int64_t> terms) {
  int64_t s = 0;
  for (int64_t t : terms) {
    if (__builtin_add_overflow(s, t, &s)) return LayerError(layer, absl::StrCat(what, " overflows 64-bit integers"));
  }
  return s;
}

// Elements of `dims` per example, checked against overflow and the limit;
// errors begin with `who` ("layer 'conv1'", "model input").
absl::StatusOr<int64_t> CheckedElements(const std::string& who, const Dims& dims, const SizeLimits& limits) {
  int64_t n = 1;
  const int64_t max_elements = limits.max_tensor_bytes / 4;  // fp32 at batch 1
  for (int64_t d : dims) {
    if (__builtin_mul_overflow(n, d, &n) || n > max_elements) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: a %s tensor is over the limit of %d elements per example (%d bytes of fp32 per tensor)", who,
          DimsString(dims), max_elements, limits.max_tensor_bytes));
    }
  }
  return n;
}

std::string LayerWho(const std::string& layer) { return absl::StrCat("layer '", layer, "'"); }

OpKind KindOf(const Layer& layer) {
  switch (layer.op_case()) {
    case Layer::kConv2D: return OpKind::kConv2d;
    case Layer::kBatchNorm: return OpKind::kBatchNorm;
    case Layer::kRelu: return OpKind::kRelu;
    case Layer::kSigmoid: return OpKind::kSigmoid;
    case Layer::kTanh: return OpKind::kTanh;
    case Layer::kAdd: return OpKind::kAdd;
    case Layer::kConcat: return OpKind::kConcat;
    case Layer::kMaxPool: return OpKind::kMaxPool;
    case Layer::kAvgPool: return OpKind::kAvgPool;
    case Layer::kGlobalAvgPool: return OpKind::kGlobalAvgPool;
    case Layer::kLinear: return OpKind::kLinear;
    case Layer::kFlatten: return OpKind::kFlatten;
    case Layer::kDropout: return OpKind::kDropout;
    case Layer::kSoftmaxCrossEntropy: return OpKind::kSoftmaxCrossEntropy;
    case Layer::kMseLoss: return OpKind::kMseLoss;
    case Layer::kRelu6: return OpKind::kRelu6;
    case Layer::kClip: return OpKind::kClip;
    case Layer::kLeakyRelu: return OpKind::kLeakyRelu;
    case Layer::kElu: return OpKind::kElu;
    case Layer::kGelu: return OpKind::kGelu;
    case Layer::kSilu: return OpKind::kSilu;
    case Layer::kHardswish: return OpKind::kHardswish;
    case Layer::kHardsigmoid: return OpKind::kHardsigmoid;
    case Layer::kSoftplus: return OpKind::kSoftplus;
    case Layer::kSoftmax: return OpKind::kSoftmax;
    case Layer::kLogSoftmax: return OpKind::kLogSoftmax;
    case Layer::kMul: return OpKind::kMul;
    case Layer::kSub: return OpKind::kSub;
    case Layer::kDiv: return OpKind::kDiv;
    case Layer::kScale: return OpKind::kScale;
    case Layer::kReshape: return OpKind::kReshape;
    case Layer::kSqueeze: return OpKind::kSqueeze;
    case Layer::kUnsqueeze: return OpKind::kUnsqueeze;
    case Layer::kTranspose: return OpKind::kTranspose;
    case Layer::kSlice: return OpKind::kSlice;
    case Layer::kReduceMean: return OpKind::kReduceMean;
    case Layer::kReduceSum: return OpKind::kReduceSum;
    case Layer::kLayerNorm: return OpKind::kLayerNorm;
    case Layer::kPositionalEmbedding: return OpKind::kPositionalEmbedding;
    case Layer::kClassToken: return OpKind::kClassToken;
    case Layer::kAttention: return OpKind::kAttention;
    case Layer::kMatmul: return OpKind::kMatMul;
    case Layer::kEmbedding: return OpKind::kEmbedding;
    case Layer::kGroupNorm: return OpKind::kGroupNorm;
    case Layer::kAdaptiveAvgPool: return OpKind::kAdaptiveAvgPool;
    case Layer::kUpsample: return OpKind::kUpsample;
    case Layer::OP_NOT_SET: break;
  }
  return OpKind::kInput;
}

// Checks `value > 0` (or >= 0 when `allow_zero`), naming op.field.
absl::Status CheckSize(const Node& n, const char* field, int64_t value, bool allow_zero = false) {
  if (value > 0 || (allow_zero && value == 0)) return absl::OkStatus();
  return LayerError(n.name, absl::StrFormat("%s.%s must be %s 0, got %d", OpKindName(n.kind),
                                            field, allow_zero ? ">=" : ">", value));
}

// A per-axis attribute: the square field (given when `has_square`, else
// `fallback`) or its (height, width) pair `pair`, not both; each > 0.
absl::Status ResolvePair(const Node& n, const char* field, bool has_square, int64_t square, int64_t fallback,
                         const google::protobuf::RepeatedField<int64_t>& pair, const char* pair_field, int64_t* h,
                         int64_t* w) {
  const char* op = OpKindName(n.kind);
  if (pair.empty()) {
    *h = *w = has_square ? square : fallback;
    return CheckSize(n, field, *h);
  }
  if (has_square) {
    return LayerError(n.name, absl::StrFormat("give %s.%s or %s.%s, not both", op, field, op, pair_field));
  }
  if (pair.size() != 2) {
    return LayerError(n.name, absl::StrFormat("%s.%s takes 2 values (height, width), got %d", op, pair_field,
                                              pair.size()));
  }
  *h = pair[0];
  *w = pair[1];
  SLIM_RETURN_IF_ERROR(CheckSize(n, absl::StrCat(pair_field, "[0]").c_str(), *h));
  return CheckSize(n, absl::StrCat(pair_field, "[1]").c_str(), *w);
}

// A window's kernel, stride (default 1, or the kernel for pools) and
// padding from conv2d's, max_pool's or avg_pool's fields.
template <typename M>
absl::Status ResolveWindow(const M& m, bool default_stride_is_kernel, Node& n) {
  SLIM_RETURN_IF_ERROR(ResolvePair(n, "kernel_size", m.kernel_size() != 0 || m.kernel_hw().empty(), m.kernel_size(),
                                   0, m.kernel_hw(), "kernel_hw", &n.kernel_h, &n.kernel_w));
  SLIM_RETURN_IF_ERROR(ResolvePair(n, "stride", m.has_stride(), m.stride(), 1, m.stride_hw(), "stride_hw",
                                   &n.stride_h, &n.stride_w));
  if (default_stride_is_kernel && !m.has_stride() && m.stride_hw().empty()) {
    n.stride_h = n.kernel_h;
    n.stride_w = n.kernel_w;
  }
  const char* op = OpKindName(n.kind);
  const auto& pads = m.pads();
  if (pads.empty()) {
    n.pad_top = n.pad_left = n.pad_bottom = n.pad_right = m.padding();
    return CheckSize(n, "padding", m.padding(), /*allow_zero=*/true);
  }
  if (m.padding() != 0) {
    return LayerError(n.name, absl::StrFormat("give %s.padding or %s.pads, not both", op, op));
  }
  if (pads.size() != 2 && pads.size() != 4) {
    return LayerError(n.name, absl::StrFormat("%s.pads takes 2 values (height, width) or 4 (top, left, bottom, "
                                              "right), got %d",
                                              op, pads.size()));
  }
  for (int i = 0; i < pads.size(); ++i) {
    SLIM_RETURN_IF_ERROR(CheckSize(n, absl::StrCat("pads[", i, "]").c_str(), pads[i], /*allow_zero=*/true));
  }
  n.pad_top = pads[0];
  n.pad_left = pads[1];
  n.pad_bottom = pads.size() == 4 ? pads[2] : pads[0];
  n.pad_right = pads.size() == 4 ? pads[3] : pads[1];
  return absl::OkStatus();
}

// Pools: each side's padding at most half the kernel along its axis
// (PyTorch's rule: a window never lies wholly in the padding).
absl::Status CheckPoolPadding(const Node& n) {
  const int64_t pads[4] = {n.pad_top, n.pad_left, n.pad_bottom, n.pad_right};
  for (int i = 0; i < 4; ++i) {
    const int64_t kernel = i % 2 == 0 ? n.kernel_h : n.kernel_w;
    if (pads[i] > kernel / 2) {
      return LayerError(n.name, absl::StrFormat("%s.padding %d must be at most half the kernel %d",
                                                OpKindName(n.kind), pads[i], kernel));
    }
  }
  return absl::OkStatus();
}

// A finite attribute, or INVALID_ARGUMENT naming op.field and the value.
absl::Status CheckFinite(const Node& n, const char* field, double value) {
  if (std::isfinite(value)) return absl::OkStatus();
  return LayerError(n.name, absl::StrCat(OpKindName(n.kind), ".", field, " must be finite, got ", value));
}

// Resolves the op's attributes from the spec, applying defaults, and checks
// their ranges (not yet against shapes).
absl::Status ResolveAttributes(const Layer& layer, Node& n) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  switch (n.kind) {
    case OpKind::kRelu6:
      n.clip_min = 0;
      n.clip_max = 6;
      break;
    case OpKind::kClip: {
      const auto& c = layer.clip();
      n.clip_min = c.has_min() ? c.min() : -kInf;
      n.clip_max = c.has_max() ? c.max() : kInf;
      if (c.has_min()) SLIM_RETURN_IF_ERROR(CheckFinite(n, "min", n.clip_min));
      if (c.has_max()) SLIM_RETURN_IF_ERROR(CheckFinite(n, "max", n.clip_max));
      if (n.clip_min > n.clip_max) {
        return LayerError(n.name, absl::StrCat("clip.min ", n.clip_min, " is above clip.max ", n.clip_max));
      }
      break;
    }
    case OpKind::kLeakyRelu:
      n.negative_slope = layer.leaky_relu().has_negative_slope() ? layer.leaky_relu().negative_slope() : 0.01;
      SLIM_RETURN_IF_ERROR(CheckFinite(n, "negative_slope", n.negative_slope));
      break;
    case OpKind::kElu:
      n.alpha = layer.elu().has_alpha() ? layer.elu().alpha() : 1.0;
      SLIM_RETURN_IF_ERROR(CheckFinite(n, "alpha", n.alpha));
      break;
    case OpKind::kGelu: {
      const std::string& a = layer.gelu().approximate();
      if (a != "" && a != "none" && a != "tanh") {
        return LayerError(n.name, absl::StrCat("gelu.approximate must be \"none\" or \"tanh\", got \"",
                                               absl::CHexEscape(a.substr(0, 64)), "\""));
      }
      n.gelu_tanh = a == "tanh";
      break;
    }
    case OpKind::kSoftplus:
      n.beta = layer.softplus().has_beta() ? layer.softplus().beta() : 1.0;
      n.threshold = layer.softplus().has_threshold() ? layer.softplus().threshold() : 20.0;
      if (!(n.beta > 0) || !std::isfinite(n.beta)) {
        return LayerError(n.name, absl::StrCat("softplus.beta must be > 0 and finite, got ", n.beta));
      }
      SLIM_RETURN_IF_ERROR(CheckFinite(n, "threshold", n.threshold));
      break;
    case OpKind::kGroupNorm: {
      const auto& g = layer.group_norm();
      n.groups_norm = g.groups();
      n.eps = g.has_eps() ? g.eps() : 1e-5;
      n.affine = g.has_affine() ? g.affine() : true;
      SLIM_RETURN_IF_ERROR(CheckSize(n, "groups", n.groups_norm));
      if (!(n.eps > 0) || !std::isfinite(n.eps)) {
        return LayerError(n.name, absl::StrCat("group_norm.eps must be > 0 and finite, got ", n.eps));
      }
      break;
    }
    case OpKind::kUpsample: {
      const auto& u = layer.upsample();
      if (u.mode() != "" && u.mode() != "nearest" && u.mode() != "bilinear") {
        return LayerError(n.name, absl::StrCat("upsample.mode must be \"nearest\" or \"bilinear\", got \"",
                                               absl::CHexEscape(u.mode().substr(0, 64)), "\""));
      }
      n.bilinear = u.mode() == "bilinear";
      n.align_corners = u.align_corners();
      if (n.align_corners && !n.bilinear) {
        return LayerError(n.name, "upsample.align_corners applies to mode \"bilinear\" only");
      }
      const bool size = u.out_h() != 0 || u.out_w() != 0;
      if (size == (u.scale_factor() != 0)) {
        return LayerError(n.name, absl::StrFormat("upsample: give out_h and out_w, or scale_factor (got out_h %d, "
                                                  "out_w %d, scale_factor %d)",
                                                  u.out_h(), u.out_w(), u.scale_factor()));
      }
      if (size) {
        SLIM_RETURN_IF_ERROR(CheckSize(n, "out_h", u.out_h()));
        SLIM_RETURN_IF_ERROR(CheckSize(n, "out_w", u.out_w()));
      } else {
        SLIM_RETURN_IF_ERROR(CheckSize(n, "scale_factor", u.scale_factor()));
      }
      break;
    }
    case OpKind::kEmbedding:
      n.vocabulary = layer.embedding().num_embeddings();
      n.out_features = layer.embedding().embedding_dim();
      SLIM_RETURN_IF_ERROR(CheckSize(n, "num_embeddings", n.vocabulary));
      SLIM_RETURN_IF_ERROR(CheckSize(n, "embedding_dim", n.out_features));
      break;
    case OpKind::kAttention: {
      const auto& a = layer.attention();
      n.heads = a.heads();
      n.causal = a.causal();
      SLIM_RETURN_IF_ERROR(CheckSize(n, "heads", n.heads));
      if (a.has_scale() && (!(a.scale() > 0) || !std::isfinite(a.scale()))) {
        return LayerError(n.name, absl::StrCat("attention.scale must be > 0 and finite, got ", a.scale()));
      }
      n.attention_scale = a.has_scale() ? a.scale() : 0;  // 0: resolved with the shapes
      break;
    }
    case OpKind::kLayerNorm: {
      const auto& l = layer.layer_norm();
      n.norm_axes = l.has_axes() ? l.axes() : 1;
      n.eps = l.has_eps() ? l.eps() : 1e-5;
      n.affine = l.has_elementwise_affine() ? l.elementwise_affine() : true;
      n.bias = n.affine && (l.has_bias() ? l.bias() : true);
      SLIM_RETURN_IF_ERROR(CheckSize(n, "axes", n.norm_axes));
      if (!(n.eps > 0) || !std::isfinite(n.eps)) {
        return LayerError(n.name, absl::StrCat("layer_norm.eps must be > 0 and finite, got ", n.eps));
      }
      break;
    }
    case OpKind::kScale:
      n.scale = layer.scale().has_value() ? layer.scale().value() : 1.0;
      SLIM_RETURN_IF_ERROR(CheckFinite(n, "value", n.scale));
      break;
    case OpKind::kConcat:
      n.axis = layer.concat().has_axis() ? layer.concat().axis() : 1;
      break;
    case OpKind::kSlice: {
      const auto& c = layer.slice();
      n.axis = c.axis();
      n.slice_step = c.has_step() ? c.step() : 1;
      SLIM_RETURN_IF_ERROR(CheckSize(n, "step", n.slice_step));
      break;
    }
    case OpKind::kReduceMean:
    case OpKind::kReduceSum: {
      const bool mean = n.kind == OpKind::kReduceMean;
      const auto& axes = mean ? layer.reduce_mean().axes() : layer.reduce_sum().axes();
      n.axes.assign(axes.begin(), axes.end());
      n.keepdim = mean ? layer.reduce_mean().keepdim() : layer.reduce_sum().keepdim();
      break;
    }
    case OpKind::kSqueeze:
      n.axes.assign(layer.squeeze().axes().begin(), layer.squeeze().axes().end());
      break;
    case OpKind::kUnsqueeze:
      n.axes.assign(layer.unsqueeze().axes().begin(), layer.unsqueeze().axes().end());
      break;
    case OpKind::kTranspose:
      n.axes.assign(layer.transpose().perm().begin(), layer.transpose().perm().end());
      break;
    case OpKind::kSoftmax:
      n.axis = layer.softmax().has_axis() ? layer.softmax().axis() : -1;
      n.causal = layer.softmax().causal();
      break;
    case OpKind::kLogSoftmax:
      n.axis = layer.log_softmax().has_axis() ? layer.log_softmax().axis() : -1;
      break;
    case OpKind::kConv2d: {
      const auto& c = layer.conv2d();
      n.out_channels = c.out_channels();
      n.groups = c.has_groups() ? c.groups() : 1;
      n.bias = c.has_bias() ? c.bias() : true;
      SLIM_RETURN_IF_ERROR(CheckSize(n, "out_channels", n.out_channels));
      SLIM_RETURN_IF_ERROR(CheckSize(n, "groups", n.groups));
      SLIM_RETURN_IF_ERROR(ResolveWindow(c, /*default_stride_is_kernel=*/false, n));
      SLIM_RETURN_IF_ERROR(ResolvePair(n, "dilation", c.has_dilation(), c.dilation(), 1, c.dilation_hw(), "dilation_hw",
                                       &n.dilation_h, &n.dilation_w));
      break;
    }
    case OpKind::kBatchNorm: {
      const auto& b = layer.batch_norm();
      n.eps = b.has_eps() ? b.eps() : 1e-5;
      n.momentum = b.has_momentum() ? b.momentum() : 0.1;
      if (!(n.eps > 0)) return LayerError(n.name, absl::StrCat("batch_norm.eps must be > 0, got ", n.eps));
      if (!(n.momentum >= 0 && n.momentum <= 1)) {
        return LayerError(n.name, absl::StrCat("batch_norm.momentum must be in [0, 1], got ", n.momentum));
      }
      break;
    }
    case OpKind::kMaxPool: {
      const auto& m = layer.max_pool();
      SLIM_RETURN_IF_ERROR(ResolveWindow(m, /*default_stride_is_kernel=*/true, n));
      SLIM_RETURN_IF_ERROR(CheckPoolPadding(n));
      break;
    }
    case OpKind::kAvgPool: {
      const auto& a = layer.avg_pool();
      n.count_include_pad = a.has_count_include_pad() ? a.count_include_pad() : true;
      SLIM_RETURN_IF_ERROR(ResolveWindow(a, /*default_stride_is_kernel=*/true, n));
      SLIM_RETURN_IF_ERROR(CheckPoolPadding(n));
      break;
    }
    case OpKind::kLinear:
      n.out_features = layer.linear().out_features();
      n.bias = layer.linear().has_bias() ? layer.linear().bias() : true;
      SLIM_RETURN_IF_ERROR(CheckSize(n, "out_features", n.out_features));
      break;
    case OpKind::kDropout:
      n.dropout_p = layer.dropout().p();
      if (!(n.dropout_p >= 0 && n.dropout_p < 1)) {
        return LayerError(n.name, absl::StrCat("dropout.p must be in [0, 1), got ", n.dropout_p));
      }
      break;
    case OpKind::kSoftmaxCrossEntropy:
      n.label_smoothing = layer.softmax_cross_entropy().label_smoothing();
      if (!(n.label_smoothing >= 0 && n.label_smoothing < 1)) {
        return LayerError(n.name, absl::StrCat("softmax_cross_entropy.label_smoothing must be in [0, 1), got ",
                                               n.label_smoothing));
      }
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

// Output size of a window op along one axis: floor((in + p0 + p1 - eff) / s)
// + 1, for a window that fits (CheckWindowFits).
int64_t WindowOut(int64_t in, int64_t eff_kernel, int64_t stride, int64_t pad_before, int64_t pad_after) {
  return (in - eff_kernel + pad_before + pad_after) / stride + 1;
}

absl::Status NeedImage(const Node& n, const Dims& in) {
  if (in.size() == 3) return absl::OkStatus();
  return LayerError(n.name, absl::StrFormat("%s needs a (C,H,W) input, got %s", OpKindName(n.kind),
                                            DimsString(in)));
}

// The window (eff_h x eff_w, after dilation) fits the padded input; the
// padded sizes do not overflow.
absl::Status CheckWindowFits(const Node& n, const Dims& in, int64_t eff_h, int64_t eff_w) {
  SLIM_ASSIGN_OR_RETURN(const int64_t padded_h,
                        Sum(n.name, "the padded input height", {in[1], n.pad_top, n.pad_bottom}));
  SLIM_ASSIGN_OR_RETURN(const int64_t padded_w,
                        Sum(n.name, "the padded input width", {in[2], n.pad_left, n.pad_right}));
  if (eff_h <= padded_h && eff_w <= padded_w) return absl::OkStatus();
  const std::string kernel =
      eff_h == eff_w ? absl::StrCat(eff_h) : absl::StrFormat("%dx%d", eff_h, eff_w);
  return LayerError(n.name, absl::StrFormat("%skernel %s is larger than padded input %dx%d",
                                            n.dilation_h > 1 || n.dilation_w > 1 ? "dilated " : "", kernel,
                                            padded_h, padded_w));
}

// Per-example axes at most (batched: 4).
constexpr int64_t kMaxExampleRank = 3;

// The per-example index of batched axis `axis` (negative counts from the
// end) of a tensor with per-example dims `in`; the batch and axes out of
// range are refused, naming op.field.
absl::StatusOr<int64_t> ExampleAxis(const Node& n, const char* field, int64_t axis, const Dims& in) {
  const int64_t rank = static_cast<int64_t>(in.size()) + 1;  // batched
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 1 || a >= rank) {
    return LayerError(n.name, absl::StrFormat("%s.%s %d is not an axis of the (N,%s) input: it must be in [1, %d] "
                                              "or [-%d, -1] (0 is the batch)",
                                              OpKindName(n.kind), field, axis, absl::StrJoin(in, ","), rank - 1,
                                              rank - 1));
  }
  return a - 1;
}

// Distinct per-example axes, ascending, from batched `axes`.
absl::StatusOr<std::vector<int64_t>> ExampleAxes(const Node& n, const char* field, const std::vector<int64_t>& axes,
                                                 const Dims& in) {
  std::vector<int64_t> out;
  for (int64_t a : axes) {
    SLIM_ASSIGN_OR_RETURN(const int64_t e, ExampleAxis(n, field, a, in));
    if (std::find(out.begin(), out.end(), e) != out.end()) {
      return LayerError(n.name, absl::StrFormat("%s.%s names axis %d twice", OpKindName(n.kind), field, e + 1));
    }
    out.push_back(e);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status CheckRank(const Node& n, const Dims& out) {
  if (out.empty() || static_cast<int64_t>(out.size()) > kMaxExampleRank) {
    return LayerError(n.name, absl::StrFormat("%s would give a (N%s%s) output; tensors have 1 to %d axes besides "
                                              "the batch",
                                              OpKindName(n.kind), out.empty() ? "" : ",", absl::StrJoin(out, ","),
                                              kMaxExampleRank));
  }
  return absl::OkStatus();
}

// NumPy's broadcast of two per-example shapes (aligned at the last axis).
absl::StatusOr<Dims> BroadcastDims(const Node& n, const std::vector<std::string>& names) {
  const Dims& a = n.input_dims[0];
  const Dims& b = n.input_dims[1];
  const size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {  // i counts from the last axis
    const int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    const int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (da != db && da != 1 && db != 1) {
      return LayerError(n.name, absl::StrFormat("%s: input '%s' (N,%s) and input '%s' (N,%s) do not broadcast: "
                                                "axis %d has sizes %d and %d",
                                                OpKindName(n.kind), names[0], absl::StrJoin(a, ","), names[1],
                                                absl::StrJoin(b, ","), rank - i, da, db));
    }
    out[rank - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

// Infers n.out from n.input_dims; counts parameters and FLOPs, checking every
// product against overflow and `limits`.
absl::Status InferShape(const Layer* layer, Node& n, const std::vector<std::string>& input_names,
                        int64_t num_classes, const SizeLimits& limits) {
  const Dims& in = n.input_dims[0];
  const int64_t in_elems = NumElements(in);
  switch (n.kind) {
    case OpKind::kInput:
      break;
    case OpKind::kConv2d: {
      SLIM_RETURN_IF_ERROR(NeedImage(n, in));
      if (in[0] % n.groups != 0 || n.out_channels % n.groups != 0) {
        return LayerError(n.name, absl::StrFormat("conv2d.groups %d must divide input channels %d and "
                                                  "out_channels %d", n.groups, in[0], n.out_channels));
      }
      SLIM_ASSIGN_OR_RETURN(const int64_t span_h,
                            Product(n.name, "the dilated kernel", {n.dilation_h, n.kernel_h - 1}));
      SLIM_ASSIGN_OR_RETURN(const int64_t span_w,
                            Product(n.name, "the dilated kernel", {n.dilation_w, n.kernel_w - 1}));
      SLIM_ASSIGN_OR_RETURN(const int64_t eff_h, Sum(n.name, "the dilated kernel", {span_h, 1}));
      SLIM_ASSIGN_OR_RETURN(const int64_t eff_w, Sum(n.name, "the dilated kernel", {span_w, 1}));
      SLIM_RETURN_IF_ERROR(CheckWindowFits(n, in, eff_h, eff_w));
      n.out = {n.out_channels, WindowOut(in[1], eff_h, n.stride_h, n.pad_top, n.pad_bottom),
               WindowOut(in[2], eff_w, n.stride_w, n.pad_left, n.pad_right)};
      SLIM_ASSIGN_OR_RETURN(const int64_t out_elems, CheckedElements(LayerWho(n.name), n.out, limits));
      SLIM_ASSIGN_OR_RETURN(const int64_t macs_per_out,
                            Product(n.name, "conv2d weights", {in[0] / n.groups, n.kernel_h, n.kernel_w}));
      SLIM_ASSIGN_OR_RETURN(const int64_t weights, Product(n.name, "conv2d weights", {n.out_channels, macs_per_out}));
      SLIM_ASSIGN_OR_RETURN(n.parameter_count, Sum(n.name, "conv2d parameters", {weights, n.bias ? n.out_channels : 0}));
      SLIM_ASSIGN_OR_RETURN(const int64_t macs, Product(n.name, "conv2d FLOPs", {2, out_elems, macs_per_out}));
      SLIM_ASSIGN_OR_RETURN(n.forward_flops, Sum(n.name, "conv2d FLOPs", {macs, n.bias ? out_elems : 0}));
      SLIM_ASSIGN_OR_RETURN(n.backward_flops, Product(n.name, "conv2d backward FLOPs", {2, n.forward_flops}));
      break;
    }
    case OpKind::kBatchNorm:
      // Channels first: (C,H,W), (C,L) (BatchNorm1d on sequences) or (F).
      if (in.empty()) {
        return LayerError(n.name, "batch_norm needs a (C,H,W), (C,L) or (F) input, got " + DimsString(in));
      }
      n.out = in;
      n.parameter_count = 2 * in[0];
      n.buffer_count = 2 * in[0];
      n.forward_flops = 6 * in_elems;
      n.backward_flops = 2 * n.forward_flops;
      break;
    case OpKind::kRelu:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kDropout:
    case OpKind::kRelu6:
    case OpKind::kClip:
    case OpKind::kLeakyRelu:
    case OpKind::kHardsigmoid:
    case OpKind::kHardswish:
    case OpKind::kElu:
    case OpKind::kSilu:
    case OpKind::kSoftplus:
    case OpKind::kGelu: {
      if (in.empty()) return LayerError(n.name, std::string(OpKindName(n.kind)) + " needs a tensor input, got a scalar");
      n.out = in;
      const bool simple = n.kind == OpKind::kRelu || n.kind == OpKind::kSigmoid || n.kind == OpKind::kTanh ||
                          n.kind == OpKind::kDropout || n.kind == OpKind::kRelu6 || n.kind == OpKind::kClip ||
                          n.kind == OpKind::kLeakyRelu || n.kind == OpKind::kHardsigmoid;
      n.forward_flops = (simple ? 1 : 4) * in_elems;
      n.backward_flops = (simple ? 2 : 4) * in_elems;
      break;
    }
    case OpKind::kSoftmax:
    case OpKind::kLogSoftmax: {
      if (in.empty()) return LayerError(n.name, std::string(OpKindName(n.kind)) + " needs a tensor input, got a scalar");
      SLIM_ASSIGN_OR_RETURN(n.axis, ExampleAxis(n, "axis", n.axis, in));
      if (n.causal && (n.axis != static_cast<int64_t>(in.size()) - 1 || in.size() < 2 ||
                       in[in.size() - 1] != in[in.size() - 2])) {
        return LayerError(n.name, absl::StrFormat("softmax.causal needs axis -1 and the last two axes equal, got "
                                                  "axis %d of %s",
                                                  n.axis + 1, DimsString(in)));
      }
      n.out = in;
      n.forward_flops = 5 * in_elems;
      n.backward_flops = 4 * in_elems;
      break;
    }
    case OpKind::kAdd:
      if (n.input_dims.size() == 2 && n.input_dims[1] != in) {
        SLIM_ASSIGN_OR_RETURN(n.out, BroadcastDims(n, input_names));
        SLIM_ASSIGN_OR_RETURN(const int64_t out_elems, CheckedElements(LayerWho(n.name), n.out, limits));
        n.forward_flops = out_elems;
        n.backward_flops = 2 * out_elems;
        break;
      }
      for (size_t i = 1; i < n.input_dims.size(); ++i) {
        if (n.input_dims[i] != in) {
          return LayerError(n.name, absl::StrFormat("add: input '%s' has shape %s but input '%s' has %s",
                                                    input_names[i], DimsString(n.input_dims[i]),
                                                    input_names[0], DimsString(in)));
        }
      }
      n.out = in;
      n.forward_flops = in_elems * static_cast<int64_t>(n.input_dims.size() - 1);
      n.backward_flops = in_elems * static_cast<int64_t>(n.input_dims.size());
      break;
    case OpKind::kConcat: {
      SLIM_ASSIGN_OR_RETURN(n.axis, ExampleAxis(n, "axis", n.axis, in));
      int64_t total = 0;
      for (size_t i = 0; i < n.input_dims.size(); ++i) {
        const Dims& d = n.input_dims[i];
        bool match = d.size() == in.size();
        for (size_t k = 0; match && k < d.size(); ++k) match = static_cast<int64_t>(k) == n.axis || d[k] == in[k];
        if (!match) {
          return LayerError(n.name, absl::StrFormat("concat: input '%s' has shape %s, which does not match "
                                                    "input '%s' (%s) outside axis %d",
                                                    input_names[i], DimsString(d), input_names[0], DimsString(in),
                                                    n.axis + 1));
        }
        SLIM_ASSIGN_OR_RETURN(total, Sum(n.name, "the concatenated axis", {total, d[n.axis]}));
      }
      n.out = in;
      n.out[n.axis] = total;
      SLIM_ASSIGN_OR_RETURN(n.backward_flops, CheckedElements(LayerWho(n.name), n.out, limits));
      break;
    }
    case OpKind::kMul:
    case OpKind::kSub:
    case OpKind::kDiv: {
      SLIM_ASSIGN_OR_RETURN(n.out, BroadcastDims(n, input_names));
      SLIM_ASSIGN_OR_RETURN(const int64_t out_elems, CheckedElements(LayerWho(n.name), n.out, limits));
      n.forward_flops = out_elems;
      n.backward_flops = (n.kind == OpKind::kSub ? 2 : 4) * out_elems;
      break;
    }
    case OpKind::kLayerNorm: {
      const int64_t rank = static_cast<int64_t>(in.size());
      if (in.empty() || n.norm_axes > rank) {
        return LayerError(n.name, absl::StrFormat("layer_norm.axes %d is more than the %d axes of the (N,%s) input",
                                                  n.norm_axes, rank, absl::StrJoin(in, ",")));
      }
      if (rank == 3 && n.norm_axes != 3) {
        // An image is stored (N,H,W,C): only the whole example is contiguous.
        return LayerError(n.name, absl::StrFormat("layer_norm over the last %d axes of an image (N,%s) is not "
                                                  "supported: its rows are not contiguous in the (N,H,W,C) layout; "
                                                  "normalise all 3 axes, or transpose first",
                                                  n.norm_axes, absl::StrJoin(in, ",")));
      }
      n.norm_row_size = 1;
      for (int64_t k = rank - n.norm_axes; k < rank; ++k) n.norm_row_size *= in[k];
      n.norm_rows = in_elems / n.norm_row_size;
      n.out = in;
      n.parameter_count = n.affine ? (n.bias ? 2 : 1) * n.norm_row_size : 0;
      n.forward_flops = 6 * in_elems;
      n.backward_flops = 2 * n.forward_flops;
      break;
    }
    case OpKind::kAttention: {
      const Dims& k = n.input_dims[1];
      const Dims& v = n.input_dims[2];
      if (in.size() != 2 || k.size() != 2 || v.size() != 2) {
        return LayerError(n.name, absl::StrFormat("attention needs (N,L,D) q, k and v, got (N,%s), (N,%s), (N,%s)",
                                                  absl::StrJoin(in, ","), absl::StrJoin(k, ","),
                                                  absl::StrJoin(v, ",")));
      }
      if (k != v || k[1] != in[1]) {
        return LayerError(n.name, absl::StrFormat("attention: k (N,%s) and v (N,%s) must have one shape, with q's "
                                                  "D (%d)",
                                                  absl::StrJoin(k, ","), absl::StrJoin(v, ","), in[1]));
      }
      if (n.inputs[0] == n.inputs[1] || n.inputs[0] == n.inputs[2] || n.inputs[1] == n.inputs[2]) {
        return LayerError(n.name, "attention: q, k and v must be three different layers (project them with three "
                                  "linear layers)");
      }
      if (in[1] % n.heads != 0) {
        return LayerError(n.name, absl::StrFormat("attention.heads %d does not divide D = %d", n.heads, in[1]));
      }
      if (n.causal && in[0] != k[0]) {
        return LayerError(n.name, absl::StrFormat("attention.causal needs as many queries as keys, got %d and %d",
                                                  in[0], k[0]));
      }
      if (n.attention_scale == 0) n.attention_scale = 1.0 / std::sqrt(static_cast<double>(in[1] / n.heads));
      n.out = in;
      SLIM_ASSIGN_OR_RETURN(const int64_t products, Product(n.name, "attention FLOPs", {4, in[0], k[0], in[1]}));
      SLIM_ASSIGN_OR_RETURN(const int64_t softmax, Product(n.name, "attention FLOPs", {5, n.heads, in[0], k[0]}));
      SLIM_ASSIGN_OR_RETURN(n.forward_flops, Sum(n.name, "attention FLOPs", {products, softmax}));
      SLIM_ASSIGN_OR_RETURN(n.backward_flops, Product(n.name, "attention backward FLOPs", {n.forward_flops, 5}));
      n.backward_flops /= 2;
      break;
    }
    case OpKind::kAdaptiveAvgPool: {
      SLIM_RETURN_IF_ERROR(NeedImage(n, in));
      const int64_t oh = layer->adaptive_avg_pool().out_h(), ow = layer->adaptive_avg_pool().out_w();
      if (oh <= 0 || ow <= 0 || oh > in[1] || ow > in[2]) {
        return LayerError(n.name, absl::StrFormat("adaptive_avg_pool: output %dx%d must be positive and at most the "
                                                  "input's %dx%d",
                                                  oh, ow, in[1], in[2]));
      }
      n.out = {in[0], oh, ow};
      n.forward_flops = in_elems;
      n.backward_flops = in_elems;
      break;
    }
    case OpKind::kUpsample: {
      SLIM_RETURN_IF_ERROR(NeedImage(n, in));
      const auto& u = layer->upsample();
      int64_t oh = u.out_h(), ow = u.out_w();
      if (u.scale_factor() != 0) {
        SLIM_ASSIGN_OR_RETURN(oh, Product(n.name, "upsample output height", {in[1], u.scale_factor()}));
        SLIM_ASSIGN_OR_RETURN(ow, Product(n.name, "upsample output width", {in[2], u.scale_factor()}));
      }
      n.out = {in[0], oh, ow};
      SLIM_ASSIGN_OR_RETURN(const int64_t out_elems, CheckedElements(LayerWho(n.name), n.out, limits));
      // nearest: a copy per output; bilinear: 4 products and 3 sums.
      SLIM_ASSIGN_OR_RETURN(n.forward_flops, Product(n.name, "upsample FLOPs", {n.bilinear ? 7 : 1, out_elems}));
      n.backward_flops = n.forward_flops;
      break;
    }
    case OpKind::kGroupNorm:
      if (in.empty() || in[0] % n.groups_norm != 0) {
        return LayerError(n.name, absl::StrFormat("group_norm.groups %d must divide the %d channels of the (N,%s) "
                                                  "input",
                                                  n.groups_norm, in.empty() ? 0 : in[0], absl::StrJoin(in, ",")));
      }
      n.out = in;
      n.parameter_count = n.affine ? 2 * in[0] : 0;
      n.forward_flops = 6 * in_elems;
      n.backward_flops = 2 * n.forward_flops;
      break;
    case OpKind::kEmbedding: {
      if (n.inputs[0] != 0 || in.size() != 1) {
        return LayerError(n.name, absl::StrFormat("embedding reads token ids: its input must be the model input of "
                                                  "shape (L), got '%s' (N,%s)",
                                                  input_names[0], absl::StrJoin(in, ",")));
      }
      n.out = {in[0], n.out_features};
      SLIM_ASSIGN_OR_RETURN(n.parameter_count, Product(n.name, "embedding weights", {n.vocabulary, n.out_features}));
      n.backward_flops = NumElements(n.out);
      break;
    }
    case OpKind::kMatMul: {
      const Dims& b = n.input_dims[1];
      const size_t r = in.size();
      if (r < 2 || b.size() != r || (r == 3 && in[0] != b[0]) || in[r - 1] != b[r - 2]) {
        return LayerError(n.name, absl::StrFormat("matmul: (N,%s) x (N,%s) do not multiply: both need 2 or 3 "
                                                  "axes, the same leading sizes, and the first's last size equal to "
                                                  "the second's next to last",
                                                  absl::StrJoin(in, ","), absl::StrJoin(b, ",")));
      }
      n.out = in;
      n.out[r - 1] = b[r - 1];
      SLIM_ASSIGN_OR_RETURN(n.forward_flops,
                            Product(n.name, "matmul FLOPs", {2, r == 3 ? in[0] : 1, in[r - 2], in[r - 1], b[r - 1]}));
      SLIM_ASSIGN_OR_RETURN(n.backward_flops, Product(n.name, "matmul backward FLOPs", {2, n.forward_flops}));
      break;
    }
    case OpKind::kPositionalEmbedding:
      if (in.empty()) return LayerError(n.name, "positional_embedding needs a tensor input, got a scalar");
      n.out = in;
      n.parameter_count = in_elems;
      n.forward_flops = in_elems;
      n.backward_flops = in_elems;
      break;
    case OpKind::kClassToken: {
      if (in.size() != 2) {
        return LayerError(n.name, "class_token needs (N,L,D) tokens, got (N," + absl::StrJoin(in, ",") + ")");
      }
      SLIM_ASSIGN_OR_RETURN(const int64_t rows, Sum(n.name, "the sequence length", {in[0], 1}));
      n.out = {rows, in[1]};
      n.parameter_count = in[1];
      break;
    }
    case OpKind::kScale:
      if (in.empty()) return LayerError(n.name, "scale needs a tensor input, got a scalar");
      n.out = in;
      n.forward_flops = in_elems;
      n.backward_flops = in_elems;
      break;
    case OpKind::kReshape: {
      const auto& want = layer->reshape().dims();
      if (want.empty() || want.size() > kMaxExampleRank) {
        return LayerError(n.name, absl::StrFormat("reshape.dims must have 1 to %d entries (the shape of one "
                                                  "example), got %d", kMaxExampleRank, want.size()));
      }
      int64_t known = 1, free = -1;
      for (int i = 0; i < want.size(); ++i) {
        if (want[i] == -1 && free < 0) {
          free = i;
        } else if (want[i] <= 0) {
          return LayerError(n.name, absl::StrFormat("reshape.dims[%d] must be > 0 or one -1, got %d", i, want[i]));
        } else {
          SLIM_ASSIGN_OR_RETURN(known, Product(n.name, "reshape.dims", {known, want[i]}));
        }
      }
      n.out.assign(want.begin(), want.end());
      if (free >= 0) {
        if (in_elems % known != 0) {
          return LayerError(n.name, absl::StrFormat("reshape: %d elements (%s) cannot be split into [%s]", in_elems,
                                                    DimsString(in), absl::StrJoin(want, ", ")));
        }
        n.out[free] = in_elems / known;
      } else if (known != in_elems) {
        return LayerError(n.name, absl::StrFormat("reshape: the input has %d elements (%s), dims [%s] have %d",
                                                  in_elems, DimsString(in), absl::StrJoin(want, ", "), known));
      }
      break;
    }
    case OpKind::kSqueeze: {
      if (n.axes.empty()) {
        for (size_t k = 0; k < in.size(); ++k) {
          if (in[k] == 1) n.axes.push_back(static_cast<int64_t>(k) + 1);
        }
      }
      SLIM_ASSIGN_OR_RETURN(n.axes, ExampleAxes(n, "axes", n.axes, in));
      for (int64_t a : n.axes) {
        if (in[a] != 1) {
          return LayerError(n.name, absl::StrFormat("squeeze: axis %d of the (N,%s) input has size %d, not 1", a + 1,
                                                    absl::StrJoin(in, ","), in[a]));
        }
      }
      for (size_t k = 0; k < in.size(); ++k) {
        if (!std::binary_search(n.axes.begin(), n.axes.end(), static_cast<int64_t>(k))) n.out.push_back(in[k]);
      }
      SLIM_RETURN_IF_ERROR(CheckRank(n, n.out));
      break;
    }
    case OpKind::kUnsqueeze: {
      const int64_t out_rank = static_cast<int64_t>(in.size() + n.axes.size());
      if (n.axes.empty() || out_rank > kMaxExampleRank) {
        return LayerError(n.name, absl::StrFormat("unsqueeze.axes must name 1 to %d new axes for a (N,%s) input, "
                                                  "got %d", kMaxExampleRank - static_cast<int64_t>(in.size()),
                                                  absl::StrJoin(in, ","), n.axes.size()));
      }
      SLIM_ASSIGN_OR_RETURN(n.axes, ExampleAxes(n, "axes", n.axes, Dims(out_rank, 1)));
      size_t next = 0;
      for (int64_t k = 0; k < out_rank; ++k) {
        n.out.push_back(std::binary_search(n.axes.begin(), n.axes.end(), k) ? 1 : in[next++]);
      }
      break;
    }
    case OpKind::kTranspose: {
      const int64_t rank = static_cast<int64_t>(in.size()) + 1;
      std::vector<int64_t> sorted = n.axes;
      std::sort(sorted.begin(), sorted.end());
      bool permutation = static_cast<int64_t>(sorted.size()) == rank;
      for (int64_t k = 0; permutation && k < rank; ++k) permutation = sorted[k] == k;
      if (!permutation || n.axes[0] != 0) {
        return LayerError(n.name, absl::StrFormat("transpose.perm [%s] must be a permutation of 0..%d with the batch "
                                                  "first (perm[0] = 0) for the (N,%s) input",
                                                  absl::StrJoin(n.axes, ", "), rank - 1, absl::StrJoin(in, ",")));
      }
      std::vector<int64_t> axes;
      for (int64_t k = 1; k < rank; ++k) {
        axes.push_back(n.axes[k] - 1);
        n.out.push_back(in[n.axes[k] - 1]);
      }
      n.axes = axes;
      break;
    }
    case OpKind::kSlice: {
      SLIM_ASSIGN_OR_RETURN(n.axis, ExampleAxis(n, "axis", n.axis, in));
      const int64_t size = in[n.axis];
      const auto& c = layer->slice();
      // Python's rule: negative from the end, then clamped to [0, size].
      auto resolve = [size](int64_t v) { return std::min(std::max(v < 0 ? v + size : v, int64_t{0}), size); };
      const int64_t start = c.has_start() ? resolve(c.start()) : 0;
      const int64_t end = c.has_end() ? resolve(c.end()) : size;
      const int64_t count = end > start ? 1 + (end - start - 1) / n.slice_step : 0;  // no overflow for any step
      if (count == 0) {
        return LayerError(n.name, absl::StrFormat("slice of axis %d (size %d) from %d to %d is empty", n.axis + 1,
                                                  size, start, end));
      }
      n.slice_start = start;
      n.out = in;
      n.out[n.axis] = count;
      break;
    }
    case OpKind::kReduceMean:
    case OpKind::kReduceSum: {
      if (in.empty()) return LayerError(n.name, std::string(OpKindName(n.kind)) + " needs a tensor input, got a scalar");
      if (n.axes.empty()) {
        for (size_t k = 0; k < in.size(); ++k) n.axes.push_back(static_cast<int64_t>(k) + 1);
      }
      SLIM_ASSIGN_OR_RETURN(n.axes, ExampleAxes(n, "axes", n.axes, in));
      for (size_t k = 0; k < in.size(); ++k) {
        if (!std::binary_search(n.axes.begin(), n.axes.end(), static_cast<int64_t>(k))) {
          n.out.push_back(in[k]);
        } else if (n.keepdim) {
          n.out.push_back(1);
        }
      }
      if (n.out.empty()) {
        return LayerError(n.name, absl::StrFormat("%s over every axis of the (N,%s) input leaves none besides the "
                                                  "batch: set keepdim",
                                                  OpKindName(n.kind), absl::StrJoin(in, ",")));
      }
      n.forward_flops = in_elems;
      n.backward_flops = in_elems;
      break;
    }
    case OpKind::kMaxPool:
    case OpKind::kAvgPool: {
      SLIM_RETURN_IF_ERROR(NeedImage(n, in));
      SLIM_RETURN_IF_ERROR(CheckWindowFits(n, in, n.kernel_h, n.kernel_w));
      n.out = {in[0], WindowOut(in[1], n.kernel_h, n.stride_h, n.pad_top, n.pad_bottom),
               WindowOut(in[2], n.kernel_w, n.stride_w, n.pad_left, n.pad_right)};
      SLIM_ASSIGN_OR_RETURN(const int64_t out_elems, CheckedElements(LayerWho(n.name), n.out, limits));
      SLIM_ASSIGN_OR_RETURN(n.forward_flops,
                            Product(n.name, std::string(OpKindName(n.kind)).append(" FLOPs").c_str(),
                                    {out_elems, n.kernel_h, n.kernel_w}));
      n.backward_flops = n.forward_flops;
      break;
    }
    case OpKind::kGlobalAvgPool:
      SLIM_RETURN_IF_ERROR(NeedImage(n, in));
      n.out = {in[0]};
      n.forward_flops = in_elems;
      n.backward_flops = in_elems;
      break;
    case OpKind::kLinear: {
      if (in.empty()) return LayerError(n.name, "linear needs a tensor input, got a scalar");
      // (L,D) tokens: each of the L rows; (F) and images (flattened): one.
      const bool tokens = in.size() == 2;
      const int64_t rows = tokens ? in[0] : 1, features = tokens ? in[1] : in_elems;
      n.out = tokens ? Dims{rows, n.out_features} : Dims{n.out_features};
      SLIM_RETURN_IF_ERROR(CheckedElements(LayerWho(n.name), n.out, limits).status());
      SLIM_ASSIGN_OR_RETURN(const int64_t weights, Product(n.name, "linear weights", {features, n.out_features}));
      SLIM_ASSIGN_OR_RETURN(n.parameter_count, Sum(n.name, "linear parameters", {weights, n.bias ? n.out_features : 0}));
      SLIM_ASSIGN_OR_RETURN(const int64_t macs, Product(n.name, "linear FLOPs", {2, weights, rows}));
      SLIM_ASSIGN_OR_RETURN(n.forward_flops,
                            Sum(n.name, "linear FLOPs", {macs, n.bias ? n.out_features * rows : 0}));
      SLIM_ASSIGN_OR_RETURN(n.backward_flops, Product(n.name, "linear backward FLOPs", {2, n.forward_flops}));
      break;
    }
    case OpKind::kFlatten:
      if (in.empty()) return LayerError(n.name, "flatten needs a tensor input, got a scalar");
      n.out = {in_elems};
      break;
    case OpKind::kSoftmaxCrossEntropy:
      // (classes), or (L, classes): a label per position.
      if ((in.size() != 1 && in.size() != 2) || in.back() != num_classes) {
        return LayerError(n.name, absl::StrFormat("softmax_cross_entropy: logits have shape %s but "
                                                  "num_classes is %d", DimsString(in), num_classes));
      }
      n.out = {};
      n.forward_flops = 4 * in_elems;
      n.backward_flops = 2 * in_elems;
      break;
    case OpKind::kMseLoss:
      // Row-major inputs only, so the targets are in the caller's order.
      if (in.size() != 1 && in.size() != 2) {
        return LayerError(n.name, absl::StrFormat("mse_loss needs an (F) or (L,D) input, got %s; flatten an image "
                                                  "first",
                                                  DimsString(in)));
      }
      n.out = {};
      n.forward_flops = 3 * in_elems;
      n.backward_flops = 2 * in_elems;
      break;
  }
  for (int64_t d : n.out) {
    if (d <= 0) {
      return LayerError(n.name, absl::StrFormat("output shape %s has a non-positive size", DimsString(n.out)));
    }
  }
  SLIM_RETURN_IF_ERROR(CheckedElements(LayerWho(n.name), n.out, limits).status());
  if (n.parameter_count > limits.max_parameters) {
    return LayerError(n.name, absl::StrFormat("%d parameters, over the limit of %d", n.parameter_count,
                                              limits.max_parameters));
  }
  return absl::OkStatus();
}

}  // namespace slimtrain::planner::op_rules
