// See data_parallel.h.
#include "planner/data_parallel.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/units.h"
#include "planner/parameter_layout.h"

namespace slimtrain::planner {
namespace {

// A trainable tensor's gradient: its elements of the region and the step
// that completes it.
struct Piece {
  int64_t begin = 0, end = 0;
  int ready = 0;
  const std::string* name = nullptr;
};

// Step 1: every trainable tensor with the last BACKWARD step writing it.
std::vector<Piece> Pieces(const Graph& graph, const Schedule& s, const ParameterLayout& layout, int last_backward) {
  std::vector<int> backward_step(graph.size(), -1);
  for (int t = 0; t < static_cast<int>(s.steps.size()); ++t) {
    if (s.steps[t].kind == v1::Step::BACKWARD) backward_step[s.steps[t].node] = t;
  }
  std::map<int64_t, int> ready_at;  // a tensor's offset -> the last step writing its gradient
  for (const Node& n : graph.nodes()) {
    const NodeParams& p = layout.nodes[n.id];
    for (int64_t offset : {p.weight, p.bias, p.gamma, p.beta}) {
      if (offset < 0 || offset >= layout.trainable_count || backward_step[n.id] < 0) continue;
      int& ready = ready_at.emplace(offset, -1).first->second;  // a tied table: two nodes write it
      ready = std::max(ready, backward_step[n.id]);
    }
  }
  std::vector<Piece> pieces;
  for (const ParameterTensor& t : layout.tensors) {
    if (!t.trainable) continue;
    const auto it = ready_at.find(t.offset);
    // A tensor no backward step writes (none today): complete when backward ends.
    pieces.push_back({t.offset, t.offset + t.count, it == ready_at.end() ? last_backward : it->second, &t.name});
  }
  return pieces;
}

// "gradients of fc.weight, fc.bias (20.0 KiB), summed over 2 ranks: complete
// after 'fc''s backward (step 17); the optimizer reads their mean".
std::string Reason(const Graph& graph, const Schedule& s, const std::vector<const std::string*>& names,
                   int64_t bytes, int ready, const DataParallelOptions& options) {
  std::vector<std::string> list;
  list.reserve(names.size());
  for (const std::string* n : names) list.push_back(*n);
  return absl::StrFormat("gradients of %s (%s), summed over %d ranks: %s '%s''s backward (step %d); the optimizer "
                         "reads their mean",
                         absl::StrJoin(list, ", "), base::FormatBytes(bytes), options.ranks,
                         options.overlap_communication ? "complete after" : "after backward ends, at",
                         graph.node(s.steps[ready].node).name, ready);
}

}  // namespace

absl::Status CheckDataParallelOptions(const DataParallelOptions& options, int64_t element_bytes) {
  if (options.ranks < 1 || options.ranks > kMaxRanks) {
    return absl::InvalidArgumentError(
        absl::StrCat("data_parallel.ranks must be in [1, ", kMaxRanks, "], got ", options.ranks));
  }
  if (options.bucket_bytes < element_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "data_parallel.bucket_bytes must be at least one element (%d bytes), got %d", element_bytes,
        options.bucket_bytes));
  }
  return absl::OkStatus();
}

void AddGradientBuckets(const Graph& graph, const DataParallelOptions& options, Schedule& s) {
  SLIM_CHECK(s.buckets.empty());
  s.ranks = options.ranks;
  if (options.ranks <= 1) return;
  int last_backward = -1, optimizer = -1;
  for (int t = 0; t < static_cast<int>(s.steps.size()); ++t) {
    if (s.steps[t].kind == v1::Step::BACKWARD) last_backward = t;
    if (s.steps[t].kind == v1::Step::OPTIMIZER) optimizer = t;
  }
  SLIM_CHECK(last_backward >= 0 && optimizer > last_backward);
  const ParameterLayout layout = LayoutParameters(graph);
  std::vector<Piece> pieces = Pieces(graph, s, layout, last_backward);
  // Step 2: the order backward completes them; the later tensors first
  // among equals (backward runs from the output).
  std::stable_sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
    return a.ready != b.ready ? a.ready < b.ready : a.begin > b.begin;
  });
  const int64_t per_bucket = std::max<int64_t>(1, options.bucket_bytes / s.element_bytes);
  GradientBucket bucket;
  std::vector<const std::string*> names;
  // Step 3: the bucket's buffer and the operands that touch it.
  auto close = [&] {
    if (bucket.elements == 0) return;
    std::sort(bucket.ranges.begin(), bucket.ranges.end());
    std::vector<std::pair<int64_t, int64_t>> merged;  // one copy per contiguous run of the region
    for (const auto& r : bucket.ranges) {
      if (!merged.empty() && merged.back().second == r.first) {
        merged.back().second = r.second;
      } else {
        merged.push_back(r);
      }
    }
    bucket.ranges = std::move(merged);
    if (!options.overlap_communication) bucket.ready_step = last_backward;
    const int k = static_cast<int>(s.buckets.size());
    ScheduleBuffer b;
    b.name = absl::StrCat("allreduce.bucket", k);
    b.kind = v1::Buffer::ALLREDUCE;
    b.size_bytes = bucket.elements * s.element_bytes;
    b.node = s.steps[bucket.ready_step].node;
    b.reason = Reason(graph, s, names, b.size_bytes, bucket.ready_step, options);
    bucket.buffer = static_cast<int>(s.buffers.size());
    s.buffers.push_back(std::move(b));
    s.steps[bucket.ready_step].operands.push_back(
        {bucket.buffer, Role::kAllReduce, k, /*read=*/false, /*write=*/true});
    s.steps[optimizer].operands.push_back({bucket.buffer, Role::kAllReduce, k, /*read=*/true, /*write=*/false});
    s.buckets.push_back(std::move(bucket));
    bucket = GradientBucket();
    names.clear();
  };
  for (const Piece& p : pieces) {
    bucket.ranges.push_back({p.begin, p.end});
    bucket.elements += p.end - p.begin;
    bucket.ready_step = std::max(bucket.ready_step, p.ready);
    names.push_back(p.name);
    if (bucket.elements >= per_bucket) close();
  }
  close();
}

CommunicationVolume CommunicationPerStep(const Graph& graph, const Schedule& s, const DataParallelOptions& options) {
  CommunicationVolume v;
  if (options.ranks <= 1) return v;
  for (const GradientBucket& b : s.buckets) v.gradient_bytes += b.elements * s.element_bytes;
  if (options.sync_batch_norm) {
    for (const ScheduleStep& step : s.steps) {
      if (step.node < 0 || step.kind == v1::Step::SAVE || graph.node(step.node).kind != OpKind::kBatchNorm) continue;
      // (2, C) sums: of x and x² forward (FORWARD, RECOMPUTE), of dy and
      // dy·x̂ backward.
      v.sync_batch_norm_bytes += 2 * graph.node(step.node).out[0] * kSyncBatchNormSumBytes;
    }
  }
  // 2(R-1)/R of the payload without overflow: 2(R-1)·(q·R + r)/R.
  const int64_t payload = v.gradient_bytes + v.sync_batch_norm_bytes, r = options.ranks;
  v.sent_bytes = 2 * (r - 1) * (payload / r) + 2 * (r - 1) * (payload % r) / r;
  return v;
}

}  // namespace slimtrain::planner
