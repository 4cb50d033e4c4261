// See job_manager.h.
#include "server/job_manager.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "base/units.h"
#include "engine/checkpoint.h"
#include "engine/data.h"
#include "engine/job_spec.h"
#include "engine/safetensors.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"

namespace slimtrain::server {

// How long DeleteJob waits for a cancelled job's worker to exit.
constexpr absl::Duration kDeleteWait = absl::Seconds(60);

namespace {

using google::protobuf::util::TimeUtil;

bool Finished(v1::Job::State s) {
  return s == v1::Job::SUCCEEDED || s == v1::Job::FAILED || s == v1::Job::CANCELLED;
}

}  // namespace

JobManager::JobManager(JobStore* store, ServerConfig config) : store_(store), config_(std::move(config)) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (config_.cpu_threads <= 0) config_.cpu_threads = std::max(1, cores / config_.cpu_jobs);
  if (config_.max_concurrent_plans <= 0) config_.max_concurrent_plans = 2 * cores;
}

class JobManager::PlanSlot {
 public:
  explicit PlanSlot(std::atomic<int>* running) : running_(running) {}
  ~PlanSlot() { running_->fetch_sub(1); }

 private:
  std::atomic<int>* running_;
};

absl::StatusOr<std::unique_ptr<JobManager::PlanSlot>> JobManager::StartPlanning(planner::PlanStop& stop) {
  if (plans_running_.fetch_add(1) >= config_.max_concurrent_plans) {
    plans_running_.fetch_sub(1);
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%d requests are planning, this server's limit (--max-concurrent-plans); try again in a moment",
        config_.max_concurrent_plans));
  }
  stop.time_limit = absl::Now() + absl::Seconds(config_.max_plan_seconds);
  stop.time_limit_reason = absl::StrFormat(
      "planning took longer than this server's limit of %g s (--max-plan-seconds): ask for fewer strategies, "
      "without max_batch, or a smaller model; `slimtrain plan` plans locally without a limit",
      config_.max_plan_seconds);
  return std::make_unique<PlanSlot>(&plans_running_);
}

JobManager::~JobManager() { Shutdown(); }

std::string JobManager::JobDir(const std::string& id) const { return config_.data_dir + "/jobs/" + id; }

int64_t JobManager::CpuCapacityBytes() const { return planner::FindDevice("cpu")->budget_bytes(); }

bool JobManager::shutting_down() const {
  absl::MutexLock lock(&mu_);
  return shutting_down_;
}

absl::Status JobManager::ProbeGpus() {
  // In a process of its own, as a worker would run: the server keeps no CUDA
  // context (and its memory) for itself.
  const std::string command = "'" + config_.worker_path + "' --probe-gpus 2>&1";
  FILE* probe = popen(command.c_str(), "r");
  if (probe == nullptr) {
    no_gpu_reason_ = absl::StrCat("cannot run ", config_.worker_path, " --probe-gpus");
    return absl::OkStatus();
  }
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), probe)) output.append(buffer, n);
  const int status = pclose(probe);
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    // "gpu INDEX TOTAL_BYTES OVERHEAD_BYTES NAME..." or "none REASON".
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(' ', 4));
    Gpu g;
    if (f.size() == 5 && f[0] == "gpu" && absl::SimpleAtoi(f[1], &g.index) && absl::SimpleAtoi(f[2], &g.total_bytes) &&
        absl::SimpleAtoi(f[3], &g.overhead_bytes)) {
      g.name = f[4];
      gpus_.push_back(g);
    } else if (absl::StartsWith(line, "none ")) {
      no_gpu_reason_ = std::string(line.substr(5));
    }
  }
  if (gpus_.empty() && no_gpu_reason_.empty()) {
    no_gpu_reason_ = absl::StrCat("the GPU probe (", config_.worker_path, " --probe-gpus) exited with status ",
                                  status, " and said: ", output.substr(0, 200));
  }
  return absl::OkStatus();
}

