// See cpu_planner.h.
#include "server/cpu_planner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "server/plan_job.h"
#include "server/worker_process.h"

namespace slimtrain::server {
namespace {

// The end of the planner's standard error kept for an error message.
constexpr size_t kStderrTail = 2048;

struct Fd {
  int fd = -1;
  ~Fd() { Close(); }
  void Close() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

struct Pipe {
  Fd read, write;
  absl::Status Open() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
    read.fd = fds[0];
    write.fd = fds[1];
    return absl::OkStatus();
  }
};

// SIGPIPE blocked in this thread while it lives: a write to a planner that
// has gone fails with EPIPE instead of killing the process (whatever the
// process does with SIGPIPE); the signal it raised is consumed at the end.
class NoSigpipe {
 public:
  NoSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~NoSigpipe() {
    const timespec now = {0, 0};
    while (sigtimedwait(&pipe_, nullptr, &now) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_, old_;
};

absl::Status ResultStatus(const v1::PlanTaskResult& result) {
  if (result.code() == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(result.code()), result.message());
}

}  // namespace

absl::StatusOr<v1::PlanTaskResult> RunPlanTaskInWorker(const std::string& worker_path, const v1::PlanTask& task,
                                                       const planner::PlanStop* stop) {
  SLIM_RETURN_IF_ERROR(planner::CheckStop(stop));
  std::string input;
  if (!task.SerializeToString(&input)) return absl::InternalError("the plan task could not be serialized");
  Pipe in, out, err;
  SLIM_RETURN_IF_ERROR(in.Open());
  SLIM_RETURN_IF_ERROR(out.Open());
  SLIM_RETURN_IF_ERROR(err.Open());
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::ResourceExhaustedError(absl::StrCat("cannot start the CPU planner: fork: ", strerror(errno)));
  if (pid == 0) {
    // The child: as a job's worker (worker_process.cc), dying with the server.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(in.read.fd, STDIN_FILENO);
    dup2(out.write.fd, STDOUT_FILENO);
    dup2(err.write.fd, STDERR_FILENO);
    execl(worker_path.c_str(), worker_path.c_str(), "--plan", static_cast<char*>(nullptr));
    _exit(127);
  }
  in.read.Close();
  out.write.Close();
  err.write.Close();
  fcntl(in.write.fd, F_SETFL, O_NONBLOCK);
  const NoSigpipe no_sigpipe;

  std::string output, errors;
  size_t written = 0;
  if (input.empty()) in.write.Close();
  absl::Status stopped;
  char buffer[65536];
  while (out.read.fd >= 0 || err.read.fd >= 0) {
    stopped = planner::CheckStop(stop);
    if (!stopped.ok()) break;
    pollfd fds[3];
    int n = 0;
    if (in.write.fd >= 0) fds[n++] = {in.write.fd, POLLOUT, 0};
    if (out.read.fd >= 0) fds[n++] = {out.read.fd, POLLIN, 0};
    if (err.read.fd >= 0) fds[n++] = {err.read.fd, POLLIN, 0};
    if (poll(fds, n, /*ms=*/20) < 0 && errno != EINTR) {
      stopped = absl::InternalError(absl::StrCat("poll: ", strerror(errno)));
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in.write.fd) {
        const ssize_t w = write(in.write.fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        // All sent, or the planner has gone (EPIPE): its exit says why.
        if (written == input.size() || (w < 0 && errno != EAGAIN && errno != EINTR)) in.write.Close();
        continue;
      }
      Fd& from = fds[i].fd == out.read.fd ? out.read : err.read;
      const ssize_t r = read(from.fd, buffer, sizeof(buffer));
      if (r > 0) {
        (fds[i].fd == out.read.fd ? output : errors).append(buffer, static_cast<size_t>(r));
        if (errors.size() > 2 * kStderrTail) errors.erase(0, errors.size() - kStderrTail);
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        from.Close();
      }
    }
  }
  if (!stopped.ok()) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!stopped.ok()) return stopped;
  if (errors.size() > kStderrTail) errors.erase(0, errors.size() - kStderrTail);
  WorkerExit exit;
  exit.signaled = WIFSIGNALED(status);
  exit.code = exit.signaled ? WTERMSIG(status) : WEXITSTATUS(status);
  v1::PlanTaskResult result;
  if (exit.signaled || exit.code != 0 || !result.ParseFromString(output)) {
    return absl::InternalError(absl::StrFormat("the CPU planner (%s --plan) ended with %s and no plan%s%s",
                                               worker_path, exit.Describe(), errors.empty() ? "" : ": ", errors));
  }
  return result;
}

absl::StatusOr<v1::MemoryPlan> PlanJobOnCpu(const std::string& worker_path, const v1::JobSpec& spec,
                                            int64_t room, int threads, const planner::PlanRequestBounds& bounds) {
  v1::PlanTask task;
  *task.mutable_job() = spec;
  task.set_room_bytes(room);
  task.set_cpu_threads(threads);
  SetTaskBounds(bounds, {}, task);
  SLIM_ASSIGN_OR_RETURN(v1::PlanTaskResult result, RunPlanTaskInWorker(worker_path, task, bounds.stop));
  SLIM_RETURN_IF_ERROR(ResultStatus(result));
  return std::move(*result.mutable_plan());
}

absl::StatusOr<v1::PlanMemoryResponse> AnswerOnCpu(const std::string& worker_path,
                                                   const v1::PlanMemoryRequest& request, int threads,
                                                   const std::vector<planner::DeviceProfile>& devices,
                                                   const planner::PlanRequestBounds& bounds) {
  v1::PlanTask task;
  *task.mutable_request() = request;
  task.set_cpu_threads(threads);
  SetTaskBounds(bounds, devices, task);
  SLIM_ASSIGN_OR_RETURN(v1::PlanTaskResult result, RunPlanTaskInWorker(worker_path, task, bounds.stop));
  SLIM_RETURN_IF_ERROR(ResultStatus(result));
  return std::move(*result.mutable_response());
}

}  // namespace slimtrain::server
