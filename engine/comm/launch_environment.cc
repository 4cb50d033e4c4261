// See launch_environment.h.
#include "engine/comm/launch_environment.h"

#include <climits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

extern char** environ;

namespace slimtrain::engine::comm {
namespace {

// One launcher's variables for size, rank and local rank.
struct LauncherVariables {
  const char* launcher;
  const char* size;
  const char* rank;
  const char* local_rank;
};

constexpr LauncherVariables kLaunchers[] = {
    {"OpenMPI mpirun", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"},
    {"Slurm srun", "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_LOCALID"},
};

// Variables that say the process is a rank of a launcher not in kLaunchers.
constexpr const char* kForeignLauncherVariables[] = {"PMI_SIZE", "PMI_RANK", "PMIX_RANK"};

// The integer value of `name` in [min, limit): INVALID_ARGUMENT naming the
// variable and its value otherwise. `limit_name` names the bound in messages.
absl::StatusOr<int> IntVariable(const Environment& env, const char* launcher, const char* name, int min,
                                int limit, const char* limit_name) {
  auto it = env.find(name);
  if (it == env.end()) {
    return absl::InvalidArgumentError(absl::StrFormat("launched by %s, but %s is not set", launcher, name));
  }
  int value = 0;
  if (!absl::SimpleAtoi(it->second, &value)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s=\"%s\" (from %s) is not an integer", name, it->second, launcher));
  }
  if (value < min || value >= limit) {
    return absl::InvalidArgumentError(
        limit_name == nullptr ? absl::StrFormat("%s=%d (from %s) is below %d", name, value, launcher, min)
                              : absl::StrFormat("%s=%d (from %s) is not in [%d, %s=%d)", name, value,
                                                launcher, min, limit_name, limit));
  }
  return value;
}

}  // namespace

absl::StatusOr<LaunchInfo> ParseLaunchEnvironment(const Environment& env) {
  for (const LauncherVariables& v : kLaunchers) {
    if (env.count(v.size) == 0) continue;
    LaunchInfo info;
    info.launcher = v.launcher;
    SLIM_ASSIGN_OR_RETURN(info.size, IntVariable(env, v.launcher, v.size, 1, INT_MAX, nullptr));
    SLIM_ASSIGN_OR_RETURN(info.rank, IntVariable(env, v.launcher, v.rank, 0, info.size, v.size));
    SLIM_ASSIGN_OR_RETURN(info.local_rank, IntVariable(env, v.launcher, v.local_rank, 0, info.size, v.size));
    return info;
  }
  for (const char* name : kForeignLauncherVariables) {
    auto it = env.find(name);
    if (it == env.end()) continue;
    return absl::UnimplementedError(absl::StrFormat(
        "%s=%s says this process is one rank of a job, started by a launcher slimtrain cannot join "
        "(it knows OpenMPI's mpirun and Slurm's srun --mpi=pmix); refusing to train alone as if it "
        "were the only process",
        name, it->second));
  }
  return LaunchInfo{};
}

Environment ProcessEnvironment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const size_t eq = text.find('=');
    if (eq == std::string::npos) continue;
    env.emplace(text.substr(0, eq), text.substr(eq + 1));
  }
  return env;
}

}  // namespace slimtrain::engine::comm
