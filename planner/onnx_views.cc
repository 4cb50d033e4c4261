// See onnx_values.h: views of layers, how a reshape regroups their axes and
// what lays them out for an op.
#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "planner/onnx_values.h"

namespace slimtrain::planner::onnx_values {

SymDims OnnxDims(const View& v) {
  SymDims d;
  for (const std::vector<int>& g : v.groups) {
    SymInt p{1, 0};
    for (int a : g) {
      if (a == 0) {
        p.n += 1;
      } else {
        p.k *= v.u[a - 1];
      }
    }
    d.push_back(p);
  }
  return d;
}

View Plain(const std::string& layer, const Dims& u) {
  View v{layer, u, {}};
  for (int a = 0; a <= static_cast<int>(u.size()); ++a) v.groups.push_back({a});
  return v;
}

bool IsPlain(const View& v) {
  if (v.groups.size() != v.u.size() + 1) return false;
  for (size_t i = 0; i < v.groups.size(); ++i) {
    if (v.groups[i] != std::vector<int>{static_cast<int>(i)}) return false;
  }
  return true;
}

absl::StatusOr<ReshapePlan> PlanReshape(const View& v, const SymDims& target_in, bool allow_zero) {
  const SymDims src = OnnxDims(v);
  SymDims target = target_in;
  // ONNX's 0 (copy) and -1 (infer).
  int infer = -1;
  SymInt known{1, 0};
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i].n == 0 && target[i].k == 0 && !allow_zero) {
      if (i >= src.size()) return absl::InvalidArgumentError("a 0 in the shape past the input's rank");
      target[i] = src[i];
    }
    if (target[i].n == 0 && target[i].k == -1) {
      if (infer >= 0) return absl::InvalidArgumentError("two -1 in the shape");
      infer = static_cast<int>(i);
      continue;
    }
    if (target[i].k <= 0) return absl::InvalidArgumentError(absl::StrCat("dimension ", SymString(target[i])));
    std::optional<SymInt> k = Product({known, target[i]});
    if (!k) return absl::InvalidArgumentError("the shape's element count overflows");
    known = *k;
  }
  std::optional<SymInt> src_total = Product(src);
  if (!src_total) return absl::InvalidArgumentError("the input's element count overflows");
  const SymInt total = *src_total;
  if (infer >= 0) {
    std::optional<SymInt> rest = Divide(total, known);
    if (!rest) {
      return absl::InvalidArgumentError(absl::StrFormat("%s does not reshape to %s", SymDimsString(src),
                                                        SymDimsString(target)));
    }
    target[infer] = *rest;
  }
  if (Product(target) != std::optional<SymInt>(total)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s does not reshape to %s (element counts differ)",
                                                      SymDimsString(src), SymDimsString(target)));
  }
  // The layer's axes in ONNX order; size-1 axes outside any group are
  // dropped (they hold no elements to place).
  std::vector<int> seq;
  for (const std::vector<int>& g : v.groups) seq.insert(seq.end(), g.begin(), g.end());
  // Walk the target dims, taking whole axes or pieces of one.
  auto size_of = [&](int a) { return a == 0 ? SymInt{1, 1} : SymInt{v.u[a - 1], 0}; };
  std::vector<std::vector<int64_t>> pieces(v.u.size() + 1);  // per layer axis: its split sizes
  std::vector<std::vector<std::pair<int, int>>> groups;      // per target axis: (axis, piece)
  size_t pos = 0;
  SymInt left = seq.empty() ? SymInt{1, 0} : size_of(seq[0]);  // of seq[pos] not yet taken
  for (size_t t = 0; t < target.size(); ++t) {
    std::vector<std::pair<int, int>> group;
    SymInt have{1, 0};
    while (have != target[t]) {
      if (pos >= seq.size()) return absl::InvalidArgumentError("ran out of axes");
      const int a = seq[pos];
      std::optional<SymInt> need = Divide(target[t], have);
      if (!need) {
        return absl::InvalidArgumentError(absl::StrFormat("%s to %s splits an axis across dimensions",
                                                          SymDimsString(src), SymDimsString(target)));
      }
      if (Divide(*need, left).has_value()) {  // all that is left of axis a
        group.push_back({a, static_cast<int>(pieces[a].size())});
        if (a != 0) pieces[a].push_back(left.k);
        have = *Product({have, left});  // divides target[t]: no overflow
        ++pos;
        if (pos < seq.size()) left = size_of(seq[pos]);
      } else if (a != 0 && need->n == 0 && left.k % need->k == 0) {  // a piece of it
        group.push_back({a, static_cast<int>(pieces[a].size())});
        pieces[a].push_back(need->k);
        left.k /= need->k;
        have = target[t];
      } else {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s to %s would split %s", SymDimsString(src), SymDimsString(target),
            a == 0 ? "the batch axis" : "an axis across groups"));
      }
    }
    // Size-1 remainders of the next axes join this group.
    while (t + 1 == target.size() && pos < seq.size() && size_of(seq[pos]) == SymInt{1, 0}) {
      group.push_back({seq[pos], static_cast<int>(pieces[seq[pos]].size())});
      if (seq[pos] != 0) pieces[seq[pos]].push_back(1);
      ++pos;
    }
    groups.push_back(group);
  }
  // The layer split: axis a becomes its pieces (an axis never walked keeps
  // its size: it was a size-1 axis out of every group).
  ReshapePlan plan;
  std::vector<int> first(v.u.size() + 1, 0);  // new index of each axis's first piece
  int next = 1;
  for (size_t a = 1; a <= v.u.size(); ++a) {
    first[a] = next;
    if (pieces[a].empty()) {
      plan.split_u.push_back(v.u[a - 1]);
      ++next;
    } else {
      for (int64_t p : pieces[a]) plan.split_u.push_back(p);
      next += static_cast<int>(pieces[a].size());
    }
  }
  for (const auto& g : groups) {
    std::vector<int> axes;
    for (const auto& [a, piece] : g) axes.push_back(a == 0 ? 0 : first[a] + piece);
    plan.groups.push_back(axes);
  }
  return plan;
}

