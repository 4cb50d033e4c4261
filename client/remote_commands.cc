// The remote commands: submit, status, list, watch, cancel, logs, download.
// Each talks to a slimtrain server (connection.h); --format json prints the
// proto3 JSON of what the server returned.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/flags.h"
#include "base/units.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/job_flags.h"
#include "client/remote_render.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace slimtrain::client {
namespace {

// Exit codes of `watch` (and `submit --wait`) for how the job ended.
constexpr int kExitFailed = 3;
constexpr int kExitCancelled = 4;

int Fail(const std::string& command, const absl::Status& status) {
  std::cerr << "slimtrain " << command << ": " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument && status.message().rfind("--", 0) == 0 ? 2 : 1;
}

// Parses flags with the connection's; returns -1 to continue, else an exit code.
int ParseFlags(base::FlagSet& flags, Connection& conn, const std::vector<std::string>& args,
               const std::string& command, std::string* format) {
  conn.Register(flags);
  flags.String("format", format, "table or json");
  if (absl::Status s = flags.Parse(args); !s.ok()) {
    std::cerr << "slimtrain " << command << ": " << s.message() << "\n";
    return 2;
  }
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (*format != "table" && *format != "json") {
    std::cerr << "slimtrain " << command << ": --format: '" << *format << "' is not table or json\n";
    return 2;
  }
  return -1;
}

std::string JobIdArg(const base::FlagSet& flags) {
  return flags.positional().empty() ? "" : flags.positional()[0];
}

int NeedJob(const std::string& command) {
  std::cerr << "slimtrain " << command << ": give the job id, e.g. slimtrain " << command << " job-000001\n";
  return 2;
}

std::string NewRequestId() {
  std::random_device rd;
  return absl::StrFormat("req-%016x%016x", (static_cast<uint64_t>(rd()) << 32) | rd(),
                         (static_cast<uint64_t>(rd()) << 32) | rd());
}

int ExitFor(v1::Job::State state) {
  return state == v1::Job::SUCCEEDED ? 0 : state == v1::Job::CANCELLED ? kExitCancelled : kExitFailed;
}

// Follows a job's events to its end, printing a progress bar (table) or the
// events (json); reconnects after a dropped connection, resuming after the
// last event seen. Returns the exit code.
int Follow(Connection& conn, v1::TrainingService::Stub* stub, const std::string& id, const std::string& format,
           int64_t reconnect_seconds) {
  v1::GetJobRequest get;
  get.set_job_id(id);
  v1::Job job;
  grpc::Status s = stub->GetJob(conn.Context(absl::Seconds(30)).get(), get, &job);
  if (!s.ok()) return Fail("watch", conn.Explain(s));
  ProgressPrinter progress(job, isatty(STDERR_FILENO), std::cerr);
  int64_t after = 0;
  absl::Time lost_since = absl::InfiniteFuture();
  int retries = 0;
  while (true) {
    v1::WatchJobRequest request;
    request.set_job_id(id);
    request.set_after_sequence(after);
    auto context = conn.Context(absl::InfiniteDuration());
    auto reader = stub->WatchJob(context.get(), request);
    v1::JobEvent e;
    while (reader->Read(&e)) {
      after = e.sequence();
      lost_since = absl::InfiniteFuture();
      retries = 0;
      if (format == "json") {
        std::string line;
        google::protobuf::util::JsonPrintOptions o;
        o.preserve_proto_field_names = true;
        (void)google::protobuf::util::MessageToJsonString(e, &line, o);
        std::cout << line << "\n" << std::flush;
      } else {
        progress.Show(e);
      }
      if (e.has_state_change()) job.set_state(e.state_change().to());
    }
    s = reader->Finish();
    if (s.ok()) break;
    const bool dropped = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                         s.error_code() == grpc::StatusCode::INTERNAL ||
                         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (!dropped) return Fail("watch", conn.Explain(s));
    if (lost_since == absl::InfiniteFuture()) lost_since = absl::Now();
    if (absl::Now() - lost_since > absl::Seconds(reconnect_seconds)) {
      return Fail("watch", conn.Explain(s));
    }
    progress.Note(absl::StrFormat("connection to %s lost (%s); resuming after event %d", conn.address(),
                                  s.error_message(), after));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(250 << std::min(retries++, 4), 4000)));
  }
  progress.Done();
  s = stub->GetJob(conn.Context(absl::Seconds(30)).get(), get, &job);
  if (!s.ok()) return Fail("watch", conn.Explain(s));
  if (format != "json") std::cout << JobSummary(job);
  return ExitFor(job.state());
}

}  // namespace

