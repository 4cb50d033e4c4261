// See auth.h.
#include "server/auth.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/json_text.h"
#include "base/status_macros.h"

namespace slimtrain::server {
namespace {

// What absl::StripAsciiWhitespace strips.
constexpr char kWhitespace[] = " \t\n\v\f\r";

}  // namespace

absl::StatusOr<absl::flat_hash_map<std::string, Identity>> TokenStore::Parse(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read the tokens file"));
  absl::flat_hash_map<std::string, Identity> tokens;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    // Fields split at any ASCII whitespace, as Authenticate trims it.
    const std::vector<std::string> parts = absl::StrSplit(text, absl::ByAnyChar(kWhitespace), absl::SkipEmpty());
    if (parts.size() != 3 || (parts[2] != "admin" && parts[2] != "user")) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s:%d: expected 'TOKEN USER ROLE' with ROLE admin or user", path, n));
    }
    if (parts[0].size() < 16) {
      return absl::InvalidArgumentError(absl::StrFormat("%s:%d: the token is shorter than 16 characters", path, n));
    }
    // An authorization header carries printable ASCII only: any other byte
    // makes a token no client can present. (The message leaves it out.)
    for (size_t i = 0; i < parts[0].size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(parts[0][i]);
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s:%d: the token's character %d is byte 0x%02x; tokens are printable ASCII", path, n, i + 1, c));
      }
    }
    const std::string& user = parts[1];
    const bool control = std::any_of(user.begin(), user.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (control || !base::IsValidUtf8(user)) {
      return absl::InvalidArgumentError(absl::StrFormat("%s:%d: user '%s' is not UTF-8 text without control characters",
                                                        path, n, absl::CHexEscape(user)));
    }
    tokens[parts[0]] = Identity{parts[1], parts[2] == "admin" ? Role::kAdmin : Role::kUser};
  }
  return tokens;
}

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Load(const std::string& path) {
  SLIM_ASSIGN_OR_RETURN(auto tokens, Parse(path));
  std::unique_ptr<TokenStore> store(new TokenStore(path));
  absl::MutexLock lock(&store->mu_);
  store->tokens_ = std::move(tokens);
  return store;
}

absl::StatusOr<std::string> RandomHex(int bytes) {
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  std::string raw(bytes, '\0');
  if (!urandom.read(raw.data(), bytes)) return absl::InternalError("cannot read /dev/urandom");
  std::string hex;
  for (unsigned char b : raw) absl::StrAppendFormat(&hex, "%02x", b);
  return hex;
}

absl::StatusOr<std::string> TokenStore::CreateWithAdmin(const std::string& path) {
  SLIM_ASSIGN_OR_RETURN(const std::string token, RandomHex(24));
  SLIM_RETURN_IF_ERROR(base::WriteFileAtomically(
      path, absl::StrCat("# slimtrain tokens: TOKEN USER ROLE (admin or user). Re-read on SIGHUP.\n", token,
                         " admin admin\n")));
  if (chmod(path.c_str(), 0600) != 0) return absl::InternalError(absl::StrCat(path, ": cannot set mode 0600"));
  return token;
}

absl::Status TokenStore::Reload() {
  SLIM_ASSIGN_OR_RETURN(auto tokens, Parse(path_));
  absl::MutexLock lock(&mu_);
  tokens_ = std::move(tokens);
  return absl::OkStatus();
}

absl::StatusOr<Identity> TokenStore::Authenticate(absl::string_view authorization) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError("no token: send 'authorization: Bearer TOKEN' (slimtrain --token)");
  }
  if (!absl::StartsWithIgnoreCase(authorization, "bearer ")) {
    return absl::UnauthenticatedError("the authorization metadata must be 'Bearer TOKEN'");
  }
  const std::string token(absl::StripAsciiWhitespace(authorization.substr(7)));
  absl::MutexLock lock(&mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return absl::UnauthenticatedError("unknown token");
  return it->second;
}

}  // namespace slimtrain::server
