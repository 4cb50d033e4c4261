// onednn_plan_cost.h — the fast CPU backend's cost model for planning alone:
// the same workspaces, element size and alignment as engine::FastBackend at
// the same threads, from oneDNN's primitive descriptors of one batch at a
// time.
//
// A running FastBackend compiles every primitive it is asked about and keeps
// it (a training run asks for one batch). Planning asks for many:
// `slimtrain plan --max-batch` and a server's PlanMemory probe batch after
// batch. This model answers from a plan-only FastBackend (descriptors, no
// JIT) that it replaces whenever the batch changes, so only one batch's
// descriptors live (DenseNet-BC-100 at batch 64 with --max-batch: 2.4 s and
// 422 MB with a running FastBackend, 0.6 s and 30 MB with this).
//
//   OneDnnPlanCost cost(/*threads=*/0);   // the machine's cores, as FastBackend
//   PlanMemory(graph, strategy, options, cost);
#ifndef SLIMTRAIN_ENGINE_CPU_ONEDNN_PLAN_COST_H_
#define SLIMTRAIN_ENGINE_CPU_ONEDNN_PLAN_COST_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/cpu/fast_backend.h"
#include "planner/cost_model.h"
#include "planner/graph.h"

namespace slimtrain::engine {

class OneDnnPlanCost : public planner::CostModel {
 public:
  // threads <= 0: the machine's cores (as FastBackend).
  explicit OneDnnPlanCost(int threads = 0);

  std::string name() const override;
  int64_t element_bytes() const override;
  int64_t alignment_bytes() const override;
  int64_t WorkspaceBytes(const planner::Graph& graph, const planner::Node& node, int64_t batch,
                         planner::Pass pass) const override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const int threads_;
  mutable absl::Mutex mu_;
  // The backend that answers for `batch_` (-1: none yet).
  mutable std::unique_ptr<FastBackend> backend_ ABSL_GUARDED_BY(mu_);
  mutable int64_t batch_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_CPU_ONEDNN_PLAN_COST_H_
