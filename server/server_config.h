// server_config.h — the server's configuration (its flags, server/main.cc)
// and the GPUs of its device pool.
#ifndef SLIMTRAIN_SERVER_SERVER_CONFIG_H_
#define SLIMTRAIN_SERVER_SERVER_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "planner/limits.h"
#include "server/hosts.h"

namespace slimtrain::server {

struct ServerConfig {
  std::string data_dir;      // jobs/<id>/ (spec, checkpoints, weights, logs)
  std::string data_root;     // dataset paths are resolved inside it
  std::string worker_path;   // the slimtrain_worker binary
  int cpu_jobs = 1;          // jobs training on the CPU at once
  int cpu_threads = 0;       // threads per CPU job; 0: cores / cpu_jobs
  int max_queue = 100;       // PENDING + RUNNING jobs, all users
  int max_active_per_user = 4;
  int64_t max_run_seconds = 24 * 3600;
  int64_t retention_seconds = 7 * 24 * 3600;  // finished jobs removed after this
  planner::SizeLimits limits;  // model and batch sizes (planner/limits.h)
  int64_t max_model_bytes = 2 << 20;  // an inline model spec, serialized
  double max_plan_seconds = 30;       // planning time of one request
  int64_t max_plan_work = 2000000;    // layer-plans of one PlanMemory (plan_request.h)
  int max_concurrent_plans = 0;       // requests planning at once; 0: twice the cores
  int64_t default_checkpoint_interval = 200;
  // Data-parallel jobs (hosts.h): the hosts mpirun starts their ranks on
  // (empty: this host alone, a slot per core), mpirun itself, arguments
  // added to its command line (e.g. --mca settings for the network), and how
  // long one collective may wait for the other ranks before the job fails.
  std::vector<Host> hosts;
  std::string mpirun = "mpirun";
  std::vector<std::string> mpirun_args;
  double collective_timeout_seconds = 300;
};

// A GPU of the device pool, as the worker's --probe-gpus measured it.
struct Gpu {
  int index = 0;
  std::string name;
  int64_t total_bytes = 0;
  // Device memory each worker process takes before its plan (CUDA
  // context, library handles, workspaces), measured at start-up.
  int64_t overhead_bytes = 0;
};

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_SERVER_CONFIG_H_
