// The worker half of JobManager (job_manager.h): launching a job's worker
// process, reading what it reports, and the scheduler that starts queued
// jobs when their memory fits and removes finished ones past retention.
// job_manager.cc has the requests (submit, get, list, cancel, ...).
#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "server/hosts.h"
#include "server/job_manager.h"

namespace slimtrain::server {

using google::protobuf::util::TimeUtil;

absl::Status JobManager::Launch(v1::Job job, int64_t replay_until, const std::vector<int>& gpus,
                                const std::vector<int>& hosts) {
  const std::string dir = JobDir(job.id());
  SLIM_RETURN_IF_ERROR(base::MakeOwnerOnlyDir(dir));
  // The worker trains the resolved strategy.
  v1::JobSpec spec = job.spec();
  spec.set_strategy(job.plan().strategy());
  if (spec.checkpoint_interval_steps() == 0) spec.set_checkpoint_interval_steps(config_.default_checkpoint_interval);
  SLIM_RETURN_IF_ERROR(base::WriteFileAtomically(dir + "/spec.pb", spec.SerializeAsString()));
  // The admitted plan beside it (jobs admitted by an older server have none:
  // their worker plans).
  absl::StatusOr<std::string> admitted = store_->AdmittedPlan(job.id());
  if (admitted.ok()) {
    SLIM_RETURN_IF_ERROR(base::WriteFileAtomically(dir + "/plan.pb", *admitted));
  } else if (!absl::IsNotFound(admitted.status())) {
    return admitted.status();
  }
  const RankLayout layout = RanksOf(spec.resources());
  WorkerLaunch launch;
  launch.worker_path = config_.worker_path;
  launch.job_dir = dir;
  launch.data_root = config_.data_root;
  launch.threads = RankThreads(spec.resources(), layout, config_);
  launch.gpu = gpus.empty() ? -1 : gpus[0];
  std::vector<std::string> names;
  if (gpus.size() > 1) {
    // One rank per GPU on this host: each sees only the job's GPUs, and
    // takes the one of its local rank (slimtrain_worker --gpu 0).
    launch.ranks = static_cast<int>(gpus.size());
    launch.hosts = {absl::StrCat("localhost:", gpus.size())};
    launch.gpu = 0;
    launch.mpirun = config_.mpirun;
    launch.mpirun_args = config_.mpirun_args;
    launch.mpirun_args.insert(launch.mpirun_args.end(),
                              {"-x", absl::StrCat("CUDA_VISIBLE_DEVICES=", absl::StrJoin(gpus, ","))});
    launch.collective_timeout_seconds = config_.collective_timeout_seconds;
  } else if (layout.ranks() > 1) {
    launch.ranks = layout.ranks();
    // Entries that are this machine share its cores.
    const int here = layout.per_node * static_cast<int>(std::count_if(hosts.begin(), hosts.end(), [&](int h) {
                       return IsThisHost(config_.hosts[h].name);
                     }));
    if (spec.resources().cpu_threads() == 0 && here > layout.per_node) {
      launch.threads = std::max(1, config_.cpu_threads / here);
    }
    for (int h : hosts) {
      launch.hosts.push_back(absl::StrCat(config_.hosts[h].name, ":", layout.per_node));
      names.push_back(config_.hosts[h].name);
    }
    launch.mpirun = config_.mpirun;
    launch.mpirun_args = config_.mpirun_args;
    launch.collective_timeout_seconds = config_.collective_timeout_seconds;
  }
  std::error_code no_log;
  const auto log_offset = std::filesystem::file_size(dir + "/worker.log", no_log);
  SLIM_ASSIGN_OR_RETURN(auto worker, WorkerProcess::Start(launch));
  auto running = std::make_unique<Running>();
  running->log_offset = no_log ? 0 : static_cast<int64_t>(log_offset);
  running->peak_bytes = job.plan().peak_bytes();
  running->gpus = gpus;
  running->hosts = hosts;
  running->per_node = layout.per_node;
  job.set_ranks(layout.ranks());
  job.clear_hosts();
  for (const std::string& n : names) job.add_hosts(n);
  const std::string device = !gpus.empty()       ? absl::StrCat("cuda:", absl::StrJoin(gpus, ","))
                             : layout.ranks() > 1 ? absl::StrFormat("cpu, %d processes on %s", layout.ranks(),
                                                                    absl::StrJoin(launch.hosts, ","))
                                                  : "cpu";
  running->replay_until = replay_until;
  running->started = absl::Now();
  const pid_t pid = worker->pid();
  running->worker = std::move(worker);
  const bool resumed = job.state() == v1::Job::RUNNING;
  if (resumed) job.set_restarts(job.restarts() + 1);
  if (!job.has_start_time()) *job.mutable_start_time() = TimeUtil::GetCurrentTime();
  job.set_device(!gpus.empty() ? device : "cpu");
  SLIM_RETURN_IF_ERROR(SetState(
      job, v1::Job::RUNNING,
      resumed ? absl::StrFormat("resumed on %s after a server restart, from its last checkpoint (step %d); steps up "
                                "to %d run again, marked replayed (worker pid %d)",
                                device, job.checkpoint_step(), replay_until, pid)
              : absl::StrFormat("started on %s (%s pid %d)", device, layout.ranks() > 1 ? "mpirun" : "worker", pid)));
  Running* r = running.get();
  running_[job.id()] = std::move(running);
  r->reader = std::thread(&JobManager::ReadWorker, this, job.id());
  return absl::OkStatus();
}

void JobManager::ReadWorker(const std::string& id) {
  Running* r;
  {
    absl::MutexLock lock(&mu_);
    r = running_.at(id).get();
  }
  v1::JobEvent event, verdict;
  bool has_verdict = false;
  const int64_t interval = [&] {
    absl::StatusOr<v1::Job> j = store_->Get(id);
    const int64_t every = j.ok() ? j->spec().checkpoint_interval_steps() : 0;
    return every > 0 ? every : config_.default_checkpoint_interval;
  }();
  bool first_metrics = true;
  while (r->worker->Next(&event)) {
    if (event.has_state_change()) {  // the worker's verdict, applied when it exits
      verdict = event;
      has_verdict = true;
      continue;
    }
    if (event.has_metrics() && !event.metrics().has_eval() && first_metrics) {
      first_metrics = false;
      // A server killed outright loses the events still in the worker's
      // pipe: its checkpoint may be past the last step stored. Say so.
      const int64_t first = event.metrics().step();
      if (first > r->replay_until + 1) {
        v1::JobEvent gap;
        gap.mutable_log()->set_level(v1::LogLine::WARNING);
        gap.mutable_log()->set_text(absl::StrFormat(
            "steps %d to %d were trained before the server stopped, but their metrics were lost with it; "
            "training continues after the checkpoint of step %d",
            r->replay_until + 1, first - 1, first - 1));
        absl::MutexLock lock(&mu_);
        absl::StatusOr<v1::Job> job = store_->Get(id);
        if (job.ok() && job->state() == v1::Job::RUNNING) (void)AppendEvent(id, gap);
      }
    }
    if (event.has_metrics() && event.metrics().step() <= r->replay_until) event.set_replayed(true);
    absl::MutexLock lock(&mu_);
    // Reports of a job no longer RUNNING (cancelled, or failed for its time)
    // are dropped: its terminal state change stays its last event.
    absl::StatusOr<v1::Job> job = store_->Get(id);
    if (!job.ok() || job->state() != v1::Job::RUNNING) continue;
    // Progress and the event in one transaction: a restart resumes with
    // replay_until at least every step a watcher could have seen.
    if (event.has_metrics()) {
      const v1::Metrics& m = event.metrics();
      // Progress never goes back while replayed steps arrive: a restart
      // during a replay must still mark every step a watcher saw.
      if (m.step() >= job->progress().step()) {
        job->mutable_progress()->set_step(m.step());
        job->mutable_progress()->set_epoch(m.epoch());
      }
      v1::Metrics latest = m.has_eval() ? job->latest_metrics() : m;
      // Keep the latest evaluation next to the latest training numbers.
      latest.set_has_eval(m.has_eval() || job->latest_metrics().has_eval());
      latest.set_eval_loss(m.has_eval() ? m.eval_loss() : job->latest_metrics().eval_loss());
      latest.set_eval_accuracy(m.has_eval() ? m.eval_accuracy() : job->latest_metrics().eval_accuracy());
      latest.set_elapsed_seconds(absl::ToDoubleSeconds(absl::Now() - r->started));
      *job->mutable_latest_metrics() = latest;
      // The trainer checkpoints after step s when s % interval == 0, before
      // running step s + 1: metrics of s + 1 prove the checkpoint of s.
      if (!m.has_eval() && m.step() > 1 && (m.step() - 1) % interval == 0) job->set_checkpoint_step(m.step() - 1);
      (void)store_->UpdateWithEvent(*job, event);
      changed_.SignalAll();
    } else {
      (void)AppendEvent(id, event);
    }
  }
  const WorkerExit exit = r->worker->Wait();
  absl::MutexLock lock(&mu_);
  if (!shutting_down_) {
    absl::StatusOr<v1::Job> job = store_->Get(id);
    if (job.ok() && job->state() == v1::Job::RUNNING) {
      if (r->timed_out) {
        (void)SetState(*job, v1::Job::FAILED,
                       absl::StrFormat("ran longer than its maximum run time (%d s)", config_.max_run_seconds));
      } else if (r->ranks() > 1 && !(exit.code == 0 && !exit.signaled && has_verdict)) {
        // A data-parallel job that did not end cleanly: the first rank to
        // fail, as mpirun names it, with that rank's reason.
        absl::StatusOr<std::string> log = base::ReadFile(JobDir(id) + "/worker.log");
        std::string why =
            log.ok() ? DescribeRankFailure(absl::string_view(*log).substr(std::min<size_t>(r->log_offset, log->size())))
                     : "";
        if (why.empty()) why = absl::StrCat("mpirun ended with ", exit.Describe());
        (void)SetState(*job, v1::Job::FAILED, absl::StrFormat("%s; the ranks' log is %s/worker.log", why, JobDir(id)));
      } else if (has_verdict && verdict.state_change().to() != v1::Job::CANCELLED) {
        const int64_t last = job->progress().step(), total = job->progress().total_steps();
        if (verdict.state_change().to() == v1::Job::SUCCEEDED && last < total) {
          // The previous run trained to the end, and its checkpoint says so,
          // but the server stopped before it stored the last metrics: this
          // run had nothing left to train. Say which steps' metrics are lost.
          v1::JobEvent gap;
          gap.mutable_log()->set_level(v1::LogLine::WARNING);
          gap.mutable_log()->set_text(absl::StrFormat(
              "steps %d to %d were trained before the server stopped, but their metrics were lost with it; "
              "the job had finished them",
              last + 1, total));
          (void)AppendEvent(id, gap);
        }
        if (verdict.state_change().to() == v1::Job::SUCCEEDED) job->mutable_progress()->set_step(total);
        (void)SetState(*job, verdict.state_change().to(), verdict.state_change().reason());
      } else {
        (void)SetState(*job, v1::Job::FAILED,
                       absl::StrFormat("the worker stopped before finishing: %s; its log is %s/worker.log",
                                       exit.Describe(), JobDir(id)));
      }
    }
  }
  r->done = true;  // the scheduler joins this thread and removes the entry
  changed_.SignalAll();
}

void JobManager::HostsInUse(std::vector<HostUse>* use, int64_t* this_machine_bytes) const {
  use->assign(config_.hosts.size(), HostUse());
  *this_machine_bytes = 0;
  for (const auto& [id, r] : running_) {
    if (r->done) continue;
    for (int h : r->hosts) {
      (*use)[h].slots += r->per_node;
      const int64_t bytes = r->peak_bytes * r->per_node;
      if (IsThisHost(config_.hosts[h].name)) {
        *this_machine_bytes += bytes;
      } else {
        (*use)[h].bytes += bytes;
      }
    }
  }
}

void JobManager::SchedulerLoop() {
  absl::Time last_retention = absl::InfinitePast();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (shutting_down_) return;
      changed_.WaitWithTimeout(&mu_, absl::Milliseconds(200));
      if (shutting_down_) return;
    }
    ScheduleOnce();
    if (absl::Now() - last_retention > absl::Minutes(1)) {
      last_retention = absl::Now();
      absl::StatusOr<std::vector<v1::Job>> done =
          store_->List("", {v1::Job::SUCCEEDED, v1::Job::FAILED, v1::Job::CANCELLED}, "", 1 << 20);
      if (!done.ok()) continue;
      const int64_t cutoff = TimeUtil::GetCurrentTime().seconds() - config_.retention_seconds;
      for (const v1::Job& job : *done) {
        if (job.has_end_time() && job.end_time().seconds() < cutoff && store_->Delete(job.id()).ok()) {
          std::error_code ignored;
          std::filesystem::remove_all(JobDir(job.id()), ignored);
        }
      }
    }
  }
}