const JobManager::Gpu* JobManager::FindGpu(int index) const {
  for (const Gpu& g : gpus_) {
    if (g.index == index) return &g;
  }
  return nullptr;
}

absl::Status JobManager::Start() {
  SLIM_RETURN_IF_ERROR(base::MakeOwnerOnlyDir(config_.data_dir + "/jobs"));
  RemoveOrphanFolders();
  SLIM_RETURN_IF_ERROR(ProbeGpus());
  SLIM_ASSIGN_OR_RETURN(std::vector<v1::Job> running, store_->List("", {v1::Job::RUNNING}, "", 1 << 20));
  absl::MutexLock lock(&mu_);
  for (v1::Job& job : running) {
    // A previous server's job: resume from its checkpoint, on the GPU it
    // had; the steps after the checkpoint run again and their events are
    // marked replayed.
    const int64_t seen = job.progress().step();
    // "cuda:N", or "cuda:N,M,..." for a data-parallel job's GPUs.
    std::vector<int> gpus;
    absl::Status s = absl::OkStatus();
    if (absl::StartsWith(job.device(), "cuda")) {
      for (absl::string_view part : absl::StrSplit(job.device().substr(std::min<size_t>(5, job.device().size())), ',')) {
        int gpu = -1;
        if (!absl::SimpleAtoi(part, &gpu) || FindGpu(gpu) == nullptr) {
          s = absl::FailedPreconditionError(
              absl::StrCat("it ran on ", job.device(), ", which this server no longer has"));
        }
        gpus.push_back(gpu);
      }
    }
    // A data-parallel job: every rank again, placed afresh on the hosts.
    std::vector<int> hosts;
    const RankLayout layout = RanksOf(job.spec().resources());
    if (s.ok() && layout.ranks() > 1 && gpus.empty()) {
      std::vector<HostUse> use;
      int64_t this_machine = 0;
      HostsInUse(&use, &this_machine);
      hosts = PlaceRanks(config_.hosts, use, layout.nodes, layout.per_node, job.plan().peak_bytes(),
                         CpuCapacityBytes(), this_machine);
      if (hosts.empty()) {
        s = absl::FailedPreconditionError(absl::StrFormat(
            "its %d processes on each of %d hosts do not fit this server's hosts (%s)", layout.per_node, layout.nodes,
            HostListString(config_.hosts)));
      }
    }
    if (s.ok()) s = Launch(job, seen, gpus, hosts);
    if (!s.ok()) {
      v1::Job failed = job;
      SLIM_RETURN_IF_ERROR(SetState(failed, v1::Job::FAILED, absl::StrCat("could not resume: ", s.message())));
    }
  }
  scheduler_ = std::thread(&JobManager::SchedulerLoop, this);
  return absl::OkStatus();
}

void JobManager::Shutdown() {
  std::vector<Running*> workers;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_ && !scheduler_.joinable()) return;
    shutting_down_ = true;
    for (auto& [id, r] : running_) {
      r->worker->Stop();
      workers.push_back(r.get());
    }
    changed_.SignalAll();
  }
  for (Running* r : workers) {
    if (r->reader.joinable()) r->reader.join();
  }
  if (scheduler_.joinable()) scheduler_.join();
  absl::MutexLock lock(&mu_);
  running_.clear();
}

void JobManager::RemoveOrphanFolders() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config_.data_dir + "/jobs", ec)) {
    const std::string id = entry.path().filename().string();
    if (absl::IsNotFound(store_->Get(id).status())) std::filesystem::remove_all(entry.path(), ec);
  }
}

absl::StatusOr<v1::PlanMemoryResponse> JobManager::Plan(const v1::PlanMemoryRequest& request,
                                                        planner::PlanStop stop) {
  SLIM_RETURN_IF_ERROR(CheckModelSize(request.model(), config_.max_model_bytes));
  SLIM_ASSIGN_OR_RETURN(std::unique_ptr<PlanSlot> slot, StartPlanning(stop));
  return AnswerPlanMemory(request, config_, Pool(), stop);
}

