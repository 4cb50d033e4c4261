// job_manager.h — the server's jobs: admission, queue, workers, events.
//
// The JobManager validates and plans a submission, admits it into the queue,
// starts each job in a worker process of its own (worker_process.h) when a
// device has room for its plan's peak, turns the worker's reports into stored
// events and job status, and answers queries. Everything it knows lives in
// the JobStore, so a restarted server picks up where it stopped: RUNNING jobs
// resume from their last checkpoint (their replayed steps' events marked
// replayed), PENDING ones stay queued. job_manager.cc has the requests,
// job_scheduler.cc the workers and the scheduler; admission.h checks and
// plans a submission.
//
//   JobManager jobs(store.get(), config);
//   SLIM_RETURN_IF_ERROR(jobs.Start());
//   SLIM_ASSIGN_OR_RETURN(v1::Job job, jobs.Submit(alice, request));
//   ...
//   jobs.Shutdown();   // workers checkpoint and stop; jobs stay RUNNING
//
// Every method takes the caller's Identity: users see and act on their own
// jobs (PERMISSION_DENIED otherwise), admins on all.
#ifndef SLIMTRAIN_SERVER_JOB_MANAGER_H_
#define SLIMTRAIN_SERVER_JOB_MANAGER_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "planner/limits.h"
#include "planner/plan_stop.h"
#include "proto/job.pb.h"
#include "proto/service.pb.h"
#include "server/admission.h"
#include "server/auth.h"
#include "server/hosts.h"
#include "server/job_store.h"
#include "server/server_config.h"
#include "server/worker_process.h"

namespace slimtrain::server {

class JobManager {
 public:
  JobManager(JobStore* store, ServerConfig config);
  ~JobManager();

  using Gpu = server::Gpu;

  // Finds the GPUs (asking the worker binary, so the server itself holds no
  // CUDA context), resumes RUNNING jobs of a previous run and starts the
  // scheduler.
  absl::Status Start();
  // After Start: the pool's GPUs (none without a usable one, and why).
  const std::vector<Gpu>& gpus() const { return gpus_; }
  const std::string& no_gpu_reason() const { return no_gpu_reason_; }
  // Stops the workers (each checkpoints first) and the scheduler; their
  // jobs stay RUNNING in the store, to resume on the next Start.
  void Shutdown();

  // PlanMemory with this server's devices: "cpu" (default), one of its GPUs
  // ("cuda:0") or a profile. Never holds the job lock, so every other call
  // goes on while it runs. Ends with `stop`'s status (the caller's deadline
  // or cancellation), or RESOURCE_EXHAUSTED past max_plan_seconds, over
  // max_plan_work, or when max_concurrent_plans requests are planning.
  absl::StatusOr<v1::PlanMemoryResponse> Plan(const v1::PlanMemoryRequest& request, planner::PlanStop stop);

  // Validates every field (INVALID_ARGUMENT naming it), plans as Plan does
  // (FAILED_PRECONDITION with needed and available bytes when it fits no
  // device or the spec's budget_bytes; UNIMPLEMENTED for more than one GPU or
  // node), admits (RESOURCE_EXHAUSTED for a full queue or the caller's
  // active-job limit) and queues the job: its record and first event in one
  // transaction, or nothing at all.
  absl::StatusOr<v1::Job> Submit(const Identity& who, const v1::SubmitJobRequest& request,
                                 planner::PlanStop stop = planner::PlanStop());
  absl::StatusOr<v1::Job> Get(const Identity& who, const std::string& id);
  absl::StatusOr<v1::ListJobsResponse> List(const Identity& who, const v1::ListJobsRequest& request);
  // FAILED_PRECONDITION for a finished job.
  absl::StatusOr<v1::Job> Cancel(const Identity& who, const std::string& id);
  // FAILED_PRECONDITION unless finished; removes records and files.
  absl::Status Delete(const Identity& who, const std::string& id);

  // The job's events after `after`, at most kEventBatch, waiting up to
  // `wait` for one when there is none yet. *done: the job has finished and
  // these are its last events.
  static constexpr int kEventBatch = 500;
  absl::StatusOr<std::vector<v1::JobEvent>> Events(const Identity& who, const std::string& id, int64_t after,
                                                   absl::Duration wait, bool* done);

  // A safetensors file of the job's weights and the step they are from: the
  // final weights of a SUCCEEDED job, the latest checkpoint's of a RUNNING
  // one (FAILED_PRECONDITION when it has none yet or is in another state).
  absl::StatusOr<std::string> WeightsFile(const Identity& who, const std::string& id, int64_t* step);

  // The plan the job was admitted with, buffers and steps included (what
  // its worker runs); NOT_FOUND for a job admitted by an older server.
  absl::StatusOr<v1::MemoryPlan> AdmittedPlan(const Identity& who, const std::string& id);

