// See job_store.h.
#include "server/job_store.h"

#include <sqlite3.h>

#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"

namespace slimtrain::server {
namespace {

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  absl::Status status() const {
    return rc_ == SQLITE_OK ? absl::OkStatus()
                            : absl::InternalError(absl::StrCat("database: ", sqlite3_errmsg(db_)));
  }
  void Bind(int i, const std::string& text) { sqlite3_bind_text(stmt_, i, text.data(), text.size(), SQLITE_TRANSIENT); }
  void BindBlob(int i, const std::string& blob) {
    sqlite3_bind_blob(stmt_, i, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  // SQLITE_ROW or SQLITE_DONE; anything else is an error.
  int Step() { return sqlite3_step(stmt_); }
  absl::Status Run() {
    const int rc = Step();
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("database: ", sqlite3_errmsg(db_)));
  }
  std::string Text(int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p == nullptr ? "" : std::string(p, sqlite3_column_bytes(stmt_, col));
  }
  std::string Blob(int col) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p == nullptr ? "" : std::string(p, sqlite3_column_bytes(stmt_, col));
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

absl::StatusOr<v1::Job> ParseJob(const std::string& blob, const std::string& id) {
  v1::Job job;
  if (!job.ParseFromString(blob)) return absl::DataLossError(absl::StrCat("database: job '", id, "' is unreadable"));
  return job;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    const std::string why = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::InternalError(absl::StrCat(path, ": cannot open the database: ", why));
  }
  std::unique_ptr<JobStore> store(new JobStore(db));
  sqlite3_busy_timeout(db, 5000);
  SLIM_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  SLIM_RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=NORMAL"));
  SLIM_RETURN_IF_ERROR(store->Exec(
      "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS jobs (seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, owner TEXT NOT NULL,"
      "  request_id TEXT NOT NULL, state INTEGER NOT NULL, job BLOB NOT NULL);"
      "CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, seq);"
      "CREATE TABLE IF NOT EXISTS events (job_id TEXT NOT NULL, sequence INTEGER NOT NULL, event BLOB NOT NULL,"
      "  PRIMARY KEY (job_id, sequence));"
      "CREATE TABLE IF NOT EXISTS plans (job_id TEXT PRIMARY KEY, plan BLOB NOT NULL);"
      "INSERT OR IGNORE INTO meta VALUES ('schema_version', '" + std::to_string(kSchemaVersion) + "');"));
  Statement version(db, "SELECT value FROM meta WHERE key = 'schema_version'");
  SLIM_RETURN_IF_ERROR(version.status());
  if (version.Step() != SQLITE_ROW || version.Text(0) != std::to_string(kSchemaVersion)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: database schema version %s, this server reads version %d", path, version.Text(0), kSchemaVersion));
  }
  return store;
}

JobStore::~JobStore() { sqlite3_close(db_); }

absl::Status JobStore::Exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string why = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    return absl::InternalError(absl::StrCat("database: ", why));
  }
  return absl::OkStatus();
}

