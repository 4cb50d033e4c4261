// web_sessions.h — the dashboard's logins: a session per browser, each with
// its CSRF token.
//
// A browser logs in with a bearer token once (POST /login); the server keeps
// the token in memory under a random session id, which the browser holds in
// an HttpOnly, SameSite=Strict cookie. Every request with the cookie is
// authenticated again with the session's token (TokenStore::Authenticate),
// so a token removed from the tokens file (and SIGHUP) ends its sessions at
// once. Each session has a random CSRF token that pages embed in their forms
// and state-changing requests must send back.
//
//   SLIM_ASSIGN_OR_RETURN(Session s, sessions.Create(token));   // after a good login
//   std::optional<Session> s = sessions.Find(cookie_value);
//   if (!s || !SameSecret(csrf_field, s->csrf)) ... 403
#ifndef SLIMTRAIN_SERVER_WEB_SESSIONS_H_
#define SLIMTRAIN_SERVER_WEB_SESSIONS_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace slimtrain::server {

struct Session {
  std::string id;     // the cookie's value
  std::string token;  // the bearer token it logged in with ("" under --no-auth)
  std::string csrf;   // what its forms carry
  absl::Time expires;
};

class SessionStore {
 public:
  // Sessions live `lifetime` from their login; at most `max_sessions` at
  // once (the oldest go first).
  explicit SessionStore(absl::Duration lifetime = absl::Hours(12), int max_sessions = 10000)
      : lifetime_(lifetime), max_sessions_(max_sessions) {}

  absl::StatusOr<Session> Create(const std::string& token);
  // How long a session lives (its cookie's Max-Age).
  absl::Duration lifetime() const { return lifetime_; }
  // The session with this id, if it exists and has not expired.
  std::optional<Session> Find(absl::string_view id);
  void Remove(absl::string_view id);

 private:
  const absl::Duration lifetime_;
  const int max_sessions_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Session> sessions_ ABSL_GUARDED_BY(mu_);
};

// Whether two secrets are equal, in time independent of where they differ.
bool SameSecret(absl::string_view a, absl::string_view b);

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_WEB_SESSIONS_H_
