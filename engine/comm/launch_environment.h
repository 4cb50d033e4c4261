// launch_environment.h — which rank this process is, read from its launcher.
//
// A data-parallel job is started by an existing launcher, one process per
// device; each launcher tells its processes their place in environment
// variables. ParseLaunchEnvironment reads them from a map (a pure function, so
// tests give it made-up environments); ProcessEnvironment() is this process's.
//
//   SLIM_ASSIGN_OR_RETURN(LaunchInfo launch, ParseLaunchEnvironment(ProcessEnvironment()));
//   if (!launch.launched()) { ...a single process: no MPI... }
//
// Recognised, first match wins:
// 1. OpenMPI's mpirun (4.1, the MPI this build links): OMPI_COMM_WORLD_SIZE,
//    OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_LOCAL_RANK.
// 2. Slurm's srun: SLURM_STEP_NUM_TASKS, SLURM_PROCID, SLURM_LOCALID. srun
//    sets SLURM_STEP_NUM_TASKS in each task; an sbatch script outside srun has
//    SLURM_NTASKS but not it, so a batch script alone is not taken for a
//    launched rank. (OpenMPI joins srun's tasks only with --mpi=pmix;
//    MpiCommunicator checks that MPI sees the same number of processes.)
// 3. Anything else that says the process is one of several (PMI_SIZE from
//    MPICH's or Intel's mpiexec, PMIX_RANK without 1 or 2) is refused with
//    UNIMPLEMENTED: running on alone would silently train N copies of the job.
// Otherwise the process was not launched as a rank: launched() is false, and
// rank 0 of 1.
#ifndef SLIMTRAIN_ENGINE_COMM_LAUNCH_ENVIRONMENT_H_
#define SLIMTRAIN_ENGINE_COMM_LAUNCH_ENVIRONMENT_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace slimtrain::engine::comm {

// Environment variables, name to value.
using Environment = std::map<std::string, std::string>;

struct LaunchInfo {
  // "OpenMPI mpirun" or "Slurm srun"; empty when not started by a launcher.
  std::string launcher;
  int rank = 0;        // this process's rank, 0 <= rank < size
  int size = 1;        // processes in the job
  int local_rank = 0;  // rank among the job's processes on this node: which GPU to use

  bool launched() const { return !launcher.empty(); }
};

// This process's place in its job, from `env`. INVALID_ARGUMENT naming the
// variable and its value when a launcher's variable is missing, not an
// integer, or out of range (rank not below size); UNIMPLEMENTED for a
// launcher this build cannot join (rule 3 above).
absl::StatusOr<LaunchInfo> ParseLaunchEnvironment(const Environment& env);

// This process's environment (environ).
Environment ProcessEnvironment();

}  // namespace slimtrain::engine::comm

#endif  // SLIMTRAIN_ENGINE_COMM_LAUNCH_ENVIRONMENT_H_
