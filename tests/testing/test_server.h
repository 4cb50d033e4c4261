// test_server.h — the real slimtrain_server binary on 127.0.0.1:0 for
// end-to-end tests: started in a data directory, reached through a stub,
// stopped with a signal.
//
//   TestServer server(dir);             // dir holds `tokens` (MakeServerDir)
//   ASSERT_TRUE(server.Start("--cpu_jobs 1"));
//   server.stub()->GetJob(AsUser(kAlice).get(), request, &job);
//   server.Kill(SIGKILL);               // or SIGTERM for a graceful stop
//
// Runs from the test's runfiles root (server/slimtrain_server must be in the
// test's data). The server's stderr goes to DIR/server.log.
#ifndef SLIMTRAIN_TESTS_TESTING_TEST_SERVER_H_
#define SLIMTRAIN_TESTS_TESTING_TEST_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "grpcpp/grpcpp.h"
#include "proto/service.grpc.pb.h"

namespace slimtrain::test_util {

// Tokens of the two users MakeServerDir writes.
inline constexpr char kAlice[] = "alice-token-0123456789";
inline constexpr char kBob[] = "bob-token-0123456789abc";

// A fresh, empty directory $TEST_TMPDIR/NAME (mode 0700) with a tokens file
// naming users alice and bob.
std::string MakeServerDir(const std::string& name);

// A worker binary (a script in `dir`) that reports `gpus` GPUs of
// `total_bytes` each, `overhead_bytes` a worker, to the server's probe and
// otherwise runs the real worker (server/slimtrain_worker): the device
// pool's decisions, seen on any machine. Pass it as --worker.
std::string FakeGpuWorker(const std::string& dir, int64_t total_bytes, int64_t overhead_bytes, int gpus = 1);

// A client context with `token` as bearer token (none for nullptr) and a
// deadline `seconds` from now.
std::unique_ptr<grpc::ClientContext> AsUser(const char* token, int seconds = 120);

class TestServer {
 public:
  explicit TestServer(std::string dir) : dir_(std::move(dir)) {}
  ~TestServer() { Kill(9); }  // SIGKILL
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // Starts the binary with `--data_dir DIR --tokens DIR/tokens
  // --cpu_threads 1` and `extra` flags, and waits (up to 30 s) until it
  // serves. False when it exited or never wrote its port.
  bool Start(const std::string& extra = "");
  // Sends `sig` and reaps the process; returns its wait status (-1 when it
  // was not running).
  int Kill(int sig);
  pid_t pid() const { return pid_; }
  int port() const { return port_; }

  v1::TrainingService::Stub* stub() { return stub_.get(); }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TrainingService::Stub> stub_;
};

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_TESTING_TEST_SERVER_H_
