// See worker_process.h.
#include "server/worker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

WorkerProcess::WorkerProcess(pid_t pid, int fd, bool mpirun)
    : pid_(pid), mpirun_(mpirun), fd_(fd), in_(std::make_unique<google::protobuf::io::FileInputStream>(fd)) {}

WorkerProcess::~WorkerProcess() {
  in_.reset();
  close(fd_);
}

std::vector<std::string> WorkerCommand(const WorkerLaunch& l) {
  std::vector<std::string> argv;
  if (l.ranks > 1) {
    argv = {l.mpirun, "-np", std::to_string(l.ranks), "--host", absl::StrJoin(l.hosts, ","), "--bind-to", "none"};
    // OpenMPI refuses to start as root unless told.
    if (geteuid() == 0) argv.push_back("--allow-run-as-root");
    argv.insert(argv.end(), l.mpirun_args.begin(), l.mpirun_args.end());
  }
  argv.insert(argv.end(), {l.worker_path, "--job-dir", l.job_dir, "--data-root", l.data_root, "--threads",
                           std::to_string(l.threads)});
  if (l.gpu >= 0) argv.insert(argv.end(), {"--gpu", std::to_string(l.gpu)});
  if (l.ranks > 1) {
    argv.insert(argv.end(), {"--collective-timeout-seconds", absl::StrCat(l.collective_timeout_seconds)});
  }
  return argv;
}

absl::StatusOr<std::unique_ptr<WorkerProcess>> WorkerProcess::Start(const WorkerLaunch& launch) {
  std::vector<std::string> argv = WorkerCommand(launch);
  std::vector<char*> pointers;
  for (std::string& a : argv) pointers.push_back(a.data());
  pointers.push_back(nullptr);
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
    const int log = open((launch.job_dir + "/worker.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) dup2(log, STDERR_FILENO);
    execvp(pointers[0], pointers.data());
    const std::string why = absl::StrCat("cannot run ", argv[0], ": ", strerror(errno), "\n");
    (void)!write(STDERR_FILENO, why.data(), why.size());
    _exit(127);
  }
  close(fds[1]);
  return std::unique_ptr<WorkerProcess>(new WorkerProcess(pid, fds[0], launch.ranks > 1));
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

void WorkerProcess::Stop() { kill(pid_, mpirun_ ? SIGUSR1 : SIGTERM); }

}  // namespace slimtrain::server
