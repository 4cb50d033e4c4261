// See op_rules.h: each op's shape, parameter and FLOP counts (InferShape);
// the attributes are op_rules.cc's.
#include "planner/op_rules.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace slimtrain::planner::op_rules {

using v1::Layer;

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
