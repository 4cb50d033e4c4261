// file_util.h — whole-file reads and crash-safe whole-file writes.
//
// Anything slimtrain writes for later (exported models, plans, checkpoints,
// job records) goes through WriteFileAtomically, so a reader sees either the
// old file or the complete new one, never a torn write (docs/DESIGN.md, invariant 7).
//
//   SLIM_RETURN_IF_ERROR(WriteFileAtomically("out/resnet56.pbtxt", text));
//   SLIM_ASSIGN_OR_RETURN(std::string text, ReadFile("out/resnet56.pbtxt"));
//
// POSIX only. Error messages name the path and the system's reason; the
// status code follows errno (NOT_FOUND for ENOENT, PERMISSION_DENIED for
// EACCES, ...).
#ifndef SLIMTRAIN_BASE_FILE_UTIL_H_
#define SLIMTRAIN_BASE_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slimtrain::base {

// The whole content of the regular file at `path`, bytes as they are.
// NOT_FOUND when it does not exist; an error naming `path` when it cannot be
// opened or read (a directory included).
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Replaces the file at `path` with `contents`, atomically:
//   1. create a new temporary file next to it (same directory, so the rename
//      below cannot cross file systems), mode 0666 less the umask, or the
//      existing file's mode when it is replaced;
//   2. write everything, fsync it, close it;
//   3. rename it over `path` (atomic on POSIX), then fsync the directory so
//      the rename itself survives a crash.
// On any failure before the rename the temporary file is removed and `path`
// keeps its old content (or stays absent); the error names `path` and the
// failing step. Should only the final directory sync fail, the new content is
// already in place and the error says so.
// The directory must exist; nothing is created outside it. Not safe against
// another process writing the same path at the same time: the last rename wins.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// OK when the folder `path` is to be written in exists (or `path` names
// none); else INVALID_ARGUMENT "<flag>: '<folder>' is not a directory (for
// <path>)". For an output path given on a command line, checked before long
// work so that a typo does not waste it.
absl::Status CheckOutputDirectory(const std::string& path, absl::string_view flag);

// Creates `dir` and its missing parents, then makes `dir` readable by this
// user alone (mode 0700); an error naming `dir` when it cannot.
absl::Status MakeOwnerOnlyDir(const std::string& dir);

}  // namespace slimtrain::base

#endif  // SLIMTRAIN_BASE_FILE_UTIL_H_
