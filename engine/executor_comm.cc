// Data-parallel training in the executor: the gradient buckets, started as
// backward finishes them and averaged before the optimizer (executor.h,
// ExecutorOptions::communicator).
#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/executor.h"

namespace slimtrain::engine {

using planner::Node;
using planner::ScheduleStep;

absl::Status Executor::PlanGradientBuckets() {
  buckets_.clear();
  buckets_after_step_.assign(schedule_.steps.size(), {});
  if (!data_parallel()) return absl::OkStatus();
  if (!backend_->host_addressable()) {
    return absl::UnimplementedError(absl::StrFormat(
        "data-parallel training on %s: its gradients are in device memory, which the MPI communicator cannot "
        "reach; train on the CPU, or one process per GPU once NCCL is wired in",
        backend_->name()));
  }
  // Each trainable tensor is ready after the last backward step that writes
  // it: its node's (a tied table's embedding runs after the tied linear).
  std::vector<int> backward_step(graph_.size(), -1);
  int last_backward = 0;
  for (int t = 0; t < static_cast<int>(schedule_.steps.size()); ++t) {
    const ScheduleStep& s = schedule_.steps[t];
    if (s.kind != v1::Step::BACKWARD) continue;
    backward_step[s.node] = t;
    last_backward = t;
  }
  std::map<int64_t, int> ready_of_offset;  // element offset -> step
  for (const Node& n : graph_.nodes()) {
    const NodeParams& p = params_.node(n.id);
    for (int64_t offset : {p.weight, p.bias, p.gamma, p.beta}) {
      if (offset >= 0 && offset < params_.trainable_count()) {
        ready_of_offset[offset] = backward_step[n.id] >= 0 ? backward_step[n.id] : last_backward;
      }
    }
  }
  struct Piece {
    int64_t begin, end;
    int ready;
  };
  std::vector<Piece> pieces;
  for (const NamedTensor& t : params_.tensors()) {
    if (!t.trainable) continue;
    int64_t count = 1;
    for (int64_t d : t.shape) count *= d;
    const auto it = ready_of_offset.find(t.offset);
    // A tensor no node claims: ready when backward ends.
    pieces.push_back({t.offset, t.offset + count, it == ready_of_offset.end() ? last_backward : it->second});
  }
  // The order backward finishes them; the later tensors first among equals
  // (backward runs from the output).
  std::stable_sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
    return a.ready != b.ready ? a.ready < b.ready : a.begin > b.begin;
  });
  const int64_t per_bucket = std::max<int64_t>(1, options_.bucket_bytes / SizeOf(params_.dtype()));
  GradientBucket bucket;
  auto close = [&] {
    if (bucket.elements == 0) return;
    // One collective per contiguous run of the region.
    std::sort(bucket.ranges.begin(), bucket.ranges.end());
    std::vector<std::pair<int64_t, int64_t>> merged;
    for (const auto& r : bucket.ranges) {
      if (!merged.empty() && merged.back().second == r.first) {
        merged.back().second = r.second;
      } else {
        merged.push_back(r);
      }
    }
    bucket.ranges = std::move(merged);
    if (!options_.overlap_communication) bucket.ready_step = last_backward;
    buckets_after_step_[bucket.ready_step].push_back(static_cast<int>(buckets_.size()));
    buckets_.push_back(std::move(bucket));
    bucket = GradientBucket();
  };
  for (const Piece& p : pieces) {
    bucket.ranges.push_back({p.begin, p.end});
    bucket.elements += p.end - p.begin;
    bucket.ready_step = std::max(bucket.ready_step, p.ready);
    if (bucket.elements >= per_bucket) close();
  }
  close();
  return absl::OkStatus();
}

void Executor::StartReadyBuckets(int t) {
  for (int b : buckets_after_step_[t]) {
    for (const auto& [begin, end] : buckets_[b].ranges) {
      if (params_.dtype() == DType::kF64) {
        pending_.push_back(
            options_.communicator->StartAllReduceSum(params_.Grads<double>() + begin, end - begin));
      } else {
        pending_.push_back(options_.communicator->StartAllReduceSum(params_.Grads<float>() + begin, end - begin));
      }
    }
  }
}

absl::Status Executor::FinishGradients() {
  const auto start = std::chrono::steady_clock::now();
  absl::Status status;
  for (std::unique_ptr<comm::PendingCollective>& p : pending_) {
    const absl::Status s = p->Wait();
    if (status.ok() && !s.ok()) status = s;
  }
  pending_.clear();
  wait_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  SLIM_RETURN_IF_ERROR(status);
  // The sum of every rank's gradients, over the ranks: the mean.
  const int64_t n = params_.trainable_count();
  const double scale = 1.0 / options_.communicator->size();
  if (params_.dtype() == DType::kF64) {
    double* g = params_.Grads<double>();
    for (int64_t i = 0; i < n; ++i) g[i] *= scale;
  } else {
    float* g = params_.Grads<float>();
    const float s = static_cast<float>(scale);
    for (int64_t i = 0; i < n; ++i) g[i] *= s;
  }
  return absl::OkStatus();
}

absl::Status Executor::BroadcastParameters(int root) {
  if (!data_parallel()) return absl::OkStatus();
  comm::Communicator& c = *options_.communicator;
  SLIM_RETURN_IF_ERROR(c.Broadcast(params_.data(), params_.bytes(), root));
  for (int slot = 0; slot < params_.optimizer_slots(); ++slot) {
    SLIM_RETURN_IF_ERROR(
        c.Broadcast(params_.optimizer_state(slot), params_.trainable_count() * SizeOf(params_.dtype()), root));
  }
  return absl::OkStatus();
}

}  // namespace slimtrain::engine
