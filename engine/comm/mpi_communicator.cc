// See mpi_communicator.h.
#include "engine/comm/mpi_communicator.h"

#include <mpi/mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"

namespace slimtrain::engine::comm {

namespace {

constexpr std::chrono::microseconds kPollInterval(50);

// MPI_Init once per process (MpiCommunicator::Create).
std::atomic<bool> mpi_claimed{false};

absl::Status MpiError(int code, const std::string& what) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  MPI_Error_string(code, text, &length);
  return absl::InternalError(absl::StrFormat("%s: MPI error %d: %s", what, code, text));
}

// A collective's result: set once by the progress thread, waited for by the
// collective's handle.
class Completion {
 public:
  // The first call decides the result.
  void Finish(absl::Status result) {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    status_ = std::move(result);
    finished_.notify_all();
  }

  absl::Status Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    finished_.wait(lock, [this] { return done_; });
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable finished_;
  bool done_ = false;    // guarded by mu_
  absl::Status status_;  // guarded by mu_
};

// The handle: waits for the progress thread, which keeps the deadline.
// Destroying it waits too, since the buffer is MPI's until then.
class MpiPending final : public PendingCollective {
 public:
  explicit MpiPending(std::shared_ptr<Completion> completion) : completion_(std::move(completion)) {}
  ~MpiPending() override { completion_->Wait().IgnoreError(); }

  absl::Status Wait() override { return completion_->Wait(); }

 private:
  std::shared_ptr<Completion> completion_;
};

}  // namespace

struct MpiCommunicator::Op {
  Collective collective;
  int64_t sequence = 0;  // 1 for the communicator's first collective
  absl::Time deadline;
  // The progress thread's only: the first element (byte, for a broadcast)
  // not yet in an MPI operation, whether every piece is, and the
  // operations in flight.
  int64_t next = 0;
  bool issued = false;
  std::vector<MPI_Request> requests;
  std::shared_ptr<Completion> completion = std::make_shared<Completion>();
};

absl::StatusOr<std::unique_ptr<Communicator>> CommunicatorFromEnvironment(
    const CommunicatorOptions& options) {
  SLIM_RETURN_IF_ERROR(CheckCommunicatorOptions(options));
  SLIM_ASSIGN_OR_RETURN(const LaunchInfo launch, ParseLaunchEnvironment(ProcessEnvironment()));
  if (!launch.launched() || launch.size == 1) return std::make_unique<LocalCommunicator>();
  SLIM_ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> mpi, MpiCommunicator::Create(launch, options));
  return std::unique_ptr<Communicator>(std::move(mpi));
}

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(const LaunchInfo& launch,
                                                                         const CommunicatorOptions& options) {
  SLIM_RETURN_IF_ERROR(CheckCommunicatorOptions(options));
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (mpi_claimed.exchange(true) || initialized) {
    return absl::FailedPreconditionError(
        "MPI is already initialised in this process: one MpiCommunicator per process (MPI cannot be "
        "initialised twice)");
  }
  int provided = 0;
  if (int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided); rc != MPI_SUCCESS) {
    return absl::UnavailableError(
        absl::StrFormat("MPI_Init_thread failed (code %d) in a process %s launched as rank %d of %d", rc,
                        launch.launcher, launch.rank, launch.size));
  }
  // From here on, failures leave MPI initialised: the process should exit
  // (MPI_Finalize would wait for ranks that may never come).
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  if (provided < MPI_THREAD_SERIALIZED) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "this MPI provides thread level %d, below MPI_THREAD_SERIALIZED (%d) which the progress thread "
        "needs",
        provided, MPI_THREAD_SERIALIZED));
  }
  int mpi_rank = -1, mpi_size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);
  if (mpi_rank != launch.rank || mpi_size != launch.size) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s launched this process as rank %d of %d, but MPI_Init made it rank %d of %d: the launcher's "
        "MPI is not the OpenMPI this binary links (with Slurm, run srun --mpi=pmix)",
        launch.launcher, launch.rank, launch.size, mpi_rank, mpi_size));
  }
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(launch, options));
}

MpiCommunicator::MpiCommunicator(const LaunchInfo& launch, const CommunicatorOptions& options)
    : rank_(launch.rank), size_(launch.size), local_rank_(launch.local_rank), options_(options) {
  progress_ = std::thread([this] { ProgressLoop(); });
}

MpiCommunicator::~MpiCommunicator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  progress_.join();
  if (failed_.ok()) MPI_Finalize();
}

std::unique_ptr<PendingCollective> MpiCommunicator::Start(const Collective& collective) {
  auto op = std::make_shared<Op>();
  op->collective = collective;
  op->deadline = absl::Now() + options_.timeout;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.ok()) return FinishedCollective(Unusable(collective, failed_));
    op->sequence = ++started_;
    queued_.push_back(op);
  }
  wake_.notify_all();
  return std::make_unique<MpiPending>(op->completion);
}

