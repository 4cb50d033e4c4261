// CheckJobHistory on hand-written histories: clean ones (a plain run, a
// resume with replayed steps, a resume after lost metrics the server
// announced) pass; each broken invariant is named. The chaos test relies on
// these checks failing when a killed server leaves such a history.
#include "tests/server/chaos_checks.h"

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace slimtrain::test_util {
namespace {

// A job's stored history from words: PENDING, RUNNING, SUCCEEDED, FAILED,
// CANCELLED (a state change from the previous state; "RUNNING<PENDING" one
// that says it comes from PENDING), "7" (metrics of step
// 7), "7r" (replayed), "e7" (evaluation at step 7), "lost:3-5" (the
// server's warning that steps 3 to 5 were lost). The row's state is the last
// state change's unless `row_state` is given; progress.step is the last step
// (total_steps once SUCCEEDED).
StoredJob History(const std::string& words, int64_t total_steps, int64_t interval,
                  v1::Job::State row_state = v1::Job::STATE_UNSPECIFIED) {
  StoredJob s;
  s.id = "job-000001";
  s.owner = "alice";
  s.job.set_id(s.id);
  s.job.set_owner(s.owner);
  s.job.mutable_spec()->set_checkpoint_interval_steps(interval);
  s.job.mutable_progress()->set_total_steps(total_steps);
  v1::Job::State state = v1::Job::STATE_UNSPECIFIED;
  const std::vector<std::string> list = absl::StrSplit(words, ' ', absl::SkipEmpty());
  for (const std::string& w : list) {
    v1::JobEvent e;
    e.set_job_id(s.id);
    v1::Job::State to, from = state;
    int64_t step = 0;
    const std::vector<std::string> to_from = absl::StrSplit(w, '<');
    if (v1::Job::State_Parse(to_from[0], &to) && (to_from.size() == 1 || v1::Job::State_Parse(to_from[1], &from))) {
      e.mutable_state_change()->set_from(from);
      e.mutable_state_change()->set_to(to);
      state = to;
    } else if (w.rfind("lost:", 0) == 0) {
      e.mutable_log()->set_level(v1::LogLine::WARNING);
      const std::vector<std::string> range = absl::StrSplit(w.substr(5), '-');
      e.mutable_log()->set_text("steps " + range[0] + " to " + range[1] +
                                " were trained before the server stopped, but their metrics were lost with it");
    } else if (w[0] == 'e' && absl::SimpleAtoi(w.substr(1), &step)) {
      e.mutable_metrics()->set_step(step);
      e.mutable_metrics()->set_has_eval(true);
    } else {
      const bool replayed = w.back() == 'r';
      EXPECT_TRUE(absl::SimpleAtoi(replayed ? w.substr(0, w.size() - 1) : w, &step)) << w;
      e.mutable_metrics()->set_step(step);
      e.set_replayed(replayed);
      s.job.mutable_progress()->set_step(step);
    }
    e.set_sequence(static_cast<int64_t>(s.events.size()) + 1);
    s.sequences.push_back(e.sequence());
    s.events.push_back(e);
  }
  s.job.set_state(row_state != v1::Job::STATE_UNSPECIFIED ? row_state : state);
  if (s.job.state() == v1::Job::SUCCEEDED) s.job.mutable_progress()->set_step(total_steps);  // as the server does
  s.state = s.job.state();
  return s;
}

struct Case {
  const char* name;
  const char* words;
  int64_t total_steps;
  int64_t interval;
  const char* problem;  // a substring of the one expected problem; "" for none
  v1::Job::State row_state = v1::Job::STATE_UNSPECIFIED;
};

const Case kCases[] = {
    {"plain run", "PENDING RUNNING 1 2 3 4 e4 SUCCEEDED", 4, 2, ""},
    {"cancelled while pending", "PENDING CANCELLED", 4, 2, ""},
    {"resume replays from the checkpoint", "PENDING RUNNING 1 2 3 RUNNING 3r 4 SUCCEEDED", 4, 2, ""},
    {"resume after announced lost steps", "PENDING RUNNING 1 RUNNING lost:2-2 3 4 SUCCEEDED", 4, 2, ""},
    {"resume from the final checkpoint", "PENDING RUNNING 1 2 RUNNING SUCCEEDED", 2, 2, ""},
    {"resume with no step left, lost ones announced", "PENDING RUNNING 1 2 RUNNING lost:3-4 SUCCEEDED", 4, 2, ""},
    {"metrics after CANCELLED", "PENDING RUNNING 1 2 CANCELLED 3", 4, 2, "comes after the terminal state change"},
    {"no PENDING event", "RUNNING 1 2 SUCCEEDED", 2, 2, "not the state change to PENDING"},
    {"unannounced gap at a resume", "PENDING RUNNING 1 RUNNING 3 4 SUCCEEDED", 4, 2, "no warning says so"},
    {"warning of the wrong steps", "PENDING RUNNING 1 RUNNING lost:3-4 5 6 SUCCEEDED", 6, 4, "announces steps 3 to 4"},
    {"step repeated unreplayed", "PENDING RUNNING 1 2 3 RUNNING 3 4 SUCCEEDED", 4, 2, "without being marked replayed"},
    {"step stored only replayed", "PENDING RUNNING 1 2 RUNNING 3r 4 SUCCEEDED", 4, 2, "only as a replay"},
    {"resume between checkpoints", "PENDING RUNNING 1 2 3 RUNNING 3r 4 SUCCEEDED", 4, 5, "not at step 2"},
    {"first run not at step 1", "PENDING RUNNING 11 12 SUCCEEDED", 12, 10, "must start at step 1"},
    {"gap inside a run", "PENDING RUNNING 1 3 SUCCEEDED", 3, 2, "follows step 1"},
    {"evaluation of another step", "PENDING RUNNING 1 e2 2 SUCCEEDED", 2, 2, "the run's last training step is 1"},
    {"stuck running", "PENDING RUNNING 1", 4, 2, "never finished"},
    {"not a transition", "PENDING SUCCEEDED", 4, 2, "not a transition of the job state machine"},
    {"from the wrong state", "PENDING RUNNING 1 RUNNING<PENDING 1 2 SUCCEEDED", 2, 2,
     "starts from PENDING, but the job was RUNNING"},
    {"succeeded short", "PENDING RUNNING 1 2 SUCCEEDED", 3, 2, "steps 3 to 3 of its 3 are neither"},
    {"succeeded after a resume with no step left", "PENDING RUNNING 1 2 RUNNING SUCCEEDED", 4, 2,
     "its last run (resumed at event 5) trained no step"},
    {"row disagrees with its last state change", "PENDING CANCELLED", 4, 2, "the job is PENDING", v1::Job::PENDING},
};

TEST(CheckJobHistoryTest, NamesEachBrokenInvariant) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const std::vector<std::string> problems =
        CheckJobHistory(History(c.words, c.total_steps, c.interval, c.row_state), 50);
    if (std::string(c.problem).empty()) {
      EXPECT_TRUE(problems.empty()) << absl::StrJoin(problems, "\n");
      continue;
    }
    bool named = false;
    for (const std::string& p : problems) named = named || p.find(c.problem) != std::string::npos;
    EXPECT_TRUE(named) << "expected a problem with '" << c.problem << "', got:\n" << absl::StrJoin(problems, "\n");
  }
}

