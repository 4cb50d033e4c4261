// See recompute.h.
#include "planner/recompute.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/status_macros.h"
#include "planner/arena.h"
#include "planner/lifetimes.h"

namespace slimtrain::planner {
namespace {

constexpr int64_t kInf = std::numeric_limits<int64_t>::max() / 4;

// Per-node byte counts of the liveness bound, from the exact schedule.
struct NodeBytes {
  std::vector<int64_t> save;  // S(v)
  std::vector<int64_t> ck;    // ck(v)
  std::vector<int64_t> fwd;   // F(v)
  std::vector<int64_t> bwd;   // B(v)
  std::vector<int64_t> grad;  // G(v): the gradient of v's output
};

NodeBytes MeasureNodes(const Graph& g, const Schedule& exact, int64_t alignment) {
  const int n = g.size();
  const int steps = static_cast<int>(exact.steps.size());
  NodeBytes nb;
  nb.save.assign(n, 0);
  nb.ck.assign(n, 0);
  nb.fwd.assign(n, 0);
  nb.bwd.assign(n, 0);
  nb.grad.assign(n, 0);
  // Live and saved-live bytes per step (difference arrays over blocks).
  std::vector<int64_t> live(steps + 1, 0), saved_live(steps + 1, 0);
  for (const StorageBlock& block : StorageBlocks(exact)) {
    const int64_t size = AlignUp(block.size_bytes, alignment);
    live[block.first_step] += size;
    live[block.last_step + 1] -= size;
  }
  for (const ScheduleBuffer& b : exact.buffers) {
    const int64_t size = AlignUp(b.size_bytes, alignment);
    if (b.kind == v1::Buffer::GRADIENT) nb.grad[b.node] += size;
    if (b.saved) {
      nb.save[b.node] += size;
      saved_live[b.first_step] += size;
      saved_live[b.last_step + 1] -= size;
    }
    // A checkpoint keeps the node's output and its statistics or indices.
    if (b.first_step < exact.backward_begin &&
        (b.kind == v1::Buffer::ACTIVATION || b.kind == v1::Buffer::STATISTICS ||
         b.kind == v1::Buffer::INDICES)) {
      nb.ck[b.node] += size;
    }
  }
  for (int t = 1; t <= steps; ++t) {
    live[t] += live[t - 1];
    saved_live[t] += saved_live[t - 1];
  }
  for (int t = 0; t < steps; ++t) {
    const ScheduleStep& step = exact.steps[t];
    if (step.node < 0) continue;
    const int64_t transient = live[t] - saved_live[t];
    if (step.kind == v1::Step::BACKWARD) {
      nb.bwd[step.node] = std::max(nb.bwd[step.node], transient);
    } else {
      nb.fwd[step.node] = std::max(nb.fwd[step.node], transient);
    }
  }
  return nb;
}

// The DP of recompute.h over "cut positions" 0 (the input) and the cut
// points. Node ranges between consecutive positions are chunks whose maxima
// are precomputed, so a segment's cost is a running max over chunks.
//
// Segment (i, j] (positions), recomputed, holds besides C(i):
//   backward at v:  S(i+1..v) + B(v)                       for v in (i, j]
//   recompute at v: S(i+1..v) + F(v) + S(j) + G(j)          for v in (i, j)
// (S(j) covers what the checkpoint j keeps for its own backward, G(j) is the
// gradient waiting at the segment's top). The last segment (t, end] is not
// recomputed: S(t+1..v) + max(B(v), F(v)) for v in (t, end].
class SegmentDp {
 public:
  SegmentDp(const Graph& g, const NodeBytes& nb) : nb_(nb), n_(g.size()) {
    pos_ = {0};
    for (int c : CutPoints(g)) pos_.push_back(c);
    m_ = static_cast<int>(pos_.size());
    prefix_.assign(n_ + 1, 0);
    for (int v = 0; v < n_; ++v) prefix_[v + 1] = prefix_[v] + nb.save[v];
    // Chunk c covers nodes (pos_[c], pos_[c+1]] (the last one up to the loss).
    chunk_bwd_.assign(m_, -kInf);
    chunk_fwd_.assign(m_, -kInf);
    chunk_fwd_inner_.assign(m_, -kInf);
    for (int c = 0; c < m_; ++c) {
      const int hi = c + 1 < m_ ? pos_[c + 1] : n_ - 1;
      for (int v = pos_[c] + 1; v <= hi; ++v) {
        chunk_bwd_[c] = std::max(chunk_bwd_[c], SaveThrough(v) + nb.bwd[v]);
        chunk_fwd_[c] = std::max(chunk_fwd_[c], SaveThrough(v) + nb.fwd[v]);
        if (v < hi) chunk_fwd_inner_[c] = std::max(chunk_fwd_inner_[c], SaveThrough(v) + nb.fwd[v]);
      }
    }
  }

