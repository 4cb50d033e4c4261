// nccl_communicator.h — collectives on device buffers over NCCL: one GPU per
// rank, the NCCL communicator bootstrapped over a host one (MPI).
//
//   SLIM_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> host, CommunicatorFromEnvironment(options));
//   SLIM_ASSIGN_OR_RETURN(std::unique_ptr<NcclCommunicator> gpus,
//                         NcclCommunicator::Create(*host, host->local_rank(), compute_stream, options));
//   std::unique_ptr<PendingCollective> b0 = gpus->StartAllReduceSum(device_grads0, n0);
//   ...
//   SLIM_RETURN_IF_ERROR(b0->Wait());
//
// How it works:
// 1. Create is a collective over `bootstrap`: every rank calls it. Each rank
//    checks that it can run NCCL (its CUDA device exists; libnccl loads,
//    nccl_library.h); the ranks sum how many cannot, so they fail together
//    (UNAVAILABLE, with this rank's reason or the count) instead of leaving
//    the others waiting. Rank 0 gets NCCL's unique id and broadcasts it over
//    `bootstrap`; every rank then creates a non-blocking NCCL communicator
//    (ncclCommInitRankConfig, blocking = 0) and polls it until it is ready or
//    the deadline passes.
// 2. Collectives run on a stream of the communicator's, after the work queued
//    on the caller's `stream` when they start: Start records an event on
//    `stream`, makes its own stream wait for it, queues the NCCL call
//    (ncclAllReduce in place, ncclBroadcast of bytes; a barrier is an
//    all-reduce of one float the communicator owns) and records a completion
//    event. Wait() polls that event and ncclCommGetAsyncError every 20 µs.
//    Past the deadline it aborts the NCCL communicator (ncclCommAbort) and
//    fails with DEADLINE_EXCEEDED; the communicator is then unusable
//    (communicator.h, rules 3 and 4).
// 3. Start and Wait make `device` the calling thread's current CUDA device
//    for their calls and restore the previous one.
// Without the CUDA toolkit in the build, without a GPU, or without libnccl,
// Create returns UNAVAILABLE saying which.
#ifndef SLIMTRAIN_ENGINE_COMM_NCCL_COMMUNICATOR_H_
#define SLIMTRAIN_ENGINE_COMM_NCCL_COMMUNICATOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "engine/comm/communicator.h"

namespace slimtrain::engine::comm {

class NcclCommunicator final : public Communicator {
 public:
  // One NCCL communicator over all ranks of `bootstrap` (a host
  // communicator: INVALID_ARGUMENT otherwise), this rank on CUDA device
  // `device` (usually bootstrap.local_rank()). `stream` is the cudaStream_t
  // whose queued work each collective waits for (null: the legacy default
  // stream). `bootstrap` is used only during Create. Errors: UNAVAILABLE as
  // above; DEADLINE_EXCEEDED when the ranks do not all join within
  // options.timeout; INVALID_ARGUMENT for options out of range.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(Communicator& bootstrap, int device,
                                                                  void* stream,
                                                                  const CommunicatorOptions& options);

  // Destroys the NCCL communicator (or has aborted it after a failure) and
  // the stream, events and device memory it owns. Wait for every pending
  // collective first.
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  BufferMemory buffer_memory() const override { return BufferMemory::kDevice; }

 protected:
  std::unique_ptr<PendingCollective> Start(const Collective& op) override;

 private:
  struct State;  // the NCCL communicator, CUDA stream and scratch (nccl_communicator.cc)
  class Pending;

  NcclCommunicator(int rank, int size, int local_rank, const CommunicatorOptions& options,
                   std::unique_ptr<State> state);

  const int rank_;
  const int size_;
  const int local_rank_;
  const CommunicatorOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace slimtrain::engine::comm

#endif  // SLIMTRAIN_ENGINE_COMM_NCCL_COMMUNICATOR_H_
