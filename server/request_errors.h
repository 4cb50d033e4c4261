// request_errors.h — a clear error for a request gRPC could not parse.
//
// When a request's bytes are not a valid message (truncated, or a string field
// holding invalid UTF-8), gRPC's generated handler never runs: the client gets
// INTERNAL with an empty message. This interceptor turns exactly that answer
// into INVALID_ARGUMENT naming the message type the method expects.
//
//   std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
//   creators.push_back(std::make_unique<RequestErrorInterceptorFactory>());
//   builder.experimental().SetInterceptorCreators(std::move(creators));
#ifndef SLIMTRAIN_SERVER_REQUEST_ERRORS_H_
#define SLIMTRAIN_SERVER_REQUEST_ERRORS_H_

#include <string>

#include "grpcpp/support/server_interceptor.h"

namespace slimtrain::server {

// "the request is not a valid slimtrain.v1.SubmitJobRequest: ..." for the
// method "/slimtrain.v1.TrainingService/SubmitJob" (its request type from the
// generated descriptors; the method's name when it has none).
std::string UnparsableRequestMessage(const std::string& method);

class RequestErrorInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_REQUEST_ERRORS_H_