  // h(j) and parent(j) of recompute.h's step 1 for every position, and the
  // work of the last segment (j, end] besides h(j). O(m²); asks `stop` every
  // 64 cut points.
  struct Prefixes {
    std::vector<int64_t> h;       // kInf: no valid segmentation ends at j
    std::vector<int> parent;
    std::vector<int64_t> last_work;
  };
  absl::StatusOr<Prefixes> SolvePrefixes(int64_t limit, const PlanStop* stop) const {
    Prefixes p;
    p.h.assign(m_, kInf);
    p.parent.assign(m_, -1);
    p.last_work.assign(m_, kInf);
    p.h[0] = nb_.ck[0];
    for (int i = 0; i < m_; ++i) {
      if (i % 64 == 0) SLIM_RETURN_IF_ERROR(CheckStop(stop));
      if (p.h[i] >= kInf) continue;
      Extend(i, [&](int j, int64_t work) {
        if (j == m_) {
          p.last_work[i] = work;
        } else if (p.h[i] + work <= limit && p.h[i] + nb_.ck[pos_[j]] < p.h[j]) {
          p.h[j] = p.h[i] + nb_.ck[pos_[j]];
          p.parent[j] = i;
        }
      });
    }
    return p;
  }

  // The checkpoint node ids of the segmentation ending at position j.
  std::vector<int> CheckpointsEndingAt(const Prefixes& p, int j) const {
    std::vector<int> ids;
    for (int q = j; q > 0; q = p.parent[q]) ids.push_back(pos_[q]);
    std::reverse(ids.begin(), ids.end());
    return ids;
  }

  // Best segmentation for arena limit `limit`; estimated_peak_bytes = kInf
  // when none fits. The earliest feasible last cut gives the least
  // recompute.
  absl::StatusOr<CheckpointChoice> Solve(int64_t limit, const PlanStop* stop) const {
    SLIM_ASSIGN_OR_RETURN(const Prefixes p, SolvePrefixes(limit, stop));
    CheckpointChoice best;
    best.estimated_peak_bytes = kInf;
    for (int i = 0; i < m_; ++i) {
      if (p.h[i] >= kInf || p.h[i] + p.last_work[i] > limit) continue;
      std::vector<int> cuts = {0};
      for (int q = i; q > 0; q = p.parent[q]) cuts.insert(cuts.begin() + 1, q);
      best.estimated_peak_bytes = Estimate(cuts);
      best.checkpoints = CheckpointsEndingAt(p, i);
      break;
    }
    return best;
  }

  const std::vector<int>& positions() const { return pos_; }

  // Estimated arena peak for checkpoint positions `cuts` (ascending, starting
  // with 0).
  int64_t Estimate(const std::vector<int>& cuts) const {
    int64_t c_bytes = 0, peak = 0;
    for (size_t k = 0; k < cuts.size(); ++k) {
      c_bytes += nb_.ck[pos_[cuts[k]]];
      const int next = k + 1 < cuts.size() ? cuts[k + 1] : m_;
      Extend(cuts[k], [&](int j, int64_t work) {
        if (j == next) peak = std::max(peak, c_bytes + work);
      });
    }
    return peak;
  }

  // Calls visit(j, work) for every segment (i, j], j = i+1 .. m_ (m_ meaning
  // the last segment, up to the loss), with the segment's bytes besides C(i).
  template <typename Visit>
  void Extend(int i, Visit visit) const {
    int64_t bwd = -kInf, fwd = -kInf;
    const int64_t base = SaveThrough(pos_[i]);
    for (int c = i; c < m_; ++c) {
      bwd = std::max(bwd, chunk_bwd_[c]);
      if (c + 1 < m_) {
        const int j = pos_[c + 1];
        const int64_t recompute = std::max(fwd, chunk_fwd_inner_[c]) + nb_.save[j] + nb_.grad[j];
        visit(c + 1, std::max(bwd, recompute) - base);
      } else {
        visit(m_, std::max(bwd, std::max(fwd, chunk_fwd_[c])) - base);
      }
      fwd = std::max(fwd, chunk_fwd_[c]);
    }
  }

