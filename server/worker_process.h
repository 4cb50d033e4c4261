// worker_process.h — one job's worker process: started, read, stopped.
//
//   SLIM_ASSIGN_OR_RETURN(auto w, WorkerProcess::Start(worker_path, job_dir, data_root, threads, gpu));
//   v1::JobEvent e;
//   while (w->Next(&e)) { ... }          // the worker's events, until it exits
//   WorkerExit exit = w->Wait();
//
// `gpu` >= 0 trains on that CUDA device (the worker's --gpu), else on the CPU.
// The child gets a parent-death signal (SIGKILL), so workers never outlive
// the server; its stderr goes to <job_dir>/worker.log.
#ifndef SLIMTRAIN_SERVER_WORKER_PROCESS_H_
#define SLIMTRAIN_SERVER_WORKER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>

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

class WorkerProcess {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerProcess>> Start(const std::string& worker_path,
                                                              const std::string& job_dir,
                                                              const std::string& data_root, int threads,
                                                              int gpu = -1);
  ~WorkerProcess();

  // The next event the worker reported; false at its end of output.
  bool Next(v1::JobEvent* event);
  // Waits for the process to exit.
  WorkerExit Wait();
  // Asks the worker to stop after a checkpoint (SIGTERM).
  void Stop();
  pid_t pid() const { return pid_; }

 private:
  WorkerProcess(pid_t pid, int fd);
  pid_t pid_;
  int fd_;
  std::unique_ptr<google::protobuf::io::FileInputStream> in_;
};

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_WORKER_PROCESS_H_
