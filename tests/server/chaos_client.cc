// See chaos_client.h.
#include "tests/server/chaos_client.h"

#include <algorithm>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/testing/test_models.h"
#include "tests/testing/test_server.h"

namespace slimtrain::chaos {
namespace {

constexpr int kRpcSeconds = 10;

// What an RPC's status says about the request.
enum class Outcome { kOk, kRefused, kNoAnswer };

Outcome Classify(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::OK: return Outcome::kOk;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::INTERNAL: return Outcome::kNoAnswer;
    default: return Outcome::kRefused;
  }
}

std::string Code(const grpc::Status& s) {
  return absl::StrCat("code ", static_cast<int>(s.error_code()), " '", s.error_message().substr(0, 200), "'");
}

// Every job of one user, through every page; false when a page failed.
bool ListAll(v1::TrainingService::Stub* stub, const char* token, int page_size, std::vector<v1::Job>* jobs) {
  v1::ListJobsRequest request;
  request.set_page_size(page_size);
  for (int page = 0; page < 1000; ++page) {
    v1::ListJobsResponse response;
    if (!stub->ListJobs(test_util::AsUser(token, kRpcSeconds).get(), request, &response).ok()) return false;
    for (v1::Job& j : *response.mutable_jobs()) jobs->push_back(std::move(j));
    if (response.next_page_token().empty()) return true;
    request.set_page_token(response.next_page_token());
  }
  return false;
}

}  // namespace

bool Finished(v1::Job::State s) { return s == v1::Job::SUCCEEDED || s == v1::Job::FAILED || s == v1::Job::CANCELLED; }

void Ledger::Problem(const std::string& what) {
  std::lock_guard<std::mutex> lock(problems_mu_);
  if (std::find(problems_.begin(), problems_.end(), what) == problems_.end()) problems_.push_back(what);
}

std::vector<std::string> Ledger::problems() const {
  std::lock_guard<std::mutex> lock(problems_mu_);
  return problems_;
}

std::string Ledger::Summary() const {
  return absl::StrFormat(
      "%d submissions (%d answered, %d replies lost, %d refused), %d cancels, %d deletes answered OK",
      submissions.size(), submits_answered, submits_lost, submits_refused, cancels_acked, deletes_acked);
}

void Moments::Mark(Moment m) {
  std::lock_guard<std::mutex> lock(mu_);
  ++count_[static_cast<int>(m)];
  cv_.notify_all();
}

bool Moments::WaitFor(Moment m, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t before = count_[static_cast<int>(m)];
  return cv_.wait_for(lock, timeout, [&] { return count_[static_cast<int>(m)] > before; });
}

void Moments::AddSubmitSeconds(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  submit_seconds_.push_back(s);
}

double Moments::TypicalSubmitSeconds() {
  std::lock_guard<std::mutex> lock(mu_);
  if (submit_seconds_.empty()) return 0.005;
  std::vector<double> sorted = submit_seconds_;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  return sorted[sorted.size() / 2];
}

Client::Client(User user, v1::TrainingService::Stub* stub, Ledger* ledger, Moments* moments, uint64_t seed, int cycle)
    : user_(user), stub_(stub), ledger_(ledger), moments_(moments), rng_(seed), cycle_(cycle) {}

void Client::Mark(Moment m) {
  if (moments_ != nullptr) moments_->Mark(m);
}

void Client::Run(const std::atomic<bool>& stop) {
  // Relative weights of the requests.
  const std::vector<std::pair<int, void (Client::*)()>> ops = {
      {22, &Client::SubmitNew}, {5, &Client::ResubmitAnswered},
      {10, &Client::Cancel},    {7, &Client::Delete},
      {16, &Client::Get},       {12, &Client::List},
      {16, &Client::Watch},
  };
  int total = 0;
  for (const auto& [w, op] : ops) total += w;
  while (!stop) {
    int r = std::uniform_int_distribution<>(0, total - 1)(rng_);
    for (const auto& [w, op] : ops) {
      if (r < w) {
        (this->*op)();
        break;
      }
      r -= w;
    }
    if (std::bernoulli_distribution(0.05)(rng_)) RetryLostSubmits(1.0);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<>(5, 40)(rng_)));
  }
}

std::string Client::Pick(const std::function<bool(const Submission&)>& pick) {
  std::vector<std::string> keys;
  std::lock_guard<std::mutex> lock(ledger_->mu);
  for (const auto& [key, s] : ledger_->submissions) {
    if (s.owner == user_.name && pick(s)) keys.push_back(key);
  }
  if (keys.empty()) return "";
  return keys[std::uniform_int_distribution<size_t>(0, keys.size() - 1)(rng_)];
}

