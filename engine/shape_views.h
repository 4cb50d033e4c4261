// shape_views.h — the TensorViews (engine/tensor_view.h) that express a
// node's layout, broadcast or reduction op over the engine's memory layouts
// (backend.h: (C,H,W) stored (N,H,W,C), everything else row-major). The
// executor builds them and calls Backend::StridedCopy, Reduce and Binary*;
// the backends never see the op's semantics, only views. ViewOpForward and
// ViewOpBackward run a whole op so (the executor and the op tests call them):
//
//   CopyViews v = LayoutViews(node, batch, /*input=*/0);
//   backend->StridedCopy(v.src, x, v.dst, y, 1.0, false);     // forward
//   backend->StridedCopy(v.dst, dy, v.src, dx, 1.0, acc);     // backward
//
// (for slice the backward first zeroes dx unless it accumulates: the views
// reach only the sliced elements.)
#ifndef SLIMTRAIN_ENGINE_SHAPE_VIEWS_H_
#define SLIMTRAIN_ENGINE_SHAPE_VIEWS_H_

#include <cstdint>

#include "engine/backend.h"
#include "engine/tensor_view.h"
#include "planner/graph.h"

namespace slimtrain::engine {

// A whole activation of per-example `dims` at `batch`, as stored.
TensorView ActivationView(const planner::Dims& dims, int64_t batch);

// The forward of a layout op (planner::IsLayoutOp) for input `index` (concat:
// each input; the others: 0): element k of src (in the input) is element k
// of dst (in the output).
struct CopyViews {
  TensorView src, dst;
};
CopyViews LayoutViews(const planner::Node& n, int64_t batch, int index);

// Input `in` read with the output's dims `out` (NumPy's broadcast: stride 0
// where the input has 1 or no axis).
TensorView BroadcastView(const planner::Dims& in, const planner::Dims& out, int64_t batch);
// Input `in` with its dims aligned to the output's rank (1 where it has no
// axis): the `d` view of Backend::BinaryBackward.
TensorView AlignedView(const planner::Dims& in, const planner::Dims& out, int64_t batch);

// reduce_mean / reduce_sum: src is the input, dst the output with the
// reduced axes kept as 1 (so Backend::Reduce pairs them); the factor is
// 1/(elements reduced) for the mean, 1 for the sum.
struct ReduceViews {
  TensorView src, dst;
  double scale = 1.0;
};
ReduceViews ReductionViews(const planner::Node& n, int64_t batch);

// The binary op of mul, sub, div, and add.
BinaryOp BinaryOpOf(const planner::Node& n);

// Whether ViewOpForward/Backward run node n: broadcast binary ops
// (planner::IsBroadcastBinary), layout ops (planner::IsLayoutOp, class_token
// among them), reduce_mean, reduce_sum, positional_embedding.
bool IsViewOp(const planner::Node& n);

// The forward of a view op on `backend`: inputs[i] is input i's activation
// (every input), y the output, `weight` the node's parameter
// (positional_embedding, class_token; else null).
void ViewOpForward(Backend& backend, const planner::Node& n, int64_t batch, const void* const* inputs, void* y,
                   const void* weight = nullptr);

// Its backward: dx[i] is input i's gradient or null (none wanted),
// accumulate[i] whether to add into it, `weight_grad` the parameter's
// gradient (overwritten; null without one). inputs[i] may be null where the
// backward does not read it (planner/schedule.h keeps what it reads: mul's
// and div's inputs). A gradient may be dy itself (in place); it is written
// after every other has read dy.
void ViewOpBackward(Backend& backend, const planner::Node& n, int64_t batch, const void* const* inputs,
                    const void* dy, void* const* dx, const bool* accumulate, void* weight_grad = nullptr);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_SHAPE_VIEWS_H_
