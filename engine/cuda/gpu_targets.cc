// See gpu_targets.h.
#include "engine/cuda/gpu_targets.h"

#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/backend.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/gpu_info.h"

namespace slimtrain::engine {

absl::StatusOr<std::vector<UsableGpu>> ProbeUsableGpus(int only) {
  absl::StatusOr<std::vector<cuda::GpuInfo>> gpus = cuda::ListGpus();
  if (!gpus.ok()) return gpus.status();
  if (only >= 0 && std::none_of(gpus->begin(), gpus->end(), [&](const cuda::GpuInfo& g) { return g.index == only; })) {
    std::vector<std::string> names;
    for (const cuda::GpuInfo& g : *gpus) names.push_back(absl::StrCat("cuda:", g.index, " (", g.name, ")"));
    return absl::NotFoundError(absl::StrCat("no GPU ", only, "; this machine has ", absl::StrJoin(names, ", ")));
  }
  std::vector<UsableGpu> usable;
  std::string why;
  for (const cuda::GpuInfo& g : *gpus) {
    if (only >= 0 && g.index != only) continue;
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
