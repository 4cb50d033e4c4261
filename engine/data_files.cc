// See data_files.h.
#include "engine/data_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace slimtrain::engine {
namespace {

std::string FormatGiB(int64_t bytes) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  return bytes % kGiB == 0 ? absl::StrCat(bytes / kGiB, " GiB") : absl::StrCat(bytes, " bytes");
}

}  // namespace

DataFiles DataFiles::ConfinedTo(const std::string& root) {
  DataFiles f;
  f.root_ = root;
  while (f.root_.size() > 1 && f.root_.back() == '/') f.root_.pop_back();
  char real[PATH_MAX];
  // A root that does not resolve confines to nothing: every open is refused.
  f.real_root_ = realpath(root.c_str(), real) != nullptr ? std::string(real) : std::string("\x01");
  return f;
}

std::string DataFiles::Display(const std::string& path) const {
  if (!root_.empty() && absl::StartsWith(path, root_ + "/")) return path.substr(root_.size() + 1);
  return path;
}

bool DataFiles::Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

absl::StatusOr<int> DataFiles::Open(const std::string& path, bool folder) const {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | (folder ? O_DIRECTORY : 0));
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(Display(path), ": no such ", folder ? "folder" : "file"));
    if (err == ENOTDIR && folder) return absl::InvalidArgumentError(absl::StrCat(Display(path), ": not a folder"));
    return absl::InvalidArgumentError(absl::StrCat(Display(path), ": cannot open (", std::strerror(err), ")"));
  }
  if (!root_.empty()) {
    // The path the kernel opened, every link resolved.
    char real[PATH_MAX];
    const std::string self = absl::StrCat("/proc/self/fd/", fd);
    const ssize_t n = readlink(self.c_str(), real, sizeof(real) - 1);
    const bool inside = n > 0 && (absl::StartsWith(absl::string_view(real, n), real_root_ + "/") ||
                                  absl::string_view(real, n) == real_root_);
    if (!inside) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat(Display(path), ": resolves outside the server's data root (a symbolic link?)"));
    }
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || (!folder && !S_ISREG(st.st_mode))) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(Display(path), ": not a regular file"));
  }
  return fd;
}

absl::StatusOr<std::string> DataFiles::Read(const std::string& path, int64_t max_bytes) const {
  SLIM_ASSIGN_OR_RETURN(const int fd, Open(path, false));
  struct stat st;
  fstat(fd, &st);
  if (st.st_size > max_bytes) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrFormat("%s: %d bytes, over the limit of %s", Display(path),
                                                      static_cast<int64_t>(st.st_size), FormatGiB(max_bytes)));
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = read(fd, &out[done], out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return absl::InvalidArgumentError(absl::StrFormat("%s: read failed at byte %d", Display(path), done));
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  return out;
}

absl::StatusOr<std::string> Gunzip(absl::string_view bytes, const std::string& name, int64_t max_bytes) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return absl::InternalError("zlib: inflateInit2 failed");
  std::string out;
  char buf[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(std::min<size_t>(bytes.size(), UINT32_MAX));
  size_t fed = z.avail_in;
  int rc = Z_OK;
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
    if (static_cast<int64_t>(out.size()) > max_bytes) {
      inflateEnd(&z);
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: decompresses to more than the limit of %s", name, FormatGiB(max_bytes)));
    }
    if (z.avail_in == 0 && fed < bytes.size()) {  // inputs over 4 GiB, in slices
      const size_t more = std::min<size_t>(bytes.size() - fed, UINT32_MAX);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + fed));
      z.avail_in = static_cast<uInt>(more);
      fed += more;
    }
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z);  // another gzip member follows
      continue;
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0) {
      inflateEnd(&z);
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: truncated gzip data: the stream ends early, after byte %d of the decompressed stream", name,
          out.size()));
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      const std::string why = z.msg != nullptr ? z.msg : "error";
      inflateEnd(&z);
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: corrupt gzip data at byte %d of the decompressed stream (%s)", name, out.size(), why));
    }
  }
  inflateEnd(&z);
  return out;
}

absl::StatusOr<std::string> DataFiles::ReadMaybeGzip(const std::string& path, int64_t max_bytes) const {
  absl::StatusOr<std::string> bytes = Read(path, max_bytes);
  if (!bytes.ok()) return bytes.status();
  const absl::string_view b = *bytes;
  if (b.size() < 2 || static_cast<uint8_t>(b[0]) != 0x1f || static_cast<uint8_t>(b[1]) != 0x8b) return bytes;
  return Gunzip(b, Display(path), max_bytes);
}

absl::StatusOr<std::vector<std::string>> DataFiles::List(const std::string& dir, ListKind kind) const {
  SLIM_ASSIGN_OR_RETURN(const int fd, Open(dir, true));
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(Display(dir), ": cannot list"));
  }
  std::vector<std::string> names;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    struct stat st;
    if (fstatat(fd, name.c_str(), &st, 0) != 0) continue;  // a dangling link: not listed
    if (kind == kFolders ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace slimtrain::engine
