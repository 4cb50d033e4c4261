// See shape_views.h.
#include "engine/shape_views.h"

#include <algorithm>
#include <utility>

#include "base/status_macros.h"

namespace slimtrain::engine {

using planner::Dims;
using planner::Node;
using planner::OpKind;

TensorView ActivationView(const Dims& dims, int64_t batch) {
  SLIM_CHECK(!dims.empty() && dims.size() < kMaxViewRank);
  TensorView v;
  v.rank = static_cast<int>(dims.size()) + 1;
  v.dims[0] = batch;
  for (size_t i = 0; i < dims.size(); ++i) v.dims[i + 1] = dims[i];
  if (dims.size() == 3) {  // (C,H,W) stored (H,W,C)
    v.strides[1] = 1;
    v.strides[3] = dims[0];
    v.strides[2] = dims[2] * dims[0];
  } else {
    int64_t stride = 1;
    for (int i = v.rank - 1; i >= 1; --i) {
      v.strides[i] = stride;
      stride *= v.dims[i];
    }
  }
  v.strides[0] = planner::NumElements(dims);
  return v;
}

CopyViews LayoutViews(const Node& n, int64_t batch, int index) {
  const Dims& in = n.input_dims[index];
  const TensorView x = ActivationView(in, batch);
  const TensorView y = ActivationView(n.out, batch);
  CopyViews v{x, y};
  switch (n.kind) {
    case OpKind::kReshape:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kFlatten:
      break;  // the same elements in row-major order: lockstep
    case OpKind::kTranspose:
      // Read x in the output's order: output axis i is input axis axes[i].
      v.src = y;
      v.src.offset = 0;
      v.src.strides[0] = x.strides[0];
      for (size_t i = 0; i < n.axes.size(); ++i) v.src.strides[i + 1] = x.strides[n.axes[i] + 1];
      break;
    case OpKind::kSlice: {
      const int a = static_cast<int>(n.axis) + 1;
      v.src.dims[a] = n.out[n.axis];
      v.src.offset = n.slice_start * x.strides[a];
      v.src.strides[a] = x.strides[a] * n.slice_step;
      break;
    }
    case OpKind::kClassToken:  // the sequence lands in rows 1..L
      v.dst.dims[1] = in[0];
      v.dst.offset = y.strides[1];
      break;
    case OpKind::kConcat: {
      const int a = static_cast<int>(n.axis) + 1;
      int64_t before = 0;
      for (int i = 0; i < index; ++i) before += n.input_dims[i][n.axis];
      v.dst.dims[a] = in[n.axis];
      v.dst.offset = before * y.strides[a];
      break;
    }
    default:
      SLIM_CHECK(false && "LayoutViews: not a layout op");
  }
  return v;
}

TensorView AlignedView(const Dims& in, const Dims& out, int64_t batch) {
  const TensorView x = ActivationView(in, batch);
  TensorView v;
  v.rank = static_cast<int>(out.size()) + 1;
  v.dims[0] = batch;
  v.strides[0] = x.strides[0];
  const int shift = static_cast<int>(out.size() - in.size());  // missing leading axes
  for (int i = 1; i < v.rank; ++i) {
    const int at = i - shift;  // x's axis
    if (at >= 1) {
      v.dims[i] = x.dims[at];
      v.strides[i] = x.strides[at];
    } else {
      v.dims[i] = 1;
      v.strides[i] = 0;
    }
  }
  return v;
}

TensorView BroadcastView(const Dims& in, const Dims& out, int64_t batch) {
  TensorView v = AlignedView(in, out, batch);
  for (int i = 1; i < v.rank; ++i) {
    if (v.dims[i] != out[i - 1]) {  // 1 against the output's size
      v.dims[i] = out[i - 1];
      v.strides[i] = 0;
    }
  }
  return v;
}

ReduceViews ReductionViews(const Node& n, int64_t batch) {
  const Dims& in = n.input_dims[0];
  ReduceViews v;
  v.src = ActivationView(in, batch);
  // The output's storage with the reduced axes back in as size 1.
  const TensorView y = ActivationView(n.out, batch);
  Dims kept(in);
  for (int64_t a : n.axes) kept[a] = 1;
  v.dst.rank = v.src.rank;
  v.dst.dims[0] = batch;
  v.dst.strides[0] = y.strides[0];
  int next = 1;  // y's axis
  int64_t reduced = 1;
  for (size_t i = 0; i < in.size(); ++i) {
    const bool is_reduced = std::binary_search(n.axes.begin(), n.axes.end(), static_cast<int64_t>(i));
    v.dst.dims[i + 1] = kept[i];
    if (is_reduced) {
      reduced *= in[i];
      v.dst.strides[i + 1] = n.keepdim ? y.strides[next++] : 0;
    } else {
      v.dst.strides[i + 1] = y.strides[next++];
    }
  }
  v.scale = n.kind == OpKind::kReduceMean ? 1.0 / static_cast<double>(reduced) : 1.0;
  return v;
}

BinaryOp BinaryOpOf(const Node& n) {
  switch (n.kind) {
    case OpKind::kAdd: return BinaryOp::kAdd;
    case OpKind::kSub: return BinaryOp::kSub;
    case OpKind::kMul: return BinaryOp::kMul;
    case OpKind::kDiv: return BinaryOp::kDiv;
    default: SLIM_CHECK(false && "BinaryOpOf: not a binary op");
  }
  return BinaryOp::kAdd;
}

bool IsViewOp(const Node& n) {
  return planner::IsBroadcastBinary(n) || planner::IsLayoutOp(n) || n.kind == OpKind::kReduceMean ||
         n.kind == OpKind::kReduceSum || n.kind == OpKind::kPositionalEmbedding || n.kind == OpKind::kMatMul;
}

namespace {

// A matmul operand or result as (N,H,M,K): H = 1 (stride 0) for (N,M,K).
TensorView MatrixView(const Dims& dims, int64_t batch) {
  const TensorView x = ActivationView(dims, batch);
  if (dims.size() == 3) return x;
  TensorView v;
  v.rank = 4;
  v.dims[0] = batch;
  v.strides[0] = x.strides[0];
  v.dims[1] = 1;
  v.strides[1] = 0;
  v.dims[2] = x.dims[1];
  v.strides[2] = x.strides[1];
  v.dims[3] = x.dims[2];
  v.strides[3] = x.strides[2];
  return v;
}

// The view with its last two axes swapped.
TensorView Transposed(TensorView v) {
  std::swap(v.dims[2], v.dims[3]);
  std::swap(v.strides[2], v.strides[3]);
  return v;
}

}  // namespace

namespace {

// The parameter of positional_embedding or class_token (one example's worth,
// shape (1, ...)) seen by every example of the batch (stride 0 over N), and
// where it lands in the output.
struct ParameterViews {
  TensorView weight;  // dims (N, ...), batch stride 0
  TensorView out;     // the output elements it covers
};

ParameterViews ParameterViewsOf(const Node& n, int64_t batch) {
  ParameterViews v;
  v.out = ActivationView(n.out, batch);
  if (n.kind == OpKind::kClassToken) {
    v.out.dims[1] = 1;  // row 0 of every sequence
    v.weight = v.out;
    v.weight.strides[0] = 0;
    v.weight.strides[1] = 0;
    v.weight.strides[2] = 1;
  } else {
    // P is stored in PyTorch's order, row-major over the per-example dims
    // (an image's (C,H,W) too, unlike its activations).
    v.weight = v.out;
    int64_t stride = 1;
    for (int i = v.weight.rank - 1; i >= 1; --i) {
      v.weight.strides[i] = stride;
      stride *= v.weight.dims[i];
    }
  }
  v.weight.strides[0] = 0;
  v.weight.offset = 0;
  return v;
}

// The parameter's own view, dims with 1 for the batch: Reduce's target.
TensorView ParameterSum(const ParameterViews& v) {
  TensorView w = v.weight;
  w.dims[0] = 1;
  return w;
}

}  // namespace

void ViewOpForward(Backend& backend, const Node& n, int64_t batch, const void* const* inputs, void* y,
                   const void* weight) {
  if (n.kind == OpKind::kPositionalEmbedding) {
    const ParameterViews p = ParameterViewsOf(n, batch);
    backend.BinaryForward(BinaryOp::kAdd, ActivationView(n.out, batch), inputs[0], p.weight, weight, p.out, y);
    return;
  }
  if (n.kind == OpKind::kMatMul) {
    backend.MatMul(MatrixView(n.input_dims[0], batch), inputs[0], MatrixView(n.input_dims[1], batch), inputs[1],
                   MatrixView(n.out, batch), y, /*accumulate=*/false);
    return;
  }
  if (n.kind == OpKind::kClassToken) {
    const CopyViews v = LayoutViews(n, batch, 0);
    backend.StridedCopy(v.src, inputs[0], v.dst, y, 1.0, /*accumulate=*/false);
    const ParameterViews p = ParameterViewsOf(n, batch);
    backend.StridedCopy(p.weight, weight, p.out, y, 1.0, /*accumulate=*/false);
    return;
  }
  if (planner::IsBroadcastBinary(n)) {
    backend.BinaryForward(BinaryOpOf(n), BroadcastView(n.input_dims[0], n.out, batch), inputs[0],
                          BroadcastView(n.input_dims[1], n.out, batch), inputs[1], ActivationView(n.out, batch), y);
  } else if (planner::IsLayoutOp(n)) {
    for (int i = 0; i < static_cast<int>(n.inputs.size()); ++i) {
      const CopyViews v = LayoutViews(n, batch, i);
      backend.StridedCopy(v.src, inputs[i], v.dst, y, 1.0, /*accumulate=*/false);
    }
  } else {
    SLIM_CHECK(n.kind == OpKind::kReduceMean || n.kind == OpKind::kReduceSum);
    const ReduceViews v = ReductionViews(n, batch);
    backend.Reduce(v.src, inputs[0], v.dst, y, v.scale, /*accumulate=*/false);
  }
}

void ViewOpBackward(Backend& backend, const Node& n, int64_t batch, const void* const* inputs, const void* dy,
                    void* const* dx, const bool* accumulate, void* weight_grad) {
  const int k = static_cast<int>(n.inputs.size());
  if (n.kind == OpKind::kMatMul) {
    // da = dy·bᵀ, db = aᵀ·dy.
    const TensorView a = MatrixView(n.input_dims[0], batch), b = MatrixView(n.input_dims[1], batch);
    const TensorView g = MatrixView(n.out, batch);
    if (dx[0] != nullptr) backend.MatMul(g, dy, Transposed(b), inputs[1], a, dx[0], accumulate[0]);
    if (dx[1] != nullptr) backend.MatMul(Transposed(a), inputs[0], g, dy, b, dx[1], accumulate[1]);
    return;
  }
  if (n.kind == OpKind::kPositionalEmbedding || n.kind == OpKind::kClassToken) {
    // The parameter's gradient first (dx may be dy's storage): the sum over
    // the batch of dy where the parameter landed.
    const ParameterViews p = ParameterViewsOf(n, batch);
    if (weight_grad != nullptr) backend.Reduce(p.out, dy, ParameterSum(p), weight_grad, 1.0, /*accumulate=*/false);
    if (dx[0] == nullptr) return;
    if (n.kind == OpKind::kClassToken) {
      const CopyViews v = LayoutViews(n, batch, 0);
      backend.StridedCopy(v.dst, dy, v.src, dx[0], 1.0, accumulate[0]);
    } else if (dx[0] != dy || accumulate[0]) {
      backend.Copy(batch * planner::NumElements(n.out), dy, dx[0], accumulate[0]);
    }
    return;
  }
  if (planner::IsBroadcastBinary(n)) {
    const TensorView a = BroadcastView(n.input_dims[0], n.out, batch);
    const TensorView b = BroadcastView(n.input_dims[1], n.out, batch);
    const TensorView g = ActivationView(n.out, batch);
    int order[2] = {0, 1};
    if (dx[0] == dy) std::swap(order[0], order[1]);  // in place: written last
    for (int i : order) {
      if (dx[i] == nullptr) continue;
      backend.BinaryBackward(BinaryOpOf(n), i, a, inputs[0], b, inputs[1], g, dy,
                             AlignedView(n.input_dims[i], n.out, batch), dx[i], accumulate[i]);
    }
  } else if (planner::IsLayoutOp(n)) {
    for (int i = 0; i < k; ++i) {
      if (dx[i] == nullptr) continue;
      const CopyViews v = LayoutViews(n, batch, i);
      bool acc = accumulate[i];
      if (n.kind == OpKind::kSlice && !acc) {
        // The views reach only the sliced elements; the rest get 0.
        backend.Fill(dx[i], 0, batch * planner::NumElements(n.input_dims[i]) * backend.element_bytes());
        acc = true;
      }
      backend.StridedCopy(v.dst, dy, v.src, dx[i], 1.0, acc);
    }
  } else {
    SLIM_CHECK(n.kind == OpKind::kReduceMean || n.kind == OpKind::kReduceSum);
    if (dx[0] == nullptr) return;
    // dx = scale · dy broadcast over the reduced axes.
    const ReduceViews v = ReductionViews(n, batch);
    TensorView from = v.dst;
    for (int i = 0; i < from.rank; ++i) {
      if (from.dims[i] != v.src.dims[i]) {
        from.dims[i] = v.src.dims[i];
        from.strides[i] = 0;
      }
    }
    backend.StridedCopy(from, dy, v.src, dx[0], v.scale, accumulate[0]);
  }
}

}  // namespace slimtrain::engine
