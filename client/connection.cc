// See connection.h.
#include "client/connection.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"

namespace slimtrain::client {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

}  // namespace

void Connection::Register(base::FlagSet& flags) {
  flags.String("server", &server_, "server address (or $SLIMTRAIN_SERVER; default 127.0.0.1:50051; https:// for TLS)");
  flags.String("token", &token_, "bearer token (or $SLIMTRAIN_TOKEN)");
  flags.String("token-file", &token_file_, "file holding the token (or $SLIMTRAIN_TOKEN_FILE)");
  flags.Bool("tls", &tls_, "use TLS");
  flags.String("tls-ca", &tls_ca_, "PEM roots to verify the server's certificate (default: the system's)");
}

absl::StatusOr<std::unique_ptr<v1::TrainingService::Stub>> Connection::Connect() {
  address_ = !server_.empty() ? server_ : !Env("SLIMTRAIN_SERVER").empty() ? Env("SLIMTRAIN_SERVER") : "127.0.0.1:50051";
  bool tls = tls_;
  if (absl::StartsWith(address_, "https://")) {
    tls = true;
    address_ = address_.substr(8);
  } else if (absl::StartsWith(address_, "http://")) {
    address_ = address_.substr(7);
  }
  resolved_token_ = !token_.empty() ? token_ : Env("SLIMTRAIN_TOKEN");
  const std::string file = !token_file_.empty() ? token_file_ : Env("SLIMTRAIN_TOKEN_FILE");
  if (resolved_token_.empty() && !file.empty()) {
    absl::StatusOr<std::string> text = base::ReadFile(file);
    if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat("--token-file: cannot read ", file));
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#') continue;
      resolved_token_ = std::string(line.substr(0, line.find_first_of(" \t")));
      break;
    }
    if (resolved_token_.empty()) return absl::InvalidArgumentError(absl::StrCat("--token-file: no token in ", file));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!tls_ca_.empty()) {
      absl::StatusOr<std::string> roots = base::ReadFile(tls_ca_);
      if (!roots.ok()) return absl::InvalidArgumentError(absl::StrCat("--tls-ca: cannot read ", tls_ca_));
      ssl.pem_root_certs = *roots;
    }
    credentials = grpc::SslCredentials(ssl);
  }
  return v1::TrainingService::NewStub(grpc::CreateChannel(address_, credentials));
}

std::unique_ptr<grpc::ClientContext> Connection::Context(absl::Duration timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!resolved_token_.empty()) context->AddMetadata("authorization", "Bearer " + resolved_token_);
  if (timeout != absl::InfiniteDuration()) context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

absl::Status Connection::Explain(const grpc::Status& s) const {
  const std::string& m = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      return absl::OkStatus();
    case grpc::StatusCode::UNAVAILABLE:
      return absl::UnavailableError(absl::StrCat("cannot reach the slimtrain server at ", address_,
                                                 " (is it running? --server or $SLIMTRAIN_SERVER): ", m));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::DeadlineExceededError(absl::StrCat("the server at ", address_, " did not answer in time"));
    case grpc::StatusCode::UNAUTHENTICATED:
      return absl::UnauthenticatedError(absl::StrCat(
          "the server at ", address_, " refused the token: ", m,
          " (give one with --token, --token-file, $SLIMTRAIN_TOKEN or $SLIMTRAIN_TOKEN_FILE)"));
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // gRPC's own refusal of a request over the server's message limit
      // ("Received message larger than max (N vs. M)"): say which limits.
      if (m.find("larger than max") != std::string::npos) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "the request is larger than the server at ", address_, " accepts: ", m,
            " bytes. An ONNX model travels whole, weights included: start the server with room for it "
            "(slimtrain_server --max-request-bytes and --max-model-bytes, e.g. both 134217728 for 128 MiB), "
            "or plan and train it on this machine (slimtrain plan/train --model-file)"));
      }
      return absl::ResourceExhaustedError(m);
    default:
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), m);
  }
}

}  // namespace slimtrain::client
