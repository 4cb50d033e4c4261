// memory_check MODEL STRATEGY BATCH MODE [BUCKET_MIB] — one rank's planned
// peak and peak resident memory (VmHWM) over two training steps of a zoo
// model on the fast CPU backend (one thread), run under `mpirun -np 2` by
// data_parallel_memory_test.cc. MODE:
//   alone        MPI is initialised (as in the others) but the rank trains
//                by itself: the plan of one process
//   overlap      data-parallel: buckets summed while backward runs
//   no-overlap   data-parallel: buckets summed after backward
// Prints one line per rank:
//   memory_check rank 0: planned_peak_bytes=1 vmhwm_bytes=2 buckets=3 bucket_bytes=4
// or "memory_check rank R: FAIL: why" and exits 1.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/batches.h"
#include "engine/comm/communicator.h"
#include "engine/comm/mpi_communicator.h"
#include "engine/cpu/fast_backend.h"
#include "engine/data.h"
#include "engine/executor.h"
#include "engine/trainer.h"
#include "planner/strategy.h"
#include "planner/zoo.h"

namespace slimtrain::engine {
namespace {

int Main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: memory_check MODEL STRATEGY BATCH alone|overlap|no-overlap [BUCKET_MIB]\n");
    return 2;
  }
  const std::string mode = argv[4];
  if (mode != "alone" && mode != "overlap" && mode != "no-overlap") {
    std::fprintf(stderr, "memory_check: unknown mode '%s'\n", mode.c_str());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<comm::Communicator>> comm =
      comm::CommunicatorFromEnvironment(comm::CommunicatorOptions());
  if (!comm.ok()) {
    std::printf("memory_check: FAIL: %s\n", std::string(comm.status().message()).c_str());
    return 1;
  }
  const int rank = (*comm)->rank();
  auto fail = [rank](const std::string& why) {
    std::printf("memory_check rank %d: FAIL: %s\n", rank, why.c_str());
    return 1;
  };
  absl::StatusOr<planner::Strategy> strategy = planner::ParseStrategy(argv[2]);
  if (!strategy.ok()) return fail(strategy.status().ToString());
  const int64_t batch = std::atoll(argv[3]);
  absl::StatusOr<v1::ModelSpec> spec = planner::ZooModel(argv[1]);
  if (!spec.ok()) return fail(spec.status().ToString());
  absl::StatusOr<planner::Graph> graph = planner::Graph::Build(*spec);
  if (!graph.ok()) return fail(graph.status().ToString());
  FastBackend backend(/*threads=*/1);  // the two ranks share the machine's cores
  ExecutorOptions options;
  if (mode != "alone") options.communicator = comm->get();
  options.overlap_communication = mode == "overlap";
  if (argc == 6) options.bucket_bytes = std::atoll(argv[5]) << 20;
  absl::StatusOr<std::unique_ptr<Executor>> exec = Executor::Create(*graph, *strategy, batch, &backend, options);
  if (!exec.ok()) return fail(exec.status().ToString());
  const Dataset data = SyntheticDatasetFor(*graph, batch, 1, Split::kTrain);
  BatchIterator batches(data, batch, {}, 1);
  std::vector<float> images(batch * data.example_elements());
  std::vector<int32_t> labels(batch * data.labels_per_example);
  batches.Next(images.data(), labels.data());
  for (int step = 0; step < 2; ++step) {
    absl::StatusOr<StepResult> r = (*exec)->TrainStep(images.data(), labels.data(), 0.01);
    if (!r.ok()) return fail(r.status().ToString());
  }
  // The ranks leave together: neither exits while the other still sums.
  if (absl::Status s = (*comm)->Barrier(); !s.ok()) return fail(s.ToString());
  const v1::MemoryPlan& plan = (*exec)->plan();
  std::printf("memory_check rank %d: planned_peak_bytes=%lld vmhwm_bytes=%lld buckets=%d bucket_bytes=%lld\n", rank,
              static_cast<long long>(plan.peak_bytes()), static_cast<long long>(PeakResidentBytes()),
              static_cast<int>((*exec)->gradient_buckets().size()), static_cast<long long>(options.bucket_bytes));
  return 0;
}

}  // namespace
}  // namespace slimtrain::engine

int main(int argc, char** argv) { return slimtrain::engine::Main(argc, argv); }
