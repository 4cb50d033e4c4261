// See web_sessions.h.
#include "server/web_sessions.h"

#include "base/status_macros.h"
#include "server/auth.h"

namespace slimtrain::server {

absl::StatusOr<Session> SessionStore::Create(const std::string& token) {
  Session s;
  SLIM_ASSIGN_OR_RETURN(s.id, RandomHex(32));
  SLIM_ASSIGN_OR_RETURN(s.csrf, RandomHex(32));
  s.token = token;
  const absl::Time now = absl::Now();
  s.expires = now + lifetime_;
  absl::MutexLock lock(&mu_);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->second.expires <= now) {
      sessions_.erase(it++);
    } else {
      ++it;
    }
  }
  while (static_cast<int>(sessions_.size()) >= max_sessions_) {
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.expires < oldest->second.expires) oldest = it;
    }
    sessions_.erase(oldest);
  }
  sessions_[s.id] = s;
  return s;
}

std::optional<Session> SessionStore::Find(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires <= absl::Now()) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void SessionStore::Remove(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(id);
}

bool SameSecret(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace slimtrain::server
