// gpu_probe — reports the GPUs this machine offers slimtrain, and proves that
// CUDA code runs on each. Exit code 0 with or without a GPU (training then
// uses the CPU); non-zero only when a GPU is present and its kernel fails.
#include <cstdio>

#include "engine/cuda/gpu_info.h"

int main() {
  namespace cuda = slimtrain::engine::cuda;
  std::printf("slimtrain GPU probe: %s\n", cuda::CudaBuildDescription().c_str());
  auto gpus = cuda::ListGpus();
  if (!gpus.ok()) {
    std::printf("no GPU present (%s); training will use the CPU.\n",
                std::string(gpus.status().message()).c_str());
    return 0;
  }
  int failures = 0;
  for (const cuda::GpuInfo& gpu : *gpus) {
    const absl::Status probe = cuda::RunProbeKernel(gpu.index);
    std::printf("GPU %d: %s, compute %d.%d, %.1f GiB (%.1f GiB free), probe kernel: %s\n",
                gpu.index, gpu.name.c_str(), gpu.compute_major, gpu.compute_minor,
                gpu.total_bytes / 1073741824.0, gpu.free_bytes / 1073741824.0,
                probe.ok() ? "ok" : std::string(probe.message()).c_str());
    if (!probe.ok()) ++failures;
  }
  return failures == 0 ? 0 : 1;
}
