// communicator.h — collectives between the processes of a data-parallel job.
//
// A data-parallel job runs one process (a rank) per device; each computes the
// gradients of its slice of the batch, and the ranks sum them with an
// all-reduce before the optimizer step. Communicator is what the trainer
// calls for that; three implementations sit behind it:
//   LocalCommunicator (below)                one process: nothing to exchange
//   MpiCommunicator   (mpi_communicator.h)   host buffers, over OpenMPI
//   NcclCommunicator  (nccl_communicator.h)  device buffers, over NCCL
// CommunicatorFromEnvironment() (mpi_communicator.h) picks Local or MPI from
// how the process was launched; a single process needs neither MPI nor NCCL.
//
//   SLIM_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm, CommunicatorFromEnvironment({}));
//   SLIM_RETURN_IF_ERROR(comm->Broadcast(params, params_bytes, /*root=*/0));  // one start
//   ...backward writes bucket 0's gradients (grads0, n0 floats)...
//   std::unique_ptr<PendingCollective> b0 = comm->StartAllReduceSum(grads0, n0);
//   ...backward writes bucket 1's while bucket 0 is summed...
//   SLIM_RETURN_IF_ERROR(b0->Wait());  // grads0 holds the sum over all ranks
//
// Rules every implementation keeps:
// 1. Every rank issues the same collectives in the same order, with the same
//    counts (and root): MPI and NCCL match them by order alone.
// 2. A buffer given to a collective belongs to it until its Wait() returns;
//    neither read nor write it before. Wait for every pending collective
//    before destroying the communicator.
// 3. Every collective has a deadline: CommunicatorOptions::timeout after it
//    was started. One that has not completed by then (a rank died, hangs, or
//    issued a different collective) fails with DEADLINE_EXCEEDED naming the
//    operation and this rank. MPI's and NCCL's blocking calls never time
//    out, so implementations start non-blocking operations and poll them.
// 4. After any failed collective the communicator is unusable: the ranks
//    cannot be brought back in step, so every later collective fails at once
//    with FAILED_PRECONDITION carrying the first error. The process should
//    report the error and exit; its launcher (mpirun, srun) then ends the
//    other ranks. A timed-out buffer may still be written until then.
// 5. Errors come from Wait() (and the blocking calls, which are a start and a
//    wait): starting never fails. Invalid arguments (a negative count, a
//    root that is not a rank) are INVALID_ARGUMENT and break nothing.
#ifndef SLIMTRAIN_ENGINE_COMM_COMMUNICATOR_H_
#define SLIMTRAIN_ENGINE_COMM_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace slimtrain::engine::comm {

struct CommunicatorOptions {
  // How long one collective may take, from its start on this rank until it
  // completes here (so it includes waiting for the slowest rank to join).
  absl::Duration timeout = absl::Minutes(5);
  // MPI only: a collective larger than this goes as several MPI operations of
  // at most this many bytes (MPI counts elements in an int), and at most
  // max_operations_in_flight of them (of all collectives together) are in
  // flight at a time; the rest wait, in order. OpenMPI's non-blocking
  // all-reduce (libnbc) mallocs scratch of about its message's size for each
  // operation in flight, so these two bound that memory, which no plan
  // counts: 1 MiB and 1 cost 1.4 MiB of VmHWM per rank summing 32 MiB, where
  // one 32 MiB operation cost 32.2 MiB and four 8 MiB ones 33.2 MiB (OpenMPI
  // 4.1.4, 2 ranks on one host, vader); 1 MiB pieces one at a time were no
  // slower there (32 MiB in 15-48 ms against 44-82 ms whole; noisy on 2
  // cores).
  int64_t max_message_bytes = int64_t{1} << 20;
  int max_operations_in_flight = 1;
};

// INVALID_ARGUMENT naming the field when `options` are out of range: a
// timeout not above zero, max_message_bytes below 8 (one float64),
// max_operations_in_flight below 1.
absl::Status CheckCommunicatorOptions(const CommunicatorOptions& options);

// Where a collective's buffers must be.
enum class BufferMemory {
  kHost,    // host memory (MPI)
  kDevice,  // device memory of this rank's GPU (NCCL)
  kEither,  // either (a single process reads no buffer)
};

// A collective in flight, returned by Communicator::StartAllReduceSum.
// Destroying one that was not waited for waits for it (the buffer is the
// collective's until then).
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  // Blocks until the collective completes or its deadline passes, and returns
  // its result; later calls return the same.
  virtual absl::Status Wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;        // 0 <= rank() < size()
  virtual int size() const = 0;        // ranks in the job
  virtual int local_rank() const = 0;  // rank among this node's: which GPU to use
  virtual BufferMemory buffer_memory() const = 0;

  // Starts summing `count` elements at `data` over all ranks, in place: after
  // Wait() every rank's `data` holds the sum. The sum's order of additions is
  // the implementation's, the same on every rank.
  std::unique_ptr<PendingCollective> StartAllReduceSum(float* data, int64_t count);
  std::unique_ptr<PendingCollective> StartAllReduceSum(double* data, int64_t count);

  // StartAllReduceSum(...)->Wait().
  absl::Status AllReduceSum(float* data, int64_t count);
  absl::Status AllReduceSum(double* data, int64_t count);

  // Copies `bytes` bytes at `data` on rank `root` to `data` on every rank.
  absl::Status Broadcast(void* data, int64_t bytes, int root);

  // Returns once every rank has called it.
  absl::Status Barrier();

 protected:
  enum class ElementType { kFloat32, kFloat64 };

  // One collective, its arguments already checked (count >= 0, data set when
  // count > 0, 0 <= root < size()).
  struct Collective {
    enum class Kind { kAllReduceSum, kBroadcast, kBarrier };
    Kind kind = Kind::kBarrier;
    void* data = nullptr;
    int64_t count = 0;  // elements of `type` (all-reduce), bytes (broadcast)
    ElementType type = ElementType::kFloat32;
    int root = 0;  // broadcast only

    // "all-reduce (sum) of 1000 float32", "broadcast of 64 bytes from rank
    // 0", "barrier": for messages.
    std::string Describe() const;
  };

  // Starts `op` (rules 1 to 5 above).
  virtual std::unique_ptr<PendingCollective> Start(const Collective& op) = 0;

 private:
  std::unique_ptr<PendingCollective> StartChecked(const Collective& op);
  // An all-reduce (sum) of `count` elements of `type` at `data`.
  static Collective SumOf(void* data, int64_t count, ElementType type);
};

// A collective that has already finished with `status`: for implementations
// that complete at once or fail before starting.
std::unique_ptr<PendingCollective> FinishedCollective(absl::Status status);

// The communicator of a job of one process: rank 0 of 1, every collective
// completes at once and leaves its buffer as it is (the sum over one rank is
// its own value; a broadcast from rank 0 to itself copies nothing).
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  BufferMemory buffer_memory() const override { return BufferMemory::kEither; }

 protected:
  std::unique_ptr<PendingCollective> Start(const Collective& op) override;
};

}  // namespace slimtrain::engine::comm

#endif  // SLIMTRAIN_ENGINE_COMM_COMMUNICATOR_H_
