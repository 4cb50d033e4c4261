// gpu_targets.h — the GPUs of this machine a job can run on, each with the
// device memory a job there cannot have: what the server's worker probe
// reports for its device pool, and what a local `slimtrain plan --device
// cuda:N` plans against.
//
//   absl::StatusOr<std::vector<UsableGpu>> gpus = ProbeUsableGpus();  // or (2): GPU 2 alone
//   if (!gpus.ok()) std::printf("no GPU: %s\n", gpus.status().message());
//   for (const UsableGpu& g : *gpus) room = g.total_bytes - g.overhead_bytes;
#ifndef SLIMTRAIN_ENGINE_CUDA_GPU_TARGETS_H_
#define SLIMTRAIN_ENGINE_CUDA_GPU_TARGETS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace slimtrain::engine {

struct UsableGpu {
  int index = 0;             // CUDA device ordinal
  std::string name;          // e.g. "NVIDIA H200"
  int64_t total_bytes = 0;   // device memory
  // Taken while a CUDA backend holds the GPU: its context, cuDNN's and
  // cuBLAS's handles, and whatever other processes use there now.
  int64_t overhead_bytes = 0;
};

// Every GPU on which the CUDA backend starts, measured with one running (and
// released again); with `only` >= 0, GPU `only` alone (a backend started on
// it, not on the others). UNAVAILABLE with the reason when there is none: no
// CUDA in this build, no driver or device, or cuDNN/cuBLAS missing;
// NOT_FOUND listing the GPUs when there is no GPU `only`.
absl::StatusOr<std::vector<UsableGpu>> ProbeUsableGpus(int only = -1);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_CUDA_GPU_TARGETS_H_
