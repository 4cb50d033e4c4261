// See nccl_communicator.h.
#include "engine/comm/nccl_communicator.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"

#if SLIMTRAIN_HAVE_CUDA
#include <cuda_runtime.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "engine/comm/nccl_library.h"
#include "engine/cuda/cuda_status.h"
#endif

namespace slimtrain::engine::comm {

#if SLIMTRAIN_HAVE_CUDA

namespace {

constexpr std::chrono::microseconds kPollInterval(20);

// Makes `device` the calling thread's current CUDA device for a scope.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&previous_) == cudaSuccess && previous_ != device) {
      restore_ = cudaSetDevice(device) == cudaSuccess;
    }
  }
  ~DeviceScope() {
    if (restore_) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
  bool restore_ = false;
};

absl::Status NcclError(ncclResult_t result, ncclComm_t comm, const std::string& what) {
  std::string message = absl::StrFormat("%s: NCCL error %d: %s", what, static_cast<int>(result),
                                        Nccl().ncclGetErrorString(result));
  const char* last = Nccl().ncclGetLastError(comm);
  if (last != nullptr && *last != '\0') absl::StrAppend(&message, " (", last, ")");
  return absl::InternalError(message);
}

// Why this process cannot run NCCL on `device`, or "" when it can.
std::string WhyNotReady(int device) {
  int count = 0;
  if (cudaError_t err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    return absl::StrFormat("no GPU: %s (%s)", cudaGetErrorString(err), cudaGetErrorName(err));
  }
  if (count == 0) return "no GPU: the CUDA runtime reports 0 devices";
  if (device < 0 || device >= count) {
    return absl::StrFormat("CUDA device %d does not exist (%d visible)", device, count);
  }
  if (absl::Status loaded = LoadNccl(); !loaded.ok()) return std::string(loaded.message());
  return "";
}

// What rank 0 broadcasts to start NCCL: its unique id, or why it has none.
struct Invitation {
  int32_t ok = 0;
  ncclUniqueId id{};
  char error[256] = {0};
};

}  // namespace

struct NcclCommunicator::State {
  int device = 0;
  cudaStream_t caller_stream = nullptr;  // the caller's; collectives wait for its work
  cudaStream_t stream = nullptr;         // the communicator's; collectives run on it
  float* scratch = nullptr;              // one device float, zero: what a barrier sums
  ncclComm_t comm = nullptr;             // null once aborted

  std::mutex mu;        // guards what follows, and every NCCL call after Create
  absl::Status failed;  // the first failure
  int64_t started = 0;  // collectives started

  ~State() {
    DeviceScope scope(device);
    if (comm != nullptr) {
      if (failed.ok()) {
        Nccl().ncclCommDestroy(comm);
      } else {
        Nccl().ncclCommAbort(comm);
      }
    }
    if (scratch != nullptr) cudaFree(scratch);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }

  // Records `error` as the first failure and aborts the NCCL communicator,
  // whose collectives can no longer complete. With mu held.
  void Fail(const absl::Status& error) {
    if (failed.ok()) failed = error;
    if (comm != nullptr) {
      Nccl().ncclCommAbort(comm);
      comm = nullptr;
    }
  }

  // A non-blocking communicator returns ncclInProgress until the call
  // `result` came from is done: polls until it is, or `deadline` passes.
  absl::Status Settle(ncclResult_t result, absl::Time deadline, const std::string& what) {
    while (result == ncclInProgress) {
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrFormat("%s was not done within its deadline: another rank died, hangs, or did not "
                            "join; the process should exit",
                            what));
      }
      std::this_thread::sleep_for(kPollInterval);
      if (ncclResult_t r = Nccl().ncclCommGetAsyncError(comm, &result); r != ncclSuccess) result = r;
    }
    if (result != ncclSuccess) return NcclError(result, comm, what);
    return absl::OkStatus();
  }
};

// A collective queued on the communicator's stream; done when `done_` is.
class NcclCommunicator::Pending final : public PendingCollective {
 public:
  Pending(State* state, cudaEvent_t done, absl::Time deadline, std::string what, absl::Duration timeout)
      : state_(state), done_(done), deadline_(deadline), what_(std::move(what)), timeout_(timeout) {}
  ~Pending() override { Wait().IgnoreError(); }

