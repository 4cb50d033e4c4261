// connection.h — how a remote command reaches the server: address, token, TLS.
//
//   --server ADDRESS   or $SLIMTRAIN_SERVER; default 127.0.0.1:50051. An
//                      address starting https:// (or --tls) uses TLS.
//   --token TOKEN      or $SLIMTRAIN_TOKEN
//   --token-file FILE  or $SLIMTRAIN_TOKEN_FILE: the first word of the first
//                      line that is not a comment (so the server's tokens file
//                      works as it is)
//   --tls-ca FILE      PEM roots to verify the server (default: the system's)
//
//   Connection c;
//   c.Register(flags);
//   SLIM_RETURN_IF_ERROR(flags.Parse(args));
//   SLIM_ASSIGN_OR_RETURN(auto stub, c.Connect());
//   auto context = c.Context(absl::Seconds(30));
//   grpc::Status s = stub->GetJob(context.get(), request, &job);
//   if (!s.ok()) return c.Explain(s);   // an error a user can act on
#ifndef SLIMTRAIN_CLIENT_CONNECTION_H_
#define SLIMTRAIN_CLIENT_CONNECTION_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "grpcpp/grpcpp.h"
#include "proto/service.grpc.pb.h"

namespace slimtrain::client {

class Connection {
 public:
  void Register(base::FlagSet& flags);
  // The stub; INVALID_ARGUMENT for an unreadable token file or TLS roots.
  absl::StatusOr<std::unique_ptr<v1::TrainingService::Stub>> Connect();
  // A context carrying the token, with a deadline `timeout` from now
  // (absl::InfiniteDuration() for none).
  std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) const;
  // The RPC's failure as something a user can act on: the address tried when
  // the server is unreachable, what to do about a refused token, the server's
  // own message otherwise (which names the field, the job, the numbers).
  absl::Status Explain(const grpc::Status& status) const;
  const std::string& address() const { return address_; }

 private:
  std::string server_, token_, token_file_, tls_ca_;
  bool tls_ = false;
  std::string address_, resolved_token_;
};

}  // namespace slimtrain::client

#endif  // SLIMTRAIN_CLIENT_CONNECTION_H_