void JobManager::ScheduleOnce() {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return;
  // Reap finished workers; stop those over their time.
  int64_t used = 0;  // this machine's bytes
  int cpu_running = 0;
  std::vector<HostUse> host_use(config_.hosts.size());
  std::map<int, int64_t> gpu_used;  // per GPU: plans' peaks plus each worker's overhead
  for (auto it = running_.begin(); it != running_.end();) {
    Running& r = *it->second;
    if (r.done) {
      r.reader.join();  // finished: it released the lock before we took it
      it = running_.erase(it);
      continue;
    }
    absl::StatusOr<v1::Job> job = store_->Get(it->first);
    const int64_t limit = job.ok() && job->spec().resources().max_run_seconds() > 0
                              ? job->spec().resources().max_run_seconds()
                              : config_.max_run_seconds;
    if (!r.timed_out && absl::Now() - r.started > absl::Seconds(limit)) {
      r.timed_out = true;
      r.worker->Stop();
    }
    if (!r.gpus.empty()) {
      for (int g : r.gpus) gpu_used[g] += r.peak_bytes + FindGpu(g)->overhead_bytes;
    } else {
      used += r.hosts.empty() ? r.peak_bytes : 0;
      ++cpu_running;
    }
    ++it;
  }
  int64_t this_machine = 0;
  HostsInUse(&host_use, &this_machine);
  used += this_machine;
  // Start pending jobs, oldest first, each on its kind of device while it
  // has room: the CPU (up to cpu_jobs at once; a data-parallel job on all
  // its hosts at once, hosts.h's PlaceRanks) or a GPU whose memory covers
  // the plan's peak plus a worker's overhead (several jobs may share one).
  // A job that must wait holds back the later ones of its kind (first in,
  // first out per kind).
  absl::StatusOr<std::vector<v1::Job>> pending = store_->List("", {v1::Job::PENDING}, "", config_.max_queue);
  if (!pending.ok()) return;
  std::reverse(pending->begin(), pending->end());
  const int64_t capacity = CpuCapacityBytes();
  bool cpu_blocked = false, gpu_blocked = false;
  for (v1::Job& job : *pending) {
    const int64_t peak = job.plan().peak_bytes();
    std::vector<int> gpus, hosts;
    if (absl::StartsWith(job.device(), "cuda")) {
      if (gpu_blocked) continue;
      // One GPU, or a data-parallel job's all at once (one rank each).
      const size_t want = job.spec().resources().gpu_count() > 1 ? job.spec().resources().gpu_count() : 1;
      for (const Gpu& g : gpus_) {
        if (gpus.size() < want && gpu_used[g.index] + peak + g.overhead_bytes <= g.total_bytes) {
          gpus.push_back(g.index);
        }
      }
      if (gpus.size() < want) {
        gpu_blocked = true;
        continue;
      }
    } else {
      if (cpu_blocked) continue;
      const RankLayout layout = RanksOf(job.spec().resources());
      if (cpu_running >= config_.cpu_jobs) {
        cpu_blocked = true;
        continue;
      }
      if (layout.ranks() > 1) {
        // All its ranks at once, or it waits.
        hosts = PlaceRanks(config_.hosts, host_use, layout.nodes, layout.per_node, peak, capacity, used);
        if (hosts.empty()) {
          cpu_blocked = true;
          continue;
        }
      } else if (used + peak > capacity) {
        cpu_blocked = true;
        continue;
      }
    }
    if (absl::Status s = Launch(job, 0, gpus, hosts); !s.ok()) {
      (void)SetState(job, v1::Job::FAILED, absl::StrCat("could not start: ", s.message()));
      continue;
    }
    if (!gpus.empty()) {
      for (int g : gpus) gpu_used[g] += peak + FindGpu(g)->overhead_bytes;
    } else if (hosts.empty()) {
      used += peak;
      ++cpu_running;
    } else {
      ++cpu_running;
      const int64_t before = this_machine;
      HostsInUse(&host_use, &this_machine);  // now with this job's ranks
      used += this_machine - before;
    }
  }
}
}  // namespace slimtrain::server