  absl::Status Wait() override {
    if (waited_) return status_;
    status_ = Poll();
    {
      DeviceScope scope(state_->device);
      cudaEventDestroy(done_);
    }
    waited_ = true;
    return status_;
  }

 private:
  absl::Status Poll() {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(state_->mu);
        DeviceScope scope(state_->device);
        const cudaError_t query = cudaEventQuery(done_);
        if (query == cudaSuccess) return absl::OkStatus();
        if (!state_->failed.ok()) {
          return absl::FailedPreconditionError(
              absl::StrFormat("%s: abandoned after an earlier failure: %s", what_, state_->failed.message()));
        }
        absl::Status error;
        ncclResult_t async = ncclSuccess;
        if (query != cudaErrorNotReady) {
          error = cuda::CudaStatus(query, "cudaEventQuery", __FILE__, __LINE__);
        } else if (Nccl().ncclCommGetAsyncError(state_->comm, &async) == ncclSuccess &&
                   async != ncclSuccess && async != ncclInProgress) {
          error = NcclError(async, state_->comm, what_);
        } else if (absl::Now() >= deadline_) {
          error = absl::DeadlineExceededError(absl::StrFormat(
              "%s did not complete within %s: another rank died, hangs, or started a different "
              "collective; the NCCL communicator is aborted and the process should exit",
              what_, absl::FormatDuration(timeout_)));
        }
        if (!error.ok()) {
          state_->Fail(error);
          return error;
        }
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  }

  State* const state_;
  const cudaEvent_t done_;
  const absl::Time deadline_;
  const std::string what_;  // "NCCL all-reduce (sum) of 1000 float32 (collective #3) on rank 1 of 4"
  const absl::Duration timeout_;
  bool waited_ = false;
  absl::Status status_;
};

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    Communicator& bootstrap, int device, void* stream, const CommunicatorOptions& options) {
  SLIM_RETURN_IF_ERROR(CheckCommunicatorOptions(options));
  if (bootstrap.buffer_memory() == BufferMemory::kDevice) {
    return absl::InvalidArgumentError(
        "NcclCommunicator::Create: the bootstrap communicator must take host buffers (MPI or local)");
  }
  const int rank = bootstrap.rank(), size = bootstrap.size();
  const absl::Time deadline = absl::Now() + options.timeout;

  // 1. Every rank ready, or every rank fails.
  const std::string why_not = WhyNotReady(device);
  float not_ready = why_not.empty() ? 0.0f : 1.0f;
  SLIM_RETURN_IF_ERROR(bootstrap.AllReduceSum(&not_ready, 1));
  if (!why_not.empty()) {
    return absl::UnavailableError(absl::StrFormat("NCCL on rank %d of %d: %s", rank, size, why_not));
  }
  if (not_ready > 0.0f) {
    return absl::UnavailableError(
        absl::StrFormat("NCCL cannot run on %d of %d ranks (each says why); rank %d could",
                        static_cast<int>(not_ready), size, rank));
  }

  // 2. Rank 0's unique id to every rank.
  Invitation invitation;
  if (rank == 0) {
    const ncclResult_t r = Nccl().ncclGetUniqueId(&invitation.id);
    invitation.ok = r == ncclSuccess;
    if (!invitation.ok) {
      std::snprintf(invitation.error, sizeof(invitation.error), "%s", Nccl().ncclGetErrorString(r));
    }
  }
  SLIM_RETURN_IF_ERROR(bootstrap.Broadcast(&invitation, sizeof(invitation), 0));
  if (!invitation.ok) {
    return absl::UnavailableError(
        absl::StrFormat("rank 0 could not get NCCL's unique id: %s", invitation.error));
  }

  // 3. This rank's stream, scratch and NCCL communicator.
  auto state = std::make_unique<State>();
  state->device = device;
  state->caller_stream = static_cast<cudaStream_t>(stream);
  DeviceScope scope(device);
  SLIM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&state->stream, cudaStreamNonBlocking));
  SLIM_CUDA_RETURN_IF_ERROR(cudaMalloc(&state->scratch, sizeof(float)));
  SLIM_CUDA_RETURN_IF_ERROR(cudaMemset(state->scratch, 0, sizeof(float)));
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  const ncclResult_t r = Nccl().ncclCommInitRankConfig(&state->comm, size, invitation.id, rank, &config);
  if (absl::Status ready = state->Settle(
          r, deadline, absl::StrFormat("creating the NCCL communicator on rank %d of %d", rank, size));
      !ready.ok()) {
    state->Fail(ready);
    return ready;
  }
  return std::unique_ptr<NcclCommunicator>(
      new NcclCommunicator(rank, size, bootstrap.local_rank(), options, std::move(state)));
}

