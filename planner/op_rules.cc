// See op_rules.h: the shared checks, KindOf and each op's attributes
// (ResolveAttributes); the shapes are op_shapes.cc's.
#include "planner/op_rules.h"

#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace slimtrain::planner::op_rules {

using v1::Layer;

absl::Status LayerError(const std::string& layer, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("layer '", layer, "': ", message));
}

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

}  // namespace slimtrain::planner::op_rules
