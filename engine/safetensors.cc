// See safetensors.h.
#include "engine/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/json_text.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace slimtrain::engine {

int64_t DtypeBytes(absl::string_view dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
  return 0;
}

std::string EncodeSafetensors(const SafetensorsFile& file) {
  std::string header = "{";
  int64_t offset = 0;
  bool first = true;
  if (!file.metadata.empty()) {
    std::vector<std::string> kv;
    for (const auto& [k, v] : file.metadata) kv.push_back(base::JsonQuote(k) + ":" + base::JsonQuote(v));
    absl::StrAppend(&header, "\"__metadata__\":{", absl::StrJoin(kv, ","), "}");
    first = false;
  }
  for (const SafeTensor& t : file.tensors) {
    const int64_t end = offset + static_cast<int64_t>(t.bytes.size());
    absl::StrAppend(&header, first ? "" : ",", base::JsonQuote(t.name), ":{\"dtype\":", base::JsonQuote(t.dtype),
                    ",\"shape\":[", absl::StrJoin(t.shape, ","), "],\"data_offsets\":[", offset, ",", end, "]}");
    first = false;
    offset = end;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += header;
  for (const SafeTensor& t : file.tensors) out += t.bytes;
  return out;
}

namespace {

// Integers in the header are JSON numbers, read as doubles: exact up to 2^53.
constexpr double kMaxHeaderInteger = 9007199254740992.0;  // 2^53

// `v` as an integer in [0, 2^53], or nullopt when it is not one (a string, a
// fraction, a negative number, NaN, or past 2^53).
std::optional<int64_t> HeaderInteger(const google::protobuf::Value& v) {
  if (v.kind_case() != google::protobuf::Value::kNumberValue) return std::nullopt;
  const double d = v.number_value();
  if (!(d >= 0 && d <= kMaxHeaderInteger) || std::floor(d) != d) return std::nullopt;
  return static_cast<int64_t>(d);
}

// The header's text for `v`, for messages: 1.5, -3, "x", [..], {..}.
std::string HeaderText(const google::protobuf::Value& v) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(v, &json).ok()) return "?";
  return json.size() > 40 ? json.substr(0, 37) + "..." : json;
}

}  // namespace