DevicePool JobManager::Pool() const { return DevicePool{gpus_, no_gpu_reason_, CpuCapacityBytes()}; }

absl::StatusOr<v1::Job> JobManager::Authorized(const Identity& who, const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("job_id: missing");
  if (id.size() > 64) return absl::InvalidArgumentError(absl::StrFormat("job_id: %d bytes, not a job id", id.size()));
  SLIM_ASSIGN_OR_RETURN(v1::Job job, store_->Get(id));
  if (!who.admin() && job.owner() != who.user) {
    return absl::PermissionDeniedError(absl::StrFormat("job '%s' belongs to another user", id));
  }
  return job;
}

absl::Status JobManager::AppendEvent(const std::string& id, v1::JobEvent event) {
  event.set_job_id(id);
  SLIM_RETURN_IF_ERROR(store_->AppendEvent(std::move(event)).status());
  changed_.SignalAll();
  return absl::OkStatus();
}

absl::Status JobManager::SetState(v1::Job& job, v1::Job::State to, const std::string& reason) {
  v1::JobEvent e;
  e.mutable_state_change()->set_from(job.state());
  e.mutable_state_change()->set_to(to);
  e.mutable_state_change()->set_reason(reason);
  const v1::Job::State from = job.state();
  job.set_state(to);
  if (to == v1::Job::FAILED) job.set_failure_reason(reason);
  if (Finished(to)) *job.mutable_end_time() = TimeUtil::GetCurrentTime();
  SLIM_RETURN_IF_ERROR(store_->UpdateWithEvent(job, std::move(e)).status());
  if (to == v1::Job::RUNNING) ++(from == v1::Job::RUNNING ? resumed_ : started_);
  if (to == v1::Job::SUCCEEDED) ++succeeded_;
  if (to == v1::Job::FAILED) ++failed_;
  if (to == v1::Job::CANCELLED) ++cancelled_;
  changed_.SignalAll();
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> JobManager::Submit(const Identity& who, const v1::SubmitJobRequest& request,
                                           planner::PlanStop stop) {
  if (!request.has_spec()) return absl::InvalidArgumentError("spec: missing");
  if (request.client_request_id().size() > 128) {
    return absl::InvalidArgumentError(absl::StrFormat("client_request_id: %d bytes, over the limit of 128",
                                                      request.client_request_id().size()));
  }
  for (unsigned char c : request.client_request_id()) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrFormat("client_request_id: holds the byte 0x%02x; use printable ASCII (e.g. a UUID)", c));
    }
  }
  const v1::JobSpec& spec = request.spec();
  if (!request.client_request_id().empty()) {
    absl::StatusOr<v1::Job> existing = store_->FindByRequest(who.user, request.client_request_id());
    if (existing.ok()) {
      if (!google::protobuf::util::MessageDifferencer::Equals(existing->spec(), spec)) {
        return absl::AlreadyExistsError(absl::StrFormat(
            "client_request_id '%s' was used for job %s with a different spec", request.client_request_id(),
            existing->id()));
      }
      return *existing;
    }
  }
  // 1. Every field in its range, the model built at the batch, this
  // server's policy (admission.h).
  const DevicePool pool = Pool();
  SLIM_ASSIGN_OR_RETURN(ResolvedJob resolved, ResolveJob(spec, config_, pool));

  // 2. The plan, without the job lock, within this server's planning bounds.
  SLIM_ASSIGN_OR_RETURN(std::unique_ptr<PlanSlot> slot, StartPlanning(stop));
  SLIM_ASSIGN_OR_RETURN(PlacedPlan placed, PlanOnPool(resolved, config_, pool, stop));
  slot.reset();
  v1::MemoryPlan& plan = placed.plan;
  const bool on_gpu = placed.on_gpu;
  const v1::ModelSpec& model = resolved.model;

  // 3. Admission, then the record and its first event, at once.
  v1::Job job;
  *job.mutable_spec() = spec;
  // The worker runs this very plan (a GPU's re-plans with cuDNN's
  // workspaces and must fit its peak); the record keeps the summary.
  const std::string admitted_plan = plan.SerializeAsString();
  plan.clear_buffers();
  plan.clear_steps();
  *job.mutable_plan() = plan;
  // A user's dataset has no size before the worker loads it (0): its
  // epochs' steps, or its steps' epochs, are then unknown (0).
  // A data-parallel job's ranks each take a shard of every epoch.
  const int ranks = resolved.layout.ranks();
  const int64_t per_epoch = engine::TrainingExamples(spec.dataset()) / ranks / spec.batch_size();
  job.mutable_progress()->set_total_steps(spec.steps() > 0 ? spec.steps() : spec.epochs() * per_epoch);
  job.mutable_progress()->set_total_epochs(spec.steps() == 0 ? spec.epochs()
                                           : per_epoch > 0   ? (spec.steps() + per_epoch - 1) / per_epoch
                                                             : 0);
  job.set_device(on_gpu ? "cuda" : "cpu");  // cuda:N once a GPU is assigned
  job.set_ranks(ranks);
  v1::JobEvent queued;
  queued.mutable_state_change()->set_to(v1::Job::PENDING);
  queued.mutable_state_change()->set_reason(absl::StrFormat(
      "queued: %s with %s, planned peak %s%s", model.name(), plan.strategy(), base::FormatBytes(plan.peak_bytes()),
      ranks > 1 ? absl::StrFormat(" per process, %d processes (%d on each of %d hosts)", ranks,
                                  resolved.layout.per_node, resolved.layout.nodes)
                : ""));
  absl::MutexLock lock(&mu_);
  SLIM_ASSIGN_OR_RETURN(std::vector<v1::Job> active,
                        store_->List("", {v1::Job::PENDING, v1::Job::RUNNING}, "", config_.max_queue + 1));
  if (static_cast<int>(active.size()) >= config_.max_queue) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the queue is full: %d jobs pending or running (the server's --max-queue); try again later", active.size()));
  }
  const int mine = static_cast<int>(std::count_if(active.begin(), active.end(), [&](const v1::Job& j) {
    return j.owner() == who.user;
  }));
  if (mine >= config_.max_active_per_user) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "user '%s' has %d jobs pending or running, the limit (--max-active-per-user); wait or cancel one", who.user,
        mine));
  }
  bool existed = false;
  SLIM_ASSIGN_OR_RETURN(job, store_->Create(who.user, std::move(job), std::move(queued), request.client_request_id(),
                                            &existed, admitted_plan));
  if (!existed) ++submitted_;
  changed_.SignalAll();
  return job;
}

