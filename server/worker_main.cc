// slimtrain_worker — runs one training job for the server, in a process of its
// own, so a job that crashes or runs out of memory fails alone.
//
//   slimtrain_worker --job-dir DIR --data-root ROOT [--threads N]
//
// Reads the JobSpec (binary protobuf, strategy resolved) from DIR/spec.pb,
// trains with checkpoints in DIR/checkpoint.safetensors (resuming from it when
// it exists), writes the final weights to DIR/weights.safetensors, and
// reports to the server on stdout as length-delimited v1::JobEvent messages:
// metrics, log lines, and last a state change to SUCCEEDED, FAILED (with the
// reason) or CANCELLED. SIGTERM stops it after a checkpoint (the server uses it
// to cancel and to shut down). The server sets a parent-death signal, so a
// worker never outlives it.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/checkpoint.h"
#include "engine/cpu/fast_backend.h"
#include "engine/trainer.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "planner/file_util.h"

namespace {

std::atomic<bool> g_stop{false};

void OnTerm(int) { g_stop = true; }

// Writes one event to stdout, length-delimited, and flushes.
void Emit(const slimtrain::v1::JobEvent& event) {
  static google::protobuf::io::FileOutputStream out(STDOUT_FILENO);
  google::protobuf::util::SerializeDelimitedToZeroCopyStream(event, &out);
  out.Flush();
}

void Finish(slimtrain::v1::Job::State state, const std::string& reason) {
  slimtrain::v1::JobEvent e;
  e.mutable_state_change()->set_from(slimtrain::v1::Job::RUNNING);
  e.mutable_state_change()->set_to(state);
  e.mutable_state_change()->set_reason(reason);
  Emit(e);
}

std::string Flag(int argc, char** argv, const std::string& name) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (name == argv[i]) return argv[i + 1];
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  namespace engine = slimtrain::engine;
  namespace v1 = slimtrain::v1;
  signal(SIGTERM, OnTerm);
  signal(SIGPIPE, SIG_IGN);
  const std::string dir = Flag(argc, argv, "--job-dir");
  if (dir.empty()) {
    std::fprintf(stderr, "usage: slimtrain_worker --job-dir DIR --data-root ROOT [--threads N]\n");
    return 2;
  }
  absl::StatusOr<std::string> bytes = slimtrain::planner::ReadFile(dir + "/spec.pb");
  v1::JobSpec spec;
  if (!bytes.ok() || !spec.ParseFromString(*bytes)) {
    Finish(v1::Job::FAILED, "the worker could not read the job's spec");
    return 1;
  }
  const std::string threads = Flag(argc, argv, "--threads");
  engine::FastBackend backend(threads.empty() ? 0 : std::atoi(threads.c_str()));
  engine::TrainerOptions options;
  options.data_root = Flag(argc, argv, "--data-root");
  options.checkpoint_path = dir + "/checkpoint.safetensors";
  options.resume = true;
  absl::StatusOr<std::unique_ptr<engine::Trainer>> trainer = engine::Trainer::Create(spec, &backend, options);
  if (!trainer.ok()) {
    Finish(v1::Job::FAILED, std::string(trainer.status().message()));
    return 1;
  }
  engine::TrainerCallbacks callbacks;
  callbacks.on_metrics = [](const v1::Metrics& m) {
    v1::JobEvent e;
    *e.mutable_metrics() = m;
    Emit(e);
  };
  callbacks.on_log = [](const std::string& line) {
    v1::JobEvent e;
    e.mutable_log()->set_level(v1::LogLine::INFO);
    e.mutable_log()->set_text(line);
    Emit(e);
  };
  callbacks.should_stop = [] { return g_stop.load(); };
  const absl::Status run = (*trainer)->Run(callbacks);
  if (run.code() == absl::StatusCode::kCancelled) {
    Finish(v1::Job::CANCELLED, absl::StrCat("stopped at step ", (*trainer)->step(), " after a checkpoint"));
    return 0;
  }
  if (!run.ok()) {
    Finish(v1::Job::FAILED, std::string(run.message()));
    return 1;
  }
  const absl::Status written = engine::WriteWeights(dir + "/weights.safetensors", (*trainer)->executor().params(),
                                                    (*trainer)->executor().steps_run());
  if (!written.ok()) {
    Finish(v1::Job::FAILED, std::string(written.message()));
    return 1;
  }
  Finish(v1::Job::SUCCEEDED, absl::StrCat("trained ", (*trainer)->step(), " steps"));
  return 0;
}
