// onnx_values.h — what an ONNX value is while planner/onnx_import.cc maps a
// graph: a constant folded at import (shape arithmetic included, the batch
// symbolic), or a view of a layer's output. Private to the importer; tested
// by tests/planner/onnx_values_test.cc.
//
// Constants. PyTorch's exports compute reshape targets from the graph:
// Shape(x), Gather(·, 0), Unsqueeze, Concat, Div, Cast, Slice, Equal, Where,
// ConstantOfShape, Range. FoldNode evaluates such a node when every input is
// a constant (or, for Shape, an activation of known dims), so the batch N
// is a symbol: an element is k or k·N (SymInt).
//
//   Shape(x) of x (N,16,32)      -> [N, 16, 32]
//   Gather(that, 0), Mul(·, 4)   -> 4N
//
// Views. slimtrain's layers keep the batch as axis 0 of every tensor;
// PyTorch's nn.MultiheadAttention moves it ((L,N,E), then (L, N·heads, dh)).
// A View is an ONNX value as a layer's batched tensor seen through a
// grouping of its axes: ONNX axis i is the axes groups[i] of the layer's
// tensor merged in that order (an empty group is a size-1 axis). A
// Transpose permutes the groups and a Reshape regroups them (splitting a
// layer axis, a reshape layer, only where it must), without moving data; an
// op that needs its input laid out so (a convolution: batch first, row-major;
// a linear: its features the trailing axis) gets it from Arrange, which
// emits the transpose and reshape layers that make it so.
//
//   x (N,L,E), Transpose(1,0,2)  -> groups [[1],[0],[2]]          (L,N,E)
//   Reshape(L, N·4, E/4)         -> layer (N,L,4,E/4), [[1],[0,2],[3]]
//   Transpose(1,0,2)             -> [[0,2],[1],[3]]               (N·4,L,E/4)
//   Arrange for a matmul         -> transpose layer (N,4,L,E/4), [[0,1],[2],[3]]
#ifndef SLIMTRAIN_PLANNER_ONNX_VALUES_H_
#define SLIMTRAIN_PLANNER_ONNX_VALUES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "onnx/onnx_pb.h"
#include "planner/graph.h"

namespace slimtrain::planner::onnx_values {

// A node's attribute by name, or null; an integer one, or `fallback`.
const onnx::AttributeProto* Attr(const onnx::NodeProto& n, const char* name);
int64_t IntAttr(const onnx::NodeProto& n, const char* name, int64_t fallback);

// k·N^n: an integer (n = 0) or a multiple of the batch N (n = 1).
struct SymInt {
  int64_t k = 0;
  int n = 0;
  bool operator==(const SymInt& o) const { return k == o.k && (n == o.n || k == 0); }
  bool operator!=(const SymInt& o) const { return !(*this == o); }
};
using SymDims = std::vector<SymInt>;
std::string SymString(const SymInt& s);  // "16", "4N"
std::string SymDimsString(const SymDims& d);
// The product; none when it overflows (or N appears more than once).
std::optional<SymInt> Product(const SymDims& d);
// A folded value as an integer: NaN as 0, saturated to ±2^62 (so checked
// arithmetic on it cannot be undefined).
int64_t SafeInt(double d);
// a / b when exact (a multiple of b, the batch factor included), else none.
std::optional<SymInt> Divide(const SymInt& a, const SymInt& b);

// A constant tensor: float values as doubles; integer elements may be
// symbolic (a shape's batch).
struct ConstTensor {
  std::vector<int64_t> dims;
  std::vector<double> v;
  std::vector<int> n;  // per element: N's power (0 or 1); empty: all 0
  bool is_float = false;
  int64_t size() const { return static_cast<int64_t>(v.size()); }
  SymInt at(int64_t i) const { return {SafeInt(v[i]), n.empty() ? 0 : n[i]}; }
  bool symbolic() const;
};

// A tensor proto's values (FLOAT, DOUBLE, INT32, INT64, BOOL).
absl::StatusOr<ConstTensor> FromProto(const onnx::TensorProto& t);

// Node `n` evaluated on constant inputs `in` (null for an input that is not
// a constant; `activation_dims` gives an activation's ONNX dims, for Shape).
// Returns the outputs, or none when `n` is not foldable here (an op outside
// the shape-arithmetic set, an input that is not constant, or a result over
// kMaxFoldedElements). INVALID_ARGUMENT for a malformed node.
inline constexpr int64_t kMaxFoldedElements = 1 << 20;
absl::StatusOr<std::optional<std::vector<ConstTensor>>> FoldNode(
    const onnx::NodeProto& n, const std::vector<const ConstTensor*>& in,
    const std::vector<std::optional<SymDims>>& activation_dims);

// An ONNX value as a view of a layer's batched output (see above).
struct View {
  std::string layer;  // "input" or a layer's name
  Dims u;             // the layer's per-example dims (its tensor is (N, u...))
  std::vector<std::vector<int>> groups;  // per ONNX axis: axes of (N, u...)
};
// The ONNX dims of a view.
SymDims OnnxDims(const View& v);
// A view of a layer as it is: groups [[0], [1], ...].
View Plain(const std::string& layer, const Dims& u);
bool IsPlain(const View& v);

// What a Reshape of `v` to `target` (ONNX's: 0 copies, one -1 infers) does:
// the layer's axes split (`split_u`, the layer reshaped so, when it differs
// from v.u) and the groups of the result over split_u's axes.
struct ReshapePlan {
  Dims split_u;
  std::vector<std::vector<int>> groups;
};
// INVALID_ARGUMENT (the dims in the message) when the target does not
// regroup v's axes: a split of the batch axis, or of an axis across a group.
absl::StatusOr<ReshapePlan> PlanReshape(const View& v, const SymDims& target, bool allow_zero);

// The layers that lay `v` out as an op needs it (Importer::Arrange emits
// them): a transpose by `perm` (of (N, u...)), then a reshape to
// `merged_u` where groups merge.
struct Arrangement {
  std::vector<int64_t> perm;  // empty: no transpose
  Dims transposed_u;
  Dims merged_u;              // == transposed_u: no reshape
  std::vector<std::vector<int>> groups;  // of the result
};
// trailing: how many trailing ONNX axes must each be one trailing axis of
// the layer, in order; batch_first: every axis in ONNX order (the batch
// axis first, else FAILED_PRECONDITION), else the leading axes keep their
// order. With batch_first the leading groups stay as they are merged (a
// matmul's (N·H, L, D) is the layer (N, H, L, D)).
absl::StatusOr<Arrangement> PlanArrange(const View& v, int trailing, bool batch_first);

}  // namespace slimtrain::planner::onnx_values

#endif  // SLIMTRAIN_PLANNER_ONNX_VALUES_H_
