// The real `slimtrain` client against the real server on 127.0.0.1: every
// remote command, its JSON, its exit codes, its errors, and a watch that
// survives the server being killed and restarted.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_models.h"

namespace slimtrain {
namespace {

using test_util::CommandResult;
using test_util::RunCommand;
using test_util::RunCommandSplit;

constexpr char kAlice[] = "alice-token-0123456789";

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class RemoteCommandsTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_util::TempPath("remote-" + std::to_string(getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/tokens") << kAlice << " alice user\n";
    std::filesystem::permissions(dir_ + "/tokens", std::filesystem::perms::owner_read |
                                                       std::filesystem::perms::owner_write);  // the server insists
    port_ = FreePort();
    ASSERT_TRUE(StartServer());
  }
  void TearDown() override { StopServer(SIGKILL); }

  bool StartServer() {
    pid_ = fork();
    if (pid_ == 0) {
      if (std::freopen((dir_ + "/server.log").c_str(), "a", stderr) == nullptr) _exit(127);
      const std::string args = "exec server/slimtrain_server --listen 127.0.0.1:" + std::to_string(port_) +
                               " --port_file " + dir_ + "/port --data_dir " + dir_ + " --tokens " + dir_ +
                               "/tokens --cpu_threads 1";
      execl("/bin/sh", "sh", "-c", args.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 300; ++i) {
      if (std::filesystem::exists(dir_ + "/port")) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  void StopServer(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    std::filesystem::remove(dir_ + "/port");
  }

  // `slimtrain ARGS` with the server and token in the environment.
  std::string Cli(const std::string& args, const char* token = kAlice) const {
    return "SLIMTRAIN_SERVER=127.0.0.1:" + std::to_string(port_) + " SLIMTRAIN_TOKEN=" + token +
           " client/slimtrain " + args;
  }

  // `job` in protobuf text format in this test's folder, as NAME.pbtxt.
  std::string WriteJobFile(const v1::JobSpec& job, const std::string& name) const {
    std::string text;
    EXPECT_TRUE(google::protobuf::TextFormat::PrintToString(job, &text));
    const std::string path = dir_ + "/" + name + ".pbtxt";
    std::ofstream(path) << text;
    return path;
  }

  // A Fashion-MNIST job of `steps` steps (test_models.h).
  std::string JobFile(int steps) const {
    return WriteJobFile(test_util::FashionMnistJob(steps), "job" + std::to_string(steps));
  }

  std::string Submit(int steps) {
    const CommandResult r = RunCommandSplit(Cli("submit --job-file " + JobFile(steps) + " --format json"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    google::protobuf::Struct job;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.stdout_only, &job).ok()) << r.stdout_only;
    return job.fields().at("id").string_value();
  }

  static int counter_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

int RemoteCommandsTest::counter_ = 0;

google::protobuf::Struct Json(const std::string& text) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &s).ok()) << text;
  return s;
}

TEST_F(RemoteCommandsTest, EveryCommandWithItsJson) {
  const std::string id = Submit(20);
  EXPECT_EQ(id.rfind("job-", 0), 0u);
  // watch: to the end, exit 0, the summary last.
  const CommandResult watch = RunCommandSplit(Cli("watch " + id));
  EXPECT_EQ(watch.exit_code, 0) << watch.output;
  EXPECT_NE(watch.stdout_only.find(id + " SUCCEEDED after 20 steps"), std::string::npos) << watch.stdout_only;
  // status, list: JSON with the proto's names.
  const CommandResult status = RunCommandSplit(Cli("status " + id + " --format json"));
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_EQ(Json(status.stdout_only).fields().at("state").string_value(), "SUCCEEDED");
  const CommandResult list = RunCommandSplit(Cli("list --format json --state SUCCEEDED"));
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_EQ(Json(list.stdout_only).fields().at("jobs").list_value().values_size(), 1);
  EXPECT_NE(RunCommand(Cli("list")).output.find(id), std::string::npos);
  // logs: state changes and log lines, no per-step metrics.
  const CommandResult logs = RunCommandSplit(Cli("logs " + id));
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_NE(logs.stdout_only.find("RUNNING: started on cpu"), std::string::npos) << logs.stdout_only;
  EXPECT_NE(logs.stdout_only.find("SUCCEEDED: trained 20 steps"), std::string::npos) << logs.stdout_only;
  // download: a safetensors file; --format json says where and how big.
  const std::string weights = dir_ + "/w.safetensors";
  const CommandResult download = RunCommandSplit(Cli("download " + id + " --output " + weights + " --format json"));
  ASSERT_EQ(download.exit_code, 0) << download.output;
  EXPECT_EQ(Json(download.stdout_only).fields().at("bytes").number_value(), std::filesystem::file_size(weights));
  // plan --server: the server's plans, as JSON.
  const CommandResult plan = RunCommandSplit(Cli(
      "plan --server 127.0.0.1:" + std::to_string(port_) + " --model zoo:resnet20 --batch 16 --strategies "
      "exact,approx4 --format json"));
  ASSERT_EQ(plan.exit_code, 0) << plan.output;
  EXPECT_EQ(Json(plan.stdout_only).fields().at("plans").list_value().values_size(), 2);
  // --arena-csv from the server's plan (its buffers asked for): the arena's
  // blocks as `slimtrain arena` reads them, at the server's offsets.
  const std::string blocks = dir_ + "/blocks.csv";
  const CommandResult with_csv = RunCommandSplit(Cli(
      "plan --server 127.0.0.1:" + std::to_string(port_) + " --model zoo:resnet20 --batch 16 --strategies "
      "approx4 --format json --arena-csv " + blocks));
  ASSERT_EQ(with_csv.exit_code, 0) << with_csv.output;
  const auto with_csv_json = Json(with_csv.stdout_only);
  const auto& remote_plan = with_csv_json.fields().at("plans").list_value().values(0).struct_value().fields();
  const std::string remote_arena = remote_plan.at("arena_bytes").string_value();
  const std::string alignment = remote_plan.at("alignment_bytes").string_value();
  const CommandResult from_blocks = RunCommandSplit(
      Cli("arena --input " + blocks + " --alignment " + alignment + " --search-seconds 0 --quiet"));
  ASSERT_EQ(from_blocks.exit_code, 0) << from_blocks.output;
  EXPECT_NE(from_blocks.stdout_only.find("start        " + remote_arena + " bytes (the input's offsets)"),
            std::string::npos)
      << from_blocks.stdout_only;
  // Data-parallel: each plan a rank's, with its buckets.
  const CommandResult ranked = RunCommandSplit(Cli(
      "plan --server 127.0.0.1:" + std::to_string(port_) + " --model zoo:resnet20 --batch 16 --strategies "
      "exact --ranks 4 --bucket-mib 1 --format json"));
  ASSERT_EQ(ranked.exit_code, 0) << ranked.output;
  const auto ranked_json = Json(ranked.stdout_only);
  const auto& ranked_plan = ranked_json.fields().at("plans").list_value().values(0).struct_value();
  EXPECT_EQ(ranked_plan.fields().at("ranks").number_value(), 4) << ranked.stdout_only;
  EXPECT_GE(ranked_plan.fields().at("allreduce_buckets").number_value(), 1) << ranked.stdout_only;
  // Finished: cancel is refused; delete... via cancel's message.
  const CommandResult cancel = RunCommand(Cli("cancel " + id));
  EXPECT_EQ(cancel.exit_code, 1);
  EXPECT_NE(cancel.output.find("already finished (SUCCEEDED)"), std::string::npos) << cancel.output;
}

// `slimtrain plan` here and `slimtrain plan --server` give the same plans:
// the CPU's with oneDNN's workspaces at the same threads (the server's
// --cpu_threads 1), a GPU profile's with cuDNN's at their bounds, as the
// server admits GPU jobs. Before, the local plans counted no workspace, 64
// MiB short of the server's on a GPU.
TEST_F(RemoteCommandsTest, PlansHereAndOnTheServerAgree) {
  for (const char* device : {"cpu", "h200"}) {
    const std::string args = std::string("plan --model zoo:fmnist_resnet --batch 32 --strategies exact,approx4 "
                                         "--format json --device ") + device;
    const CommandResult here = RunCommandSplit(Cli(args + (device == std::string("cpu") ? " --threads 1" : "")));
    ASSERT_EQ(here.exit_code, 0) << here.output;
    const CommandResult there = RunCommandSplit(Cli(args + " --server 127.0.0.1:" + std::to_string(port_)));
    ASSERT_EQ(there.exit_code, 0) << there.output;
    const auto here_json = Json(here.stdout_only), there_json = Json(there.stdout_only);
    const auto& here_plans = here_json.fields().at("plans").list_value().values();
    const auto& there_plans = there_json.fields().at("plans").list_value().values();
    ASSERT_EQ(here_plans.size(), 2) << here.stdout_only;
    ASSERT_EQ(there_plans.size(), 2) << there.stdout_only;
    for (int i = 0; i < 2; ++i) {
      const auto& a = here_plans[i].struct_value().fields();
      const auto& b = there_plans[i].struct_value().fields();
      for (const char* field : {"strategy", "cost_model", "alignment_bytes", "arena_lower_bound_bytes",
                                "arena_bytes", "peak_bytes"}) {
        EXPECT_EQ(a.at(field).string_value(), b.at(field).string_value()) << device << " " << field;
      }
      EXPECT_EQ(a.at("cost_model").string_value(), device == std::string("cpu") ? "onednn" : "cudnn-bound");
    }
  }
}

TEST_F(RemoteCommandsTest, ExitCodesFollowHowTheJobEnded) {
  // Cancelled: 4.
  const std::string long_id = Submit(100000);
  EXPECT_EQ(RunCommand(Cli("cancel " + long_id)).exit_code, 0);
  EXPECT_EQ(RunCommand(Cli("watch " + long_id)).exit_code, 4);
  // Failed (diverges): 3, with the reason.
  v1::JobSpec diverging = test_util::FashionMnistJob(50);
  // The largest rate and decay accepted: each step scales the weights by
  // about -99, so they overflow within 25 steps.
  diverging.mutable_optimizer()->set_learning_rate(100);
  diverging.mutable_optimizer()->set_weight_decay(1);
  const std::string path = WriteJobFile(diverging, "diverge");
  const CommandResult submit = RunCommandSplit(Cli("submit --job-file " + path + " --wait"));
  EXPECT_EQ(submit.exit_code, 3) << submit.output;
  EXPECT_NE(submit.stdout_only.find("FAILED"), std::string::npos) << submit.stdout_only;
}

TEST_F(RemoteCommandsTest, ErrorsAUserCanActOn) {
  CommandResult r = RunCommand(Cli("list", "wrong-token-wrong-token"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("refused the token"), std::string::npos) << r.output;
  r = RunCommand(Cli("status job-424242"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("job 'job-424242' not found"), std::string::npos) << r.output;
  r = RunCommand("SLIMTRAIN_SERVER=127.0.0.1:1 SLIMTRAIN_TOKEN=x client/slimtrain list");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot reach the slimtrain server at 127.0.0.1:1"), std::string::npos) << r.output;
  r = RunCommand(Cli("submit --model zoo:resnet1001 --dataset synthetic --synthetic-examples 200000 --batch 65536 "
                     "--strategy exact"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("the plan needs"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("available"), std::string::npos) << r.output;
  // This test's server has no GPU (its worker probe finds none, or the
  // machine has none): a job that asks for one is refused, saying so.
  r = RunCommand(Cli("submit --model zoo:fmnist_resnet --dataset synthetic --steps 1 --device cuda"));
  if (r.output.find("this server has no usable GPU") == std::string::npos) {
    EXPECT_EQ(r.exit_code, 0) << r.output;  // a GPU machine: accepted
  } else {
    EXPECT_EQ(r.exit_code, 1) << r.output;
  }
  r = RunCommand(Cli("submit --model zoo:fmnist_resnet --device tpu"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--device: 'tpu' is not cpu, cuda or any"), std::string::npos) << r.output;
  r = RunCommand(Cli("watch"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("give the job id"), std::string::npos) << r.output;
  for (const char* command : {"submit", "status", "list", "watch", "cancel", "logs", "download"}) {
    r = RunCommand(Cli(std::string(command) + " --help"));
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_NE(r.output.find("example:"), std::string::npos) << command;
  }
}

TEST_F(RemoteCommandsTest, WatchSurvivesTheServerBeingKilledAndRestarted) {
  const std::string id = Submit(3000);
  auto watch = std::async(std::launch::async, [&] { return RunCommandSplit(Cli("watch " + id)); });
  // Let it train a little, then kill the server outright and bring it back.
  for (int i = 0; i < 300; ++i) {
    const CommandResult s = RunCommandSplit(Cli("status " + id + " --format json"));
    google::protobuf::Struct job;
    if (google::protobuf::util::JsonStringToMessage(s.stdout_only, &job).ok() && job.fields().count("progress") &&
        job.fields().at("progress").struct_value().fields().count("step") &&
        std::stoll(job.fields().at("progress").struct_value().fields().at("step").string_value()) >= 30) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  StopServer(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  ASSERT_TRUE(StartServer());
  const CommandResult r = watch.get();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("lost"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("resuming after event"), std::string::npos) << r.output;
  EXPECT_NE(r.stdout_only.find(id + " SUCCEEDED after 3000 steps"), std::string::npos) << r.stdout_only;
}

}  // namespace
}  // namespace slimtrain
