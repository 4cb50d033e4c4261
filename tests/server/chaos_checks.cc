// See chaos_checks.h.
#include "tests/server/chaos_checks.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace slimtrain::test_util {
namespace {

using State = v1::Job::State;

bool Terminal(int s) { return s == v1::Job::SUCCEEDED || s == v1::Job::FAILED || s == v1::Job::CANCELLED; }

std::string Name(int s) { return v1::Job::State_IsValid(s) ? v1::Job::State_Name(static_cast<State>(s)) : "?"; }

bool Allowed(int from, int to) {
  if (from == v1::Job::PENDING) return to == v1::Job::RUNNING || to == v1::Job::CANCELLED || to == v1::Job::FAILED;
  if (from == v1::Job::RUNNING) return to == v1::Job::RUNNING || Terminal(to);
  return false;
}

// "event 7 (metrics of step 12, replayed)".
std::string Describe(const v1::JobEvent& e, int64_t sequence) {
  std::string what;
  if (e.has_state_change()) {
    what = absl::StrCat("state change ", Name(e.state_change().from()), " -> ", Name(e.state_change().to()));
  } else if (e.has_metrics()) {
    what = absl::StrCat(e.metrics().has_eval() ? "evaluation at step " : "metrics of step ", e.metrics().step());
  } else if (e.has_log()) {
    what = absl::StrCat("log '", e.log().text().substr(0, 80), "'");
  } else {
    what = "empty event";
  }
  return absl::StrCat("event ", sequence, " (", what, e.replayed() ? ", replayed" : "", ")");
}

// X and Y of the server's warning that steps X..Y were trained but their
// metrics were lost with a killed server.
std::optional<std::pair<int64_t, int64_t>> LostStepsWarning(const v1::JobEvent& e) {
  if (!e.has_log() || e.log().level() != v1::LogLine::WARNING) return std::nullopt;
  long long x = 0, y = 0;
  int end = 0;
  if (std::sscanf(e.log().text().c_str(), "steps %lld to %lld were trained before the server stopped%n", &x, &y,
                  &end) != 2 ||
      end == 0) {
    return std::nullopt;
  }
  return std::make_pair(int64_t{x}, int64_t{y});
}

// A prepared statement that finalizes itself.
class Query {
 public:
  Query(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Query() { sqlite3_finalize(stmt_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p == nullptr ? "" : std::string(p, sqlite3_column_bytes(stmt_, col));
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

}  // namespace

absl::StatusOr<StoredJobs> ReadJobDatabase(const std::string& path) {
  // Closed by sqlite3_close_v2, which frees the connection once the Query
  // objects still open here are finalized on return (sqlite3_close refuses
  // to close it then, and the connection leaked: LeakSanitizer, 2 MB).
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    const std::string why = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return absl::InternalError(absl::StrCat(path, ": ", why));
  }
  auto error = [&](const std::string& what) {
    absl::Status s = absl::InternalError(absl::StrCat(path, ": ", what, ": ", sqlite3_errmsg(db)));
    return s;
  };
  StoredJobs out;
  std::map<std::string, size_t> index;
  {
    Query jobs(db, "SELECT id, owner, request_id, state, job FROM jobs ORDER BY seq");
    if (!jobs.ok()) {
      absl::Status s = error("reading the jobs table");
      sqlite3_close_v2(db);
      return s;
    }
    int rc;
    while ((rc = jobs.Step()) == SQLITE_ROW) {
      StoredJob j;
      j.id = jobs.Text(0);
      j.owner = jobs.Text(1);
      j.request_id = jobs.Text(2);
      j.state = jobs.Int(3);
      if (!j.job.ParseFromString(jobs.Text(4))) {
        sqlite3_close_v2(db);
        return absl::DataLossError(absl::StrCat(path, ": the blob of job row '", j.id, "' is not a v1::Job"));
      }
      index[j.id] = out.jobs.size();
      out.jobs.push_back(std::move(j));
    }
    if (rc != SQLITE_DONE) {
      absl::Status s = error("reading the jobs table");
      sqlite3_close_v2(db);
      return s;
    }
  }
  Query events(db, "SELECT job_id, sequence, event FROM events ORDER BY job_id, sequence");
  if (!events.ok()) {
    absl::Status s = error("reading the events table");
    sqlite3_close_v2(db);
    return s;
  }
  int rc;
  while ((rc = events.Step()) == SQLITE_ROW) {
    const std::string id = events.Text(0);
    const int64_t sequence = events.Int(1);
    auto it = index.find(id);
    if (it == index.end()) {
      ++out.orphan_events[id];
      continue;
    }
    v1::JobEvent e;
    if (!e.ParseFromString(events.Text(2))) {
      sqlite3_close_v2(db);
      return absl::DataLossError(
          absl::StrFormat("%s: the blob of event row (%s, %d) is not a v1::JobEvent", path, id, sequence));
    }
    out.jobs[it->second].events.push_back(std::move(e));
    out.jobs[it->second].sequences.push_back(sequence);
  }
  if (rc != SQLITE_DONE) {
    absl::Status s = error("reading the events table");
    sqlite3_close_v2(db);
    return s;
  }
  sqlite3_close_v2(db);
  return out;
}

std::vector<std::string> CheckJobHistory(const StoredJob& stored, int64_t default_checkpoint_interval) {
  std::vector<std::string> problems;
  auto fail = [&](std::string what) { problems.push_back(std::move(what)); };
  const v1::Job& job = stored.job;
  // 1. The row and its blob.
  if (job.id() != stored.id) fail(absl::StrCat("the row's id is ", stored.id, " but its blob's is ", job.id()));
  if (job.owner() != stored.owner) {
    fail(absl::StrCat("the row's owner is ", stored.owner, " but its blob's is ", job.owner()));
  }
  if (job.client_request_id() != stored.request_id) {
    fail(absl::StrCat("the row's request id is '", stored.request_id, "' but its blob's is '", job.client_request_id(),
                      "'"));
  }
  if (job.state() != stored.state) {
    fail(absl::StrCat("the row's state column is ", Name(stored.state), " but its blob says ", Name(job.state())));
  }
  if (stored.events.empty()) {
    fail(absl::StrCat("has no events (a job starts with its PENDING state change); state ", Name(job.state())));
    return problems;
  }
  const int64_t interval =
      job.spec().checkpoint_interval_steps() > 0 ? job.spec().checkpoint_interval_steps() : default_checkpoint_interval;
  const int64_t total = job.progress().total_steps();

  int state = v1::Job::STATE_UNSPECIFIED;
  int64_t terminal_at = 0;               // sequence of the terminal state change
  int after_terminal = 0;                // events stored after it
  int64_t last_step = 0;                 // highest training step stored unreplayed, or announced lost
  std::map<int64_t, int64_t> stored_at;  // training step -> the event that stored it unreplayed
  bool resumed = false;                  // the current run is a resume
  int64_t run_step = 0;                  // the current run's last training step; 0 before its first
  int64_t run_started = 0;               // sequence of the current run's RUNNING state change
  // The current run's lost-steps warning: steps lost_from..lost_to; lost_to 0 for none.
  int64_t lost_from = 0, lost_to = 0;
  bool numbering_reported = false;
  for (size_t i = 0; i < stored.events.size(); ++i) {
    const v1::JobEvent& e = stored.events[i];
    const int64_t seq = static_cast<int64_t>(i) + 1;
    // 2. Numbering.
    if (!numbering_reported && (stored.sequences[i] != seq || e.sequence() != stored.sequences[i])) {
      numbering_reported = true;
      fail(stored.sequences[i] != seq
               ? absl::StrFormat("its events are not numbered 1..%d: the %d-th is numbered %d (a gap or a lost event)",
                                 stored.events.size(), seq, stored.sequences[i])
               : absl::StrFormat("event row %d holds an event numbered %d", stored.sequences[i], e.sequence()));
    }
    if (e.job_id() != stored.id) fail(absl::StrCat(Describe(e, seq), " belongs to job '", e.job_id(), "'"));
    // 3. Nothing after the terminal state change.
    if (terminal_at > 0) {
      if (++after_terminal == 1) {
        fail(absl::StrFormat("%s comes after the terminal state change (event %d, to %s)", Describe(e, seq),
                             terminal_at, Name(state)));
      }
      continue;
    }
    if (i == 0 && !(e.has_state_change() && e.state_change().from() == v1::Job::STATE_UNSPECIFIED &&
                    e.state_change().to() == v1::Job::PENDING)) {
      fail(absl::StrCat("its first event is ", Describe(e, seq), ", not the state change to PENDING"));
      if (e.has_state_change()) state = e.state_change().from();  // judge the rest from where it claims to start
    }
    if (e.has_state_change()) {
      const int from = e.state_change().from(), to = e.state_change().to();
      if (i > 0 && from != state) {
        fail(absl::StrFormat("%s starts from %s, but the job was %s", Describe(e, seq), Name(from), Name(state)));
      } else if (i > 0 && !Allowed(from, to)) {
        fail(absl::StrCat(Describe(e, seq), " is not a transition of the job state machine"));
      }
      if (to == v1::Job::SUCCEEDED && run_step == 0 && lost_to > 0) {
        // A resumed run with no step left: the warning announced the last steps.
        if (lost_from != last_step + 1) {
          fail(
              absl::StrFormat("the run resumed at event %d announces steps %d to %d lost, but the last step "
                              "stored was %d",
                              run_started, lost_from, lost_to, last_step));
        }
        last_step = std::max(last_step, lost_to);
      }
      if (to == v1::Job::RUNNING) {
        resumed = from == v1::Job::RUNNING;
        run_step = 0;
        run_started = seq;
        lost_from = lost_to = 0;
      }
      state = to;
      if (Terminal(to)) terminal_at = seq;
      continue;
    }
    if (const auto lost = LostStepsWarning(e)) {
      if (state != v1::Job::RUNNING || !resumed || run_step != 0) {
        fail(absl::StrCat(Describe(e, seq), " is a lost-steps warning, but not at the start of a resumed run"));
      } else {
        lost_from = lost->first;
        lost_to = lost->second;
      }
      continue;
    }
    if (!e.has_metrics()) continue;
    // 4. Steps.
    const v1::Metrics& m = e.metrics();
    if (state != v1::Job::RUNNING) {
      fail(absl::StrCat(Describe(e, seq), " while the job is ", Name(state)));
      continue;
    }
    if (m.has_eval()) {
      if (m.step() != run_step) {
        fail(absl::StrFormat("%s, but the run's last training step is %d", Describe(e, seq), run_step));
      }
      continue;
    }
    const int64_t step = m.step();
    if (run_step == 0) {
      const int64_t checkpoint = step - 1;  // the run resumed from it
      if (!resumed) {
        if (step != 1) {
          fail(
              absl::StrFormat("%s starts the job's first run (event %d), which must start at step 1: it "
                              "trained from a checkpoint no run of it wrote",
                              Describe(e, seq), run_started));
        }
      } else if (checkpoint % interval != 0) {
        fail(
            absl::StrFormat("%s starts the run resumed at event %d, but a killed worker leaves checkpoints only "
                            "every %d steps, not at step %d",
                            Describe(e, seq), run_started, interval, checkpoint));
      }
      if (resumed && lost_to > 0) {
        if (lost_from != last_step + 1 || lost_to != checkpoint) {
          fail(
              absl::StrFormat("the run resumed at event %d announces steps %d to %d lost, but the steps missing "
                              "before its first, %d, are %d to %d",
                              run_started, lost_from, lost_to, step, last_step + 1, checkpoint));
        }
        last_step = std::max(last_step, lost_to);
      } else if (resumed && checkpoint > last_step) {
        fail(
            absl::StrFormat("%s starts the run resumed at event %d from the checkpoint of step %d, but the last "
                            "step stored was %d: steps %d to %d are missing and no warning says so",
                            Describe(e, seq), run_started, checkpoint, last_step, last_step + 1, checkpoint));
        last_step = checkpoint;
      }
    } else if (step != run_step + 1) {
      fail(absl::StrFormat("%s follows step %d in the same run", Describe(e, seq), run_step));
    }
    run_step = step;
    if (e.replayed()) {
      if (step > last_step) {
        fail(
            absl::StrFormat("%s is marked replayed, but no earlier event stored step %d (the last stored was %d): "
                            "its metrics exist only as a replay",
                            Describe(e, seq), step, last_step));
        last_step = step;
      }
    } else if (step <= last_step) {
      auto first = stored_at.find(step);
      fail(first != stored_at.end()
               ? absl::StrFormat("%s repeats step %d, already stored as event %d, without being marked replayed",
                                 Describe(e, seq), step, first->second)
               : absl::StrFormat("%s is a step announced lost, or already passed (last stored %d), and is not "
                                 "marked replayed",
                                 Describe(e, seq), last_step));
    } else {
      last_step = step;
      stored_at[step] = seq;
    }
  }
  // 3. The end.
  if (terminal_at == 0) {
    fail(absl::StrFormat("never finished: its last state change leaves it %s (stuck)", Name(state)));
  }
  if (job.state() != state) {
    fail(absl::StrFormat("the job is %s, but its last state change is to %s", Name(job.state()), Name(state)));
  }
  if (after_terminal > 1) {
    fail(absl::StrFormat("%d events in all come after its terminal state change", after_terminal));
  }
  // 5. A succeeded job trained every step.
  if (job.state() == v1::Job::SUCCEEDED && state == v1::Job::SUCCEEDED) {
    if (last_step != total) {
      std::string why = absl::StrFormat(
          "SUCCEEDED, but steps %d to %d of its %d are neither stored unreplayed nor "
          "announced lost",
          last_step + 1, total, total);
      if (resumed && run_step == 0) {
        absl::StrAppendFormat(&why,
                              "; its last run (resumed at event %d) trained no step: its worker had trained them "
                              "all and checkpointed, but their metrics were lost with the killed server",
                              run_started);
      }
      fail(why);
    }
    if (job.progress().step() != total) {
      fail(absl::StrFormat("SUCCEEDED with progress.step %d of %d", job.progress().step(), total));
    }
  }
  return problems;
}

}  // namespace slimtrain::test_util
