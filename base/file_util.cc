#include "base/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace slimtrain::base {
namespace {

// Closes `fd` when it goes out of scope, unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  // Closes now; returns close()'s result (errno set on -1).
  int Close() {
    const int fd = fd_;
    fd_ = -1;
    return close(fd);
  }

 private:
  int fd_;
};

// Writes all of `data` to `fd`, retrying on short writes and EINTR. On failure
// returns false with errno set.
bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A name for a temporary file next to `path` that no other writer (thread or
// process) picks: ".<base>.tmp-<pid>-<counter>-<clock>".
std::string TempPathFor(const std::string& dir, const std::string& base) {
  static std::atomic<uint64_t> counter{0};
  const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  return absl::StrCat(dir, "/.", base, ".tmp-", getpid(), "-", counter.fetch_add(1), "-",
                      static_cast<int64_t>(ticks));
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot read '", path, "'"));
  FdCloser closer(fd);
  std::string contents;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot read '", path, "'"));
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  const std::string what = absl::StrCat("cannot write '", path, "'");
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the path names a directory"));
  }

  // 1. A fresh temporary file in the same directory.
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = TempPathFor(dir, base);
    fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(what, ": creating temporary file '", temp, "'"));
  }
  FdCloser closer(fd);
  // From here on, every failure removes the temporary file.
  auto fail = [&](const std::string& step) {
    const int saved = errno;
    unlink(temp.c_str());
    return absl::ErrnoToStatus(saved, absl::StrCat(what, ": ", step));
  };
  struct stat old;
  if (stat(path.c_str(), &old) == 0 && S_ISREG(old.st_mode) &&
      fchmod(fd, old.st_mode & 07777) != 0) {
    return fail("copying the old file's mode");
  }

  // 2. Write, flush to disk, close.
  if (!WriteAll(fd, contents)) return fail(absl::StrCat("writing '", temp, "'"));
  if (fsync(fd) != 0) return fail(absl::StrCat("syncing '", temp, "'"));
  if (closer.Close() != 0) return fail(absl::StrCat("closing '", temp, "'"));

  // 3. Replace the old file, then make the rename durable.
  if (rename(temp.c_str(), path.c_str()) != 0) {
    return fail(absl::StrCat("renaming '", temp, "' over it"));
  }
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    FdCloser dir_closer(dir_fd);
    // Some file systems cannot sync a directory (EINVAL); the rename stands.
    if (fsync(dir_fd) != 0 && errno != EINVAL) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("wrote '", path, "' but could not sync its directory '", dir, "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOutputDirectory(const std::string& path, absl::string_view flag) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code error;
  if (dir.empty() || std::filesystem::is_directory(dir, error)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(flag, ": '", dir.string(), "' is not a directory (for ", path, ")"));
}

absl::Status MakeOwnerOnlyDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (!ec) std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace slimtrain::base