absl::StatusOr<v1::Job> JobManager::Get(const Identity& who, const std::string& id) { return Authorized(who, id); }

absl::StatusOr<v1::MemoryPlan> JobManager::AdmittedPlan(const Identity& who, const std::string& id) {
  SLIM_RETURN_IF_ERROR(Authorized(who, id).status());
  SLIM_ASSIGN_OR_RETURN(const std::string bytes, store_->AdmittedPlan(id));
  v1::MemoryPlan plan;
  if (!plan.ParseFromString(bytes)) {
    return absl::InternalError(absl::StrFormat("job '%s': its stored plan is corrupt", id));
  }
  return plan;
}

JobManager::Counts JobManager::counts() const {
  return Counts{submitted_.load(), started_.load(), resumed_.load(), succeeded_.load(), failed_.load(),
                cancelled_.load()};
}

std::vector<JobManager::DeviceUse> JobManager::Devices() const {
  std::vector<DeviceUse> devices;
  DeviceUse cpu;
  cpu.device = "cpu";
  cpu.description = absl::StrFormat("this machine's memory for training, %s", base::FormatBytes(CpuCapacityBytes()));
  cpu.capacity_bytes = CpuCapacityBytes();
  devices.push_back(cpu);
  std::map<int, int> slot;  // GPU index -> its entry
  for (const Gpu& g : gpus_) {
    DeviceUse d;
    d.device = absl::StrCat("cuda:", g.index);
    d.description = absl::StrFormat("%s, %s", g.name, base::FormatBytes(g.total_bytes));
    d.capacity_bytes = g.total_bytes;
    d.overhead_bytes = g.overhead_bytes;
    slot[g.index] = static_cast<int>(devices.size());
    devices.push_back(d);
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [id, r] : running_) {
    if (r->done) continue;
    absl::StatusOr<v1::Job> job = store_->Get(id);
    if (!job.ok()) continue;
    JobOnDevice on;
    on.id = id;
    on.owner = job->owner();
    on.name = job->spec().display_name();
    const v1::Metrics& m = job->latest_metrics();
    on.measured_bytes = std::max<int64_t>(0, m.measured_peak_bytes() - m.other_bytes());
    on.images_per_second = m.images_per_second();
    on.step = job->progress().step();
    if (!r->gpus.empty()) {
      for (int g : r->gpus) {
        auto it = slot.find(g);
        if (it == slot.end()) continue;
        on.planned_bytes = r->peak_bytes;
        devices[it->second].jobs.push_back(on);
      }
      continue;
    }
    // One process here, or the ranks of a data-parallel job on this machine.
    int here = r->hosts.empty() ? 1 : 0;
    for (int h : r->hosts) here += IsThisHost(config_.hosts[h].name) ? r->per_node : 0;
    if (here == 0) continue;
    on.planned_bytes = r->peak_bytes * here;
    on.measured_bytes *= here;
    devices[0].jobs.push_back(on);
  }
  return devices;
}

