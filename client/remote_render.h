// remote_render.h — jobs and their events as the remote commands print them.
//
//   std::cout << JobTable(jobs);          // slimtrain list
//   std::cout << JobDetails(job);         // slimtrain status
//   ProgressPrinter p(job, isatty(2), std::cerr);
//   p.Show(event);                        // slimtrain watch: a live bar
#ifndef SLIMTRAIN_CLIENT_REMOTE_RENDER_H_
#define SLIMTRAIN_CLIENT_REMOTE_RENDER_H_

#include <ostream>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "proto/job.pb.h"

namespace slimtrain::client {

// Proto3 JSON with the proto field names, pretty-printed.
std::string ToJson(const google::protobuf::Message& m);

// One row per job: id, state, model, strategy, progress, accuracy, created.
std::string JobTable(const std::vector<v1::Job>& jobs);

// Everything `status` shows.
std::string JobDetails(const v1::Job& job);

// The line `watch` ends with: "job-000001 SUCCEEDED after 468 steps: test
// accuracy 91.20%, ...".
std::string JobSummary(const v1::Job& job);

// A state change or log line, timestamped: "12:01:33 RUNNING: started on cpu".
std::string LogLineOf(const v1::JobEvent& e);

// The live progress bar of `watch`: rewritten in place on a terminal, a line
// per tenth of the run otherwise; log lines and state changes above it.
class ProgressPrinter {
 public:
  ProgressPrinter(const v1::Job& job, bool tty, std::ostream& out);
  void Show(const v1::JobEvent& e);
  // A message above the bar (a lost connection, ...).
  void Note(const std::string& line);
  void Done();

 private:
  void Clear();
  v1::Job job_;
  bool tty_;
  std::ostream& out_;
  bool bar_shown_ = false;
  int64_t last_step_printed_ = 0;
};

}  // namespace slimtrain::client

#endif  // SLIMTRAIN_CLIENT_REMOTE_RENDER_H_
