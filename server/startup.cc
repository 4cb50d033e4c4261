// See startup.h.
#include "server/startup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"

namespace slimtrain::server {
namespace {

std::string ModeString(mode_t mode) { return absl::StrFormat("0%03o", mode & 0777); }

// The PEM blocks in `text` whose label ends with `label_suffix` ("CERTIFICATE",
// "PRIVATE KEY"), each with a base64 body that decodes; how many.
int CountPemBlocks(absl::string_view text, absl::string_view label_suffix) {
  int blocks = 0;
  while (true) {
    const size_t begin = text.find("-----BEGIN ");
    if (begin == absl::string_view::npos) return blocks;
    text.remove_prefix(begin + 11);
    const size_t label_end = text.find("-----");
    if (label_end == absl::string_view::npos) return blocks;
    const std::string label(text.substr(0, label_end));
    text.remove_prefix(label_end + 5);
    const std::string end_marker = absl::StrCat("-----END ", label, "-----");
    const size_t end = text.find(end_marker);
    if (end == absl::string_view::npos) return blocks;
    std::string body;
    for (char c : text.substr(0, end)) {
      if (!absl::ascii_isspace(static_cast<unsigned char>(c))) body.push_back(c);
    }
    text.remove_prefix(end + end_marker.size());
    std::string decoded;
    if (absl::EndsWith(label, label_suffix) && !body.empty() && absl::Base64Unescape(body, &decoded) &&
        !decoded.empty()) {
      ++blocks;
    }
  }
}

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path, absl::string_view kind) {
  absl::StatusOr<std::string> text = base::ReadFile(path);
  if (!text.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(flag, " ", path, ": cannot read it: ", text.status().message()));
  }
  if (CountPemBlocks(*text, kind) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(flag, " ", path, ": not a PEM file holding a ", absl::AsciiStrToLower(kind)));
  }
  return text;
}

}  // namespace

absl::Status PrepareDataDir(const std::string& dir, std::string* note) {
  note->clear();
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);  // parents get the umask's mode
    if (!ec) std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    if (ec) return absl::FailedPreconditionError(absl::StrCat("--data-dir ", dir, ": cannot create it: ", ec.message()));
    return absl::OkStatus();
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("--data-dir ", dir, ": not a directory"));
  }
  if (st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("--data-dir %s: owned by user id %d, not by this server's (%d)", dir, st.st_uid, geteuid()));
  }
  if ((st.st_mode & 022) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "--data-dir %s: others can write to it (mode %s), so they could change jobs, weights and tokens: "
        "chmod 700 it, or choose another directory",
        dir, ModeString(st.st_mode)));
  }
  if ((st.st_mode & 077) != 0) {
    if (chmod(dir.c_str(), 0700) != 0) {
      return absl::FailedPreconditionError(absl::StrCat("--data-dir ", dir, ": cannot make it owner-only"));
    }
    *note = absl::StrFormat("made %s owner-only (mode 0700, was %s): it holds every job's files", dir,
                            ModeString(st.st_mode));
  }
  return absl::OkStatus();
}

absl::Status CheckTokensFileMode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return absl::OkStatus();  // loading it says what is wrong
  if ((st.st_mode & 044) != 0 || (st.st_mode & 022) != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("--tokens %s: others can read or change it (mode %s); it holds every user's secret: "
                        "chmod 600 it",
                        path, ModeString(st.st_mode)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFlags(const std::string& cert,
                                                                                    const std::string& key,
                                                                                    const std::string& client_ca) {
  if (cert.empty()) {
    if (!key.empty()) return absl::InvalidArgumentError("--tls-key needs --tls-cert (the certificate it belongs to)");
    if (!client_ca.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first");
    }
    return grpc::InsecureServerCredentials();
  }
  if (key.empty()) return absl::InvalidArgumentError("--tls-cert needs --tls-key (its private key)");
  SLIM_ASSIGN_OR_RETURN(std::string cert_pem, ReadPem("--tls-cert", cert, "CERTIFICATE"));
  SLIM_ASSIGN_OR_RETURN(std::string key_pem, ReadPem("--tls-key", key, "PRIVATE KEY"));
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({key_pem, cert_pem});
  if (!client_ca.empty()) {
    SLIM_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem("--tls-client-ca", client_ca, "CERTIFICATE"));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(ssl);
  // gRPC checks the pair only when it serves: serve once on a loopback port,
  // so a key that does not belong to its certificate is named here, not
  // reported as an address that cannot be listened on.
  grpc::ServerBuilder trial;
  int port = 0;
  trial.AddListeningPort("127.0.0.1:0", credentials, &port);
  std::unique_ptr<grpc::Server> server = trial.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--tls-cert ", cert, " and --tls-key ", key,
        ": TLS cannot be served with them: the key does not belong to the certificate, or one is not valid"));
  }
  server->Shutdown();
  return credentials;
}

}  // namespace slimtrain::server