absl::Status MpiCommunicator::IssueNext(Op& op) {
  const Collective& c = op.collective;
  if (c.kind == Collective::Kind::kBarrier) {
    op.requests.emplace_back();
    op.issued = true;
    const int rc = MPI_Ibarrier(MPI_COMM_WORLD, &op.requests.back());
    if (rc != MPI_SUCCESS) return MpiError(rc, absl::StrFormat("MPI_Ibarrier on rank %d", rank_));
    return absl::OkStatus();
  }
  // A piece of at most max_message_bytes, and of an int's count.
  const bool reduce = c.kind == Collective::Kind::kAllReduceSum;
  const MPI_Datatype type = !reduce ? MPI_BYTE : (c.type == ElementType::kFloat64 ? MPI_DOUBLE : MPI_FLOAT);
  const int64_t element_bytes = !reduce ? 1 : (c.type == ElementType::kFloat64 ? 8 : 4);
  const int64_t piece = std::min<int64_t>(INT_MAX, options_.max_message_bytes / element_bytes);
  const int64_t first = op.next;
  const int n = static_cast<int>(std::min(piece, c.count - first));
  op.next += n;
  op.issued = op.next >= c.count;
  if (n == 0) return absl::OkStatus();  // nothing to send
  void* at = static_cast<char*>(c.data) + first * element_bytes;
  MPI_Request request;
  const int rc = reduce ? MPI_Iallreduce(MPI_IN_PLACE, at, n, type, MPI_SUM, MPI_COMM_WORLD, &request)
                        : MPI_Ibcast(at, n, type, c.root, MPI_COMM_WORLD, &request);
  if (rc != MPI_SUCCESS) {
    return MpiError(rc, absl::StrFormat("MPI %s on rank %d (elements %d to %d)", c.Describe(), rank_, first,
                                        first + n));
  }
  op.requests.push_back(request);
  return absl::OkStatus();
}

void MpiCommunicator::Fail(const absl::Status& error, std::vector<std::shared_ptr<Op>> others) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_.ok()) failed_ = error;
    others.insert(others.end(), queued_.begin(), queued_.end());
    queued_.clear();
  }
  // Started before the failure was known, or waiting behind it: the same
  // answer as one started after it.
  for (auto& op : others) op->completion->Finish(Unusable(op->collective, error));
}

absl::Status MpiCommunicator::Unusable(const Collective& collective, const absl::Status& failure) const {
  return absl::FailedPreconditionError(
      absl::StrFormat("MPI %s on rank %d: the communicator is unusable after an earlier failure: %s",
                      collective.Describe(), rank_, failure.message()));
}

void MpiCommunicator::ProgressLoop() {
  std::vector<std::shared_ptr<Op>> in_flight;  // started, in start order; only the first may be part issued
  bool failed = false;                         // after which MPI is called no more
  // Fails `op` with `error`, and with it every collective in flight or
  // queued (communicator.h, rule 4).
  auto fail = [&](Op& op, const absl::Status& error) {
    op.completion->Finish(error);
    Fail(error, std::move(in_flight));
    in_flight.clear();
    failed = true;
  };
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (in_flight.empty() || failed) {
        wake_.wait(lock, [this] { return !queued_.empty() || stopping_; });
      } else {
        wake_.wait_for(lock, kPollInterval, [this] { return !queued_.empty(); });
      }
      if (stopping_ && (failed || (queued_.empty() && in_flight.empty()))) return;
      if (failed) continue;  // Start refuses new collectives: the queue stays empty
      in_flight.insert(in_flight.end(), queued_.begin(), queued_.end());
      queued_.clear();
    }
    // Test the operations in flight; a collective whose pieces are all
    // issued and done is complete.
    const absl::Time now = absl::Now();
    int operations = 0;
    for (size_t i = 0; i < in_flight.size();) {
      Op& op = *in_flight[i];
      int complete = 1;
      const int rc = op.requests.empty() ? MPI_SUCCESS
                                         : MPI_Testall(static_cast<int>(op.requests.size()), op.requests.data(),
                                                       &complete, MPI_STATUSES_IGNORE);
      if (rc != MPI_SUCCESS) {
        fail(op, MpiError(rc, absl::StrFormat("MPI %s (collective #%d) on rank %d", op.collective.Describe(),
                                              op.sequence, rank_)));
        break;
      }
      if (complete) op.requests.clear();
      if (complete && op.issued) {
        op.completion->Finish(absl::OkStatus());
        in_flight.erase(in_flight.begin() + i);
        continue;
      }
      if (now >= op.deadline) {
        fail(op, absl::DeadlineExceededError(absl::StrFormat(
                     "MPI %s (collective #%d) on rank %d of %d did not complete within %s: another rank died, "
                     "hangs, or started a different collective; this communicator is unusable and the process "
                     "should exit",
                     op.collective.Describe(), op.sequence, rank_, size_, absl::FormatDuration(options_.timeout))));
        break;
      }
      operations += static_cast<int>(op.requests.size());
      ++i;
    }
    if (failed) continue;
    // Start the next pieces, in start order, while there is room: every
    // rank starts the same operations in the same order.
    for (size_t i = 0; i < in_flight.size() && !failed; ++i) {
      Op& op = *in_flight[i];
      while (!op.issued && operations < options_.max_operations_in_flight) {
        const size_t before = op.requests.size();
        if (absl::Status issued = IssueNext(op); !issued.ok()) {
          fail(op, issued);
          break;
        }
        operations += static_cast<int>(op.requests.size() - before);
      }
      if (failed || !op.issued) break;  // its later pieces go before any later collective's
    }
  }
}

}  // namespace slimtrain::engine::comm