void Client::RetryLostSubmits(double probability) {
  std::vector<std::string> keys;
  {
    std::lock_guard<std::mutex> lock(ledger_->mu);
    for (const auto& [key, s] : ledger_->submissions) {
      // Not one deleted through the id a listing showed: that would submit it anew.
      if (s.owner == user_.name && !s.request_id.empty() && s.reply_lost && !s.delete_acked && !s.delete_unknown) {
        keys.push_back(key);
      }
    }
  }
  for (const std::string& key : keys) {
    if (std::bernoulli_distribution(probability)(rng_)) Submit(key);
  }
}

void Client::SubmitNew() {
  const std::string name = absl::StrFormat("c%d-%s-%d", cycle_, user_.name, ++submitted_);
  Submission s;
  s.owner = user_.name;
  // test_models.h's tiny model on 256 synthetic 8x8 images at batch 8: a
  // step takes well under a millisecond, so a job of a thousand steps trains
  // in about a second.
  s.spec = test_util::TinySyntheticJob();
  s.spec.mutable_dataset()->set_synthetic_examples(256);
  s.spec.set_batch_size(8);
  s.spec.set_display_name(name);
  s.spec.set_steps(std::uniform_int_distribution<int64_t>(200, 2500)(rng_));
  const int64_t intervals[] = {0, 10, 25, 100};  // 0: the server's default
  s.spec.set_checkpoint_interval_steps(intervals[std::uniform_int_distribution<>(0, 3)(rng_)]);
  if (std::bernoulli_distribution(0.3)(rng_)) s.spec.set_eval_interval_steps(250);
  s.spec.set_seed(rng_() % 1000);
  if (std::bernoulli_distribution(0.6)(rng_)) s.request_id = absl::StrFormat("req-%s-%d-%llu", name, cycle_, rng_());
  const std::string key = absl::StrCat(user_.name, "/", name);
  {
    std::lock_guard<std::mutex> lock(ledger_->mu);
    ledger_->submissions[key] = std::move(s);
  }
  Submit(key);
}

void Client::Submit(const std::string& key) {
  v1::SubmitJobRequest request;
  {
    std::lock_guard<std::mutex> lock(ledger_->mu);
    Submission& s = ledger_->submissions.at(key);
    *request.mutable_spec() = s.spec;
    request.set_client_request_id(s.request_id);
    ++s.attempts;
  }
  Mark(Moment::kSubmitSent);
  const auto start = std::chrono::steady_clock::now();
  v1::SubmitJobResponse response;
  const grpc::Status status = stub_->SubmitJob(test_util::AsUser(user_.token, kRpcSeconds).get(), request, &response);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Outcome outcome = Classify(status);
  std::string problem;
  {
    std::lock_guard<std::mutex> lock(ledger_->mu);
    Submission& s = ledger_->submissions.at(key);
    if (outcome == Outcome::kNoAnswer) {
      ++ledger_->submits_lost;
      s.may_exist = true;
      s.reply_lost = true;
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) s.deadline_lost = true;
    } else if (outcome == Outcome::kRefused) {
      ++ledger_->submits_refused;
      s.reply_lost = false;
      s.last_refusal = Code(status);
      // Refused: not stored now, and no earlier request can store it later
      // (unless one timed out while the server lived).
      if (s.id.empty() && !s.deadline_lost) s.may_exist = false;
      if (!s.id.empty()) {
        problem = absl::StrFormat("%s: SubmitJob with request id %s of job %s was refused: %s", key, s.request_id, s.id,
                                  Code(status));
      } else if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) {
        problem = absl::StrFormat("%s: SubmitJob refused a valid spec: %s", key, Code(status));
      }
    } else {
      ++ledger_->submits_answered;
      s.reply_lost = false;
      s.may_exist = true;
      const std::string& id = response.job().id();
      if (!s.id.empty() && s.id != id) {
        problem = absl::StrFormat("%s: SubmitJob with request id %s answered %s, earlier %s: two jobs", key,
                                  s.request_id, id, s.id);
      }
      if (response.job().spec().display_name() != s.spec.display_name()) {
        problem =
            absl::StrFormat("%s: SubmitJob answered job %s named '%s'", key, id, response.job().spec().display_name());
      }
      for (const auto& [other_key, other] : ledger_->submissions) {
        if (s.id.empty() && other_key != key && other.id == id) {
          problem = absl::StrFormat("%s: SubmitJob answered id %s, which it gave %s before%s: job ids are reused", key,
                                    id, other_key, other.delete_acked ? " (since deleted)" : "");
        }
      }
      s.id = id;
    }
  }
  if (!problem.empty()) ledger_->Problem(problem);
  if (outcome == Outcome::kOk) {
    Observe(key, response.job());
    Mark(Moment::kSubmitAnswered);
    if (moments_ != nullptr) moments_->AddSubmitSeconds(seconds);
  }
}

