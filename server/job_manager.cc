// See job_manager.h.
#include "server/job_manager.h"

#include <limits.h>
#include <stdlib.h>
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
#include "engine/checkpoint.h"
#include "engine/cpu/fast_backend.h"
#include "engine/data.h"
#include "engine/job_spec.h"
#include "engine/safetensors.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "planner/cost_model.h"
#include "planner/file_util.h"
#include "planner/graph.h"
#include "planner/mixed.h"
#include "planner/plan_request.h"
#include "planner/planner.h"
#include "planner/status_macros.h"
#include "planner/units.h"

namespace slimtrain::server {
namespace {

using google::protobuf::util::TimeUtil;

bool Finished(v1::Job::State s) {
  return s == v1::Job::SUCCEEDED || s == v1::Job::FAILED || s == v1::Job::CANCELLED;
}

}  // namespace

absl::StatusOr<std::string> ResolveInsideRoot(const std::string& root, const std::string& path) {
  const absl::Status outside =
      absl::InvalidArgumentError("dataset.path: must be a folder inside the server's data root");
  if (root.empty() || path.empty() || path[0] == '/') return outside;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return outside;
  }
  const std::string joined = root + "/" + path;
  char real_root[PATH_MAX], real_path[PATH_MAX];
  if (realpath(root.c_str(), real_root) == nullptr) return outside;
  if (realpath(joined.c_str(), real_path) != nullptr &&
      !absl::StartsWith(std::string(real_path) + "/", std::string(real_root) + "/")) {
    return outside;  // a symbolic link out of the root
  }
  return joined;
}

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

const JobManager::Gpu& JobManager::LargestGpu() const {
  return *std::max_element(gpus_.begin(), gpus_.end(), [](const Gpu& a, const Gpu& b) {
    return a.total_bytes - a.overhead_bytes < b.total_bytes - b.overhead_bytes;
  });
}

const JobManager::Gpu* JobManager::FindGpu(int index) const {
  for (const Gpu& g : gpus_) {
    if (g.index == index) return &g;
  }
  return nullptr;
}

