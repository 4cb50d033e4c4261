// step_runner MODEL STRATEGY BATCH [between] — runs training steps of a zoo
// model on the fast CPU backend in a process of its own and prints its planned
// peak and its peak resident memory (VmHWM), for tests/engine/memory_test.cc:
//   planned_peak_bytes=123 vmhwm_bytes=456 recompute_flops=0 codes=0
// With `between`, the budget (mixed, checkpoint_optimal) is halfway between
// approx2's and checkpoint_optimal's planned peaks on this backend.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/batches.h"
#include "engine/cpu/fast_backend.h"
#include "engine/data.h"
#include "engine/executor.h"
#include "engine/trainer.h"
#include "planner/planner.h"
#include "planner/zoo.h"

int main(int argc, char** argv) {
  namespace engine = slimtrain::engine;
  namespace planner = slimtrain::planner;
  if (argc != 4 && !(argc == 5 && std::string(argv[4]) == "between")) {
    std::fprintf(stderr, "usage: step_runner MODEL STRATEGY BATCH [between]\n");
    return 2;
  }
  const int64_t batch = std::atoll(argv[3]);
  absl::StatusOr<planner::Graph> graph = planner::Graph::Build(planner::ZooModel(argv[1]).value());
  absl::StatusOr<planner::Strategy> strategy = planner::ParseStrategy(argv[2]);
  if (!graph.ok() || !strategy.ok()) return 2;
  engine::FastBackend backend;
  engine::ExecutorOptions options;
  if (argc == 5) {
    planner::PlanOptions p;
    p.batch_size = batch;
    absl::StatusOr<slimtrain::v1::MemoryPlan> approx2 =
        planner::PlanMemory(*graph, planner::Strategy::kApprox2, p, backend);
    absl::StatusOr<slimtrain::v1::MemoryPlan> optimal =
        planner::PlanMemory(*graph, planner::Strategy::kCheckpointOptimal, p, backend);
    if (!approx2.ok() || !optimal.ok()) return 1;
    options.checkpoint_budget_bytes = (approx2->peak_bytes() + optimal->peak_bytes()) / 2;
  }
  absl::StatusOr<std::unique_ptr<engine::Executor>> exec =
      engine::Executor::Create(*graph, *strategy, batch, &backend, options);
  if (!exec.ok()) {
    std::fprintf(stderr, "%s\n", std::string(exec.status().message()).c_str());
    return 1;
  }
  // One synthetic batch: images, or token sequences for a language model.
  const engine::Dataset data = engine::SyntheticDatasetFor(*graph, batch, 1, engine::Split::kTrain);
  engine::BatchIterator batches(data, batch, {}, 1);
  std::vector<float> images(batch * data.example_elements());
  std::vector<int32_t> labels(batch * data.labels_per_example);
  batches.Next(images.data(), labels.data());
  for (int step = 0; step < 2; ++step) {
    absl::StatusOr<engine::StepResult> r = (*exec)->TrainStep(images.data(), labels.data(), 0.1);
    if (!r.ok()) return 1;
  }
  int codes = 0;
  for (const slimtrain::v1::Buffer& b : (*exec)->plan().buffers()) codes += b.kind() == slimtrain::v1::Buffer::CODE;
  std::printf("planned_peak_bytes=%lld vmhwm_bytes=%lld recompute_flops=%lld codes=%d\n",
              static_cast<long long>((*exec)->plan().peak_bytes()),
              static_cast<long long>(engine::PeakResidentBytes()),
              static_cast<long long>((*exec)->plan().recompute_flops()), codes);
  return 0;
}
