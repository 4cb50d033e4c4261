// cost_model.h — the bytes only a backend knows, and the devices plans target.
//
// A plan is per backend: each op's workspace (oneDNN scratchpad, the cuDNN
// algorithm's workspace), the element size and the alignment come from a
// CostModel. The engine's backends implement it; DefaultCostModel lets the
// planner plan without an engine.
//
//   DefaultCostModel model;                    // fp32, 256-byte alignment
//   int64_t ws = model.WorkspaceBytes(graph, node, /*batch=*/128, Pass::kForward);
//
//   absl::StatusOr<DeviceProfile> h200 = FindDevice("h200");
//   int64_t budget = h200->memory_bytes - h200->reserve_bytes;
#ifndef SLIMTRAIN_PLANNER_COST_MODEL_H_
#define SLIMTRAIN_PLANNER_COST_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "planner/graph.h"

namespace slimtrain::planner {

enum class Pass { kForward, kBackward };

class CostModel {
 public:
  virtual ~CostModel() = default;
  // Short name shown in plans, e.g. "default", "onednn", "cudnn".
  virtual std::string name() const = 0;
  // Bytes per element of full-precision tensors: 4 for fp32 (2 for 16-bit
  // types later).
  virtual int64_t element_bytes() const = 0;
  // Every arena offset is a multiple of this, in bytes.
  virtual int64_t alignment_bytes() const = 0;
  // Scratch bytes node `node` of `graph` needs for one pass at batch `batch`;
  // 0 for none. Must not depend on the strategy (each op's algorithm is fixed
  // per backend and shape); it may depend on the graph (e.g. whether a
  // backward accumulates into a gradient another consumer wrote first).
  virtual int64_t WorkspaceBytes(const Graph& graph, const Node& node, int64_t batch, Pass pass) const = 0;
};

// fp32, 256-byte alignment, no workspaces: what the planner assumes without an
// engine. The engine's backends report their real workspaces.
class DefaultCostModel : public CostModel {
 public:
  std::string name() const override { return "default"; }
  int64_t element_bytes() const override { return 4; }
  int64_t alignment_bytes() const override { return 256; }
  int64_t WorkspaceBytes(const Graph&, const Node&, int64_t, Pass) const override { return 0; }
};

// A target a plan can be made for: its memory and the part of it not
// available to the plan.
struct DeviceProfile {
  std::string name;         // "cpu", "h200", "a100-80gb", ...
  bool gpu = false;
  int64_t memory_bytes = 0;   // total memory as the device reports it
  // Memory the process needs besides the plan: for GPUs the CUDA context and
  // the cuDNN/cuBLAS handles (an estimate, 1 GiB); for the CPU the system's
  // share (the larger of 2 GiB and 10% of RAM).
  int64_t reserve_bytes = 0;
  std::string description;  // e.g. "NVIDIA H200, 143771 MiB"

  int64_t budget_bytes() const { return memory_bytes - reserve_bytes; }
};

// The known targets: "cpu" (this machine's RAM, from /proc/meminfo) and the GPU
// profiles h200, a100-80gb, a100-40gb, v100-16gb, t4.
std::vector<DeviceProfile> DeviceProfiles();

// The profile named `name`; INVALID_ARGUMENT listing the known names otherwise.
absl::StatusOr<DeviceProfile> FindDevice(absl::string_view name);

// A real GPU as a target "cuda:INDEX": its memory, less what a running CUDA
// backend takes there (`in_use_bytes`, measured); `whose` says whose GPU it
// is in the description ("this server's" -> "NVIDIA H200, this server's GPU 0").
DeviceProfile GpuDevice(int index, absl::string_view name, int64_t memory_bytes, int64_t in_use_bytes,
                        absl::string_view whose);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_COST_MODEL_H_