int RunSubmitCommand(const std::vector<std::string>& args) {
  JobFlags job;
  Connection conn;
  std::string format = "table", job_file, request_id, device;
  bool wait = false;
  DataParallelFlags data_parallel;
  int64_t reconnect = 300, ranks = 0, nodes = 0;
  base::FlagSet flags("slimtrain submit",
                      "Submits a training job to a slimtrain server and prints its id at once; --wait follows it to\n"
                      "the end like `slimtrain watch`. The job comes from the training flags (as slimtrain train)\n"
                      "or from --job-file (a JobSpec in protobuf text format or JSON).",
                      "slimtrain submit --model zoo:fmnist_resnet --dataset fashion-mnist --strategy approx4 "
                      "--epochs 1 --wait");
  job.Register(flags);
  flags.String("job-file", &job_file, "a JobSpec file (text format or JSON) instead of the training flags");
  flags.String("device", &device,
               "where the server trains it: cpu, cuda (one of its GPUs) or any (a GPU when it has one that fits; "
               "default)");
  flags.Int("ranks", &ranks,
            "data-parallel CPU processes per node, each taking --batch examples a step (default 1; the server "
            "starts them with mpirun over its --hosts)");
  flags.Int("nodes", &nodes, "data-parallel: hosts of the server's --hosts list the job spans (default 1)");
  data_parallel.Register(flags);
  flags.String("request-id", &request_id, "idempotency key: resubmitting it returns the same job (default: random)");
  flags.Bool("wait", &wait, "follow the job to its end (exit 0 on SUCCEEDED)");
  flags.Int("reconnect-seconds", &reconnect, "--wait: keep retrying a lost connection this long");
  if (int rc = ParseFlags(flags, conn, args, "submit", &format); rc >= 0) return rc;
  v1::SubmitJobRequest request;
  if (!job_file.empty()) {
    absl::StatusOr<std::string> text = base::ReadFile(job_file);
    if (!text.ok()) return Fail("submit", text.status());
    const bool json = text->find_first_not_of(" \t\r\n") != std::string::npos &&
                      (*text)[text->find_first_not_of(" \t\r\n")] == '{';
    const bool parsed = json ? google::protobuf::util::JsonStringToMessage(*text, request.mutable_spec()).ok()
                             : google::protobuf::TextFormat::ParseFromString(*text, request.mutable_spec());
    if (!parsed) return Fail("submit", absl::InvalidArgumentError(absl::StrCat(job_file, ": not a JobSpec")));
  } else {
    absl::StatusOr<v1::JobSpec> spec = job.ToSpec();
    if (!spec.ok()) return Fail("submit", spec.status());
    *request.mutable_spec() = *spec;
  }
  if (!device.empty()) {
    if (device != "cpu" && device != "cuda" && device != "any") {
      return Fail("submit", absl::InvalidArgumentError(absl::StrCat("--device: '", device,
                                                                    "' is not cpu, cuda or any")));
    }
    request.mutable_spec()->mutable_resources()->set_device(device);
  }
  // The ranges are the server's to check (resources.cpu_ranks, node_count);
  // these only keep them in an int32.
  if (ranks < 0 || ranks > 4096 || nodes < 0 || nodes > 4096) {
    return Fail("submit", absl::InvalidArgumentError(absl::StrFormat(
                              "--ranks %d, --nodes %d: each must be in [1, 4096] (0: 1)", ranks, nodes)));
  }
  if (absl::Status s = data_parallel.Check(); !s.ok()) return Fail("submit", s);
  if (ranks != 0) request.mutable_spec()->mutable_resources()->set_cpu_ranks(static_cast<int32_t>(ranks));
  // The flags given win over a --job-file's.
  v1::DataParallelPlanning* dp = request.mutable_spec()->mutable_data_parallel();
  const v1::DataParallelPlanning given = data_parallel.ToPlanning();
  if (flags.WasSet("bucket-mib")) dp->set_bucket_bytes(given.bucket_bytes());
  if (flags.WasSet("overlap")) dp->set_no_overlap(given.no_overlap());
  if (flags.WasSet("sync-bn")) dp->set_sync_batch_norm(given.sync_batch_norm());
  if (nodes != 0) request.mutable_spec()->mutable_resources()->set_node_count(static_cast<int32_t>(nodes));
  request.set_client_request_id(request_id.empty() ? NewRequestId() : request_id);
  absl::StatusOr<std::unique_ptr<v1::TrainingService::Stub>> stub = conn.Connect();
  if (!stub.ok()) return Fail("submit", stub.status());
  v1::SubmitJobResponse response;
  const grpc::Status s = (*stub)->SubmitJob(conn.Context(absl::Seconds(120)).get(), request, &response);
  if (!s.ok()) return Fail("submit", conn.Explain(s));
  if (format == "json") {
    std::cout << ToJson(response.job()) << "\n";
  } else {
    std::cout << absl::StrFormat("submitted %s: %s with %s, planned peak %s\n", response.job().id(),
                                 response.job().plan().model(), response.job().plan().strategy(),
                                 base::FormatBytes(response.job().plan().peak_bytes()));
  }
  if (!wait) return 0;
  return Follow(conn, stub->get(), response.job().id(), format, reconnect);
}