absl::Status JobStore::InTransaction(const std::function<absl::Status()>& body) {
  SLIM_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  if (absl::Status s = body(); !s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  return Exec("COMMIT");
}

absl::StatusOr<v1::Job> JobStore::Create(const std::string& owner, v1::Job job, v1::JobEvent first,
                                         const std::string& request_id, bool* existed,
                                         const std::string& admitted_plan) {
  absl::MutexLock lock(&mu_);
  *existed = false;
  if (!request_id.empty()) {
    Statement find(db_, "SELECT id, job FROM jobs WHERE owner = ?1 AND request_id = ?2");
    SLIM_RETURN_IF_ERROR(find.status());
    find.Bind(1, owner);
    find.Bind(2, request_id);
    if (find.Step() == SQLITE_ROW) {
      SLIM_ASSIGN_OR_RETURN(v1::Job existing, ParseJob(find.Blob(1), find.Text(0)));
      if (!google::protobuf::util::MessageDifferencer::Equals(existing.spec(), job.spec())) {
        return absl::AlreadyExistsError(absl::StrFormat(
            "client_request_id '%s' was used for job %s with a different spec", request_id, existing.id()));
      }
      *existed = true;
      return existing;
    }
  }
  SLIM_RETURN_IF_ERROR(InTransaction([&]() -> absl::Status {
    // Ids are never reused, even after the newest job is deleted: the next
    // number is kept in meta (next_job_seq) and is at least every seq ever
    // stored (databases written before it existed start from their rows).
    Statement next(db_,
                   "SELECT MAX(COALESCE((SELECT MAX(seq) FROM jobs), 0) + 1,"
                   "           COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'next_job_seq'), 1))");
    if (!next.status().ok() || next.Step() != SQLITE_ROW) {
      return absl::InternalError(absl::StrCat("database: ", sqlite3_errmsg(db_)));
    }
    const int64_t seq = next.Int(0);
    Statement advance(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_job_seq', ?1)");
    advance.Bind(1, std::to_string(seq + 1));
    SLIM_RETURN_IF_ERROR(advance.Run());
    job.set_id(absl::StrFormat("job-%06d", seq));
    job.set_owner(owner);
    job.set_state(v1::Job::PENDING);
    job.set_client_request_id(request_id);
    *job.mutable_create_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
    Statement insert(db_,
                     "INSERT INTO jobs (seq, id, owner, request_id, state, job) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    insert.Bind(1, seq);
    insert.Bind(2, job.id());
    insert.Bind(3, owner);
    insert.Bind(4, request_id);
    insert.Bind(5, static_cast<int64_t>(job.state()));
    insert.BindBlob(6, job.SerializeAsString());
    SLIM_RETURN_IF_ERROR(insert.Run());
    if (!admitted_plan.empty()) {
      Statement plan(db_, "INSERT INTO plans (job_id, plan) VALUES (?1, ?2)");
      plan.Bind(1, job.id());
      plan.BindBlob(2, admitted_plan);
      SLIM_RETURN_IF_ERROR(plan.Run());
    }
    first.set_job_id(job.id());
    return AppendEventLocked(std::move(first)).status();
  }));
  return job;
}

absl::StatusOr<v1::Job> JobStore::FindByRequest(const std::string& owner, const std::string& request_id) {
  absl::MutexLock lock(&mu_);
  Statement find(db_, "SELECT id, job FROM jobs WHERE owner = ?1 AND request_id = ?2 AND request_id != ''");
  SLIM_RETURN_IF_ERROR(find.status());
  find.Bind(1, owner);
  find.Bind(2, request_id);
  if (find.Step() != SQLITE_ROW) return absl::NotFoundError("no job for that request");
  return ParseJob(find.Blob(1), find.Text(0));
}

absl::Status JobStore::UpdateLocked(const v1::Job& job) {
  Statement update(db_, "UPDATE jobs SET state = ?1, job = ?2 WHERE id = ?3");
  SLIM_RETURN_IF_ERROR(update.status());
  update.Bind(1, static_cast<int64_t>(job.state()));
  update.BindBlob(2, job.SerializeAsString());
  update.Bind(3, job.id());
  SLIM_RETURN_IF_ERROR(update.Run());
  if (sqlite3_changes(db_) != 1) return absl::NotFoundError(absl::StrCat("job '", job.id(), "' not found"));
  return absl::OkStatus();
}

absl::Status JobStore::Update(const v1::Job& job) {
  absl::MutexLock lock(&mu_);
  return UpdateLocked(job);
}

absl::StatusOr<int64_t> JobStore::UpdateWithEvent(const v1::Job& job, v1::JobEvent event) {
  absl::MutexLock lock(&mu_);
  int64_t sequence = 0;
  event.set_job_id(job.id());
  SLIM_RETURN_IF_ERROR(InTransaction([&]() -> absl::Status {
    SLIM_RETURN_IF_ERROR(UpdateLocked(job));
    SLIM_ASSIGN_OR_RETURN(sequence, AppendEventLocked(std::move(event)));
    return absl::OkStatus();
  }));
  return sequence;
}

absl::StatusOr<v1::Job> JobStore::Get(const std::string& id) {
  absl::MutexLock lock(&mu_);
  Statement get(db_, "SELECT job FROM jobs WHERE id = ?1");
  SLIM_RETURN_IF_ERROR(get.status());
  get.Bind(1, id);
  if (get.Step() != SQLITE_ROW) return absl::NotFoundError(absl::StrCat("job '", id, "' not found"));
  return ParseJob(get.Blob(0), id);
}

absl::StatusOr<std::vector<v1::Job>> JobStore::List(const std::string& owner, const std::set<int>& states,
                                                    const std::string& after_id, int limit) {
  absl::MutexLock lock(&mu_);
  std::string sql = "SELECT id, job FROM jobs WHERE (?1 = '' OR owner = ?1)";
  if (!after_id.empty()) sql += " AND seq < (SELECT seq FROM jobs WHERE id = ?2)";
  if (!states.empty()) {
    sql += " AND state IN (" + absl::StrJoin(states, ",") + ")";
  }
  sql += " ORDER BY seq DESC LIMIT ?3";
  Statement list(db_, sql);
  SLIM_RETURN_IF_ERROR(list.status());
  list.Bind(1, owner);
  list.Bind(2, after_id);
  list.Bind(3, static_cast<int64_t>(limit));
  std::vector<v1::Job> jobs;
  int rc;
  while ((rc = list.Step()) == SQLITE_ROW) {
    SLIM_ASSIGN_OR_RETURN(v1::Job job, ParseJob(list.Blob(1), list.Text(0)));
    jobs.push_back(std::move(job));
  }
  if (rc != SQLITE_DONE) return absl::InternalError(absl::StrCat("database: ", sqlite3_errmsg(db_)));
  return jobs;
}

absl::StatusOr<int64_t> JobStore::AppendEventLocked(v1::JobEvent event) {
  Statement next(db_, "SELECT COALESCE(MAX(sequence), 0) + 1 FROM events WHERE job_id = ?1");
  next.Bind(1, event.job_id());
  if (!next.status().ok() || next.Step() != SQLITE_ROW) {
    return absl::InternalError(absl::StrCat("database: ", sqlite3_errmsg(db_)));
  }
  event.set_sequence(next.Int(0));
  if (!event.has_time()) *event.mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
  Statement insert(db_, "INSERT INTO events (job_id, sequence, event) VALUES (?1, ?2, ?3)");
  insert.Bind(1, event.job_id());
  insert.Bind(2, event.sequence());
  insert.BindBlob(3, event.SerializeAsString());
  SLIM_RETURN_IF_ERROR(insert.Run());
  return event.sequence();
}

absl::StatusOr<int64_t> JobStore::AppendEvent(v1::JobEvent event) {
  absl::MutexLock lock(&mu_);
  int64_t sequence = 0;
  SLIM_RETURN_IF_ERROR(InTransaction([&]() -> absl::Status {
    SLIM_ASSIGN_OR_RETURN(sequence, AppendEventLocked(std::move(event)));
    return absl::OkStatus();
  }));
  return sequence;
}

absl::StatusOr<std::vector<v1::JobEvent>> JobStore::Events(const std::string& job_id, int64_t after, int limit) {
  absl::MutexLock lock(&mu_);
  Statement list(db_, "SELECT event FROM events WHERE job_id = ?1 AND sequence > ?2 ORDER BY sequence LIMIT ?3");
  SLIM_RETURN_IF_ERROR(list.status());
  list.Bind(1, job_id);
  list.Bind(2, after);
  list.Bind(3, static_cast<int64_t>(limit));
  std::vector<v1::JobEvent> events;
  int rc;
  while ((rc = list.Step()) == SQLITE_ROW) {
    v1::JobEvent e;
    if (!e.ParseFromString(list.Blob(0))) return absl::DataLossError("database: an event is unreadable");
    events.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return absl::InternalError(absl::StrCat("database: ", sqlite3_errmsg(db_)));
  return events;
}

absl::Status JobStore::Delete(const std::string& id) {
  absl::MutexLock lock(&mu_);
  return InTransaction([&]() -> absl::Status {
    Statement jobs(db_, "DELETE FROM jobs WHERE id = ?1");
    jobs.Bind(1, id);
    SLIM_RETURN_IF_ERROR(jobs.Run());
    Statement events(db_, "DELETE FROM events WHERE job_id = ?1");
    events.Bind(1, id);
    SLIM_RETURN_IF_ERROR(events.Run());
    Statement plans(db_, "DELETE FROM plans WHERE job_id = ?1");
    plans.Bind(1, id);
    return plans.Run();
  });
}

absl::StatusOr<std::map<int, int64_t>> JobStore::CountByState() {
  absl::MutexLock lock(&mu_);
  Statement count(db_, "SELECT state, COUNT(*) FROM jobs GROUP BY state");
  SLIM_RETURN_IF_ERROR(count.status());
  std::map<int, int64_t> out;
  int rc;
  while ((rc = count.Step()) == SQLITE_ROW) out[static_cast<int>(count.Int(0))] = count.Int(1);
  if (rc != SQLITE_DONE) return absl::InternalError(absl::StrCat("database: ", sqlite3_errmsg(db_)));
  return out;
}

absl::StatusOr<std::string> JobStore::AdmittedPlan(const std::string& id) {
  absl::MutexLock lock(&mu_);
  Statement find(db_, "SELECT plan FROM plans WHERE job_id = ?1");
  SLIM_RETURN_IF_ERROR(find.status());
  find.Bind(1, id);
  if (find.Step() != SQLITE_ROW) return absl::NotFoundError(absl::StrFormat("job '%s' has no admitted plan", id));
  return std::string(find.Blob(0));
}

absl::Status JobStore::SetAdmittedPlan(const std::string& id, const std::string& admitted_plan) {
  absl::MutexLock lock(&mu_);
  Statement replace(db_, "INSERT OR REPLACE INTO plans (job_id, plan) VALUES (?1, ?2)");
  SLIM_RETURN_IF_ERROR(replace.status());
  replace.Bind(1, id);
  replace.BindBlob(2, admitted_plan);
  return replace.Run();
}

}  // namespace slimtrain::server