void Client::ResubmitAnswered() {
  const std::string key = Pick([](const Submission& s) {
    return !s.request_id.empty() && !s.id.empty() && !s.delete_acked && !s.delete_unknown;
  });
  if (!key.empty()) Submit(key);
}

void Client::Observe(const std::string& key, const v1::Job& job) {
  std::string problem;
  {
    std::lock_guard<std::mutex> lock(ledger_->mu);
    Submission& s = ledger_->submissions.at(key);
    if (job.spec().display_name() != s.spec.display_name()) {
      problem = absl::StrFormat("%s: job %s now answers as '%s'", key, job.id(), job.spec().display_name());
    } else if (Finished(s.seen_state) && job.state() != s.seen_state) {
      problem = absl::StrFormat("%s: job %s was seen %s, now %s", key, job.id(), v1::Job::State_Name(s.seen_state),
                                v1::Job::State_Name(job.state()));
    } else {
      s.seen_state = job.state();
      if (s.id.empty()) s.seen_id = job.id();
    }
  }
  if (!problem.empty()) ledger_->Problem(problem);
}

void Client::Cancel() {
  const bool any = std::bernoulli_distribution(0.2)(rng_);
  const std::string key = Pick([any](const Submission& s) {
    return !s.known_id().empty() && !s.delete_acked && !s.delete_unknown && (any || !Finished(s.seen_state));
  });
  if (key.empty()) return;
  v1::CancelJobRequest request;
  {
    std::lock_guard<std::mutex> lock(ledger_->mu);
    request.set_job_id(ledger_->submissions.at(key).known_id());
  }
  Mark(Moment::kMutationSent);
  v1::Job job;
  const grpc::Status status = stub_->CancelJob(test_util::AsUser(user_.token, kRpcSeconds).get(), request, &job);
  if (status.ok()) {
    if (job.state() != v1::Job::CANCELLED) {
      ledger_->Problem(absl::StrFormat("%s: CancelJob of %s answered OK with state %s", key, request.job_id(),
                                       v1::Job::State_Name(job.state())));
    }
    std::lock_guard<std::mutex> lock(ledger_->mu);
    ledger_->submissions.at(key).cancel_acked = true;
    ++ledger_->cancels_acked;
  }
  if (status.ok()) {
    Observe(key, job);
  } else if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    ledger_->Problem(
        absl::StrFormat("%s: CancelJob of %s: NOT_FOUND, but it was never deleted", key, request.job_id()));
  } else if (Classify(status) == Outcome::kRefused && status.error_code() != grpc::StatusCode::FAILED_PRECONDITION) {
    ledger_->Problem(absl::StrFormat("%s: CancelJob of %s refused: %s", key, request.job_id(), Code(status)));
  }
}

void Client::Delete() {
  const bool any = std::bernoulli_distribution(0.2)(rng_);
  const std::string key = Pick([any](const Submission& s) {
    return !s.known_id().empty() && !s.delete_acked && !s.delete_unknown && (any || Finished(s.seen_state));
  });
  if (key.empty()) return;
  v1::DeleteJobRequest request;
  v1::Job::State seen;
  {
    std::lock_guard<std::mutex> lock(ledger_->mu);
    request.set_job_id(ledger_->submissions.at(key).known_id());
    seen = ledger_->submissions.at(key).seen_state;
  }
  Mark(Moment::kMutationSent);
  v1::DeleteJobResponse response;
  const grpc::Status status = stub_->DeleteJob(test_util::AsUser(user_.token, kRpcSeconds).get(), request, &response);
  std::lock_guard<std::mutex> lock(ledger_->mu);
  Submission& s = ledger_->submissions.at(key);
  if (status.ok()) {
    s.delete_acked = true;
    ++ledger_->deletes_acked;
  } else if (Classify(status) == Outcome::kNoAnswer) {
    s.delete_unknown = true;
  } else if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    ledger_->Problem(
        absl::StrFormat("%s: DeleteJob of %s: NOT_FOUND, but it was never deleted", key, request.job_id()));
  } else if (status.error_code() != grpc::StatusCode::FAILED_PRECONDITION || Finished(seen)) {
    ledger_->Problem(absl::StrFormat("%s: DeleteJob of %s (seen %s) refused: %s", key, request.job_id(),
                                     v1::Job::State_Name(seen), Code(status)));
  }
}

