// service.h — the TrainingService's RPC handlers (proto/service.proto).
//
// Handlers are thin: authenticate, call the JobManager, map the status.
//
//   TrainingServiceImpl service(&jobs, tokens.get());   // tokens null: no auth
//   builder.RegisterService(&service);
#ifndef SLIMTRAIN_SERVER_SERVICE_H_
#define SLIMTRAIN_SERVER_SERVICE_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proto/service.grpc.pb.h"
#include "server/auth.h"
#include "server/job_manager.h"

namespace slimtrain::server {

class TrainingServiceImpl final : public v1::TrainingService::Service {
 public:
  // `tokens` null runs without authentication: every caller is an admin
  // named "anonymous" (the server allows it only on a loopback address).
  // Each user may hold `max_streams_per_user` WatchJob and DownloadWeights
  // streams open at once (each holds a server thread); more get
  // RESOURCE_EXHAUSTED.
  TrainingServiceImpl(JobManager* jobs, const TokenStore* tokens, int max_streams_per_user = 16)
      : jobs_(jobs), tokens_(tokens), max_streams_per_user_(max_streams_per_user) {}

  grpc::Status PlanMemory(grpc::ServerContext* context, const v1::PlanMemoryRequest* request,
                          v1::PlanMemoryResponse* response) override;
  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::SubmitJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;
  grpc::Status DownloadWeights(grpc::ServerContext* context, const v1::DownloadWeightsRequest* request,
                               grpc::ServerWriter<v1::WeightsChunk>* writer) override;
  grpc::Status DeleteJob(grpc::ServerContext* context, const v1::DeleteJobRequest* request,
                         v1::DeleteJobResponse* response) override;

 private:
  absl::StatusOr<Identity> Authenticate(grpc::ServerContext* context) const;
  // Counts an open stream of `user` until the returned object goes;
  // RESOURCE_EXHAUSTED over the limit.
  class StreamSlot;
  absl::StatusOr<std::unique_ptr<StreamSlot>> OpenStream(const std::string& user);

  JobManager* jobs_;
  const TokenStore* tokens_;
  const int max_streams_per_user_;
  absl::Mutex streams_mu_;
  std::map<std::string, int> open_streams_ ABSL_GUARDED_BY(streams_mu_);
};

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_SERVICE_H_
