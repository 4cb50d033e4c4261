// data_files.h — how every dataset loader reads its files: whole, with a size
// cap checked before anything is allocated, gzip undone in memory, and, on a
// server, confined to the data root.
//
//   DataFiles files = DataFiles::ConfinedTo("/srv/data");   // the server's workers
//   DataFiles local;                                         // slimtrain train: paths as given
//   SLIM_ASSIGN_OR_RETURN(std::string bytes, files.Read("/srv/data/mine/train.npz"));
//   SLIM_ASSIGN_OR_RETURN(std::vector<std::string> classes, files.List(dir, DataFiles::kFolders));
//
// Confinement: every file and folder is opened first, then the path the
// kernel opened (/proc/self/fd/N, every symbolic link resolved) must lie
// inside the root's real path; otherwise INVALID_ARGUMENT naming the file
// (relative to the root) and nothing is read. Checking the opened descriptor,
// not the name, leaves no window between check and use.
// Errors name the file (relative to the root when confined): NOT_FOUND for a
// missing one, INVALID_ARGUMENT for one over its cap, a folder where a file
// should be, or corrupt gzip data (with the byte offset in the decompressed
// stream).
#ifndef SLIMTRAIN_ENGINE_DATA_FILES_H_
#define SLIMTRAIN_ENGINE_DATA_FILES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slimtrain::engine {

// The most bytes one split of a dataset may take in memory once decoded
// (pixels, values, labels, targets), and the most a file may hold.
inline constexpr int64_t kMaxDatasetBytes = int64_t{4} << 30;

class DataFiles {
 public:
  enum ListKind { kFiles, kFolders };

  DataFiles() = default;
  // Every path opened must resolve inside `root` (which must exist).
  static DataFiles ConfinedTo(const std::string& root);

  // The whole file at `path`, at most `max_bytes` (its size is checked
  // before reading).
  absl::StatusOr<std::string> Read(const std::string& path, int64_t max_bytes = kMaxDatasetBytes) const;

  // Read, then gunzip when the bytes start with gzip's magic (1f 8b); the
  // decompressed stream may hold at most `max_bytes`.
  absl::StatusOr<std::string> ReadMaybeGzip(const std::string& path, int64_t max_bytes = kMaxDatasetBytes) const;

  // The names (not paths) of the regular files, or of the folders, directly
  // inside `dir` (symbolic links followed), sorted by byte value (Python's
  // sorted() on the names); hidden names (".x") are skipped.
  absl::StatusOr<std::vector<std::string>> List(const std::string& dir, ListKind kind) const;

  // Whether `path` exists (a file or a folder; not checked for confinement:
  // Read and List do that).
  static bool Exists(const std::string& path);

  // `path` as errors show it: relative to the root when confined.
  std::string Display(const std::string& path) const;

 private:
  // Opens `path` (a folder when `folder`) and checks confinement; the
  // descriptor, or an error naming the path.
  absl::StatusOr<int> Open(const std::string& path, bool folder) const;

  std::string root_;       // as given; empty: not confined
  std::string real_root_;  // realpath(root_)
};

// The decompressed contents of gzip `bytes` (all members), at most
// `max_bytes`; errors name `name`.
absl::StatusOr<std::string> Gunzip(absl::string_view bytes, const std::string& name, int64_t max_bytes);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_DATA_FILES_H_
