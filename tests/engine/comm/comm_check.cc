// comm_check — the MPI communicator checked on real ranks; mpi_test.sh runs it
// under `mpirun -np 2`.
//
//   comm_check                        every collective, results compared exactly
//   comm_check --case=timeout --timeout-ms=2000
//       rank 0 all-reduces alone (the others sleep past its deadline): its
//       collective must fail with DEADLINE_EXCEEDED within the timeout, and
//       the next one at once with FAILED_PRECONDITION
//
// Each rank prints "comm_check rank R of N: ..." lines, "PASS" or "FAIL: why"
// last, and exits 0 only when every check held. Values are small integers,
// so every sum is exact in float32 whatever the order of additions.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "engine/comm/communicator.h"
#include "engine/comm/mpi_communicator.h"

namespace slimtrain::engine::comm {
namespace {

class Checker {
 public:
  explicit Checker(const Communicator& comm) : comm_(comm) {}

  void Say(const std::string& line) const {
    std::printf("comm_check rank %d of %d: %s\n", comm_.rank(), comm_.size(), line.c_str());
    std::fflush(stdout);
  }

  // Records a failed check (the first one is the verdict).
  void Fail(const std::string& why) {
    Say("check failed: " + why);
    if (failure_.empty()) failure_ = why;
  }

  void ExpectOk(const absl::Status& status, const std::string& what) {
    if (!status.ok()) Fail(absl::StrFormat("%s: %s", what, status.ToString()));
  }

  int Verdict() const {
    Say(failure_.empty() ? "PASS" : "FAIL: " + failure_);
    return failure_.empty() ? 0 : 1;
  }

