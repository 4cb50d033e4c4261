// backend_choice.h — the engine backend a local command runs on (--backend,
// --threads), and the cost model a local plan counts its workspaces with.
#ifndef SLIMTRAIN_CLIENT_BACKEND_CHOICE_H_
#define SLIMTRAIN_CLIENT_BACKEND_CHOICE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "planner/cost_model.h"

namespace slimtrain::client {

// The names --backend accepts, for help text.
inline constexpr char kBackendHelp[] =
    "fast (CPU: oneDNN and vectorised kernels), reference (CPU, slow, for checking), cuda (GPU 0, or a data-parallel rank's local rank; falls back "
    "to fast, saying why, when no GPU is usable) or auto (cuda when a GPU is usable, else fast)";

// "fast" (`threads` 0: the machine's cores), "reference" (readable loops,
// float32), "cuda" (the CUDA backend on GPU `device`, TF32 math when `tf32`; when no
// GPU or cuDNN is usable, the fast CPU backend, with one line on stderr
// saying why) or "auto" (cuda when usable, else fast, silently).
// INVALID_ARGUMENT naming --backend for anything else.
absl::StatusOr<std::unique_ptr<engine::Backend>> MakeBackend(const std::string& name, int64_t threads,
                                                             bool tf32 = false, int device = 0);

// The CPU threads each of `ranks_here` processes on this host gets by
// default: the machine's cores shared among them, at least one.
int64_t CoresPerRank(int64_t ranks_here);

// The cost model `slimtrain plan` plans for `device` with, the one the
// server plans the same request with: a GPU's workspaces (a profile's, or
// one of this machine's, "cuda:N") are cuDNN's at their bounds (as GPU jobs
// are admitted); the CPU's are the fast backend's at `threads` (0:
// CoresPerRank(ranks), as `slimtrain train` runs), from a plan-only
// FastBackend (oneDNN's primitives described, not compiled).
std::unique_ptr<planner::CostModel> MakePlanCostModel(const std::string& device, int64_t threads, int64_t ranks);

// This machine's GPU `index` as a plan target "cuda:INDEX": its memory less
// what a running CUDA backend takes there (engine::ProbeUsableGpus, on that
// GPU alone), as a server plans for its own GPUs. UNAVAILABLE with the
// reason when it cannot run a backend (or there is no GPU at all);
// NOT_FOUND listing this machine's GPUs when there is no GPU `index`.
absl::StatusOr<planner::DeviceProfile> LocalGpuTarget(int index);

}  // namespace slimtrain::client

#endif  // SLIMTRAIN_CLIENT_BACKEND_CHOICE_H_
