// See zip_reader.h.
#include "engine/zip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace slimtrain::engine {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;

uint64_t Le(absl::string_view b, uint64_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

struct Entry {
  std::string name;
  uint64_t method = 0, flags = 0, crc = 0, compressed = 0, size = 0, local = 0;
};

class Reader {
 public:
  Reader(absl::string_view zip, const std::string& name) : zip_(zip), name_(name) {}

  absl::Status Bad(uint64_t offset, const std::string& why) const {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not a valid zip archive: %s (at byte %d)", name_, why,
                                                      offset));
  }
  // [at, at + n) lies inside the archive.
  bool Has(uint64_t at, uint64_t n) const { return at <= zip_.size() && n <= zip_.size() - at; }

  absl::StatusOr<std::vector<Entry>> Directory() const {
    if (zip_.size() < 22) return Bad(0, absl::StrCat("only ", zip_.size(), " bytes"));
    // 1. The end record: its signature, searched backwards over a comment.
    uint64_t end = zip_.size() - 22;
    const uint64_t stop = end > 65535 ? end - 65535 : 0;
    while (Le(zip_, end, 4) != kEndSig) {
      if (end == stop) return Bad(zip_.size(), "no end-of-central-directory record");
      --end;
    }
    if (Le(zip_, end + 4, 2) != 0 || Le(zip_, end + 6, 2) != 0) return Bad(end, "a multi-disk archive");
    uint64_t count = Le(zip_, end + 10, 2), dir_size = Le(zip_, end + 12, 4), dir = Le(zip_, end + 16, 4);
    if (count == 0xffff || dir_size == 0xffffffff || dir == 0xffffffff) {  // ZIP64
      if (end < 20 || Le(zip_, end - 20, 4) != kLocator64Sig) return Bad(end, "saturated fields but no ZIP64 locator");
      const uint64_t end64 = Le(zip_, end - 12, 8);
      if (!Has(end64, 56) || Le(zip_, end64, 4) != kEnd64Sig) return Bad(end - 12, "bad ZIP64 end record offset");
      count = Le(zip_, end64 + 32, 8);
      dir_size = Le(zip_, end64 + 40, 8);
      dir = Le(zip_, end64 + 48, 8);
    }
    if (!Has(dir, dir_size)) return Bad(end, "the central directory lies outside the archive");
    // 2. The entries.
    std::vector<Entry> entries;
    uint64_t at = dir;
    for (uint64_t i = 0; i < count; ++i) {
      if (!Has(at, 46) || Le(zip_, at, 4) != kCentralSig) return Bad(at, "bad central directory entry");
      Entry e;
      e.flags = Le(zip_, at + 8, 2);
      e.method = Le(zip_, at + 10, 2);
      e.crc = Le(zip_, at + 16, 4);
      e.compressed = Le(zip_, at + 20, 4);
      e.size = Le(zip_, at + 24, 4);
      const uint64_t name_len = Le(zip_, at + 28, 2), extra_len = Le(zip_, at + 30, 2);
      const uint64_t comment_len = Le(zip_, at + 32, 2);
      e.local = Le(zip_, at + 42, 4);
      if (!Has(at + 46, name_len + extra_len + comment_len)) return Bad(at, "entry runs past the archive");
      e.name = std::string(zip_.substr(at + 46, name_len));
      // ZIP64 extra field (id 1): the saturated values, in this order.
      for (uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
        const uint64_t id = Le(zip_, x, 2), len = Le(zip_, x + 2, 2);
        if (x + 4 + len > at + 46 + name_len + extra_len) return Bad(x, "extra field runs past its entry");
        if (id == 1) {
          uint64_t p = x + 4;
          for (uint64_t* v : {&e.size, &e.compressed, &e.local}) {
            if (*v != 0xffffffff) continue;
            if (p + 8 > x + 4 + len) return Bad(x, "short ZIP64 extra field");
            *v = Le(zip_, p, 8);
            p += 8;
          }
        }
        x += 4 + len;
      }
      entries.push_back(std::move(e));
      at += 46 + name_len + extra_len + comment_len;
    }
    return entries;
  }

  // 3. One entry's bytes.
  absl::StatusOr<std::string> Extract(const Entry& e) const {
    const std::string what = absl::StrCat("entry '", e.name, "'");
    if (e.flags & 1) return Bad(e.local, what + " is encrypted");
    if (!Has(e.local, 30) || Le(zip_, e.local, 4) != kLocalSig) return Bad(e.local, what + ": bad local header");
    const uint64_t data = e.local + 30 + Le(zip_, e.local + 26, 2) + Le(zip_, e.local + 28, 2);
    if (!Has(data, e.compressed)) return Bad(data, what + ": its data runs past the archive");
    const absl::string_view in = zip_.substr(data, e.compressed);
    std::string out;
    if (e.method == 0) {
      if (e.compressed != e.size) return Bad(data, what + ": stored with different sizes");
      out = std::string(in);
    } else if (e.method == 8) {
      out.resize(e.size);
      z_stream z{};
      if (inflateInit2(&z, -15) != Z_OK) return absl::InternalError("zlib: inflateInit2 failed");
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
      z.next_out = reinterpret_cast<Bytef*>(out.data());
      uint64_t in_left = in.size(), out_left = out.size();
      int rc = Z_OK;
      while (rc == Z_OK) {  // in slices of at most 1 GiB (avail_* are 32-bit)
        if (z.avail_in == 0) {
          z.avail_in = static_cast<uInt>(std::min<uint64_t>(in_left, uint64_t{1} << 30));
          in_left -= z.avail_in;
        }
        if (z.avail_out == 0) {
          z.avail_out = static_cast<uInt>(std::min<uint64_t>(out_left, uint64_t{1} << 30));
          out_left -= z.avail_out;
        }
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR && (z.avail_in > 0 || in_left > 0) && (z.avail_out > 0 || out_left > 0)) rc = Z_OK;
      }
      const uint64_t produced = z.total_out;
      const std::string why = z.msg != nullptr ? z.msg : "";
      inflateEnd(&z);
      if (rc != Z_STREAM_END || produced != e.size) {
        return Bad(data, absl::StrFormat("%s: deflate data %s after %d of %d bytes%s", what,
                                         rc == Z_STREAM_END ? "ends" : "is corrupt or cut short", produced, e.size,
                                         why.empty() ? "" : " (" + why + ")"));
      }
    } else {
      return Bad(e.local, absl::StrFormat("%s: compression method %d (only stored and deflate are read)", what,
                                          e.method));
    }
    const uint64_t crc = crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef*>(out.data()), out.size());
    if (crc != e.crc) return Bad(data, absl::StrFormat("%s: CRC-32 %08x, the directory says %08x", what, crc, e.crc));
    return out;
  }

 private:
  absl::string_view zip_;
  const std::string& name_;
};

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ReadZipEntries(absl::string_view zip, const std::string& name,
                                                                  const std::vector<std::string>& wanted,
                                                                  int64_t max_bytes) {
  const Reader reader(zip, name);
  SLIM_ASSIGN_OR_RETURN(const std::vector<Entry> entries, reader.Directory());
  std::vector<const Entry*> chosen;
  uint64_t total = 0;
  for (const std::string& want : wanted) {
    const Entry* found = nullptr;
    for (const Entry& e : entries) {
      if (e.name != want) continue;
      if (found != nullptr) return reader.Bad(e.local, absl::StrCat("two entries named '", want, "'"));
      found = &e;
    }
    if (found == nullptr) {
      std::vector<std::string> names;
      for (const Entry& e : entries) names.push_back(e.name);
      return absl::NotFoundError(absl::StrFormat("%s: no entry '%s' (it holds: %s)", name, want,
                                                 names.empty() ? "nothing" : absl::StrJoin(names, ", ")));
    }
    if (found->size > static_cast<uint64_t>(max_bytes) - std::min(total, static_cast<uint64_t>(max_bytes))) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: entry '%s' holds %d bytes uncompressed, over the limit of %d bytes for the archive", name, want,
          found->size, max_bytes));
    }
    total += found->size;
    chosen.push_back(found);
  }
  std::map<std::string, std::string> out;
  for (const Entry* e : chosen) {
    SLIM_ASSIGN_OR_RETURN(out[e->name], reader.Extract(*e));
  }
  return out;
}

}  // namespace slimtrain::engine