TEST(CheckJobHistoryTest, NumberingGapsAndRowMismatches) {
  StoredJob s = History("PENDING RUNNING 1 2 SUCCEEDED", 2, 2);
  s.sequences[2] = 4;  // the rows are 1, 2, 4, ...
  s.events[2].set_sequence(4);
  std::vector<std::string> problems = CheckJobHistory(s, 50);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("not numbered 1..5: the 3-th is numbered 4"), std::string::npos) << problems[0];

  s = History("PENDING RUNNING 1 2 SUCCEEDED", 2, 2);
  s.request_id = "req-1";  // the blob says ""
  s.state = v1::Job::RUNNING;
  problems = CheckJobHistory(s, 50);
  EXPECT_EQ(problems.size(), 2u) << absl::StrJoin(problems, "\n");

  s.events.clear();
  s.sequences.clear();
  problems = CheckJobHistory(s, 50);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.back().find("has no events"), std::string::npos);
}

TEST(CheckJobHistoryTest, SpecWithoutIntervalUsesTheServersDefault) {
  // Resumed at step 51: fine with the server's 50, not with 40.
  const std::string words = "PENDING RUNNING " + [] {
    std::string steps;
    for (int i = 1; i <= 60; ++i) steps += std::to_string(i) + " ";
    return steps;
  }() + "RUNNING 51r 52r 53r 54r 55r 56r 57r 58r 59r 60r 61 SUCCEEDED";
  StoredJob s = History(words, 61, 0);
  EXPECT_TRUE(CheckJobHistory(s, 50).empty());
  EXPECT_FALSE(CheckJobHistory(s, 40).empty());
}

}  // namespace
}  // namespace slimtrain::test_util
