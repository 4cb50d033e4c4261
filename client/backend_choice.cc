// See backend_choice.h.
#include "client/backend_choice.h"

#include <algorithm>
#include <iostream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/gpu_targets.h"
#include "engine/cuda/workspace_bounds.h"

namespace slimtrain::client {

absl::StatusOr<std::unique_ptr<engine::Backend>> MakeBackend(const std::string& name, int64_t threads, bool tf32,
                                                             int device) {
  if (threads < 0) return absl::InvalidArgumentError(absl::StrCat("--threads must be >= 0, got ", threads));
  auto fast = [&] { return std::unique_ptr<engine::Backend>(new engine::FastBackend(static_cast<int>(threads))); };
  if (name == "fast") return fast();
  if (name == "reference") return std::unique_ptr<engine::Backend>(new engine::ReferenceBackend(engine::DType::kF32));
  if (name == "cuda" || name == "auto") {
    engine::CudaBackendOptions options;
    options.tf32 = tf32;
    options.device = device;
    absl::StatusOr<std::unique_ptr<engine::Backend>> gpu = engine::NewCudaBackend(options);
    if (gpu.ok()) return gpu;
    if (gpu.status().code() != absl::StatusCode::kUnavailable) return gpu.status();
    if (name == "cuda") {
      std::cerr << "slimtrain: --backend cuda: " << gpu.status().message() << "; running on the CPU instead\n";
    }
    return fast();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--backend: '", name, "' is not fast, reference, cuda or auto"));
}

int64_t CoresPerRank(int64_t ranks_here) {
  return std::max<int64_t>(1, std::thread::hardware_concurrency() / std::max<int64_t>(1, ranks_here));
}

std::unique_ptr<planner::CostModel> MakePlanCostModel(const std::string& device, int64_t threads, int64_t ranks) {
  absl::StatusOr<planner::DeviceProfile> profile = planner::FindDevice(device);
  if (absl::StartsWith(device, "cuda:") || (profile.ok() && profile->gpu)) {
    return std::make_unique<engine::cuda::CudaWorkspaceBound>();
  }
  if (threads == 0 && ranks > 1) threads = CoresPerRank(ranks);
  return std::make_unique<engine::FastBackend>(static_cast<int>(threads), /*plan_only=*/true);
}

absl::StatusOr<planner::DeviceProfile> LocalGpuTarget(int index) {
  absl::StatusOr<std::vector<engine::UsableGpu>> gpus = engine::ProbeUsableGpus(index);
  if (!gpus.ok()) return gpus.status();
  const engine::UsableGpu& g = gpus->front();
  return planner::GpuDevice(g.index, g.name, g.total_bytes, g.overhead_bytes, "this machine's");
}

}  // namespace slimtrain::client
