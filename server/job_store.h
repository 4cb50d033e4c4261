// job_store.h — the server's durable state: jobs and their events in SQLite.
//
// One SQLite file (WAL journal) in the data directory. Every job is a row
// holding its whole v1::Job (spec, state, progress, metrics, plan) serialized;
// every event (state change, metrics, log line) is a row keyed by (job,
// sequence). The schema carries a version (meta.schema_version): a database of
// another version is refused, not misread.
//
//   SLIM_ASSIGN_OR_RETURN(auto store, JobStore::Open(dir + "/slimtrain.db"));
//   bool existed = false;
//   SLIM_ASSIGN_OR_RETURN(v1::Job job, store->Create("alice", job, queued_event, "req-1", &existed));
//   SLIM_ASSIGN_OR_RETURN(int64_t seq, store->AppendEvent(event));
//
// Thread-safe: one connection behind a mutex. Every write is one transaction,
// so a crash leaves each job and event either written whole or not at all.
#ifndef SLIMTRAIN_SERVER_JOB_STORE_H_
#define SLIMTRAIN_SERVER_JOB_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proto/job.pb.h"

struct sqlite3;

namespace slimtrain::server {

inline constexpr int kSchemaVersion = 1;

class JobStore {
 public:
  // Opens or creates the database at `path`. FAILED_PRECONDITION for a
  // database of another schema version; INTERNAL naming the path otherwise.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path);
  ~JobStore();

  // A new PENDING job of `owner` from `job` (its spec, plan, progress and
  // device; the id ("job-000001", ...), owner, state, request id and create
  // time are set here), its event 1, `first`, and the admitted plan (a
  // serialized MemoryPlan with buffers and steps; empty: none) in one
  // transaction. With a non-empty `request_id` that `owner` used before: the
  // existing job when the spec is the same (*existed = true), ALREADY_EXISTS
  // when it differs.
  absl::StatusOr<v1::Job> Create(const std::string& owner, v1::Job job, v1::JobEvent first,
                                 const std::string& request_id, bool* existed, const std::string& admitted_plan = "");

  // The plan the job was admitted with (serialized, buffers and steps), or
  // NOT_FOUND (a job admitted by an older server).
  absl::StatusOr<std::string> AdmittedPlan(const std::string& id);
  // Replaces it (tests: a plan the planner would not make).
  absl::Status SetAdmittedPlan(const std::string& id, const std::string& admitted_plan);

  // The job `owner` submitted with `request_id`, or NOT_FOUND.
  absl::StatusOr<v1::Job> FindByRequest(const std::string& owner, const std::string& request_id);

  // Writes `job` (which must exist) over its row.
  absl::Status Update(const v1::Job& job);
  // Writes `job` over its row and appends `event` (for it) with the next
  // sequence number, in one transaction: a crash keeps both or neither.
  absl::StatusOr<int64_t> UpdateWithEvent(const v1::Job& job, v1::JobEvent event);

  // NOT_FOUND "job 'x' not found".
  absl::StatusOr<v1::Job> Get(const std::string& id);

  // Newest first. `owner` empty: every owner's. `states` empty: any state.
  // Starts after the job `after_id` (a page token) when given.
  absl::StatusOr<std::vector<v1::Job>> List(const std::string& owner, const std::set<int>& states,
                                            const std::string& after_id, int limit);

  // How many jobs are in each state (states without jobs are absent).
  absl::StatusOr<std::map<int, int64_t>> CountByState();

  // Appends an event with the job's next sequence number (1, 2, ...); returns it.
  absl::StatusOr<int64_t> AppendEvent(v1::JobEvent event);

  // The job's events with sequence > after, in order, at most `limit`.
  absl::StatusOr<std::vector<v1::JobEvent>> Events(const std::string& job_id, int64_t after, int limit);

  // Removes a job, its events and its admitted plan.
  absl::Status Delete(const std::string& id);

 private:
  explicit JobStore(sqlite3* db) : db_(db) {}
  absl::Status Exec(const std::string& sql);
  // BEGIN IMMEDIATE, `body`, then COMMIT, or ROLLBACK when it fails.
  absl::Status InTransaction(const std::function<absl::Status()>& body) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status UpdateLocked(const v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> AppendEventLocked(v1::JobEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* db_;
};

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_JOB_STORE_H_