void Client::Get() {
  const std::string key = Pick([](const Submission& s) { return !s.known_id().empty() && !s.delete_acked; });
  if (key.empty()) return;
  v1::GetJobRequest request;
  bool delete_unknown;
  {
    std::lock_guard<std::mutex> lock(ledger_->mu);
    request.set_job_id(ledger_->submissions.at(key).known_id());
    delete_unknown = ledger_->submissions.at(key).delete_unknown;
  }
  v1::Job job;
  const grpc::Status status = stub_->GetJob(test_util::AsUser(user_.token, kRpcSeconds).get(), request, &job);
  if (status.ok()) {
    Observe(key, job);
  } else if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    if (!delete_unknown) {
      ledger_->Problem(absl::StrFormat("%s: GetJob of %s: NOT_FOUND, but it was never deleted", key, request.job_id()));
    } else {
      std::lock_guard<std::mutex> lock(ledger_->mu);
      ledger_->submissions.at(key).delete_acked = true;  // the lost DeleteJob did delete it
    }
  } else if (Classify(status) == Outcome::kRefused) {
    ledger_->Problem(absl::StrFormat("%s: GetJob of %s refused: %s", key, request.job_id(), Code(status)));
  }
}

void Client::List() {
  std::vector<v1::Job> jobs;
  if (!ListAll(stub_, user_.token, std::uniform_int_distribution<>(1, 40)(rng_), &jobs)) return;
  std::set<std::string> ids;
  for (const v1::Job& job : jobs) {
    if (!ids.insert(job.id()).second) {
      ledger_->Problem(absl::StrFormat("%s: ListJobs shows job %s twice", user_.name, job.id()));
    }
    const std::string key = absl::StrCat(user_.name, "/", job.spec().display_name());
    bool known;
    {
      std::lock_guard<std::mutex> lock(ledger_->mu);
      known = ledger_->submissions.count(key) > 0;
    }
    if (!known) {
      ledger_->Problem(absl::StrFormat("%s: ListJobs shows job %s ('%s'), which no client submitted", user_.name,
                                       job.id(), job.spec().display_name()));
      continue;
    }
    Observe(key, job);
  }
  std::vector<std::string> missing;
  {
    std::lock_guard<std::mutex> lock(ledger_->mu);
    for (const auto& [key, s] : ledger_->submissions) {
      if (s.owner == user_.name && !s.id.empty() && !s.delete_acked && !s.delete_unknown && !ids.count(s.id)) {
        missing.push_back(absl::StrCat(key, " (", s.id, ")"));
      }
    }
  }
  for (const std::string& m : missing) ledger_->Problem(absl::StrCat(m, ": missing from ListJobs; never deleted"));
}

void Client::Watch() {
  const std::string key = Pick([](const Submission& s) { return !s.known_id().empty() && !s.delete_acked; });
  if (key.empty()) return;
  v1::WatchJobRequest request;
  {
    std::lock_guard<std::mutex> lock(ledger_->mu);
    const Submission& s = ledger_->submissions.at(key);
    request.set_job_id(s.known_id());
    if (!s.watched.empty() && std::bernoulli_distribution(0.4)(rng_)) {
      request.set_after_sequence(s.watched.rbegin()->first);
    }
  }
  auto context = test_util::AsUser(user_.token, kRpcSeconds);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(1500));
  auto reader = stub_->WatchJob(context.get(), request);
  std::vector<v1::JobEvent> events;
  v1::JobEvent e;
  while (reader->Read(&e)) events.push_back(e);
  const grpc::Status status = reader->Finish();
  std::vector<std::string> problems;
  {
    std::lock_guard<std::mutex> lock(ledger_->mu);
    Submission& s = ledger_->submissions.at(key);
    int64_t expected = request.after_sequence() + 1;
    for (const v1::JobEvent& event : events) {
      if (event.sequence() != expected) {
        problems.push_back(absl::StrFormat("%s: WatchJob of %s after %d streamed event %d where %d was due", key,
                                           request.job_id(), request.after_sequence(), event.sequence(), expected));
        break;
      }
      ++expected;
      auto [it, inserted] = s.watched.emplace(event.sequence(), event);
      if (!inserted && !google::protobuf::util::MessageDifferencer::Equals(it->second, event)) {
        problems.push_back(absl::StrFormat("%s: WatchJob of %s streamed event %d as %s, earlier as %s", key,
                                           request.job_id(), event.sequence(), event.ShortDebugString().substr(0, 200),
                                           it->second.ShortDebugString().substr(0, 200)));
      }
    }
    if (status.ok() && !events.empty() &&
        !(events.back().has_state_change() && Finished(events.back().state_change().to()))) {
      problems.push_back(absl::StrFormat(
          "%s: WatchJob of %s ended (the job finished) with event %d, not a terminal "
          "state change: %s",
          key, request.job_id(), events.back().sequence(), events.back().ShortDebugString().substr(0, 200)));
    }
    if (status.error_code() == grpc::StatusCode::NOT_FOUND && !s.delete_unknown) {
      problems.push_back(
          absl::StrFormat("%s: WatchJob of %s: NOT_FOUND, but it was never deleted", key, request.job_id()));
    }
  }
  for (const std::string& p : problems) ledger_->Problem(p);
}