absl::Status JobManager::Start() {
  SLIM_RETURN_IF_ERROR(planner::MakeOwnerOnlyDir(config_.data_dir + "/jobs"));
  RemoveOrphanFolders();
  SLIM_RETURN_IF_ERROR(ProbeGpus());
  SLIM_ASSIGN_OR_RETURN(std::vector<v1::Job> running, store_->List("", {v1::Job::RUNNING}, "", 1 << 20));
  absl::MutexLock lock(&mu_);
  for (v1::Job& job : running) {
    // A previous server's job: resume from its checkpoint, on the GPU it
    // had; the steps after the checkpoint run again and their events are
    // marked replayed.
    const int64_t seen = job.progress().step();
    int gpu = -1;
    absl::Status s = absl::OkStatus();
    if (absl::StartsWith(job.device(), "cuda")) {
      if (!absl::SimpleAtoi(job.device().substr(std::min<size_t>(5, job.device().size())), &gpu) ||
          FindGpu(gpu) == nullptr) {
        s = absl::FailedPreconditionError(absl::StrCat("it ran on ", job.device(), ", which this server no longer has"));
      }
    }
    if (s.ok()) s = Launch(job, seen, gpu);
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

namespace {

// An inline spec or an ONNX model within the server's --max-model-bytes.
absl::Status CheckModelSize(const v1::ModelRef& model, int64_t limit) {
  if (model.has_spec() && static_cast<int64_t>(model.spec().ByteSizeLong()) > limit) {
    return absl::InvalidArgumentError(
        absl::StrFormat("model.spec: %d bytes, over this server's limit of %d", model.spec().ByteSizeLong(), limit));
  }
  if (model.has_onnx() && static_cast<int64_t>(model.onnx().model().size()) > limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "model.onnx: %d bytes (the ONNX file with its weights), over this server's limit of %d (--max-model-bytes)",
        model.onnx().model().size(), limit));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::PlanMemoryResponse> JobManager::Plan(const v1::PlanMemoryRequest& request,
                                                        planner::PlanStop stop) {
  SLIM_RETURN_IF_ERROR(CheckModelSize(request.model(), config_.max_model_bytes));
  SLIM_ASSIGN_OR_RETURN(std::unique_ptr<PlanSlot> slot, StartPlanning(stop));
  planner::PlanRequestBounds bounds;
  bounds.limits = config_.limits;
  bounds.max_work = config_.max_plan_work;
  bounds.max_work_name = "this server's limit (--max-plan-work)";
  bounds.stop = &stop;
  // This server's GPUs as targets ("cuda:0": their memory less a worker's
  // overhead) besides the profiles. GPU targets plan without workspaces
  // (the server holds no cuDNN), the CPU as its workers run.
  std::vector<planner::DeviceProfile> devices;
  for (const Gpu& g : gpus_) {
    planner::DeviceProfile d;
    d.name = absl::StrCat("cuda:", g.index);
    d.gpu = true;
    d.memory_bytes = g.total_bytes;
    d.reserve_bytes = g.overhead_bytes;
    d.description = absl::StrCat(g.name, ", this server's GPU ", g.index);
    devices.push_back(d);
  }
  const std::string name = request.device().empty() ? "cpu" : request.device();
  absl::StatusOr<planner::DeviceProfile> profile = planner::FindDevice(name);
  const bool gpu = absl::StartsWith(name, "cuda:") || (profile.ok() && profile->gpu);
  if (gpu) return planner::AnswerPlanRequest(request, planner::DefaultCostModel(), devices, bounds);
  // The CPU as its workers run (workspaces depend on the thread count); a
  // cost model of its own, so no request grows another's primitive cache.
  const engine::FastBackend cost_model(config_.cpu_threads);
  return planner::AnswerPlanRequest(request, cost_model, devices, bounds);
}

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
  job.set_state(to);
  if (to == v1::Job::FAILED) job.set_failure_reason(reason);
  if (Finished(to)) *job.mutable_end_time() = TimeUtil::GetCurrentTime();
  SLIM_RETURN_IF_ERROR(store_->UpdateWithEvent(job, std::move(e)).status());
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
  // 1. Every field in its range (the strategy auto is resolved below), the
  // model built and checked at the batch.
  SLIM_RETURN_IF_ERROR(CheckModelSize(spec.model(), config_.max_model_bytes));
  const bool use_auto = spec.strategy() == "auto";
  v1::JobSpec check = spec;
  if (use_auto) check.set_strategy("exact");
  SLIM_RETURN_IF_ERROR(engine::ValidateJobSpec(check, config_.limits));
  SLIM_ASSIGN_OR_RETURN(v1::ModelSpec model, planner::ResolveModel(spec.model()));
  SLIM_ASSIGN_OR_RETURN(planner::Graph graph, planner::Graph::Build(model, config_.limits));

  // 2. This server's policy: one process on one device, its time limit, its
  // data root.
  const v1::Resources& res = spec.resources();
  if (res.gpu_count() > 1 || res.node_count() > 1) {
    return absl::UnimplementedError(absl::StrFormat(
        "resources: %d GPUs on %d nodes asks for data-parallel training, which this server does not run yet; "
        "ask for one GPU or the CPU",
        std::max(res.gpu_count(), 1), std::max(res.node_count(), 1)));
  }
  if (res.device() == "cuda" && gpus_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("resources.device: 'cuda', but this server has no usable GPU (",
                                                      no_gpu_reason_, "); ask for cpu or any"));
  }
  if (res.max_run_seconds() > config_.max_run_seconds) {
    return absl::InvalidArgumentError(absl::StrFormat("resources.max_run_seconds: %d, must be in [0, %d]",
                                                      res.max_run_seconds(), config_.max_run_seconds));
  }
  if (!spec.dataset().path().empty()) {
    SLIM_RETURN_IF_ERROR(ResolveInsideRoot(config_.data_root, spec.dataset().path()).status());
  }

  // 3. The plan: on a GPU when the job asks for one, or for any device and
  // the server has GPUs (unless it fits none of them); else on the CPU.
  // Planned without the job lock, within this server's planning bounds.
  SLIM_ASSIGN_OR_RETURN(std::unique_ptr<PlanSlot> slot, StartPlanning(stop));
  const int64_t capacity = CpuCapacityBytes();
  planner::PlanOptions options;
  options.batch_size = spec.batch_size();
  options.optimizer = spec.optimizer().kind().empty() ? "sgd" : spec.optimizer().kind();
  options.checkpoint_budget_bytes = spec.budget_bytes();
  // mixed with the job's own sensitivity table plans what its worker will
  // (without one the worker measures it first and may choose otherwise,
  // within the same budget). ValidateJobSpec checked the table.
  planner::Sensitivity sensitivity;
  if (spec.sensitivity().tensors_size() > 0) {
    SLIM_ASSIGN_OR_RETURN(sensitivity, planner::SensitivityFromTable(spec.sensitivity()));
    options.sensitivity = &sensitivity;
  }
  options.stop = &stop;
  auto plan_on = [&](const planner::CostModel& cost_model, int64_t room) -> absl::StatusOr<v1::MemoryPlan> {
    options.budget_bytes = spec.budget_bytes() > 0 ? spec.budget_bytes() : room;
    if (use_auto) {
      SLIM_ASSIGN_OR_RETURN(planner::StrategyChoice choice, planner::ChooseStrategy(graph, options, cost_model));
      if (!choice.fits) {
        return absl::FailedPreconditionError(
            spec.budget_bytes() > 0
                ? absl::StrFormat("budget_bytes: no strategy fits %d bytes: %s", spec.budget_bytes(), choice.reason)
                : absl::StrCat("strategy auto: ", choice.reason));
      }
      return choice.plans.back();
    }
    SLIM_ASSIGN_OR_RETURN(planner::Strategy s,
                          planner::ParseStrategy(spec.strategy().empty() ? "exact" : spec.strategy()));
    return planner::PlanMemory(graph, s, options, cost_model);
  };
  v1::MemoryPlan plan;
  bool on_gpu = res.device() == "cuda" || (res.device() != "cpu" && !gpus_.empty());
  if (on_gpu) {
    // Admission plans GPU jobs without cuDNN's workspaces (the server holds
    // no CUDA context); the worker plans again with them.
    const Gpu& largest = LargestGpu();
    const int64_t room = largest.total_bytes - largest.overhead_bytes;
    options.device = "cuda";
    absl::StatusOr<v1::MemoryPlan> gpu_plan = plan_on(planner::DefaultCostModel(), room);
    const bool fits = gpu_plan.ok() && gpu_plan->peak_bytes() <= room;
    if (fits) {
      plan = *std::move(gpu_plan);
    } else if (res.device() == "cuda" || (!gpu_plan.ok() && !absl::IsFailedPrecondition(gpu_plan.status()))) {
      if (!gpu_plan.ok()) return gpu_plan.status();
      return absl::FailedPreconditionError(absl::StrFormat(
          "the plan needs %s (peak of %s at batch %d; %d bytes) but the largest GPU of this server, cuda:%d (%s), "
          "has %s for it (%d bytes, after %s for the worker's CUDA context and libraries): choose a smaller batch "
          "or a strategy that fits (slimtrain plan --max-batch)",
          planner::FormatBytes(gpu_plan->peak_bytes()), gpu_plan->strategy(), gpu_plan->batch_size(),
          gpu_plan->peak_bytes(), largest.index, largest.name, planner::FormatBytes(room), room,
          planner::FormatBytes(largest.overhead_bytes)));
    } else {
      on_gpu = false;  // any device: the CPU may still fit it
    }
  }
  if (!on_gpu) {
    options.device = "cpu";
    // The CPU as its workers run; a cost model of this request's own.
    const engine::FastBackend cpu_cost(config_.cpu_threads);
    SLIM_ASSIGN_OR_RETURN(plan, plan_on(cpu_cost, capacity));
  }
  slot.reset();
  if (spec.budget_bytes() > 0 && plan.peak_bytes() > spec.budget_bytes()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "budget_bytes: the plan needs %s (peak of %s at batch %d; %d bytes) but budget_bytes is %d bytes: raise "
        "it, or choose a smaller batch or a strategy that fits (slimtrain plan --budget %d --strategies auto)",
        planner::FormatBytes(plan.peak_bytes()), plan.strategy(), plan.batch_size(), plan.peak_bytes(),
        spec.budget_bytes(), spec.budget_bytes()));
  }
  if (!on_gpu && plan.peak_bytes() > capacity) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the plan needs %s (peak of %s at batch %d; %d bytes) but the largest device of this server, cpu, has %s "
        "available (%d bytes): choose a smaller batch or a strategy that fits (slimtrain plan --max-batch)",
        planner::FormatBytes(plan.peak_bytes()), plan.strategy(), plan.batch_size(), plan.peak_bytes(),
        planner::FormatBytes(capacity), capacity));
  }

  // 4. Admission, then the record and its first event, at once.
  v1::Job job;
  *job.mutable_spec() = spec;
  plan.clear_buffers();
  plan.clear_steps();
  *job.mutable_plan() = plan;
  // A user's dataset has no size before the worker loads it (0): its
  // epochs' steps, or its steps' epochs, are then unknown (0).
  const int64_t per_epoch = engine::TrainingExamples(spec.dataset()) / spec.batch_size();
  job.mutable_progress()->set_total_steps(spec.steps() > 0 ? spec.steps() : spec.epochs() * per_epoch);
  job.mutable_progress()->set_total_epochs(spec.steps() == 0 ? spec.epochs()
                                           : per_epoch > 0   ? (spec.steps() + per_epoch - 1) / per_epoch
                                                             : 0);
  job.set_device(on_gpu ? "cuda" : "cpu");  // cuda:N once a GPU is assigned
  v1::JobEvent queued;
  queued.mutable_state_change()->set_to(v1::Job::PENDING);
  queued.mutable_state_change()->set_reason(absl::StrFormat(
      "queued: %s with %s, planned peak %s", model.name(), plan.strategy(), planner::FormatBytes(plan.peak_bytes())));
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
                                            &existed));
  changed_.SignalAll();
  return job;
}