absl::StatusOr<v1::ListJobsResponse> JobManager::List(const Identity& who, const v1::ListJobsRequest& request) {
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: must be in [0, 1000], got ", request.page_size()));
  }
  const int size = request.page_size() == 0 ? 100 : request.page_size();
  std::set<int> states;
  for (int s : request.states()) {
    if (!v1::Job::State_IsValid(s) || s == v1::Job::STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat("states: ", s, " is not a job state"));
    }
    states.insert(s);
  }
  if (!request.page_token().empty()) {
    absl::StatusOr<v1::Job> after = store_->Get(request.page_token());
    if (!after.ok()) return absl::InvalidArgumentError("page_token: not a token from a previous ListJobs");
  }
  SLIM_ASSIGN_OR_RETURN(std::vector<v1::Job> jobs,
                        store_->List(who.admin() ? "" : who.user, states, request.page_token(), size + 1));
  // A page ends at page_size jobs or at kMaxListBytes, whichever comes
  // first, so it fits a stock client's 4 MiB messages (a job is at most
  // max_model_bytes of model and a few KiB besides).
  constexpr size_t kMaxListBytes = 3 << 20;
  v1::ListJobsResponse response;
  size_t bytes = 0;
  int taken = 0;
  for (; taken < static_cast<int>(jobs.size()) && taken < size; ++taken) {
    const size_t job_bytes = jobs[taken].ByteSizeLong() + 8;  // and its field tag and length
    if (taken > 0 && bytes + job_bytes > kMaxListBytes) break;
    bytes += job_bytes;
    *response.add_jobs() = std::move(jobs[taken]);
  }
  if (taken < static_cast<int>(jobs.size())) response.set_next_page_token(response.jobs(taken - 1).id());
  return response;
}

absl::StatusOr<v1::Job> JobManager::Cancel(const Identity& who, const std::string& id) {
  SLIM_ASSIGN_OR_RETURN(v1::Job job, Authorized(who, id));
  absl::MutexLock lock(&mu_);
  SLIM_ASSIGN_OR_RETURN(job, store_->Get(id));  // fresh, under the lock
  if (Finished(job.state())) {
    return absl::FailedPreconditionError(
        absl::StrFormat("job '%s' already finished (%s): nothing to cancel", id, v1::Job::State_Name(job.state())));
  }
  auto it = running_.find(id);
  if (it != running_.end()) {
    it->second->cancel_requested = true;
    it->second->worker->Stop();
  }
  SLIM_RETURN_IF_ERROR(SetState(job, v1::Job::CANCELLED, absl::StrCat("cancelled by ", who.user)));
  return job;
}