absl::StatusOr<Arrangement> PlanArrange(const View& v, int trailing, bool batch_first) {
  const int rank = static_cast<int>(v.groups.size());
  if (trailing > rank) return absl::InvalidArgumentError("more trailing axes than the value has");
  // An axis in no group (size 1, what x[:, 0] leaves) joins the group of
  // the axis after it (before that axis), else the last group.
  std::vector<std::vector<int>> groups = v.groups;
  if (groups.empty()) return absl::InvalidArgumentError("a scalar view");
  std::vector<bool> seen(v.u.size() + 1, false);
  for (const auto& g : groups) {
    for (int a : g) seen[a] = true;
  }
  for (int a = static_cast<int>(seen.size()) - 1; a >= 0; --a) {
    if (seen[a]) continue;
    bool placed = false;
    for (auto& g : groups) {
      auto it = std::find(g.begin(), g.end(), a + 1);
      if (it != g.end()) {
        g.insert(it, a);
        placed = true;
        break;
      }
    }
    if (!placed) groups.back().push_back(a);
    seen[a] = true;
  }
  std::vector<int> order;
  if (batch_first) {
    for (const auto& g : groups) order.insert(order.end(), g.begin(), g.end());
    if (order.empty() || order[0] != 0) {
      return absl::FailedPreconditionError("the batch is not the first axis here");
    }
  } else {
    std::vector<bool> tail(v.u.size() + 1, false);
    for (int i = rank - trailing; i < rank; ++i) {
      for (int a : groups[i]) tail[a] = true;
    }
    if (tail[0]) return absl::FailedPreconditionError("the batch is among the trailing axes");
    for (size_t a = 0; a < tail.size(); ++a) {
      if (!tail[a]) order.push_back(static_cast<int>(a));
    }
    for (int i = rank - trailing; i < rank; ++i) order.insert(order.end(), groups[i].begin(), groups[i].end());
  }
  Arrangement r;
  std::vector<int> position(order.size());
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = static_cast<int>(i);
  bool identity = true;
  for (size_t i = 0; i < order.size(); ++i) identity &= order[i] == static_cast<int>(i);
  for (size_t i = 1; i < order.size(); ++i) r.transposed_u.push_back(v.u[order[i] - 1]);
  if (!identity) r.perm.assign(order.begin(), order.end());
  // Groups over the transposed axes; then merge: the trailing groups (all
  // but a leading batch group when batch_first) each into one axis.
  std::vector<std::vector<int>> moved;
  for (const auto& g : groups) {
    std::vector<int> m;
    for (int a : g) m.push_back(position[a]);
    moved.push_back(m);
  }
  const int merge_from = batch_first ? 1 : rank - trailing;
  // Leading part (not merged) keeps its axes; merged groups become one axis.
  std::vector<int> new_index(order.size(), -1);
  int next = 0;
  std::vector<std::vector<int>> out(rank);
  // Leading (unmerged) axes: every axis not in a merged group, in order.
  std::vector<bool> merged(order.size(), false);
  for (int i = merge_from; i < rank; ++i) {
    for (int a : moved[i]) merged[a] = true;
  }
  for (size_t a = 0; a < order.size(); ++a) {
    if (merged[a]) continue;
    new_index[a] = next++;
    if (a > 0) r.merged_u.push_back(r.transposed_u[a - 1]);
  }
  for (int i = 0; i < merge_from; ++i) {
    for (int a : moved[i]) out[i].push_back(new_index[a]);
  }
  for (int i = merge_from; i < rank; ++i) {
    int64_t size = 1;
    for (int a : moved[i]) size *= r.transposed_u[a - 1];
    r.merged_u.push_back(size);
    out[i] = {next++};
  }
  r.groups = out;
  return r;
}

}  // namespace slimtrain::planner::onnx_values
