// auth.h — bearer tokens: who a request comes from, and what they may do.
//
// A tokens file has one token per line: "TOKEN USER ROLE" (ROLE: admin or
// user), fields separated by whitespace, blank lines and "#" comments
// allowed. A token is at least 16 printable ASCII characters (what an
// authorization header can carry); a user is UTF-8 without control
// characters. Users act on their own jobs; admins on every job. The file is
// re-read on SIGHUP (Reload); a bad file then keeps the old tokens and says
// why.
//
//   SLIM_ASSIGN_OR_RETURN(auto tokens, TokenStore::Load(dir + "/tokens"));
//   absl::StatusOr<Identity> who = tokens->Authenticate("Bearer 3f9c...");
//
// Tokens never appear in messages or logs.
#ifndef SLIMTRAIN_SERVER_AUTH_H_
#define SLIMTRAIN_SERVER_AUTH_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace slimtrain::server {

enum class Role { kUser, kAdmin };

struct Identity {
  std::string user;
  Role role = Role::kUser;
  bool admin() const { return role == Role::kAdmin; }
};

class TokenStore {
 public:
  // NOT_FOUND for a missing file; INVALID_ARGUMENT naming the file and line
  // for a malformed one (without the token).
  static absl::StatusOr<std::unique_ptr<TokenStore>> Load(const std::string& path);

  // Writes a new tokens file at `path` (mode 0600, atomically) holding one
  // fresh random admin token for user "admin"; returns the token.
  static absl::StatusOr<std::string> CreateWithAdmin(const std::string& path);

  // Re-reads the file; on error keeps the current tokens.
  absl::Status Reload();

  // The identity of an "authorization" metadata value "Bearer TOKEN".
  // UNAUTHENTICATED when missing, malformed or unknown.
  absl::StatusOr<Identity> Authenticate(absl::string_view authorization) const;

  const std::string& path() const { return path_; }

 private:
  explicit TokenStore(std::string path) : path_(std::move(path)) {}
  static absl::StatusOr<absl::flat_hash_map<std::string, Identity>> Parse(const std::string& path);

  const std::string path_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Identity> tokens_ ABSL_GUARDED_BY(mu_);
};

// `bytes` bytes from /dev/urandom as lowercase hex (tokens, session ids).
absl::StatusOr<std::string> RandomHex(int bytes);

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_AUTH_H_