absl::Status JobManager::Delete(const Identity& who, const std::string& id) {
  SLIM_ASSIGN_OR_RETURN(v1::Job job, Authorized(who, id));
  if (!Finished(job.state())) {
    return absl::FailedPreconditionError(absl::StrFormat("job '%s' is %s: cancel it before deleting it", id,
                                                         v1::Job::State_Name(job.state())));
  }
  {
    // A cancelled job's worker may still be writing its last checkpoint into
    // the folder: it goes once the worker has exited (a race the service
    // test hit: the folder came back after the delete).
    absl::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + kDeleteWait;
    while (true) {
      const auto it = running_.find(id);
      if (it == running_.end() || it->second->done) break;
      if (absl::Now() >= deadline) {
        return absl::UnavailableError(absl::StrFormat(
            "job '%s' is still stopping (its worker has not exited after %d s): try again", id,
            absl::ToInt64Seconds(kDeleteWait)));
      }
      changed_.WaitWithDeadline(&mu_, std::min(deadline, absl::Now() + absl::Seconds(1)));
    }
  }
  // The record first: a server stopped in between leaves a folder without a
  // job, which the next start removes, never a job without its files.
  SLIM_RETURN_IF_ERROR(store_->Delete(id));
  std::error_code ignored;
  std::filesystem::remove_all(JobDir(id), ignored);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::JobEvent>> JobManager::Events(const Identity& who, const std::string& id,
                                                            int64_t after, absl::Duration wait, bool* done) {
  if (after < 0) return absl::InvalidArgumentError(absl::StrCat("after_sequence: must be >= 0, got ", after));
  SLIM_RETURN_IF_ERROR(Authorized(who, id).status());
  const absl::Time deadline = absl::Now() + wait;
  while (true) {
    SLIM_ASSIGN_OR_RETURN(v1::Job job, store_->Get(id));  // state first: then its events are all stored
    SLIM_ASSIGN_OR_RETURN(std::vector<v1::JobEvent> events, store_->Events(id, after, kEventBatch));
    *done = Finished(job.state()) && static_cast<int>(events.size()) < kEventBatch;
    if (!events.empty() || *done || absl::Now() >= deadline) return events;
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return events;
    changed_.WaitWithDeadline(&mu_, std::min(deadline, absl::Now() + absl::Seconds(1)));
  }
}

absl::StatusOr<std::string> JobManager::WeightsFile(const Identity& who, const std::string& id, int64_t* step) {
  SLIM_ASSIGN_OR_RETURN(v1::Job job, Authorized(who, id));
  const std::string dir = JobDir(id);
  if (job.state() == v1::Job::SUCCEEDED) {
    *step = job.progress().step();
    return dir + "/weights.safetensors";
  }
  if (job.state() != v1::Job::RUNNING) {
    return absl::FailedPreconditionError(absl::StrFormat("job '%s' is %s: weights come from succeeded or running jobs",
                                                         id, v1::Job::State_Name(job.state())));
  }
  absl::StatusOr<std::string> bytes = base::ReadFile(dir + "/checkpoint.safetensors");
  if (!bytes.ok()) {
    return absl::FailedPreconditionError(absl::StrFormat("job '%s' has no checkpoint yet", id));
  }
  SLIM_ASSIGN_OR_RETURN(engine::SafetensorsFile weights, engine::WeightsOfCheckpoint(*bytes, "checkpoint", step));
  const std::string path = dir + "/latest.safetensors";
  SLIM_RETURN_IF_ERROR(base::WriteFileAtomically(path, engine::EncodeSafetensors(weights)));
  return path;
}

}  // namespace slimtrain::server
