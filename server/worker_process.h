// worker_process.h — one job's worker process: started, read, stopped.
//
//   WorkerLaunch launch;
//   launch.worker_path = ...; launch.job_dir = ...; launch.data_root = ...;
//   SLIM_ASSIGN_OR_RETURN(auto w, WorkerProcess::Start(launch));
//   v1::JobEvent e;
//   while (w->Next(&e)) { ... }          // the worker's events, until it exits
//   WorkerExit exit = w->Wait();
//
// `gpu` >= 0 trains on that CUDA device (the worker's --gpu), else on the CPU.
// A data-parallel job (ranks > 1) starts mpirun instead, which starts the
// worker once per rank over `hosts`; rank 0 reports the events (mpirun
// forwards its stdout), every rank's stderr and mpirun's own go to the log.
// The child (the worker, or mpirun) gets a parent-death signal (SIGKILL), so
// workers never outlive the server (ranks set their own on mpirun); its
// stderr goes to <job_dir>/worker.log.
#ifndef SLIMTRAIN_SERVER_WORKER_PROCESS_H_
#define SLIMTRAIN_SERVER_WORKER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/job.pb.h"

namespace google::protobuf::io {
class FileInputStream;
}

namespace slimtrain::server {

struct WorkerExit {
  bool signaled = false;
  int code = 0;  // exit code, or the signal
  // "exit code 1", "killed by signal 9 (SIGKILL: out of memory?)".
  std::string Describe() const;
};

struct WorkerLaunch {
  std::string worker_path;  // the slimtrain_worker binary
  std::string job_dir;
  std::string data_root;
  int threads = 0;  // per process
  int gpu = -1;
  // Data-parallel: the processes in all, started by `mpirun` over `hosts`
  // ("name:ranks there" each), with `mpirun_args` (e.g. --mca settings) and
  // every collective's timeout.
  int ranks = 1;
  std::vector<std::string> hosts;
  std::string mpirun = "mpirun";
  std::vector<std::string> mpirun_args;
  double collective_timeout_seconds = 300;
};

// The command line Start runs (tests check it).
std::vector<std::string> WorkerCommand(const WorkerLaunch& launch);

class WorkerProcess {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerProcess>> Start(const WorkerLaunch& launch);
  ~WorkerProcess();

  // The next event the worker reported; false at its end of output.
  bool Next(v1::JobEvent* event);
  // Waits for the process to exit.
  WorkerExit Wait();
  // Asks the worker to stop after a checkpoint: SIGTERM, or SIGUSR1 to
  // mpirun, which forwards it to every rank (its SIGTERM would end them).
  void Stop();
  // The worker's pid, or mpirun's.
  pid_t pid() const { return pid_; }

 private:
  WorkerProcess(pid_t pid, int fd, bool mpirun);
  pid_t pid_;
  bool mpirun_;
  int fd_;
  std::unique_ptr<google::protobuf::io::FileInputStream> in_;
};

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_WORKER_PROCESS_H_
