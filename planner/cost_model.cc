// See cost_model.h.
#include "planner/cost_model.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace slimtrain::planner {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;

// MemTotal of /proc/meminfo in bytes; 0 when unreadable.
int64_t MachineMemoryBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib * 1024;
  }
  return 0;
}

DeviceProfile Gpu(const char* name, const char* model, int64_t mib) {
  DeviceProfile p;
  p.name = name;
  p.gpu = true;
  p.memory_bytes = mib * kMiB;
  p.reserve_bytes = kGiB;
  p.description = absl::StrCat(model, ", ", mib, " MiB");
  return p;
}

}  // namespace

std::vector<DeviceProfile> DeviceProfiles() {
  DeviceProfile cpu;
  cpu.name = "cpu";
  cpu.memory_bytes = MachineMemoryBytes();
  cpu.reserve_bytes = std::max<int64_t>(2 * kGiB, cpu.memory_bytes / 10);
  cpu.description = absl::StrCat("this machine's RAM, ", cpu.memory_bytes / kMiB, " MiB");
  // Totals as nvidia-smi reports them.
  return {cpu,
          Gpu("h200", "NVIDIA H200", 143771),
          Gpu("a100-80gb", "NVIDIA A100 80GB", 81920),
          Gpu("a100-40gb", "NVIDIA A100 40GB", 40960),
          Gpu("v100-16gb", "NVIDIA V100 16GB", 16384),
          Gpu("t4", "NVIDIA T4", 15360)};
}

absl::StatusOr<DeviceProfile> FindDevice(absl::string_view name) {
  std::vector<std::string> known;
  for (DeviceProfile& p : DeviceProfiles()) {
    if (p.name == name) return p;
    known.push_back(p.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device '", name, "'; known: ", absl::StrJoin(known, ", ")));
}

DeviceProfile GpuDevice(int index, absl::string_view name, int64_t memory_bytes, int64_t in_use_bytes,
                        absl::string_view whose) {
  DeviceProfile d;
  d.name = absl::StrCat("cuda:", index);
  d.gpu = true;
  d.memory_bytes = memory_bytes;
  d.reserve_bytes = in_use_bytes;
  d.description = absl::StrCat(name, ", ", whose, " GPU ", index);
  return d;
}

}  // namespace slimtrain::planner