absl::StatusOr<v1::Job> JobManager::Get(const Identity& who, const std::string& id) { return Authorized(who, id); }

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
    constexpr int kBatch = 500;
    SLIM_ASSIGN_OR_RETURN(std::vector<v1::JobEvent> events, store_->Events(id, after, kBatch));
    *done = Finished(job.state()) && static_cast<int>(events.size()) < kBatch;
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
  absl::StatusOr<std::string> bytes = planner::ReadFile(dir + "/checkpoint.safetensors");
  if (!bytes.ok()) {
    return absl::FailedPreconditionError(absl::StrFormat("job '%s' has no checkpoint yet", id));
  }
  SLIM_ASSIGN_OR_RETURN(engine::SafetensorsFile file, engine::DecodeSafetensors(*bytes, "checkpoint"));
  engine::SafetensorsFile weights;
  weights.metadata["format"] = "pt";
  for (engine::SafeTensor& t : file.tensors) {
    if (t.name != "exact.parameters" && !absl::StartsWith(t.name, "optimizer.")) weights.tensors.push_back(std::move(t));
  }
  *step = std::atoll(file.metadata["step"].c_str());
  const std::string path = dir + "/latest.safetensors";
  SLIM_RETURN_IF_ERROR(planner::WriteFileAtomically(path, engine::EncodeSafetensors(weights)));
  return path;
}

}  // namespace slimtrain::server
