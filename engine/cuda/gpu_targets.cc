// See gpu_targets.h.
#include "engine/cuda/gpu_targets.h"

#include <memory>

#include "engine/backend.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/gpu_info.h"

namespace slimtrain::engine {

absl::StatusOr<std::vector<UsableGpu>> ProbeUsableGpus() {
  absl::StatusOr<std::vector<cuda::GpuInfo>> gpus = cuda::ListGpus();
  if (!gpus.ok()) return gpus.status();
  std::vector<UsableGpu> usable;
  std::string why;
  for (const cuda::GpuInfo& g : *gpus) {
    absl::StatusOr<std::unique_ptr<Backend>> backend = NewCudaBackend({g.index, false});
    if (!backend.ok()) {
      why = std::string(backend.status().message());
      continue;
    }
    const int64_t overhead = CudaDeviceBytesInUse(g.index);
    if (overhead < 0) continue;
    usable.push_back({g.index, g.name, g.total_bytes, overhead});
  }
  if (usable.empty()) return absl::UnavailableError(why.empty() ? "no GPU could be measured" : why);
  return usable;
}

}  // namespace slimtrain::engine