absl::StatusOr<SafetensorsFile> DecodeSafetensors(absl::string_view bytes, absl::string_view filename) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ": not a valid safetensors file: ", why));
  };
  if (bytes.size() < 8) return bad(absl::StrCat("only ", bytes.size(), " bytes"));
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  if (n > bytes.size() - 8) return bad(absl::StrCat("header of ", n, " bytes past the end of the file at offset 8"));
  google::protobuf::Struct header;
  auto parsed = google::protobuf::util::JsonStringToMessage(std::string(bytes.substr(8, n)), &header);
  if (!parsed.ok()) return bad(absl::StrCat("header JSON: ", parsed.message().as_string()));
  const absl::string_view data = bytes.substr(8 + n);
  SafetensorsFile file;
  struct Span {
    int64_t begin, end;
    size_t index;
  };
  std::vector<Span> spans;
  for (const auto& [name, value] : header.fields()) {
    if (name == "__metadata__") {
      if (value.kind_case() != google::protobuf::Value::kStructValue) {
        return bad(absl::StrCat("__metadata__ is ", HeaderText(value), ", not an object"));
      }
      for (const auto& [k, v] : value.struct_value().fields()) {
        if (v.kind_case() != google::protobuf::Value::kStringValue) {
          return bad(absl::StrCat("__metadata__ '", k, "' is ", HeaderText(v), ", not a string"));
        }
        file.metadata[k] = v.string_value();
      }
      continue;
    }
    const auto& f = value.struct_value().fields();
    if (!f.count("dtype") || !f.count("shape") || !f.count("data_offsets")) {
      return bad(absl::StrCat("tensor '", name, "' lacks dtype, shape or data_offsets"));
    }
    SafeTensor t;
    t.name = name;
    t.dtype = f.at("dtype").string_value();
    const int64_t elem = DtypeBytes(t.dtype);
    if (elem == 0) return bad(absl::StrCat("tensor '", name, "' has unknown dtype ", HeaderText(f.at("dtype"))));
    const google::protobuf::Value& shape = f.at("shape");
    if (shape.kind_case() != google::protobuf::Value::kListValue) {
      return bad(absl::StrCat("tensor '", name, "': shape is ", HeaderText(shape), ", not a list"));
    }
    // Elements, then bytes; overflow means more than any file holds.
    int64_t count = 1;
    bool overflow = false;
    for (int i = 0; i < shape.list_value().values_size(); ++i) {
      std::optional<int64_t> d = HeaderInteger(shape.list_value().values(i));
      if (!d.has_value()) {
        return bad(absl::StrCat("tensor '", name, "': shape[", i, "] is ", HeaderText(shape.list_value().values(i)),
                                ", not an integer >= 0"));
      }
      t.shape.push_back(*d);
      overflow = overflow || __builtin_mul_overflow(count, *d, &count);
    }
    int64_t want = 0;
    overflow = overflow || __builtin_mul_overflow(count, elem, &want);
    const google::protobuf::Value& offsets = f.at("data_offsets");
    if (offsets.kind_case() != google::protobuf::Value::kListValue || offsets.list_value().values_size() != 2) {
      return bad(absl::StrCat("tensor '", name, "': data_offsets is ", HeaderText(offsets),
                              ", not two integers [begin, end]"));
    }
    const std::optional<int64_t> b = HeaderInteger(offsets.list_value().values(0));
    const std::optional<int64_t> e = HeaderInteger(offsets.list_value().values(1));
    if (!b.has_value() || !e.has_value()) {
      return bad(absl::StrCat("tensor '", name, "': data_offsets ", HeaderText(offsets),
                              " are not two integers >= 0"));
    }
    const int64_t begin = *b, end = *e;
    if (end < begin || end > static_cast<int64_t>(data.size())) {
      return bad(absl::StrFormat("tensor '%s': data_offsets [%d, %d) outside the %d data bytes (file offset %d)",
                                 name, begin, end, data.size(), 8 + n + begin));
    }
    if (overflow || end - begin != want) {
      return bad(absl::StrFormat("tensor '%s': %d bytes for shape [%s] of %s needs %s", name, end - begin,
                                 absl::StrJoin(t.shape, ","), t.dtype,
                                 overflow ? "more than 2^63" : absl::StrCat(want)));
    }
    t.bytes = std::string(data.substr(begin, end - begin));
    spans.push_back({begin, end, file.tensors.size()});
    file.tensors.push_back(std::move(t));
  }
  // Tensors tile the data section, and come out in file order: by offset,
  // empty tensors before the one starting where they sit, ties by name (the
  // header's key order is not kept).
  std::sort(spans.begin(), spans.end(), [&](const Span& a, const Span& b) {
    return std::tie(a.begin, a.end, file.tensors[a.index].name) <
           std::tie(b.begin, b.end, file.tensors[b.index].name);
  });
  int64_t expect = 0;
  std::vector<SafeTensor> ordered;
  for (const Span& s : spans) {
    if (s.begin != expect) {
      return bad(absl::StrFormat("tensor '%s' starts at data offset %d, expected %d (gap or overlap)",
                                 file.tensors[s.index].name, s.begin, expect));
    }
    expect = s.end;
    ordered.push_back(std::move(file.tensors[s.index]));
  }
  if (expect != static_cast<int64_t>(data.size())) {
    return bad(absl::StrFormat("%d data bytes after the last tensor", data.size() - expect));
  }
  file.tensors = std::move(ordered);
  return file;
}

absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path) {
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return DecodeSafetensors(*bytes, path);
}

}  // namespace slimtrain::engine
