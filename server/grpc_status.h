// grpc_status.h — an absl::Status as the gRPC status the client sees.
//
// The canonical codes are the same numbers in both; the message passes as is.
#ifndef SLIMTRAIN_SERVER_GRPC_STATUS_H_
#define SLIMTRAIN_SERVER_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace slimtrain::server {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_GRPC_STATUS_H_
