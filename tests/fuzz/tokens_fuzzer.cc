// tokens_fuzzer — the server's tokens file (`--tokens`, re-read on SIGHUP):
// TokenStore::Load, Reload, then Authenticate with each token the file lists.
//
// Checks besides "no crash": a file that loads reloads; every token line of a
// file that loads authenticates, as "Bearer TOKEN", to the user of the last
// line listing that token.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/auth.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slimtrain;  // NOLINT: a fuzz target's one function
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  // TokenStore reads a path: the server's tokens file.
  const std::string path = fuzz::WriteScratchFile("tokens", text);
  absl::StatusOr<std::unique_ptr<server::TokenStore>> store = server::TokenStore::Load(path);
  if (!store.ok()) return 0;
  const absl::Status reloaded = (*store)->Reload();
  FUZZ_CHECK(reloaded.ok(), "a tokens file that loads does not reload: " << reloaded);
  // The token lines as auth.h defines them: "TOKEN USER ROLE" split at ASCII
  // whitespace, after blank lines and comments; the last line of a token wins.
  absl::flat_hash_map<std::string, std::string> user_of;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \t\n\v\f\r"), absl::SkipEmpty());
    FUZZ_CHECK(parts.size() == 3, "a loaded file has the line '" << line << "'");
    user_of[parts[0]] = parts[1];
  }
  for (const auto& [token, user] : user_of) {
    absl::StatusOr<server::Identity> who = (*store)->Authenticate("Bearer " + token);
    FUZZ_CHECK(who.ok(), "a token of the file does not authenticate: " << who.status());
    FUZZ_CHECK(who->user == user, "the token authenticates as '" << who->user << "', not '" << user << "'");
  }
  (*store)->Authenticate(text.substr(0, 128)).IgnoreError();
  return 0;
}
