// bench/server_load — the server under polling load while a job trains.
//
//   bazel build //bench:server_load //server:all
//   bazel-bin/bench/server_load [--clients 32] [--seconds 10] [--max-requests 200000]
//
// Starts bazel-bin/server/slimtrain_server on 127.0.0.1 with a temp data
// directory, submits a Fashion-MNIST job, then runs `clients` threads
// polling GetJob back to back and one WatchJob stream, on loopback, until
// `seconds` pass or `max-requests` GetJobs are done. Prints requests per
// second, p50/p99/max latency, errors, and the events the watch received.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "proto/service.grpc.pb.h"

namespace {

constexpr char kToken[] = "bench-token-0123456789abcdef";

using Clock = std::chrono::steady_clock;

int Arg(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == name) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  namespace v1 = slimtrain::v1;
  const int clients = Arg(argc, argv, "--clients", 32);
  const int seconds = Arg(argc, argv, "--seconds", 10);
  const long max_requests = Arg(argc, argv, "--max-requests", 200000);
  std::string bin = "bazel-bin/server";
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY"); ws != nullptr) bin = std::string(ws) + "/" + bin;
  const std::string dir = std::filesystem::temp_directory_path() / ("slimtrain-load-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tokens") << kToken << " bench user\n";
  std::filesystem::permissions(dir + "/tokens", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const pid_t server = fork();
  if (server == 0) {
    if (std::freopen((dir + "/server.log").c_str(), "w", stderr) == nullptr) _exit(127);
    execl((bin + "/slimtrain_server").c_str(), "slimtrain_server", "--listen", "127.0.0.1:0", "--port_file",
          (dir + "/port").c_str(), "--data_dir", dir.c_str(), "--tokens", (dir + "/tokens").c_str(),
          "--cpu_threads", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string port;
  for (int i = 0; i < 200 && port.empty(); ++i) {
    std::ifstream(dir + "/port") >> port;
    if (port.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (port.empty()) {
    std::fprintf(stderr, "the server did not start (%s/server.log)\n", dir.c_str());
    return 1;
  }
  auto channel = grpc::CreateChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials());
  auto stub = v1::TrainingService::NewStub(channel);
  auto context = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->AddMetadata("authorization", std::string("Bearer ") + kToken);
    return c;
  };
  // A job that trains through the whole run.
  v1::SubmitJobRequest submit;
  v1::JobSpec* spec = submit.mutable_spec();
  spec->mutable_model()->set_zoo("fmnist_resnet");
  spec->mutable_dataset()->set_name("fashion-mnist");
  spec->mutable_optimizer()->set_kind("sgd");
  spec->mutable_optimizer()->set_learning_rate(0.1);
  spec->set_batch_size(64);
  spec->set_steps(1000000);
  spec->set_strategy("approx4");
  v1::SubmitJobResponse submitted;
  grpc::Status s = stub->SubmitJob(context().get(), submit, &submitted);
  if (!s.ok()) {
    std::fprintf(stderr, "submit: %s\n", s.error_message().c_str());
    return 1;
  }
  const std::string id = submitted.job().id();

  std::atomic<bool> stop{false};
  std::atomic<long> done{0}, errors{0}, events{0};
  std::thread watcher([&] {
    v1::WatchJobRequest request;
    request.set_job_id(id);
    auto c = context();
    auto reader = stub->WatchJob(c.get(), request);
    v1::JobEvent e;
    while (!stop && reader->Read(&e)) ++events;
    c->TryCancel();
    (void)reader->Finish();
  });
  std::vector<std::vector<double>> latencies(clients);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(seconds);
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      auto own = v1::TrainingService::NewStub(channel);
      v1::GetJobRequest request;
      request.set_job_id(id);
      while (Clock::now() < deadline && done.fetch_add(1) < max_requests) {
        v1::Job job;
        const auto t0 = Clock::now();
        const grpc::Status r = own->GetJob(context().get(), request, &job);
        latencies[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!r.ok()) ++errors;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  v1::CancelJobRequest cancel;
  cancel.set_job_id(id);
  v1::Job cancelled;
  (void)stub->CancelJob(context().get(), cancel, &cancelled);
  watcher.join();
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  std::filesystem::remove_all(dir);

  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
  std::printf("%d clients polling GetJob and 1 WatchJob for %.1f s on loopback, while %s trains (fmnist_resnet, "
              "approx4, batch 64)\n\n",
              clients, elapsed, id.c_str());
  std::printf("%-12s %10s %10s %10s %10s %10s %8s %12s\n", "requests", "req/s", "p50 ms", "p99 ms", "max ms",
              "errors", "watch", "events/s");
  std::printf("%-12zu %10.0f %10.3f %10.3f %10.3f %10ld %8ld %12.1f\n", all.size(), all.size() / elapsed, pct(0.50),
              pct(0.99), all.empty() ? 0.0 : all.back(), errors.load(), events.load(), events.load() / elapsed);
  return errors.load() == 0 ? 0 : 1;
}
