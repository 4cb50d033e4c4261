// See worker_process.h.
#include "server/worker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/util/delimited_message_util.h"

namespace slimtrain::server {

std::string WorkerExit::Describe() const {
  if (!signaled) return absl::StrCat("exit code ", code);
  std::string name = strsignal(code);
  if (code == SIGKILL) name += ": out of memory, or killed";
  if (code == SIGSEGV || code == SIGBUS) name += ": crashed";
  return absl::StrCat("killed by signal ", code, " (", name, ")");
}

WorkerProcess::WorkerProcess(pid_t pid, int fd)
    : pid_(pid), fd_(fd), in_(std::make_unique<google::protobuf::io::FileInputStream>(fd)) {}

WorkerProcess::~WorkerProcess() {
  in_.reset();
  close(fd_);
}

absl::StatusOr<std::unique_ptr<WorkerProcess>> WorkerProcess::Start(const std::string& worker_path,
                                                                    const std::string& job_dir,
                                                                    const std::string& data_root, int threads,
                                                                    int gpu) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::ResourceExhaustedError(absl::StrCat("cannot start a worker: fork: ", strerror(errno)));
  }
  if (pid == 0) {
    // The child: die with the server; events to the pipe, diagnostics to a file.
    // The server blocks SIGTERM and friends for its signal thread: the mask is
    // inherited across fork and exec, so clear it, or SIGTERM never arrives.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(fds[1], STDOUT_FILENO);
    const int log = open((job_dir + "/worker.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) dup2(log, STDERR_FILENO);
    const std::string t = std::to_string(threads), g = std::to_string(gpu);
    if (gpu >= 0) {
      execl(worker_path.c_str(), worker_path.c_str(), "--job-dir", job_dir.c_str(), "--data-root", data_root.c_str(),
            "--threads", t.c_str(), "--gpu", g.c_str(), static_cast<char*>(nullptr));
    } else {
      execl(worker_path.c_str(), worker_path.c_str(), "--job-dir", job_dir.c_str(), "--data-root", data_root.c_str(),
            "--threads", t.c_str(), static_cast<char*>(nullptr));
    }
    _exit(127);
  }
  close(fds[1]);
  return std::unique_ptr<WorkerProcess>(new WorkerProcess(pid, fds[0]));
}

bool WorkerProcess::Next(v1::JobEvent* event) {
  event->Clear();  // the parser merges into what it is given
  bool clean_eof = false;
  return google::protobuf::util::ParseDelimitedFromZeroCopyStream(event, in_.get(), &clean_eof);
}

WorkerExit WorkerProcess::Wait() {
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  WorkerExit e;
  e.signaled = WIFSIGNALED(status);
  e.code = e.signaled ? WTERMSIG(status) : WEXITSTATUS(status);
  return e;
}

void WorkerProcess::Stop() { kill(pid_, SIGTERM); }

}  // namespace slimtrain::server
