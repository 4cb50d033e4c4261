// See data_metadata.h.
#include "engine/data_metadata.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace slimtrain::engine {
namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += ch;  // UTF-8 as it is
    }
  }
  return out + "\"";
}

std::string FloatList(const std::vector<float>& v) {
  // %.9g: every float32 reads back to itself.
  return absl::StrCat("[", absl::StrJoin(v, ", ", [](std::string* out, float f) {
                        absl::StrAppend(out, absl::StrFormat("%.9g", f));
                      }),
                      "]");
}

absl::StatusOr<google::protobuf::ListValue> ParseList(const std::string& json, const std::string& filename,
                                                      const std::string& key) {
  google::protobuf::ListValue list;
  if (!google::protobuf::util::JsonStringToMessage(json, &list).ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: metadata '%s' is not a JSON list: '%s'", filename, key, json.substr(0, 200)));
  }
  return list;
}

}  // namespace

DataMetadata DescribeData(const Dataset& train, const ChannelStats& stats) {
  DataMetadata m;
  m.input_shape = train.image;
  m.input_scale = train.has_tokens() ? "token ids" : train.values.empty() ? "1/255" : "1";
  m.classes = train.class_names;
  m.mean = stats.mean;
  m.std = stats.std;
  return m;
}

std::map<std::string, std::string> MetadataEntries(const DataMetadata& m) {
  std::map<std::string, std::string> out;
  out["input_shape"] = absl::StrCat("[", absl::StrJoin(m.input_shape, ", "), "]");
  out["input_scale"] = m.input_scale;
  if (!m.classes.empty()) {
    out["classes"] = absl::StrCat("[", absl::StrJoin(m.classes, ", ", [](std::string* o, const std::string& c) {
                                    absl::StrAppend(o, JsonString(c));
                                  }),
                                  "]");
  }
  if (!m.mean.empty()) {
    out["mean"] = FloatList(m.mean);
    out["std"] = FloatList(m.std);
  }
  return out;
}

absl::StatusOr<DataMetadata> ParseDataMetadata(const std::map<std::string, std::string>& metadata,
                                               const std::string& filename) {
  DataMetadata m;
  auto bad = [&](const std::string& key, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: metadata '%s' %s", filename, key, why));
  };
  if (auto it = metadata.find("input_shape"); it != metadata.end()) {
    absl::StatusOr<google::protobuf::ListValue> list = ParseList(it->second, filename, it->first);
    if (!list.ok()) return list.status();
    for (const auto& v : list->values()) {
      const double d = v.number_value();
      if (!v.has_number_value() || d < 1 || d > 1e9 || d != std::floor(d)) {
        return bad(it->first, absl::StrCat("must list positive integers, got ", it->second));
      }
      m.input_shape.push_back(static_cast<int64_t>(d));
    }
    if (m.input_shape.empty()) return bad(it->first, "is empty");
  }
  if (auto it = metadata.find("input_scale"); it != metadata.end()) m.input_scale = it->second;
  if (auto it = metadata.find("classes"); it != metadata.end()) {
    absl::StatusOr<google::protobuf::ListValue> list = ParseList(it->second, filename, it->first);
    if (!list.ok()) return list.status();
    for (const auto& v : list->values()) {
      if (!v.has_string_value()) return bad(it->first, "must list strings");
      m.classes.push_back(v.string_value());
    }
  }
  for (const char* key : {"mean", "std"}) {
    auto it = metadata.find(key);
    if (it == metadata.end()) continue;
    absl::StatusOr<google::protobuf::ListValue> list = ParseList(it->second, filename, key);
    if (!list.ok()) return list.status();
    const bool is_std = std::string(key) == "std";
    std::vector<float>& out = is_std ? m.std : m.mean;
    for (const auto& v : list->values()) {
      const double d = v.number_value();
      if (!v.has_number_value() || !std::isfinite(d) || (is_std && !(d > 0))) {
        return bad(key, absl::StrCat("must list finite numbers (std: positive), got ", it->second));
      }
      out.push_back(static_cast<float>(d));
    }
  }
  if (m.mean.size() != m.std.size()) {
    return bad("mean", absl::StrFormat("has %d values and std has %d", m.mean.size(), m.std.size()));
  }
  return m;
}

}  // namespace slimtrain::engine
