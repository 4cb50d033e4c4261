// chaos_checks.h — the chaos test's own reading of a server's database, and
// the invariants one job's stored history must keep however often the server
// was killed.
//
//   absl::StatusOr<StoredJobs> db = ReadJobDatabase(dir + "/slimtrain.db");
//   for (const StoredJob& job : db->jobs) {
//     for (const std::string& problem : CheckJobHistory(job, 50)) ADD_FAILURE() << problem;
//   }
//
// ReadJobDatabase reads the SQLite file with the sqlite3 C API (not through
// server/job_store.h, so a bug there cannot hide itself) and parses the
// blobs as v1::Job and v1::JobEvent.
#ifndef SLIMTRAIN_TESTS_SERVER_CHAOS_CHECKS_H_
#define SLIMTRAIN_TESTS_SERVER_CHAOS_CHECKS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/job.pb.h"

namespace slimtrain::test_util {

// One row of the jobs table and its rows of the events table.
struct StoredJob {
  // The row's columns.
  std::string id, owner, request_id;
  int64_t state = 0;
  // The row's blob.
  v1::Job job;
  // Its events in sequence order, and each row's sequence column.
  std::vector<v1::JobEvent> events;
  std::vector<int64_t> sequences;
};

struct StoredJobs {
  std::vector<StoredJob> jobs;  // in row order (seq)
  // Event rows whose job_id names no job row: job id -> how many.
  std::map<std::string, int> orphan_events;
};

// Every job and event of the database at `path`, opened read-only.
// INTERNAL naming the path for a file SQLite cannot read; DATA_LOSS naming
// the row for a blob that does not parse.
absl::StatusOr<StoredJobs> ReadJobDatabase(const std::string& path);

// What is wrong with one job's stored history, one sentence each; empty when
// nothing. `default_checkpoint_interval` is the server's
// --checkpoint_interval, for a spec that leaves it 0. The invariants:
//   1. the row agrees with its blob (id, owner, request id, state);
//   2. events are numbered 1..n without gaps or repeats, and event 1 is the
//      state change to PENDING;
//   3. state changes follow the job state machine (PENDING -> RUNNING |
//      CANCELLED | FAILED; RUNNING -> RUNNING (a resume) | SUCCEEDED |
//      FAILED | CANCELLED), each from the state the previous one left; the
//      terminal one is the last event, and the row's state is its `to`;
//   4. training metrics: within one run (from a RUNNING state change to the
//      next state change) steps follow one another; the first run starts at
//      step 1; a resumed run starts right after a checkpoint (a multiple of
//      the interval) no later than the last step stored, unless the
//      server's warning "steps X to Y were trained before the server
//      stopped, but their metrics were lost" announces exactly the missing
//      steps (for a resumed run that trains no step and succeeds: the steps
//      after the last one stored); a step is marked replayed exactly when an
//      earlier event stored it; evaluations follow their step;
//   5. a SUCCEEDED job's steps, stored or announced lost, are 1..total_steps,
//      and progress.step is total_steps.
std::vector<std::string> CheckJobHistory(const StoredJob& stored, int64_t default_checkpoint_interval);

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_SERVER_CHAOS_CHECKS_H_
