// chaos_client.h — the chaos test's clients and what they were told.
//
// A Client acts for one user against a server that may die under it at any
// moment: random SubmitJob (with and without a client_request_id; a request
// whose reply was lost is sent again with the same id), CancelJob, DeleteJob,
// GetJob, ListJobs and WatchJob. Every answer goes into the Ledger, keyed by
// submission (each SubmitJob spec carries a unique display name), and the
// answers that contradict earlier ones are Ledger problems at once.
//
//   chaos::Ledger ledger;
//   chaos::Moments moments;   // the killer waits on these
//   chaos::Client alice({"alice", kAlice}, server.stub(), &ledger, &moments, seed, cycle);
//   std::thread t([&] { alice.Run(stop); });   // until `stop`
#ifndef SLIMTRAIN_TESTS_SERVER_CHAOS_CLIENT_H_
#define SLIMTRAIN_TESTS_SERVER_CHAOS_CLIENT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "proto/job.pb.h"
#include "proto/service.grpc.pb.h"

namespace slimtrain::chaos {

struct User {
  const char* name;
  const char* token;
};

bool Finished(v1::Job::State s);

// One submission: a spec with a unique display name, sent once, or (with a
// request id) until an answer came back. What the clients were told of it.
struct Submission {
  std::string owner;
  std::string request_id;  // empty: no idempotency key, sent once
  v1::JobSpec spec;
  int attempts = 0;
  std::string id;               // the id SubmitJob answered with ("" until one did)
  bool may_exist = false;       // a SubmitJob of it may have stored it
  bool reply_lost = false;      // the last SubmitJob got no answer
  bool deadline_lost = false;   // one got DEADLINE_EXCEEDED: the server may store it later
  std::string last_refusal;     // the code and message of the last refusal
  std::string seen_id;          // its id as a listing showed it, when SubmitJob's answer was lost
  bool cancel_acked = false;    // CancelJob answered OK
  bool delete_acked = false;    // DeleteJob answered OK (or GetJob NOT_FOUND after a lost DeleteJob)
  bool delete_unknown = false;  // a DeleteJob got no answer
  v1::Job::State seen_state = v1::Job::STATE_UNSPECIFIED;  // the latest state an answer showed
  std::map<int64_t, v1::JobEvent> watched;                 // events WatchJob streamed, by sequence

  // The id to act on: answered, or seen in a listing.
  const std::string& known_id() const { return id.empty() ? seen_id : id; }
};

class Ledger {
 public:
  // "owner/display name" -> submission. Read it without the lock once no
  // client runs.
  std::map<std::string, Submission> submissions;

  // Records a contradiction a client saw (once: a repeated one is dropped).
  void Problem(const std::string& what);
  std::vector<std::string> problems() const;
  // "12 submissions (9 answered, 2 lost, 3 refused), 3 cancels, 2 deletes".
  std::string Summary() const;

  std::mutex mu;  // guards submissions and the counts
  int submits_answered = 0, submits_lost = 0, submits_refused = 0, cancels_acked = 0, deletes_acked = 0;

 private:
  mutable std::mutex problems_mu_;
  std::vector<std::string> problems_;
};

// Moments a kill may aim at.
enum class Moment { kSubmitSent, kSubmitAnswered, kMutationSent, kCount };

class Moments {
 public:
  void Mark(Moment m);
  // Waits until `m` happens after this call; false after `timeout`.
  bool WaitFor(Moment m, std::chrono::milliseconds timeout);
  void AddSubmitSeconds(double s);
  // The median of the answered submits' durations (5 ms before any).
  double TypicalSubmitSeconds();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t count_[static_cast<int>(Moment::kCount)] = {};
  std::vector<double> submit_seconds_;
};

class Client {
 public:
  // `moments` may be null. `cycle` goes into the display names.
  Client(User user, v1::TrainingService::Stub* stub, Ledger* ledger, Moments* moments, uint64_t seed, int cycle);

  // Random requests, a short random pause after each, until `stop`.
  void Run(const std::atomic<bool>& stop);
  // Sends again, each with `probability`, this user's submissions with a
  // request id whose last SubmitJob got no answer (and no DeleteJob was sent
  // for the job a listing showed).
  void RetryLostSubmits(double probability);

 private:
  void SubmitNew();
  void Submit(const std::string& key);
  void ResubmitAnswered();
  void Cancel();
  void Delete();
  void Get();
  void List();
  void Watch();

  // A random submission of this user passing `pick`; "" when none does.
  std::string Pick(const std::function<bool(const Submission&)>& pick);
  // Checks a Job an answer showed against the ledger and records its state.
  void Observe(const std::string& key, const v1::Job& job);
  void Mark(Moment m);

  User user_;
  v1::TrainingService::Stub* stub_;
  Ledger* ledger_;
  Moments* moments_;
  std::mt19937_64 rng_;
  int cycle_;
  int submitted_ = 0;
};

// Polls (every 50 ms, up to `timeout`) both users' jobs until one is
// RUNNING past step 0.
bool WaitForTrainingJob(v1::TrainingService::Stub* stub, std::chrono::milliseconds timeout);

// Waits until every job of `users` has finished, watching the unfinished
// ones (their streamed events go into the ledger). When no job changes for
// 30 s, or after 300 s in all, the unfinished ones are ledger problems
// (stuck) and are cancelled.
void DrainAllJobs(v1::TrainingService::Stub* stub, const std::vector<User>& users, Ledger* ledger);

}  // namespace slimtrain::chaos

#endif  // SLIMTRAIN_TESTS_SERVER_CHAOS_CLIENT_H_
