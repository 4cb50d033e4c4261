// zip_reader.h — named entries of a ZIP archive in memory (NumPy's .npz
// files: np.savez stores entries, np.savez_compressed deflates them).
//
//   SLIM_ASSIGN_OR_RETURN(auto entries, ReadZipEntries(bytes, "train.npz", {"x.npy", "y.npy"}));
//   // entries["x.npy"] is the entry's uncompressed bytes
//
// Steps:
//   1. find the end-of-central-directory record in the last 64 KiB + 22
//      bytes (and the ZIP64 one it points to, when its fields are saturated);
//   2. walk the central directory: each entry's name, method, sizes, CRC-32
//      and local header offset (ZIP64 extra fields read for saturated sizes);
//   3. for each wanted entry, skip its local header (whose sizes NumPy's
//      force_zip64 writes leave at 0xFFFFFFFF: the central directory's are
//      used), then copy a stored entry or inflate a deflated one (zlib, raw
//      deflate) into exactly its uncompressed size, and check the CRC-32.
// Every size and offset is checked against the archive's length before it
// is used; the uncompressed sizes of the wanted entries together may be at
// most `max_bytes`, checked before anything is allocated. Encrypted entries,
// multi-disk archives and methods other than stored (0) and deflate (8) are
// refused. Errors: INVALID_ARGUMENT naming `name` and what is wrong (with the
// byte offset), NOT_FOUND for a wanted entry that is absent (naming those
// present).
#ifndef SLIMTRAIN_ENGINE_ZIP_READER_H_
#define SLIMTRAIN_ENGINE_ZIP_READER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slimtrain::engine {

absl::StatusOr<std::map<std::string, std::string>> ReadZipEntries(absl::string_view zip, const std::string& name,
                                                                  const std::vector<std::string>& wanted,
                                                                  int64_t max_bytes);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_ZIP_READER_H_