int RunWatchCommand(const std::vector<std::string>& args) {
  Connection conn;
  std::string format = "table";
  int64_t reconnect = 300;
  base::FlagSet flags("slimtrain watch",
                      "Follows a job to its end with a live progress bar (step, epoch, loss, accuracy, images/s,\n"
                      "memory, ETA). A dropped connection is retried, resuming after the last event seen. Exit\n"
                      "code: 0 SUCCEEDED, 3 FAILED, 4 CANCELLED, 1 other errors.",
                      "slimtrain watch job-000001");
  flags.Int("reconnect-seconds", &reconnect, "keep retrying a lost connection this long");
  if (int rc = ParseFlags(flags, conn, args, "watch", &format); rc >= 0) return rc;
  const std::string id = JobIdArg(flags);
  if (id.empty()) return NeedJob("watch");
  absl::StatusOr<std::unique_ptr<v1::TrainingService::Stub>> stub = conn.Connect();
  if (!stub.ok()) return Fail("watch", stub.status());
  return Follow(conn, stub->get(), id, format, reconnect);
}

int RunStatusCommand(const std::vector<std::string>& args) {
  Connection conn;
  std::string format = "table";
  base::FlagSet flags("slimtrain status", "A job's state, progress, latest metrics and plan.",
                      "slimtrain status job-000001");
  if (int rc = ParseFlags(flags, conn, args, "status", &format); rc >= 0) return rc;
  const std::string id = JobIdArg(flags);
  if (id.empty()) return NeedJob("status");
  absl::StatusOr<std::unique_ptr<v1::TrainingService::Stub>> stub = conn.Connect();
  if (!stub.ok()) return Fail("status", stub.status());
  v1::GetJobRequest request;
  request.set_job_id(id);
  v1::Job job;
  const grpc::Status s = (*stub)->GetJob(conn.Context(absl::Seconds(30)).get(), request, &job);
  if (!s.ok()) return Fail("status", conn.Explain(s));
  std::cout << (format == "json" ? ToJson(job) + "\n" : JobDetails(job));
  return 0;
}

int RunListCommand(const std::vector<std::string>& args) {
  Connection conn;
  std::string format = "table", state;
  int64_t limit = 100;
  base::FlagSet flags("slimtrain list", "Jobs, newest first: yours, or everyone's for an admin.",
                      "slimtrain list --state RUNNING");
  flags.String("state", &state, "only jobs in this state: PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED");
  flags.Int("limit", &limit, "at most this many jobs");
  if (int rc = ParseFlags(flags, conn, args, "list", &format); rc >= 0) return rc;
  v1::ListJobsRequest request;
  if (!state.empty()) {
    v1::Job::State s;
    if (!v1::Job::State_Parse(state, &s) || s == v1::Job::STATE_UNSPECIFIED) {
      return Fail("list", absl::InvalidArgumentError(absl::StrCat(
                              "--state: '", state, "' is not PENDING, RUNNING, SUCCEEDED, FAILED or CANCELLED")));
    }
    request.add_states(s);
  }
  absl::StatusOr<std::unique_ptr<v1::TrainingService::Stub>> stub = conn.Connect();
  if (!stub.ok()) return Fail("list", stub.status());
  std::vector<v1::Job> jobs;
  do {  // every page, up to --limit
    request.set_page_size(static_cast<int32_t>(std::min<int64_t>(100, limit - jobs.size())));
    v1::ListJobsResponse page;
    const grpc::Status s = (*stub)->ListJobs(conn.Context(absl::Seconds(30)).get(), request, &page);
    if (!s.ok()) return Fail("list", conn.Explain(s));
    jobs.insert(jobs.end(), page.jobs().begin(), page.jobs().end());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty() && static_cast<int64_t>(jobs.size()) < limit);
  if (format == "json") {
    v1::ListJobsResponse all;
    for (const v1::Job& j : jobs) *all.add_jobs() = j;
    std::cout << ToJson(all) << "\n";
  } else {
    std::cout << JobTable(jobs);
  }
  return 0;
}