 private:
  // Exact saves of nodes 1..v.
  int64_t SaveThrough(int v) const { return prefix_[v + 1] - prefix_[1]; }

  const NodeBytes& nb_;
  const int n_;
  int m_ = 0;
  std::vector<int> pos_;
  std::vector<int64_t> prefix_;
  std::vector<int64_t> chunk_bwd_, chunk_fwd_, chunk_fwd_inner_;
};

}  // namespace

CheckpointChoice SqrtCheckpoints(const Graph& graph, const Schedule& exact, int64_t alignment) {
  const NodeBytes nb = MeasureNodes(graph, exact, alignment);
  const std::vector<int> cuts = CutPoints(graph);
  CheckpointChoice choice;
  const int m = static_cast<int>(cuts.size());
  const int k = static_cast<int>(std::lround(std::sqrt(static_cast<double>(m))));
  if (k > 0) {
    // Cumulative exact saved bytes at each cut; checkpoints at the cuts
    // nearest the k equal-byte quantiles.
    std::vector<int64_t> cum(m);
    int64_t total = 0;
    for (int v = 0, c = 0; v < graph.size() && c < m; ++v) {
      total += nb.save[v];
      if (v == cuts[c]) cum[c++] = total;
    }
    for (int q = 1; q <= k; ++q) {
      const double target = static_cast<double>(total) * q / (k + 1);
      int best = 0;
      for (int c = 1; c < m; ++c) {
        if (std::abs(cum[c] - target) < std::abs(cum[best] - target)) best = c;
      }
      if (choice.checkpoints.empty() || choice.checkpoints.back() < cuts[best]) {
        choice.checkpoints.push_back(cuts[best]);
      }
    }
  }
  SegmentDp dp(graph, nb);
  std::vector<int> positions = {0};
  for (int c : choice.checkpoints) {
    positions.push_back(static_cast<int>(std::lower_bound(cuts.begin(), cuts.end(), c) - cuts.begin()) + 1);
  }
  choice.estimated_peak_bytes = dp.Estimate(positions);
  return choice;
}

absl::StatusOr<CheckpointChoice> OptimalCheckpoints(const Graph& graph, const Schedule& exact, int64_t alignment,
                                                    int64_t arena_limit_bytes, const PlanStop* stop) {
  const NodeBytes nb = MeasureNodes(graph, exact, alignment);
  SegmentDp dp(graph, nb);
  if (arena_limit_bytes > 0) {
    SLIM_ASSIGN_OR_RETURN(CheckpointChoice fit, dp.Solve(arena_limit_bytes, stop));
    if (fit.estimated_peak_bytes < kInf) return fit;
  }
  // Least peak: binary search the smallest feasible limit. No checkpoints at
  // all is feasible at its own estimate, which bounds the search.
  int64_t hi = dp.Estimate({0});
  int64_t lo = 0;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    SLIM_ASSIGN_OR_RETURN(const CheckpointChoice probe, dp.Solve(mid, stop));
    if (probe.estimated_peak_bytes < kInf) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  SLIM_ASSIGN_OR_RETURN(CheckpointChoice least, dp.Solve(hi, stop));
  least.fits = arena_limit_bytes <= 0 || least.estimated_peak_bytes <= arena_limit_bytes;
  return least;
}

absl::StatusOr<std::vector<PrefixSegmentation>> PrefixSegmentations(const Graph& graph, const Schedule& exact,
                                                                    int64_t alignment, int64_t arena_limit_bytes,
                                                                    const PlanStop* stop) {
  const NodeBytes nb = MeasureNodes(graph, exact, alignment);
  SegmentDp dp(graph, nb);
  SLIM_ASSIGN_OR_RETURN(const SegmentDp::Prefixes p, dp.SolvePrefixes(arena_limit_bytes, stop));
  std::vector<PrefixSegmentation> out;
  for (size_t j = 1; j < p.h.size(); ++j) {
    if (p.h[j] >= kInf) continue;
    PrefixSegmentation s;
    s.cut = dp.positions()[j];
    s.checkpoints = dp.CheckpointsEndingAt(p, static_cast<int>(j));
    s.checkpoint_bytes = p.h[j];
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace slimtrain::planner
