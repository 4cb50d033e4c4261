// JobStore: a job and its first event are written together; ids are never
// reused, even after the newest job is deleted or the database reopened; a
// state and its event are one transaction.
#include "server/job_store.h"

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace slimtrain::server {
namespace {

v1::JobEvent Queued() {
  v1::JobEvent e;
  e.mutable_state_change()->set_to(v1::Job::PENDING);
  e.mutable_state_change()->set_reason("queued");
  return e;
}

v1::Job NewJob(const std::string& name) {
  v1::Job job;
  job.mutable_spec()->set_display_name(name);
  job.mutable_progress()->set_total_steps(10);
  return job;
}

TEST(JobStoreTest, AJobIsCreatedWithItsFirstEventAndIdsAreNeverReused) {
  const std::string path = test_util::TempPath("store-ids.db");
  std::filesystem::remove(path);
  auto store = JobStore::Open(path).value();
  bool existed = true;
  absl::StatusOr<v1::Job> a = store->Create("alice", NewJob("a"), Queued(), "", &existed);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(existed);
  EXPECT_EQ(a->id(), "job-000001");
  EXPECT_EQ(a->state(), v1::Job::PENDING);
  EXPECT_EQ(a->progress().total_steps(), 10);  // the caller's fields are kept
  absl::StatusOr<std::vector<v1::JobEvent>> events = store->Events(a->id(), 0, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].sequence(), 1);
  EXPECT_EQ((*events)[0].job_id(), a->id());
  EXPECT_EQ((*events)[0].state_change().reason(), "queued");

  absl::StatusOr<v1::Job> b = store->Create("alice", NewJob("b"), Queued(), "req-b", &existed);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->id(), "job-000002");
  // The newest job deleted: its id stays used, now and after a reopen.
  ASSERT_TRUE(store->Delete(b->id()).ok());
  absl::StatusOr<v1::Job> c = store->Create("alice", NewJob("c"), Queued(), "", &existed);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->id(), "job-000003");
  ASSERT_TRUE(store->Delete(c->id()).ok());
  store.reset();
  store = JobStore::Open(path).value();
  absl::StatusOr<v1::Job> d = store->Create("alice", NewJob("d"), Queued(), "", &existed);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->id(), "job-000004");
  EXPECT_TRUE(absl::IsNotFound(store->Get("job-000002").status()));
}

TEST(JobStoreTest, RequestIdsGiveTheSameJobOrRefuseAnotherSpec) {
  const std::string path = test_util::TempPath("store-requests.db");
  std::filesystem::remove(path);
  auto store = JobStore::Open(path).value();
  bool existed = false;
  const v1::Job first = store->Create("alice", NewJob("a"), Queued(), "req-1", &existed).value();
  const v1::Job again = store->Create("alice", NewJob("a"), Queued(), "req-1", &existed).value();
  EXPECT_TRUE(existed);
  EXPECT_EQ(again.id(), first.id());
  EXPECT_EQ(store->Events(first.id(), 0, 10)->size(), 1u) << "a repeated request wrote a second event";
  EXPECT_TRUE(absl::IsAlreadyExists(store->Create("alice", NewJob("other"), Queued(), "req-1", &existed).status()));
  // Another owner's key is another key.
  EXPECT_NE(store->Create("bob", NewJob("a"), Queued(), "req-1", &existed)->id(), first.id());
}

TEST(JobStoreTest, UpdateWithEventWritesBothOrNeither) {
  const std::string path = test_util::TempPath("store-update.db");
  std::filesystem::remove(path);
  auto store = JobStore::Open(path).value();
  bool existed = false;
  v1::Job job = store->Create("alice", NewJob("a"), Queued(), "", &existed).value();
  job.set_state(v1::Job::RUNNING);
  v1::JobEvent running;
  running.mutable_state_change()->set_from(v1::Job::PENDING);
  running.mutable_state_change()->set_to(v1::Job::RUNNING);
  absl::StatusOr<int64_t> sequence = store->UpdateWithEvent(job, running);
  ASSERT_TRUE(sequence.ok());
  EXPECT_EQ(*sequence, 2);
  EXPECT_EQ(store->Get(job.id())->state(), v1::Job::RUNNING);
  EXPECT_EQ(store->Events(job.id(), 0, 10)->back().job_id(), job.id());
  // A job that does not exist: no event is left behind either.
  v1::Job ghost = job;
  ghost.set_id("job-999999");
  EXPECT_TRUE(absl::IsNotFound(store->UpdateWithEvent(ghost, running).status()));
  EXPECT_TRUE(store->Events("job-999999", 0, 10)->empty());
}

}  // namespace
}  // namespace slimtrain::server
