// The real slimtrain_server killed with SIGKILL at random moments, cycle
// after cycle, while two clients (alice and bob) submit, cancel, delete, get,
// list and watch small training jobs; then one last start drains every job,
// a SIGTERM stops the server, and the test reads the database (its own
// sqlite3 reading, chaos_checks.h) and the job folders and compares them with
// what the clients were told:
//   - no job lost: every job SubmitJob answered OK for exists unless a
//     DeleteJob of it answered OK; no job nobody submitted; at most one job
//     per submission and per client_request_id, exactly one once answered;
//   - nothing stuck: every job finished, those CancelJob answered OK for
//     CANCELLED, none FAILED;
//   - every job's events and steps continuous (CheckJobHistory), and every
//     event WatchJob streamed still stored as it was streamed;
//   - a folder for every job that started, none for deleted jobs, the
//     weights of every SUCCEEDED job.
// Each failure names the seed, the job and what is wrong.
//
// The seed is printed first; SLIMTRAIN_CHAOS_SEED=N replays its choices
// (the timing of a kill against the server's threads is never exactly the
// same), SLIMTRAIN_CHAOS_CYCLES=N sets the number of kills (default 40;
// bench/chaos.sh runs 200).
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "proto/service.grpc.pb.h"
#include "tests/server/chaos_checks.h"
#include "tests/server/chaos_client.h"
#include "tests/testing/test_server.h"