  // Whether Shutdown has begun.
  bool shutting_down() const;

  // What the dashboard's devices page and /metrics show: each device of the
  // pool (the CPU first, then the GPUs) with its capacity and the jobs
  // running on it, every user's (callers decide what a user may see).
  struct JobOnDevice {
    std::string id, owner, name;
    int64_t planned_bytes = 0;   // its plan's peak (times its ranks on this device)
    int64_t measured_bytes = 0;  // training's own peak so far (Metrics: measured − other), 0 before any
    double images_per_second = 0;
    int64_t step = 0;
  };
  struct DeviceUse {
    std::string device;       // "cpu", "cuda:0"
    std::string description;  // e.g. "NVIDIA H200, 139.8 GiB"
    int64_t capacity_bytes = 0;
    int64_t overhead_bytes = 0;  // a GPU's per-worker memory before its plan; 0 on the CPU
    std::vector<JobOnDevice> jobs;
  };
  std::vector<DeviceUse> Devices() const;
  // Jobs per state, all users'.
  absl::StatusOr<std::map<int, int64_t>> JobsByState() const { return store_->CountByState(); }
  // Since this server started: jobs submitted, started (first run),
  // resumed (after a restart), and ended in each final state.
  struct Counts {
    int64_t submitted = 0, started = 0, resumed = 0, succeeded = 0, failed = 0, cancelled = 0;
  };
  Counts counts() const;

 private:
  struct Running {
    std::unique_ptr<WorkerProcess> worker;
    std::thread reader;
    int64_t peak_bytes = 0;
    std::vector<int> gpus;  // the CUDA devices it trains on (a rank on each), none on the CPU
    // A data-parallel job: the hosts (indices into config_.hosts) with
    // per_node ranks on each; empty for one process on this machine.
    std::vector<int> hosts;
    int per_node = 1;
    int64_t log_offset = 0;  // worker.log's size when this run started
    // Processes: more than one were started by mpirun.
    int ranks() const {
      return gpus.size() > 1 ? static_cast<int>(gpus.size()) : per_node * std::max<int>(1, hosts.size());
    }
    int64_t replay_until = 0;  // steps up to this repeat a previous run's
    bool cancel_requested = false;
    bool timed_out = false;
    bool done = false;  // the worker exited and its state is settled: reap it
    absl::Time started;
  };

  // A planning slot (RESOURCE_EXHAUSTED when max_concurrent_plans are
  // taken) and `stop` with this server's time limit; the slot is freed when
  // the returned object goes.
  class PlanSlot;
  absl::StatusOr<std::unique_ptr<PlanSlot>> StartPlanning(planner::PlanStop& stop);
  absl::StatusOr<v1::Job> Authorized(const Identity& who, const std::string& id);
  absl::Status AppendEvent(const std::string& id, v1::JobEvent event);
  // The job's new state and its state-change event, in one transaction.
  absl::Status SetState(v1::Job& job, v1::Job::State to, const std::string& reason);
  // Job folders without a job (a server stopped between deleting a job's
  // record and its folder): removed at start.
  void RemoveOrphanFolders();
  void SchedulerLoop();
  void ScheduleOnce();
  // Starts the job's worker on the CPU (no `gpus`) or on GPU gpus[0]; a
  // data-parallel job's ranks with mpirun, one on each of `gpus` (this
  // host), or on `hosts` (PlaceRanks).
  absl::Status Launch(v1::Job job, int64_t replay_until, const std::vector<int>& gpus,
                      const std::vector<int>& hosts = {}) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What each host has in use, and this machine's bytes (the jobs of one
  // process and the ranks on its host entries).
  void HostsInUse(std::vector<HostUse>* use, int64_t* this_machine_bytes) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ProbeGpus();
  const Gpu* FindGpu(int index) const;
  void ReadWorker(const std::string& id);
  std::string JobDir(const std::string& id) const;
  int64_t CpuCapacityBytes() const;
  // The GPUs Start found and the CPU's capacity, for admission.
  DevicePool Pool() const;

  JobStore* store_;
  ServerConfig config_;
  std::atomic<int> plans_running_{0};
  std::vector<Gpu> gpus_;       // set by Start, then read-only
  std::string no_gpu_reason_;   // why gpus_ is empty
  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // an event was stored or a job changed state
  std::map<std::string, std::unique_ptr<Running>> running_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::thread scheduler_;
  // counts(), kept by Submit and SetState.
  std::atomic<int64_t> submitted_{0}, started_{0}, resumed_{0}, succeeded_{0}, failed_{0}, cancelled_{0};
};

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_JOB_MANAGER_H_