 private:
  const Communicator& comm_;
  std::string failure_;
};

// Rank r's element i, and the sum of it over n ranks.
float Value(int r, int64_t i) { return static_cast<float>((r + 1) * (i % 1024) + r); }
float SumOverRanks(int n, int64_t i) {
  return static_cast<float>((i % 1024) * n * (n + 1) / 2 + n * (n - 1) / 2);
}

std::vector<float> RankValues(int r, int64_t count) {
  std::vector<float> v(count);
  for (int64_t i = 0; i < count; ++i) v[i] = Value(r, i);
  return v;
}

// The first element of `v` that is not the sum over `n` ranks, or "".
std::string FirstWrongSum(const std::vector<float>& v, int n) {
  for (int64_t i = 0; i < static_cast<int64_t>(v.size()); ++i) {
    if (v[i] != SumOverRanks(n, i)) {
      return absl::StrFormat("element %d of %d is %g, expected %g", i, v.size(), v[i], SumOverRanks(n, i));
    }
  }
  return "";
}

void CheckAllReduce(Communicator& comm, Checker& check) {
  const int n = comm.size();
  // 0, 1, odd, the 1 MiB piece size plus one float (two pieces), and 30 MB
  // (29 pieces).
  for (int64_t count :
       {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1000}, (int64_t{1} << 18) + 1, int64_t{7'500'000}}) {
    std::vector<float> v = RankValues(comm.rank(), count);
    const absl::Time t0 = absl::Now();
    const absl::Status status = comm.AllReduceSum(v.data(), count);
    check.ExpectOk(status, absl::StrFormat("float32 all-reduce of %d", count));
    if (!status.ok()) continue;
    if (std::string wrong = FirstWrongSum(v, n); !wrong.empty()) {
      check.Fail(absl::StrFormat("float32 all-reduce of %d: %s", count, wrong));
    } else {
      check.Say(absl::StrFormat("float32 all-reduce of %d: exact (%s)", count,
                                absl::FormatDuration(absl::Now() - t0)));
    }
  }
  // float64: halves are exact too.
  std::vector<double> d(1001);
  for (size_t i = 0; i < d.size(); ++i) d[i] = comm.rank() * 0.5 + static_cast<double>(i);
  check.ExpectOk(comm.AllReduceSum(d.data(), static_cast<int64_t>(d.size())), "float64 all-reduce");
  for (size_t i = 0; i < d.size(); ++i) {
    const double want = 0.25 * n * (n - 1) + static_cast<double>(n) * static_cast<double>(i);
    if (d[i] != want) {
      check.Fail(absl::StrFormat("float64 all-reduce: element %d is %g, expected %g", i, d[i], want));
      break;
    }
  }
}

void CheckBroadcast(Communicator& comm, Checker& check) {
  for (int root = 0; root < comm.size(); ++root) {
    for (int64_t bytes : {int64_t{0}, int64_t{1}, int64_t{3} << 20}) {
      const auto pattern = [root](int64_t i) {
        return static_cast<unsigned char>((root * 31 + i * 7) & 0xff);
      };
      std::vector<unsigned char> buffer(bytes, 0xEE);
      if (comm.rank() == root) {
        for (int64_t i = 0; i < bytes; ++i) buffer[i] = pattern(i);
      }
      const absl::Status status = comm.Broadcast(buffer.data(), bytes, root);
      check.ExpectOk(status, absl::StrFormat("broadcast of %d bytes from %d", bytes, root));
      for (int64_t i = 0; status.ok() && i < bytes; ++i) {
        if (buffer[i] != pattern(i)) {
          check.Fail(absl::StrFormat("broadcast of %d bytes from %d: byte %d is %d, expected %d", bytes, root,
                                     i, buffer[i], pattern(i)));
          break;
        }
      }
    }
  }
  check.Say("broadcasts from every root: exact");
}

// Rank 0 arrives 500 ms late: every other rank must wait for it (at least
// half of that, whatever skew the ranks had when they got here).
void CheckBarrier(Communicator& comm, Checker& check) {
  constexpr absl::Duration kLate = absl::Milliseconds(500);
  if (comm.rank() == 0) absl::SleepFor(kLate);
  const absl::Time t0 = absl::Now();
  check.ExpectOk(comm.Barrier(), "barrier");
  const absl::Duration waited = absl::Now() - t0;
  if (comm.rank() != 0 && waited < kLate / 2) {
    check.Fail(absl::StrFormat("barrier returned after %s, before rank 0 (%s late) arrived",
                               absl::FormatDuration(waited), absl::FormatDuration(kLate)));
  } else {
    check.Say(absl::StrFormat("barrier waited %s", absl::FormatDuration(waited)));
  }
}

// Four all-reduces in flight at once, waited for in reverse order; then one
// left alone while the caller "computes": the progress thread must finish it
// without a Wait().
void CheckAsync(Communicator& comm, Checker& check) {
  const std::vector<int64_t> counts = {1 << 20, 10, 2'500'000, 0};
  std::vector<std::vector<float>> buffers;
  for (int64_t count : counts) buffers.push_back(RankValues(comm.rank(), count));
  std::vector<std::unique_ptr<PendingCollective>> pending;
  for (auto& b : buffers) pending.push_back(comm.StartAllReduceSum(b.data(), static_cast<int64_t>(b.size())));
  for (int k = static_cast<int>(pending.size()) - 1; k >= 0; --k) {
    const absl::Status status = pending[k]->Wait();
    check.ExpectOk(status, absl::StrFormat("async all-reduce %d (%d floats)", k, counts[k]));
    if (std::string wrong = FirstWrongSum(buffers[k], comm.size()); status.ok() && !wrong.empty()) {
      check.Fail(absl::StrFormat("async all-reduce %d (%d floats): %s", k, counts[k], wrong));
    }
  }
  check.Say("4 overlapping all-reduces: exact");

  std::vector<float> v = RankValues(comm.rank(), 1 << 20);
  std::unique_ptr<PendingCollective> started =
      comm.StartAllReduceSum(v.data(), static_cast<int64_t>(v.size()));
  absl::SleepFor(absl::Seconds(1));  // backward of the next bucket
  const absl::Time t0 = absl::Now();
  check.ExpectOk(started->Wait(), "all-reduce left to the progress thread");
  const absl::Duration wait = absl::Now() - t0;
  if (wait > absl::Milliseconds(500)) {
    check.Fail(
        absl::StrFormat("an all-reduce of 4 MiB started 1 s earlier still took %s to wait for: "
                        "nothing advanced it meanwhile",
                        absl::FormatDuration(wait)));
  } else if (std::string wrong = FirstWrongSum(v, comm.size()); !wrong.empty()) {
    check.Fail("all-reduce left to the progress thread: " + wrong);
  } else {
    check.Say(absl::StrFormat("all-reduce started 1 s before its Wait: done, the wait took %s",
                              absl::FormatDuration(wait)));
  }
}

// Invalid arguments fail alone: the communicator stays usable.
void CheckInvalidArguments(Communicator& comm, Checker& check) {
  char byte = 0;
  const absl::Status bad_root = comm.Broadcast(&byte, 1, comm.size());
  if (bad_root.code() != absl::StatusCode::kInvalidArgument) {
    check.Fail("broadcast from root " + std::to_string(comm.size()) + ": " + bad_root.ToString());
  }
  float x = 1.0f;
  check.ExpectOk(comm.AllReduceSum(&x, 1), "all-reduce after an invalid broadcast");
  if (x != static_cast<float>(comm.size())) check.Fail(absl::StrFormat("all-reduce of ones gave %g", x));
  check.Say("an invalid root is INVALID_ARGUMENT and breaks nothing");
}

int RunCollectives() {
  CommunicatorOptions options;
  options.timeout = absl::Seconds(60);
  options.max_message_bytes = 1 << 20;  // 30 MB all-reduces go as 29 pieces
  absl::StatusOr<std::unique_ptr<Communicator>> comm = CommunicatorFromEnvironment(options);
  if (!comm.ok()) {
    std::printf("comm_check: FAIL: %s\n", comm.status().ToString().c_str());
    return 1;
  }
  Checker check(**comm);
  if ((*comm)->size() < 2) {
    check.Fail("not launched as one of several ranks: run it under mpirun -np 2 or more");
    return check.Verdict();
  }
  check.Say(absl::StrFormat("local rank %d, pid %d", (*comm)->local_rank(), getpid()));
  CheckAllReduce(**comm, check);
  CheckBroadcast(**comm, check);
  CheckBarrier(**comm, check);
  CheckAsync(**comm, check);
  CheckInvalidArguments(**comm, check);
  check.ExpectOk((*comm)->Barrier(), "final barrier");
  return check.Verdict();
}

int RunTimeout(int timeout_ms) {
  CommunicatorOptions options;
  options.timeout = absl::Milliseconds(timeout_ms);
  absl::StatusOr<std::unique_ptr<Communicator>> comm = CommunicatorFromEnvironment(options);
  if (!comm.ok()) {
    std::printf("comm_check: FAIL: %s\n", comm.status().ToString().c_str());
    return 1;
  }
  Checker check(**comm);
  if ((*comm)->rank() != 0) {
    check.Say("sleeping past rank 0's deadline instead of joining its all-reduce");
    absl::SleepFor(options.timeout * 5);
    check.Say("woke up");  // mpirun should have ended this rank before
    return 0;
  }
  std::vector<float> v(1000, 1.0f);
  const absl::Time t0 = absl::Now();
  const absl::Status status = (*comm)->AllReduceSum(v.data(), static_cast<int64_t>(v.size()));
  const absl::Duration took = absl::Now() - t0;
  check.Say(
      absl::StrFormat("all-reduce returned after %s: %s", absl::FormatDuration(took), status.ToString()));
  if (status.code() != absl::StatusCode::kDeadlineExceeded) {
    check.Fail("expected DEADLINE_EXCEEDED, got " + status.ToString());
  }
  if (took < options.timeout || took > options.timeout + absl::Seconds(2)) {
    check.Fail(absl::StrFormat("it took %s; the timeout is %s", absl::FormatDuration(took),
                               absl::FormatDuration(options.timeout)));
  }
  const absl::Status after = (*comm)->Barrier();
  check.Say("the next collective: " + after.ToString());
  if (after.code() != absl::StatusCode::kFailedPrecondition) {
    check.Fail("expected FAILED_PRECONDITION after a timeout, got " + after.ToString());
  }
  return check.Verdict();
}

int Main(int argc, char** argv) {
  base::FlagSet flags("comm_check", "Checks the MPI communicator on the ranks mpirun started.",
                      "mpirun -np 2 comm_check");
  std::string test_case = "collectives";
  int timeout_ms = 2000;
  flags.String("case", &test_case, "collectives (every collective, exact) or timeout (rank 0 left alone)");
  flags.Int("timeout-ms", &timeout_ms, "--case=timeout: the communicator's timeout");
  if (absl::Status parsed = flags.Parse(std::vector<std::string>(argv + 1, argv + argc)); !parsed.ok()) {
    std::fprintf(stderr, "%s\n", std::string(parsed.message()).c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  if (test_case == "collectives") return RunCollectives();
  if (test_case == "timeout") return RunTimeout(timeout_ms);
  std::fprintf(stderr, "comm_check: --case=%s is neither collectives nor timeout\n", test_case.c_str());
  return 2;
}

}  // namespace
}  // namespace slimtrain::engine::comm

int main(int argc, char** argv) { return slimtrain::engine::comm::Main(argc, argv); }
