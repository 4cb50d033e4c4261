// mpi_communicator.h — the Communicator of a job started by mpirun or srun:
// collectives on host buffers over OpenMPI, each with a deadline.
//
//   CommunicatorOptions options;
//   options.timeout = absl::Minutes(2);
//   SLIM_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm, CommunicatorFromEnvironment(options));
//   // `mpirun -np 4 slimtrain ...`: an MpiCommunicator, rank 0..3 of 4;
//   // started alone: a LocalCommunicator, and MPI is never initialised.
//
// How it works:
// 1. Create initialises MPI once per process (MPI_Init_thread with
//    MPI_THREAD_SERIALIZED), makes MPI return errors instead of aborting
//    (MPI_ERRORS_RETURN on MPI_COMM_WORLD), and checks that MPI's rank and size
//    are the launcher's (launch_environment.h).
// 2. It then starts a progress thread, the only thread that calls MPI until
//    destruction. Start queues a collective for it; it splits each into
//    non-blocking MPI operations of at most options.max_message_bytes
//    (MPI_Iallreduce with MPI_IN_PLACE, MPI_Ibcast; MPI_Ibarrier), starts
//    them in the order the collectives were started, at most
//    options.max_operations_in_flight at a time (the bound on OpenMPI's
//    scratch memory, communicator.h), and tests those in flight with
//    MPI_Testall. OpenMPI advances non-blocking collectives only inside MPI
//    calls: this polling is what moves a bucket's all-reduce along while
//    the caller computes the next bucket.
// 3. While a collective is in flight the thread polls every 50 µs (at once
//    when another is started); with none, it sleeps until one is. Polling
//    costs part of a core while collectives are in flight.
// 4. A collective past its deadline fails with DEADLINE_EXCEEDED; the ones
//    in flight or queued with it fail with FAILED_PRECONDITION, so do later
//    starts, and the thread stops calling MPI (communicator.h, rules 3 and 4).
// 5. The destructor lets the collectives in flight finish (by their
//    deadlines at the latest), stops the thread and calls MPI_Finalize,
//    unless a collective failed: MPI_Finalize synchronises with the other
//    ranks and would hang on one that is gone, so the process should then
//    just exit.
#ifndef SLIMTRAIN_ENGINE_COMM_MPI_COMMUNICATOR_H_
#define SLIMTRAIN_ENGINE_COMM_MPI_COMMUNICATOR_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/comm/communicator.h"
#include "engine/comm/launch_environment.h"

namespace slimtrain::engine::comm {

// The communicator for how this process was launched: a LocalCommunicator
// when no launcher started it or the job has one process, otherwise an
// MpiCommunicator. Errors: ParseLaunchEnvironment's, and MpiCommunicator::
// Create's.
absl::StatusOr<std::unique_ptr<Communicator>> CommunicatorFromEnvironment(const CommunicatorOptions& options);

class MpiCommunicator final : public Communicator {
 public:
  // Initialises MPI for a process that `launch` says is one rank of a job of
  // launch.size > 1 (steps 1 and 2 above). Once per process: MPI cannot be
  // initialised twice, so a second call is FAILED_PRECONDITION.
  // INVALID_ARGUMENT for options out of range (a timeout not above zero,
  // max_message_bytes below 8, max_operations_in_flight below 1);
  // UNAVAILABLE when MPI does not start;
  // FAILED_PRECONDITION when MPI's rank or size is not the launcher's (srun
  // without --mpi=pmix, another MPI's launcher) or MPI lacks
  // MPI_THREAD_SERIALIZED.
  static absl::StatusOr<std::unique_ptr<MpiCommunicator>> Create(const LaunchInfo& launch,
                                                                 const CommunicatorOptions& options);

  // Step 5 above.
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  BufferMemory buffer_memory() const override { return BufferMemory::kHost; }

 protected:
  std::unique_ptr<PendingCollective> Start(const Collective& op) override;

 private:
  struct Op;  // a started collective: its MPI requests and its completion

  MpiCommunicator(const LaunchInfo& launch, const CommunicatorOptions& options);
  void ProgressLoop();
  // Starts `op`'s next MPI operation (its next piece); on the progress
  // thread only.
  absl::Status IssueNext(Op& op);
  // Records `error` as the first failure (if it is) and fails `others` and
  // every queued collective as abandoned because of it.
  void Fail(const absl::Status& error, std::vector<std::shared_ptr<Op>> others);
  // FAILED_PRECONDITION for `collective` once `failure` made this
  // communicator unusable.
  absl::Status Unusable(const Collective& collective, const absl::Status& failure) const;

  const int rank_;
  const int size_;
  const int local_rank_;
  const CommunicatorOptions options_;

  std::mutex mu_;
  std::condition_variable wake_;            // a collective queued, or stopping
  std::deque<std::shared_ptr<Op>> queued_;  // guarded by mu_
  absl::Status failed_;                     // the first failure; guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  int64_t started_ = 0;                     // collectives started; guarded by mu_
  std::thread progress_;
};

}  // namespace slimtrain::engine::comm

#endif  // SLIMTRAIN_ENGINE_COMM_MPI_COMMUNICATOR_H_