int RunCancelCommand(const std::vector<std::string>& args) {
  Connection conn;
  std::string format = "table";
  base::FlagSet flags("slimtrain cancel", "Cancels a pending or running job (it stops after a checkpoint).",
                      "slimtrain cancel job-000001");
  if (int rc = ParseFlags(flags, conn, args, "cancel", &format); rc >= 0) return rc;
  const std::string id = JobIdArg(flags);
  if (id.empty()) return NeedJob("cancel");
  absl::StatusOr<std::unique_ptr<v1::TrainingService::Stub>> stub = conn.Connect();
  if (!stub.ok()) return Fail("cancel", stub.status());
  v1::CancelJobRequest request;
  request.set_job_id(id);
  v1::Job job;
  const grpc::Status s = (*stub)->CancelJob(conn.Context(absl::Seconds(30)).get(), request, &job);
  if (!s.ok()) return Fail("cancel", conn.Explain(s));
  std::cout << (format == "json" ? ToJson(job) + "\n" : absl::StrCat(id, ": ", v1::Job::State_Name(job.state()), "\n"));
  return 0;
}

int RunLogsCommand(const std::vector<std::string>& args) {
  Connection conn;
  std::string format = "table";
  bool follow = false;
  base::FlagSet flags("slimtrain logs", "A job's log: its state changes and log lines (not per-step metrics).",
                      "slimtrain logs job-000001 --follow");
  flags.Bool("follow", &follow, "keep printing until the job ends");
  if (int rc = ParseFlags(flags, conn, args, "logs", &format); rc >= 0) return rc;
  const std::string id = JobIdArg(flags);
  if (id.empty()) return NeedJob("logs");
  absl::StatusOr<std::unique_ptr<v1::TrainingService::Stub>> stub = conn.Connect();
  if (!stub.ok()) return Fail("logs", stub.status());
  v1::GetJobRequest get;
  get.set_job_id(id);
  v1::Job job;
  grpc::Status s = (*stub)->GetJob(conn.Context(absl::Seconds(30)).get(), get, &job);
  if (!s.ok()) return Fail("logs", conn.Explain(s));
  v1::WatchJobRequest request;
  request.set_job_id(id);
  // Without --follow: only what is stored now (the stream is cut short).
  auto context = conn.Context(follow ? absl::InfiniteDuration() : absl::Seconds(2));
  auto reader = (*stub)->WatchJob(context.get(), request);
  v1::JobEvent e;
  while (reader->Read(&e)) {
    if (e.has_metrics()) continue;
    std::cout << (format == "json" ? ToJson(e) : LogLineOf(e)) << "\n" << std::flush;
  }
  s = reader->Finish();
  if (!s.ok() && !(s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && !follow)) {
    return Fail("logs", conn.Explain(s));
  }
  return 0;
}

int RunDownloadCommand(const std::vector<std::string>& args) {
  Connection conn;
  std::string format = "table", output;
  base::FlagSet flags("slimtrain download",
                      "Downloads a job's weights as a .safetensors file (PyTorch state_dict names): the final\n"
                      "weights of a succeeded job, the latest checkpoint's of a running one.",
                      "slimtrain download job-000001 --output fmnist.safetensors");
  flags.String("output", &output, "file to write (default: JOB.safetensors)");
  if (int rc = ParseFlags(flags, conn, args, "download", &format); rc >= 0) return rc;
  const std::string id = JobIdArg(flags);
  if (id.empty()) return NeedJob("download");
  if (output.empty()) output = id + ".safetensors";
  absl::StatusOr<std::unique_ptr<v1::TrainingService::Stub>> stub = conn.Connect();
  if (!stub.ok()) return Fail("download", stub.status());
  v1::DownloadWeightsRequest request;
  request.set_job_id(id);
  auto context = conn.Context(absl::Minutes(30));
  auto reader = (*stub)->DownloadWeights(context.get(), request);
  std::string file;
  v1::WeightsChunk chunk;
  int64_t total = -1, step = 0;
  while (reader->Read(&chunk)) {
    if (chunk.offset() != static_cast<int64_t>(file.size())) {
      return Fail("download", absl::DataLossError("the server sent the weights out of order"));
    }
    file += chunk.data();
    total = chunk.total_bytes();
    step = chunk.step();
  }
  const grpc::Status s = reader->Finish();
  if (!s.ok()) return Fail("download", conn.Explain(s));
  if (static_cast<int64_t>(file.size()) != total) {
    return Fail("download", absl::DataLossError(absl::StrFormat("received %d of %d bytes", file.size(), total)));
  }
  if (absl::Status w = base::WriteFileAtomically(output, file); !w.ok()) return Fail("download", w);
  if (format == "json") {
    std::cout << absl::StrFormat("{\n  \"job_id\": \"%s\",\n  \"file\": \"%s\",\n  \"bytes\": %d,\n  \"step\": %d\n}\n",
                                 id, output, file.size(), step);
  } else {
    std::cout << absl::StrFormat("wrote %s: %s, weights of step %d\n", output, base::FormatBytes(file.size()), step);
  }
  return 0;
}

}  // namespace slimtrain::client