namespace slimtrain {
namespace {

using chaos::Ledger;
using chaos::Submission;
using google::protobuf::util::MessageDifferencer;

constexpr uint64_t kDefaultSeed = 20240612;
constexpr int kDefaultCycles = 40;
// Two jobs train at once; specs that leave checkpoint_interval_steps 0 get 50.
constexpr int64_t kServerCheckpointInterval = 50;
const char kServerFlags[] = "--cpu_jobs 2 --checkpoint_interval 50";

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// When a cycle kills the server.
enum class KillMode {
  kRandomDelay,
  kSoonAfterStart,  // while resumed jobs replay their steps
  kDuringSubmit,
  kAfterSubmit,
  kWhileTraining,
  kDuringCancelOrDelete,
  kCount
};

const char* ModeName(KillMode m) {
  switch (m) {
    case KillMode::kRandomDelay: return "random delay";
    case KillMode::kSoonAfterStart: return "soon after the start";
    case KillMode::kDuringSubmit: return "during a submit";
    case KillMode::kAfterSubmit: return "right after a submit";
    case KillMode::kWhileTraining: return "while a job trains";
    case KillMode::kDuringCancelOrDelete: return "during a cancel or delete";
    default: return "?";
  }
}

double Uniform(std::mt19937_64& rng, double lo, double hi) { return std::uniform_real_distribution<>(lo, hi)(rng); }

void SleepSeconds(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

// Waits for the moment `mode` asks for (after up to 1.5 s, so jobs are in
// every stage by then; up to 3 s more: a moment that never comes still ends
// the cycle), then a random delay. Says what it waited for.
std::string WaitForKillMoment(KillMode mode, chaos::Moments& moments, test_util::TestServer& server,
                              std::mt19937_64& rng) {
  constexpr auto kAtMost = std::chrono::seconds(3);
  if (mode != KillMode::kRandomDelay && mode != KillMode::kSoonAfterStart) SleepSeconds(Uniform(rng, 0, 1.5));
  switch (mode) {
    case KillMode::kRandomDelay: {
      const double delay = Uniform(rng, 0.1, 3.0);
      SleepSeconds(delay);
      return absl::StrFormat("%.2f s after the start", delay);
    }
    case KillMode::kSoonAfterStart: {
      const double delay = Uniform(rng, 0.02, 0.4);
      SleepSeconds(delay);
      return absl::StrFormat("%.0f ms after the start", delay * 1e3);
    }
    case KillMode::kDuringSubmit: {
      // Near the end of the submit, where the server stores the job: 0.5 to
      // 1.3 times a typical one's duration after it was sent.
      const double typical = moments.TypicalSubmitSeconds();
      const bool seen = moments.WaitFor(chaos::Moment::kSubmitSent, kAtMost);
      const double delay = Uniform(rng, 0.5 * typical, 1.3 * typical);
      SleepSeconds(delay);
      return seen ? absl::StrFormat("%.1f ms into a submit (typical %.1f ms)", delay * 1e3, typical * 1e3)
                  : "after 3 s without a submit";
    }
    case KillMode::kAfterSubmit: {
      const bool seen = moments.WaitFor(chaos::Moment::kSubmitAnswered, kAtMost);
      const double delay = Uniform(rng, 0, 0.02);
      SleepSeconds(delay);
      return seen ? absl::StrFormat("%.1f ms after a submit was answered", delay * 1e3)
                  : "after 3 s without an answered submit";
    }
    case KillMode::kWhileTraining: {
      const bool seen = chaos::WaitForTrainingJob(server.stub(), kAtMost);
      const double delay = Uniform(rng, 0, 0.3);
      SleepSeconds(delay);
      return seen ? absl::StrFormat("%.0f ms after a job was seen training", delay * 1e3)
                  : "after 3 s without a training job";
    }
    case KillMode::kDuringCancelOrDelete: {
      const bool seen = moments.WaitFor(chaos::Moment::kMutationSent, kAtMost);
      const double delay = Uniform(rng, 0, 0.003);
      SleepSeconds(delay);
      return seen ? absl::StrFormat("%.2f ms into a cancel or delete", delay * 1e3)
                  : "after 3 s without a cancel or delete";
    }
    default: return "?";
  }
}

// Waits (up to 5 s) until no worker of this data directory runs: workers die
// with their server. The pids of those still running after that.
std::vector<int> WaitForWorkersGone(const std::string& dir) {
  const std::string marker = dir + "/jobs/";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (true) {
    std::vector<int> alive;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::FILE* f = std::fopen((entry.path() / "cmdline").c_str(), "r");
      if (f == nullptr) continue;
      char buf[4096];
      const size_t n = std::fread(buf, 1, sizeof(buf), f);
      std::fclose(f);
      std::string cmdline(buf, n);
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      if (cmdline.find("slimtrain_worker") != std::string::npos && cmdline.find(marker) != std::string::npos) {
        alive.push_back(std::stoi(name));
      }
    }
    if (alive.empty() || std::chrono::steady_clock::now() > deadline) return alive;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Whether process `pid` has exited (a zombie not yet reaped, or gone).
bool Exited(pid_t pid) {
  std::FILE* f = std::fopen(absl::StrCat("/proc/", pid, "/stat").c_str(), "r");
  if (f == nullptr) return true;
  char buf[512];
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  const std::string stat(buf, n);
  const size_t paren = stat.rfind(')');  // "pid (comm) S ..."
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z';
}

// SIGTERM, then up to `seconds` for the server to exit (SIGKILL after
// that); its wait status, and whether it exited in time.
int StopGracefully(test_util::TestServer& server, int seconds, bool* in_time) {
  kill(server.pid(), SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!Exited(server.pid()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *in_time = Exited(server.pid());
  return server.Kill(SIGKILL);  // reaps it; a signal to a zombie changes nothing
}

std::string DescribeStatus(int status) {
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  if (WIFEXITED(status)) return absl::StrCat("exit code ", WEXITSTATUS(status));
  return absl::StrCat("wait status ", status);
}

// Keeps the server's log and database next to the test's outputs.
void KeepEvidence(const std::string& dir) {
  const char* out = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  if (out == nullptr) return;
  std::error_code ec;
  for (const char* name : {"server.log", "slimtrain.db", "slimtrain.db-wal"}) {
    std::filesystem::copy_file(dir + "/" + name, std::string(out) + "/chaos-" + name,
                               std::filesystem::copy_options::overwrite_existing, ec);
  }
}

// The final comparison of the database and folders with the ledger.
class FinalCheck {
 public:
  FinalCheck(const Ledger& ledger, const test_util::StoredJobs& db, std::string jobs_dir)
      : ledger_(ledger), db_(db), jobs_dir_(std::move(jobs_dir)) {}

  // Problems, each naming the job.
  std::vector<std::string> Run() {
    for (const test_util::StoredJob& job : db_.jobs) {
      for (const std::string& p : test_util::CheckJobHistory(job, kServerCheckpointInterval)) Add(job, p);
      if (job.job.state() == v1::Job::FAILED) Add(job, "FAILED: " + job.job.failure_reason());
      by_name_[job.owner + "/" + job.job.spec().display_name()].push_back(&job);
      if (!job.request_id.empty()) by_request_[job.owner + "/" + job.request_id].push_back(&job);
    }
    for (const auto& [id, n] : db_.orphan_events) {
      problems_.push_back(absl::StrFormat("%d events of job %s, which has no row", n, id));
    }
    for (const auto& [key, jobs] : by_request_) {
      if (jobs.size() > 1)
        problems_.push_back(absl::StrCat("request id ", key, " has ", jobs.size(), " jobs: ", Ids(jobs)));
    }
    for (const auto& [key, jobs] : by_name_) {
      if (!ledger_.submissions.count(key)) {
        for (const test_util::StoredJob* j : jobs) Add(*j, "no client submitted it (its display name is unknown)");
      }
    }
    for (const auto& [key, s] : ledger_.submissions) CheckSubmission(key, s);
    CheckFolders();
    return problems_;
  }

 private:
  void Add(const test_util::StoredJob& job, const std::string& what) {
    problems_.push_back(absl::StrFormat("job %s (%s of %s, %s): %s", job.id, job.job.spec().display_name(), job.owner,
                                        v1::Job::State_Name(job.job.state()), what));
  }

  static std::string Ids(const std::vector<const test_util::StoredJob*>& jobs) {
    std::vector<std::string> ids;
    for (const auto* j : jobs) ids.push_back(j->id);
    return absl::StrJoin(ids, ", ");
  }

  void CheckSubmission(const std::string& key, const Submission& s) {
    const auto it = by_name_.find(key);
    const std::vector<const test_util::StoredJob*> none;
    const std::vector<const test_util::StoredJob*>& jobs = it == by_name_.end() ? none : it->second;
    const std::string who = absl::StrFormat("submission %s (request id '%s', SubmitJob answered %s)", key, s.request_id,
                                            s.id.empty() ? "no id" : s.id);
    if (jobs.size() > 1) {
      problems_.push_back(absl::StrCat(who, ": duplicated, ", jobs.size(), " jobs: ", Ids(jobs)));
      return;
    }
    if (s.delete_acked) {
      if (!jobs.empty())
        problems_.push_back(absl::StrCat(who, ": DeleteJob answered OK, but it is still stored as ", jobs[0]->id));
      return;
    }
    if (!s.id.empty() && !s.delete_unknown && jobs.empty()) {
      problems_.push_back(absl::StrCat(who, ": lost, the database has no job of it"));
      return;
    }
    if (s.id.empty() && !s.may_exist && !jobs.empty()) {
      problems_.push_back(absl::StrCat(who, ": every SubmitJob of it was refused (last: ", s.last_refusal,
                                       "), yet it is stored as ", jobs[0]->id));
    }
    if (jobs.empty()) return;
    const test_util::StoredJob& job = *jobs[0];
    if (!s.id.empty() && job.id != s.id) Add(job, absl::StrCat("SubmitJob answered ", s.id, " for this submission"));
    if (job.request_id != s.request_id) Add(job, absl::StrCat("submitted with request id '", s.request_id, "'"));
    if (!MessageDifferencer::Equals(job.job.spec(), s.spec)) Add(job, "its stored spec differs from the one submitted");
    if (s.cancel_acked && job.job.state() != v1::Job::CANCELLED)
      Add(job, "CancelJob answered OK, but it is not CANCELLED");
    if (chaos::Finished(s.seen_state) && job.job.state() != s.seen_state) {
      Add(job, absl::StrCat("a client saw it ", v1::Job::State_Name(s.seen_state), " before"));
    }
    for (const auto& [seq, event] : s.watched) {
      if (seq < 1 || seq > static_cast<int64_t>(job.events.size())) {
        Add(job,
            absl::StrFormat("WatchJob streamed event %d, which is not stored (%d events)", seq, job.events.size()));
        break;
      }
      if (!MessageDifferencer::Equals(job.events[seq - 1], event)) {
        Add(job, absl::StrFormat("event %d is stored as %s but WatchJob streamed %s", seq,
                                 job.events[seq - 1].ShortDebugString().substr(0, 200),
                                 event.ShortDebugString().substr(0, 200)));
        break;
      }
    }
  }

  void CheckFolders() {
    std::set<std::string> folders;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(jobs_dir_, ec)) {
      folders.insert(entry.path().filename().string());
    }
    std::set<std::string> ids;
    for (const test_util::StoredJob& job : db_.jobs) {
      ids.insert(job.id);
      bool started = false;
      for (const v1::JobEvent& e : job.events) started = started || e.state_change().to() == v1::Job::RUNNING;
      const auto s = ledger_.submissions.find(job.owner + "/" + job.job.spec().display_name());
      const bool delete_tried = s != ledger_.submissions.end() && s->second.delete_unknown;
      if (started && !folders.count(job.id) && !delete_tried)
        Add(job, "it started, but jobs/" + job.id + " is missing");
      if (job.job.state() == v1::Job::SUCCEEDED && !delete_tried) {
        const std::string weights = jobs_dir_ + "/" + job.id + "/weights.safetensors";
        if (std::filesystem::file_size(weights, ec) == 0 || ec) Add(job, "SUCCEEDED without " + weights);
      }
    }
    for (const std::string& folder : folders) {
      if (ids.count(folder)) continue;
      std::string whose;
      for (const auto& [key, s] : ledger_.submissions) {
        if (s.id == folder) whose = absl::StrCat(" (", key, s.delete_acked ? ", deleted" : "", ")");
      }
      problems_.push_back(absl::StrCat("folder jobs/", folder, whose, " belongs to no job"));
    }
  }

  const Ledger& ledger_;
  const test_util::StoredJobs& db_;
  std::string jobs_dir_;
  std::map<std::string, std::vector<const test_util::StoredJob*>> by_name_, by_request_;  // "owner/..."
  std::vector<std::string> problems_;
};

TEST(ChaosTest, ServerKilledAtRandomLosesDuplicatesAndStrandsNoJob) {
  const uint64_t seed = EnvOr("SLIMTRAIN_CHAOS_SEED", kDefaultSeed);
  const int cycles = static_cast<int>(EnvOr("SLIMTRAIN_CHAOS_CYCLES", kDefaultCycles));
  std::printf("chaos: seed %llu, %d cycles (replay with SLIMTRAIN_CHAOS_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), cycles, static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  const auto test_start = std::chrono::steady_clock::now();
  const std::string dir = test_util::MakeServerDir("chaos");
  test_util::TestServer server(dir);
  Ledger ledger;
  std::mt19937_64 rng(seed);
  // Every mode comes up: each round of modes in a seeded order.
  std::vector<KillMode> modes;
  while (static_cast<int>(modes.size()) < cycles) {
    std::vector<KillMode> round;
    for (int m = 0; m < static_cast<int>(KillMode::kCount); ++m) round.push_back(static_cast<KillMode>(m));
    std::shuffle(round.begin(), round.end(), rng);
    modes.insert(modes.end(), round.begin(), round.end());
  }
  const std::vector<chaos::User> users = {{"alice", test_util::kAlice}, {"bob", test_util::kBob}};

  chaos::Moments moments;
  for (int cycle = 1; cycle <= cycles; ++cycle) {
    ASSERT_TRUE(server.Start(kServerFlags))
        << "seed " << seed << ", cycle " << cycle << ": the server did not start; its log is " << dir << "/server.log";
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (size_t u = 0; u < users.size(); ++u) {
      clients.emplace_back([&, u, client_seed = rng()] {
        chaos::Client client(users[u], server.stub(), &ledger, &moments, client_seed, cycle);
        client.RetryLostSubmits(0.7);
        client.Run(stop);
      });
    }
    const auto up = std::chrono::steady_clock::now();
    const KillMode mode = modes[cycle - 1];
    const std::string moment = WaitForKillMoment(mode, moments, server, rng);
    const double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - up).count();
    const int status = server.Kill(SIGKILL);
    stop = true;
    for (std::thread& t : clients) t.join();
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      ledger.Problem(
          absl::StrFormat("cycle %d: the server had stopped before it was killed: %s", cycle, DescribeStatus(status)));
    }
    const std::vector<int> survivors = WaitForWorkersGone(dir);
    if (!survivors.empty()) {
      ledger.Problem(absl::StrFormat("cycle %d: workers %s outlived the killed server by 5 s", cycle,
                                     absl::StrJoin(survivors, ", ")));
    }
    std::printf("chaos: cycle %d: killed %s (%s, up %.2f s); so far %s\n", cycle, ModeName(mode), moment.c_str(),
                uptime, ledger.Summary().c_str());
    std::fflush(stdout);
  }

  // The last start: submissions whose reply was lost are sent again, every
  // job runs to its end (those stuck are named and cancelled), then SIGTERM.
  ASSERT_TRUE(server.Start(kServerFlags)) << "seed " << seed << ": the server did not start for the final check";
  for (const chaos::User& user : users) {
    chaos::Client client(user, server.stub(), &ledger, nullptr, rng(), cycles + 1);
    client.RetryLostSubmits(1.0);
  }
  const auto drain_start = std::chrono::steady_clock::now();
  chaos::DrainAllJobs(server.stub(), users, &ledger);
  const double drain_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_start).count();
  bool in_time = false;
  const int status = StopGracefully(server, 60, &in_time);
  if (!in_time) {
    ledger.Problem("the server did not stop within 60 s of the final SIGTERM");
  } else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    ledger.Problem("the final SIGTERM did not stop the server cleanly: " + DescribeStatus(status));
  }
  if (const std::vector<int> survivors = WaitForWorkersGone(dir); !survivors.empty()) {
    ledger.Problem("workers " + absl::StrJoin(survivors, ", ") + " outlived the server's graceful stop");
  }

  absl::StatusOr<test_util::StoredJobs> db = test_util::ReadJobDatabase(dir + "/slimtrain.db");
  ASSERT_TRUE(db.ok()) << "seed " << seed << ": " << db.status();
  std::vector<std::string> problems = ledger.problems();
  for (std::string& p : FinalCheck(ledger, *db, dir + "/jobs").Run()) problems.push_back(std::move(p));

  std::map<std::string, int> states;
  int resumes = 0, warnings = 0;
  for (const test_util::StoredJob& job : db->jobs) {
    ++states[v1::Job::State_Name(job.job.state())];
    for (const v1::JobEvent& e : job.events) {
      resumes += e.state_change().from() == v1::Job::RUNNING && e.state_change().to() == v1::Job::RUNNING;
      warnings += e.log().level() == v1::LogLine::WARNING;
    }
  }
  std::vector<std::string> state_counts;
  for (const auto& [name, n] : states) state_counts.push_back(absl::StrCat(n, " ", name));
  std::printf(
      "chaos: summary: seed %llu, %d cycles, %.0f s (final drain %.1f s); %s; %zu jobs stored (%s), %d resumes, "
      "%d lost-steps warnings; %zu problems\n",
      static_cast<unsigned long long>(seed), cycles,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - test_start).count(), drain_seconds,
      ledger.Summary().c_str(), db->jobs.size(), absl::StrJoin(state_counts, ", ").c_str(), resumes, warnings,
      problems.size());
  std::fflush(stdout);
  if (!problems.empty()) KeepEvidence(dir);
  for (const std::string& p : problems)
    std::printf("chaos: problem (seed %llu): %s\n", static_cast<unsigned long long>(seed), p.c_str());
  std::fflush(stdout);
  constexpr size_t kShown = 40;
  for (size_t i = 0; i < problems.size() && i < kShown; ++i) ADD_FAILURE() << "seed " << seed << ": " << problems[i];
  if (problems.size() > kShown) ADD_FAILURE() << "seed " << seed << ": and " << problems.size() - kShown << " more";
}

}  // namespace
}  // namespace slimtrain
