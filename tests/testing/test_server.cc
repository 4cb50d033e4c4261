// See test_server.h.
#include "tests/testing/test_server.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/testing/subprocess.h"

namespace slimtrain::test_util {

std::string FakeGpuWorker(const std::string& dir, int64_t total_bytes, int64_t overhead_bytes, int gpus) {
  const std::string path = dir + "/worker-with-gpu.sh";
  std::ofstream script(path);
  script << "#!/bin/sh\nif [ \"$1\" = --probe-gpus ]; then\n";
  for (int g = 0; g < gpus; ++g) script << "  echo 'gpu " << g << " " << total_bytes << " " << overhead_bytes << " Test GPU'\n";
  script << "  exit 0\nfi\nexec " << std::filesystem::absolute("server/slimtrain_worker").string() << " \"$@\"\n";
  script.close();
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path;
}

std::string MakeServerDir(const std::string& name) {
  const std::string dir = TempPath(name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  chmod(dir.c_str(), 0700);
  std::ofstream(dir + "/tokens") << kAlice << " alice user\n" << kBob << " bob user\n";
  chmod((dir + "/tokens").c_str(), 0600);
  return dir;
}

std::unique_ptr<grpc::ClientContext> AsUser(const char* token, int seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (token != nullptr) context->AddMetadata("authorization", std::string("Bearer ") + token);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

bool TestServer::Start(const std::string& extra) {
  std::filesystem::remove(dir_ + "/port");
  port_ = 0;
  pid_ = fork();
  if (pid_ == 0) {
    const std::string log = dir_ + "/server.log";
    if (std::freopen(log.c_str(), "a", stderr) == nullptr) _exit(127);
    const std::string args = "exec server/slimtrain_server --listen 127.0.0.1:0 --port_file " + dir_ +
                             "/port --data_dir " + dir_ + " --tokens " + dir_ + "/tokens --cpu_threads 1 " + extra;
    execl("/bin/sh", "sh", "-c", args.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 300; ++i) {
    std::ifstream port(dir_ + "/port");
    std::string text;
    if (port >> text && !text.empty()) {
      port_ = std::stoi(text);
      channel_ = grpc::CreateChannel("127.0.0.1:" + text, grpc::InsecureChannelCredentials());
      stub_ = v1::TrainingService::NewStub(channel_);
      return true;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited before serving
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

int TestServer::Kill(int sig) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

}  // namespace slimtrain::test_util