std::unique_ptr<PendingCollective> NcclCommunicator::Start(const Collective& op) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  const std::string what = absl::StrFormat("NCCL %s (collective #%d) on rank %d of %d", op.Describe(),
                                           s.started + 1, rank_, size_);
  if (!s.failed.ok()) {
    return FinishedCollective(absl::FailedPreconditionError(absl::StrFormat(
        "%s: the communicator is unusable after an earlier failure: %s", what, s.failed.message())));
  }
  ++s.started;
  if (op.kind != Collective::Kind::kBarrier && op.count == 0) return FinishedCollective(absl::OkStatus());
  const absl::Time deadline = absl::Now() + options_.timeout;
  DeviceScope scope(s.device);
  // CUDA failures here are sticky errors or resource exhaustion: the ranks
  // cannot stay in step, so they break the communicator as NCCL's do.
  const auto fail = [&s](absl::Status error) {
    s.Fail(error);
    return FinishedCollective(std::move(error));
  };
  cudaEvent_t ready = nullptr, done = nullptr;
  if (absl::Status e = [&]() -> absl::Status {
        SLIM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
        SLIM_CUDA_RETURN_IF_ERROR(cudaEventRecord(ready, s.caller_stream));
        SLIM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(s.stream, ready, 0));
        SLIM_CUDA_RETURN_IF_ERROR(cudaEventDestroy(ready));
        return absl::OkStatus();
      }();
      !e.ok()) {
    return fail(e);
  }
  ncclResult_t r = ncclSuccess;
  switch (op.kind) {
    case Collective::Kind::kAllReduceSum:
      r = Nccl().ncclAllReduce(op.data, op.data, static_cast<size_t>(op.count),
                               op.type == ElementType::kFloat64 ? ncclFloat64 : ncclFloat32, ncclSum, s.comm,
                               s.stream);
      break;
    case Collective::Kind::kBroadcast:
      r = Nccl().ncclBroadcast(op.data, op.data, static_cast<size_t>(op.count), ncclInt8, op.root, s.comm,
                               s.stream);
      break;
    case Collective::Kind::kBarrier:
      r = Nccl().ncclAllReduce(s.scratch, s.scratch, 1, ncclFloat32, ncclSum, s.comm, s.stream);
      break;
  }
  if (absl::Status queued = s.Settle(r, deadline, what); !queued.ok()) return fail(queued);
  if (absl::Status e = [&]() -> absl::Status {
        SLIM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
        SLIM_CUDA_RETURN_IF_ERROR(cudaEventRecord(done, s.stream));
        return absl::OkStatus();
      }();
      !e.ok()) {
    return fail(e);
  }
  return std::make_unique<Pending>(&s, done, deadline, what, options_.timeout);
}

#else  // !SLIMTRAIN_HAVE_CUDA

struct NcclCommunicator::State {};

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(Communicator&, int, void*,
                                                                           const CommunicatorOptions&) {
  return absl::UnavailableError(
      "this build has no CUDA toolkit (cuda_configure found none; see third_party/cuda/cuda_configure.bzl): "
      "NCCL is unavailable");
}

std::unique_ptr<PendingCollective> NcclCommunicator::Start(const Collective& op) {
  return FinishedCollective(
      absl::InternalError(absl::StrFormat("%s: no NcclCommunicator exists without CUDA", op.Describe())));
}

#endif  // SLIMTRAIN_HAVE_CUDA

NcclCommunicator::NcclCommunicator(int rank, int size, int local_rank, const CommunicatorOptions& options,
                                   std::unique_ptr<State> state)
    : rank_(rank), size_(size), local_rank_(local_rank), options_(options), state_(std::move(state)) {}

NcclCommunicator::~NcclCommunicator() = default;

}  // namespace slimtrain::engine::comm
