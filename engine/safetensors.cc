// See safetensors.h.
#include "engine/safetensors.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "planner/json_text.h"

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
    for (const auto& [k, v] : file.metadata) kv.push_back(planner::JsonQuote(k) + ":" + planner::JsonQuote(v));
    absl::StrAppend(&header, "\"__metadata__\":{", absl::StrJoin(kv, ","), "}");
    first = false;
  }
  for (const SafeTensor& t : file.tensors) {
    const int64_t end = offset + static_cast<int64_t>(t.bytes.size());
    absl::StrAppend(&header, first ? "" : ",", planner::JsonQuote(t.name), ":{\"dtype\":", planner::JsonQuote(t.dtype),
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
      for (const auto& [k, v] : value.struct_value().fields()) file.metadata[k] = v.string_value();
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
    if (elem == 0) return bad(absl::StrCat("tensor '", name, "' has unknown dtype '", t.dtype, "'"));
    int64_t count = 1;
    for (const auto& d : f.at("shape").list_value().values()) {
      t.shape.push_back(static_cast<int64_t>(d.number_value()));
      count *= t.shape.back();
    }
    const auto& off = f.at("data_offsets").list_value();
    if (off.values_size() != 2) return bad(absl::StrCat("tensor '", name, "': data_offsets needs two numbers"));
    const int64_t begin = static_cast<int64_t>(off.values(0).number_value());
    const int64_t end = static_cast<int64_t>(off.values(1).number_value());
    if (begin < 0 || end < begin || end > static_cast<int64_t>(data.size())) {
      return bad(absl::StrFormat("tensor '%s': data_offsets [%d, %d) outside the %d data bytes (file offset %d)",
                                 name, begin, end, data.size(), 8 + n + begin));
    }
    if (end - begin != count * elem) {
      return bad(absl::StrFormat("tensor '%s': %d bytes for shape [%s] of %s needs %d", name, end - begin,
                                 absl::StrJoin(t.shape, ","), t.dtype, count * elem));
    }
    t.bytes = std::string(data.substr(begin, end - begin));
    spans.push_back({begin, end, file.tensors.size()});
    file.tensors.push_back(std::move(t));
  }
  // Tensors tile the data section, and come out in file order.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
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

}  // namespace slimtrain::engine
