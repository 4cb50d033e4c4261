// grpc_status.h — an absl::Status as the gRPC status the client sees.
//
// The canonical codes are the same numbers in both; the message passes as is
// up to 1 KiB (it travels in a header: messages that echo a long field are cut
// there, at a UTF-8 character boundary, and say so).
#ifndef SLIMTRAIN_SERVER_GRPC_STATUS_H_
#define SLIMTRAIN_SERVER_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace slimtrain::server {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  constexpr size_t kMaxMessageBytes = 1024;
  std::string message(s.message());
  if (message.size() > kMaxMessageBytes) {
    size_t cut = kMaxMessageBytes;
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;  // not mid-character
    message.resize(cut);
    message += "... (cut)";
  }
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), message);
}

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_GRPC_STATUS_H_
