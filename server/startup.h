// startup.h — what slimtrain_server checks and prepares before it serves
// (once base::FlagSet has parsed its command line): an owner-only data
// directory, a tokens file others cannot read, and TLS files that are whole
// and belong together.
//
//   SLIM_RETURN_IF_ERROR(PrepareDataDir(dir, &note));
//   SLIM_ASSIGN_OR_RETURN(auto credentials, ServerCredentialsFromFlags(cert, key, ca));
//
// Every error names the flag and the file.
#ifndef SLIMTRAIN_SERVER_STARTUP_H_
#define SLIMTRAIN_SERVER_STARTUP_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"

namespace slimtrain::server {

// The data directory, created (with its parents) owner-only when missing.
// FAILED_PRECONDITION naming it when it is not a directory, or when others
// can write to it (group or world write bits; the server refuses to run
// there). One readable by others is made owner-only, and *note says so.
absl::Status PrepareDataDir(const std::string& dir, std::string* note);

// FAILED_PRECONDITION when the tokens file at `path` is readable by others or
// writable by anyone but its owner ("chmod 600").
absl::Status CheckTokensFileMode(const std::string& path);

// Credentials from --tls-cert, --tls-key and --tls-client-ca: insecure when
// all three are empty; TLS when cert and key are given (mutual TLS with a
// client CA). INVALID_ARGUMENT for a key or CA without a certificate, or a
// certificate without its key; FAILED_PRECONDITION naming the file that is
// missing or not PEM of the right kind, or both files when the key does not
// belong to the certificate (checked by serving TLS once on a loopback port).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFlags(const std::string& cert,
                                                                                    const std::string& key,
                                                                                    const std::string& client_ca);

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_STARTUP_H_