bool WaitForTrainingJob(v1::TrainingService::Stub* stub, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const char* token : {test_util::kAlice, test_util::kBob}) {
      std::vector<v1::Job> jobs;
      if (!ListAll(stub, token, 100, &jobs)) continue;
      for (const v1::Job& j : jobs) {
        if (j.state() == v1::Job::RUNNING && j.progress().step() > 0) return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void DrainAllJobs(v1::TrainingService::Stub* stub, const std::vector<User>& users, Ledger* ledger) {
  const auto start = std::chrono::steady_clock::now();
  auto last_change = start;
  std::map<std::string, std::pair<int, int64_t>> last;  // id -> (state, step)
  bool gave_up = false;
  while (true) {
    // Every user's jobs, and which are unfinished.
    std::map<std::string, std::pair<int, int64_t>> now;
    std::vector<std::pair<const User*, v1::Job>> unfinished;
    for (const User& user : users) {
      std::vector<v1::Job> jobs;
      if (!ListAll(stub, user.token, 100, &jobs)) {
        ledger->Problem(absl::StrCat("draining: ListJobs of ", user.name, " failed"));
        return;
      }
      for (const v1::Job& j : jobs) {
        now[j.id()] = {j.state(), j.progress().step()};
        if (!Finished(j.state())) unfinished.emplace_back(&user, j);
      }
    }
    if (unfinished.empty()) return;
    const auto t = std::chrono::steady_clock::now();
    if (now != last) last_change = t;
    last = now;
    const bool stalled = t - last_change > std::chrono::seconds(30);
    if (stalled || t - start > std::chrono::seconds(300)) {
      if (gave_up) {
        ledger->Problem(
            absl::StrFormat("draining: %d jobs still unfinished after they were cancelled", unfinished.size()));
        return;
      }
      gave_up = true;
      for (const auto& [user, job] : unfinished) {
        ledger->Problem(absl::StrFormat("%s/%s: job %s is stuck %s at step %d of %d (%s); cancelled", user->name,
                                        job.spec().display_name(), job.id(), v1::Job::State_Name(job.state()),
                                        job.progress().step(), job.progress().total_steps(),
                                        stalled ? "no job changed for 30 s" : "not finished after 300 s"));
        v1::CancelJobRequest request;
        request.set_job_id(job.id());
        v1::Job cancelled;
        if (stub->CancelJob(test_util::AsUser(user->token, kRpcSeconds).get(), request, &cancelled).ok()) {
          std::lock_guard<std::mutex> lock(ledger->mu);
          auto it = ledger->submissions.find(absl::StrCat(user->name, "/", job.spec().display_name()));
          if (it != ledger->submissions.end()) it->second.cancel_acked = true;
        }
      }
      last_change = std::chrono::steady_clock::now();
      continue;
    }
    // Watch the first unfinished job until it ends (or 2 s pass), keeping
    // what streams for the final comparison.
    const User& user = *unfinished.front().first;
    const v1::Job& job = unfinished.front().second;
    v1::WatchJobRequest request;
    request.set_job_id(job.id());
    auto context = test_util::AsUser(user.token, kRpcSeconds);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    auto reader = stub->WatchJob(context.get(), request);
    std::vector<v1::JobEvent> events;
    v1::JobEvent e;
    while (reader->Read(&e)) events.push_back(e);
    reader->Finish();
    std::lock_guard<std::mutex> lock(ledger->mu);
    auto it = ledger->submissions.find(absl::StrCat(user.name, "/", job.spec().display_name()));
    if (it == ledger->submissions.end()) continue;  // the final check names it
    for (const v1::JobEvent& event : events) it->second.watched.emplace(event.sequence(), event);
  }
}

}  // namespace slimtrain::chaos
