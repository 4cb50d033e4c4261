// data_parallel.h — the data-parallel part of a plan: the gradient buckets,
// planned as ALLREDUCE buffers of the arena, and the communication of a step.
//
// A data-parallel job runs `ranks` processes, each with its own slice of the
// batch and a plan of its own (the same on every rank). Before the optimizer
// the ranks' gradients are summed (all-reduced) and divided by the ranks. As
// PyTorch's DistributedDataParallel with gradient_as_bucket_view off, the
// sums go in buckets: each bucket's gradients are copied out of the
// gradient region into a buffer of their own once backward has finished
// them, the buffer is all-reduced while backward goes on, and the mean is
// copied back before the optimizer step. Here that buffer is an ALLREDUCE
// buffer of the arena, alive from the step that completes it to the
// OPTIMIZER step, so the plan's peak counts the buckets alive at it (the
// arena may reuse, for them, memory that the forward pass's activations held).
//
//   DataParallelOptions dp;
//   dp.ranks = 2;
//   SLIM_RETURN_IF_ERROR(CheckDataParallelOptions(dp, /*element_bytes=*/4));
//   AddGradientBuckets(graph, dp, schedule);  // before ComputeLifetimes
//   const CommunicationVolume v = CommunicationPerStep(graph, schedule, dp);
//
// AddGradientBuckets, in steps:
// 1. Each trainable tensor (parameter_layout.h) is complete after the last
//    BACKWARD step that writes its gradient: its node's, or for an
//    embedding's table tied to a linear, the later of the two (the
//    embedding's).
// 2. In the order they complete (among tensors completed by one step, the
//    later in the region first, as backward runs from the output), tensors
//    fill buckets: a bucket closes as soon as it holds bucket_bytes or more,
//    so it holds at most bucket_bytes plus its last tensor, and a tensor of
//    bucket_bytes or more has one to itself. A tensor is never split.
// 3. Bucket k is the ALLREDUCE buffer "allreduce.bucketK" of its gradients'
//    bytes. It is written by its ready step: the step that completes its
//    last tensor with overlap_communication, otherwise the last BACKWARD step
//    (every sum starts after backward); it is read by the OPTIMIZER step.
//    Schedule::buckets keeps its element ranges of the gradient region, so
//    the engine copies without recomputing anything.
// ranks 1 adds nothing: the plan is the plan of one process. Cost:
// O(tensors · log tensors). Every rank's scratch in its communication
// library is outside the plan (engine/comm/mpi_communicator.h bounds MPI's).
#ifndef SLIMTRAIN_PLANNER_DATA_PARALLEL_H_
#define SLIMTRAIN_PLANNER_DATA_PARALLEL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "planner/graph.h"
#include "planner/schedule.h"

namespace slimtrain::planner {

// The default size of a gradient bucket (PyTorch DDP's bucket_cap_mb).
inline constexpr int64_t kDefaultBucketBytes = int64_t{25} << 20;
// The most ranks a plan may be for.
inline constexpr int kMaxRanks = 65536;
// Sync batch norm's per-channel sums are float64 whatever the element type
// (engine/executor_comm.cc).
inline constexpr int64_t kSyncBatchNormSumBytes = 8;

struct DataParallelOptions {
  // Processes whose gradients are summed, in [1, kMaxRanks]; 1: not
  // data-parallel (no buckets, the plan of one process).
  int ranks = 1;
  // A bucket closes once it holds this many bytes of gradients (step 2);
  // at least one element.
  int64_t bucket_bytes = kDefaultBucketBytes;
  // Sum a bucket as soon as backward has completed it (else all after
  // backward: every bucket alive from the last BACKWARD step).
  bool overlap_communication = true;
  // Batch norm with the statistics of every rank's batch (PyTorch's
  // SyncBatchNorm): two float64 sums per channel all-reduced in each batch
  // norm's forward (recomputed ones too) and two in its backward. Changes
  // the communication, not the arena.
  bool sync_batch_norm = false;
};

// INVALID_ARGUMENT naming the field and value: ranks outside [1, kMaxRanks]
// ("data_parallel.ranks must be in [1, 65536], got 0"), bucket_bytes below
// one element of `element_bytes`.
absl::Status CheckDataParallelOptions(const DataParallelOptions& options, int64_t element_bytes);

// Sets schedule.ranks and adds the gradient buckets (steps 1 to 3 above) as
// buffers after the schedule's own (their ids follow every other buffer's),
// with the operands of their ready steps and the OPTIMIZER step; before
// ComputeLifetimes. `options` must pass CheckDataParallelOptions for the
// schedule's element size; the schedule must have no buckets yet.
void AddGradientBuckets(const Graph& graph, const DataParallelOptions& options, Schedule& schedule);

// Bytes one rank exchanges in one training step of `schedule` (with its
// buckets added), for MemoryPlan's data-parallel fields; all 0 for 1 rank.
struct CommunicationVolume {
  int64_t gradient_bytes = 0;         // all-reduced: every trainable gradient, once
  int64_t sync_batch_norm_bytes = 0;  // all-reduced: sync batch norm's sums (forward and backward)
  // Sent by each rank in a ring all-reduce of both, 2(R-1)/R of them (rounded
  // down): the bandwidth-optimal algorithm's volume (NCCL's ring; MPI's
  // algorithms may send more).
  int64_t sent_bytes = 0;
};
CommunicationVolume CommunicationPerStep(const Graph& graph, const Schedule& schedule,
                                         const DataParallelOptions& options);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_DATA_PARALLEL_H_
