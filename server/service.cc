// See service.h.
#include "server/service.h"

#include <algorithm>
#include <chrono>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "server/grpc_status.h"

namespace slimtrain::server {

#define SLIM_AUTH_OR_RETURN(who)                                  \
  absl::StatusOr<Identity> who##_or = Authenticate(context);       \
  if (!who##_or.ok()) return ToGrpcStatus(who##_or.status());      \
  const Identity& who = *who##_or

namespace {

// The client's deadline and cancellation, for planning.
planner::PlanStop StopFor(grpc::ServerContext* context) {
  planner::PlanStop stop;
  if (context->deadline() != std::chrono::system_clock::time_point::max()) {
    stop.deadline = absl::FromChrono(context->deadline());
  }
  stop.cancelled = [context] { return context->IsCancelled(); };
  return stop;
}

// A job as answers carry it: an ONNX model's bytes (up to --max-model-bytes,
// weights included) are left out, its size kept, so a page of jobs stays
// small (proto/model.proto, OnnxModel.size_bytes).
void LeaveOutModelBytes(v1::Job& job) {
  if (!job.spec().model().has_onnx()) return;
  v1::OnnxModel* onnx = job.mutable_spec()->mutable_model()->mutable_onnx();
  onnx->set_size_bytes(static_cast<int64_t>(onnx->model().size()));
  onnx->clear_model();
}

}  // namespace

class TrainingServiceImpl::StreamSlot {
 public:
  StreamSlot(TrainingServiceImpl* service, std::string user) : service_(service), user_(std::move(user)) {}
  ~StreamSlot() {
    absl::MutexLock lock(&service_->streams_mu_);
    if (--service_->open_streams_[user_] == 0) service_->open_streams_.erase(user_);
  }

 private:
  TrainingServiceImpl* service_;
  std::string user_;
};

absl::StatusOr<std::unique_ptr<TrainingServiceImpl::StreamSlot>> TrainingServiceImpl::OpenStream(
    const std::string& user) {
  absl::MutexLock lock(&streams_mu_);
  int& open = open_streams_[user];
  if (open >= max_streams_per_user_) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "user '%s' has %d WatchJob and DownloadWeights streams open, this server's limit "
        "(--max-streams-per-user); close one first",
        user, open));
  }
  ++open;
  return std::make_unique<StreamSlot>(this, user);
}

absl::StatusOr<Identity> TrainingServiceImpl::Authenticate(grpc::ServerContext* context) const {
  if (tokens_ == nullptr) return Identity{"anonymous", Role::kAdmin};
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  const std::string value = it == md.end() ? "" : std::string(it->second.data(), it->second.size());
  return tokens_->Authenticate(value);
}

grpc::Status TrainingServiceImpl::PlanMemory(grpc::ServerContext* context, const v1::PlanMemoryRequest* request,
                                             v1::PlanMemoryResponse* response) {
  SLIM_AUTH_OR_RETURN(who);
  (void)who;
  absl::StatusOr<v1::PlanMemoryResponse> plans = jobs_->Plan(*request, StopFor(context));
  if (!plans.ok()) return ToGrpcStatus(plans.status());
  *response = *std::move(plans);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                                            v1::SubmitJobResponse* response) {
  SLIM_AUTH_OR_RETURN(who);
  absl::StatusOr<v1::Job> job = jobs_->Submit(who, *request, StopFor(context));
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response->mutable_job() = *std::move(job);
  LeaveOutModelBytes(*response->mutable_job());
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                                         v1::Job* response) {
  SLIM_AUTH_OR_RETURN(who);
  absl::StatusOr<v1::Job> job = jobs_->Get(who, request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response = *std::move(job);
  LeaveOutModelBytes(*response);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                                           v1::ListJobsResponse* response) {
  SLIM_AUTH_OR_RETURN(who);
  absl::StatusOr<v1::ListJobsResponse> list = jobs_->List(who, *request);
  if (!list.ok()) return ToGrpcStatus(list.status());
  *response = *std::move(list);
  for (v1::Job& job : *response->mutable_jobs()) LeaveOutModelBytes(job);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                                            v1::Job* response) {
  SLIM_AUTH_OR_RETURN(who);
  absl::StatusOr<v1::Job> job = jobs_->Cancel(who, request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response = *std::move(job);
  LeaveOutModelBytes(*response);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::DeleteJob(grpc::ServerContext* context, const v1::DeleteJobRequest* request,
                                            v1::DeleteJobResponse*) {
  SLIM_AUTH_OR_RETURN(who);
  return ToGrpcStatus(jobs_->Delete(who, request->job_id()));
}

grpc::Status TrainingServiceImpl::WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                                           grpc::ServerWriter<v1::JobEvent>* writer) {
  SLIM_AUTH_OR_RETURN(who);
  absl::StatusOr<std::unique_ptr<StreamSlot>> slot = OpenStream(who.user);
  if (!slot.ok()) return ToGrpcStatus(slot.status());
  int64_t after = request->after_sequence();
  while (true) {
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    if (jobs_->shutting_down()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("the server is shutting down; watch again after sequence ", after));
    }
    bool done = false;
    absl::StatusOr<std::vector<v1::JobEvent>> events =
        jobs_->Events(who, request->job_id(), after, absl::Seconds(1), &done);
    if (!events.ok()) return ToGrpcStatus(events.status());
    for (const v1::JobEvent& e : *events) {
      if (!writer->Write(e)) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      after = e.sequence();
    }
    if (done) return grpc::Status::OK;
  }
}

grpc::Status TrainingServiceImpl::DownloadWeights(grpc::ServerContext* context,
                                                  const v1::DownloadWeightsRequest* request,
                                                  grpc::ServerWriter<v1::WeightsChunk>* writer) {
  SLIM_AUTH_OR_RETURN(who);
  absl::StatusOr<std::unique_ptr<StreamSlot>> slot = OpenStream(who.user);
  if (!slot.ok()) return ToGrpcStatus(slot.status());
  int64_t step = 0;
  absl::StatusOr<std::string> path = jobs_->WeightsFile(who, request->job_id(), &step);
  if (!path.ok()) return ToGrpcStatus(path.status());
  std::ifstream in(*path, std::ios::binary | std::ios::ate);
  if (!in) return grpc::Status(grpc::StatusCode::INTERNAL, "the job's weights file is missing");
  const int64_t total = in.tellg();
  in.seekg(0);
  constexpr int64_t kChunk = 1 << 20;
  std::string buffer;
  for (int64_t offset = 0; offset < total || (total == 0 && offset == 0); offset += kChunk) {
    buffer.resize(std::min(kChunk, total - offset));
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    v1::WeightsChunk chunk;
    chunk.set_offset(offset);
    chunk.set_data(buffer);
    chunk.set_total_bytes(total);
    chunk.set_step(step);
    if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    if (total == 0) break;
  }
  return grpc::Status::OK;
}

}  // namespace slimtrain::server
