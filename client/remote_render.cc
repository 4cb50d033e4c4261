// See remote_render.h.
#include "client/remote_render.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "base/units.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace slimtrain::client {
namespace {

std::string Time(const google::protobuf::Timestamp& t, const char* format = "%Y-%m-%d %H:%M:%S") {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime(format, absl::FromUnixSeconds(t.seconds()), absl::LocalTimeZone());
}

std::string Eta(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

// Training's own measured memory: the peak less what the process held
// before training allocated anything (Metrics.other_bytes).
int64_t TrainingBytes(const v1::Metrics& m) {
  return std::max<int64_t>(0, m.measured_peak_bytes() - m.other_bytes());
}

// The progress line's: "mem 31.0 MiB / plan 31.1 MiB (+83.2 MiB code, data)".
std::string MemoryText(const v1::Metrics& m) {
  std::string text = absl::StrFormat("mem %s / plan %s", base::FormatBytes(TrainingBytes(m)),
                                     base::FormatBytes(m.planned_peak_bytes()));
  if (m.other_bytes() > 0) absl::StrAppend(&text, " (+", base::FormatBytes(m.other_bytes()), " code, data)");
  return text;
}

// status's measured memory (metrics without other_bytes: the peak alone).
std::string MeasuredText(const v1::Metrics& m) {
  if (m.other_bytes() <= 0) return absl::StrCat("measured peak resident ", base::FormatBytes(m.measured_peak_bytes()));
  return absl::StrFormat("measured %s for training, %s more before it (code, libraries, data; peak %s)",
                         base::FormatBytes(TrainingBytes(m)), base::FormatBytes(m.other_bytes()),
                         base::FormatBytes(m.measured_peak_bytes()));
}

}  // namespace

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.add_whitespace = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string JobTable(const std::vector<v1::Job>& jobs) {
  if (jobs.empty()) return "no jobs\n";
  std::string out = absl::StrFormat("%-12s %-10s %-16s %-18s %13s %9s  %s\n", "id", "state", "model", "strategy",
                                    "step", "test acc", "created");
  for (const v1::Job& j : jobs) {
    const std::string acc = j.latest_metrics().has_eval()
                                ? absl::StrFormat("%.2f%%", 100 * j.latest_metrics().eval_accuracy())
                                : "-";
    out += absl::StrFormat("%-12s %-10s %-16s %-18s %13s %9s  %s\n", j.id(), v1::Job::State_Name(j.state()),
                           j.plan().model(), j.plan().strategy(),
                           absl::StrCat(j.progress().step(), "/", j.progress().total_steps()), acc,
                           Time(j.create_time()));
  }
  return out;
}

std::string JobDetails(const v1::Job& j) {
  const v1::Metrics& m = j.latest_metrics();
  std::string out = absl::StrFormat("%s  %s\n", j.id(), v1::Job::State_Name(j.state()));
  absl::StrAppendFormat(&out, "  owner        %s\n  model        %s, %s, batch %d, on %s\n", j.owner(), j.plan().model(),
                        j.plan().strategy(), j.plan().batch_size(), j.device().empty() ? "-" : j.device());
  if (j.ranks() > 1) {
    absl::StrAppendFormat(&out, "  processes    %d (data-parallel, batch %d per process)%s%s\n", j.ranks(),
                          j.plan().batch_size(), j.hosts().empty() ? "" : " on ", absl::StrJoin(j.hosts(), ", "));
  }
  absl::StrAppendFormat(&out, "  progress     step %d of %d, epoch %d of %d\n", j.progress().step(),
                        j.progress().total_steps(), j.progress().epoch() + (j.progress().step() > 0 ? 1 : 0),
                        j.progress().total_epochs());
  if (m.step() > 0) {
    absl::StrAppendFormat(&out, "  last step    loss %.4f, accuracy %.2f%%, %.0f images/s, lr %.4g\n", m.loss(),
                          100 * m.accuracy(), m.images_per_second(), m.learning_rate());
  }
  if (m.has_eval()) {
    absl::StrAppendFormat(&out, "  test set     loss %.4f, accuracy %.2f%%\n", m.eval_loss(), 100 * m.eval_accuracy());
  }
  absl::StrAppendFormat(&out, "  memory       planned peak %s (arena %s)%s\n", base::FormatBytes(j.plan().peak_bytes()),
                        base::FormatBytes(j.plan().arena_bytes()),
                        m.measured_peak_bytes() > 0 ? absl::StrCat(", ", MeasuredText(m)) : "");
  absl::StrAppendFormat(&out, "  created      %s\n  started      %s\n  ended        %s\n", Time(j.create_time()),
                        Time(j.start_time()), Time(j.end_time()));
  if (j.restarts() > 0) absl::StrAppendFormat(&out, "  restarts     %d (resumed from checkpoints)\n", j.restarts());
  if (!j.failure_reason().empty()) absl::StrAppendFormat(&out, "  failure      %s\n", j.failure_reason());
  return out;
}

std::string JobSummary(const v1::Job& j) {
  std::string out = absl::StrFormat("%s %s after %d steps", j.id(), v1::Job::State_Name(j.state()), j.progress().step());
  if (j.latest_metrics().has_eval()) {
    absl::StrAppendFormat(&out, ": test accuracy %.2f%%, test loss %.4f", 100 * j.latest_metrics().eval_accuracy(),
                          j.latest_metrics().eval_loss());
  }
  if (!j.failure_reason().empty()) absl::StrAppend(&out, ": ", j.failure_reason());
  return out + "\n";
}

std::string LogLineOf(const v1::JobEvent& e) {
  const std::string when = Time(e.time(), "%H:%M:%S");
  if (e.has_state_change()) {
    return absl::StrFormat("%s %s: %s", when, v1::Job::State_Name(e.state_change().to()), e.state_change().reason());
  }
  if (e.has_log()) return absl::StrFormat("%s %s", when, e.log().text());
  return when;
}

ProgressPrinter::ProgressPrinter(const v1::Job& job, bool tty, std::ostream& out)
    : job_(job), tty_(tty), out_(out) {}

void ProgressPrinter::Clear() {
  if (tty_ && bar_shown_) out_ << "\r\033[K";
  bar_shown_ = false;
}

void ProgressPrinter::Note(const std::string& line) {
  Clear();
  out_ << line << "\n" << std::flush;
}

void ProgressPrinter::Show(const v1::JobEvent& e) {
  if (!e.has_metrics()) {
    Note(LogLineOf(e));
    return;
  }
  const v1::Metrics& m = e.metrics();
  if (m.has_eval()) return;  // the job's log line says it
  const int64_t total = std::max<int64_t>(1, job_.progress().total_steps());
  const int width = 20, filled = static_cast<int>(std::min<int64_t>(width, width * m.step() / total));
  const double eta = m.images_per_second() > 0
                         ? (total - m.step()) * static_cast<double>(job_.plan().batch_size()) / m.images_per_second()
                         : 0;
  const std::string line = absl::StrFormat(
      "step %d/%d [%s%s] %3d%% | epoch %d/%d | loss %.4f | acc %5.1f%% | %.0f img/s | %s | ETA %s%s", m.step(),
      total, std::string(filled, '#'), std::string(width - filled, '-'), static_cast<int>(100 * m.step() / total),
      m.epoch() + 1, std::max<int64_t>(1, job_.progress().total_epochs()), m.loss(), 100 * m.accuracy(),
      m.images_per_second(), MemoryText(m), Eta(eta), e.replayed() ? " (replayed)" : "");
  if (tty_) {
    out_ << "\r\033[K" << line << std::flush;
    bar_shown_ = true;
  } else if (m.step() - last_step_printed_ >= std::max<int64_t>(1, total / 10) || m.step() == total) {
    out_ << line << "\n" << std::flush;
    last_step_printed_ = m.step();
  }
}

void ProgressPrinter::Done() {
  if (tty_ && bar_shown_) out_ << "\n";
  bar_shown_ = false;
}

}  // namespace slimtrain::client
