// See onednn_plan_cost.h.
#include "engine/cpu/onednn_plan_cost.h"

namespace slimtrain::engine {

OneDnnPlanCost::OneDnnPlanCost(int threads)
    : threads_(threads), backend_(std::make_unique<FastBackend>(threads, /*plan_only=*/true)) {}

std::string OneDnnPlanCost::name() const {
  absl::MutexLock lock(&mu_);
  return backend_->name();
}

int64_t OneDnnPlanCost::element_bytes() const {
  absl::MutexLock lock(&mu_);
  return backend_->element_bytes();
}

int64_t OneDnnPlanCost::alignment_bytes() const {
  absl::MutexLock lock(&mu_);
  return backend_->alignment_bytes();
}

int64_t OneDnnPlanCost::WorkspaceBytes(const planner::Graph& graph, const planner::Node& node, int64_t batch,
                                       planner::Pass pass) const {
  absl::MutexLock lock(&mu_);
  if (batch != batch_) {
    backend_.reset();  // its primitives go before the next batch's are made
    backend_ = std::make_unique<FastBackend>(threads_, /*plan_only=*/true);
    batch_ = batch;
  }
  return backend_->WorkspaceBytes(graph, node, batch, pass);
}

}  // namespace slimtrain::engine
