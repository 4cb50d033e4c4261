// arena_csv.cc — the CSV reader and JSON writer of arena_csv.h.
#include "planner/arena_csv.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/json_text.h"
#include "base/status_macros.h"

namespace slimtrain {
namespace planner {
namespace {

// The four columns, each with its two accepted names, and the optional
// offset column (a placement: ArenaPlanCsv's, MiniMalloc's solutions).
enum Column { kId, kLower, kUpper, kSize, kOffset, kNumColumns };
constexpr const char* kNames[kNumColumns][2] = {
    {"id", "buffer"}, {"lower", "start"}, {"upper", "end"}, {"size", "size"}, {"offset", "offset"}};

// Where a column is in the file, and the name the header gave it.
struct ColumnAt {
  int index = -1;
  std::string name;
};

struct Header {
  std::vector<ColumnAt> columns;  // indexed by Column
  size_t num_fields = 0;          // every line has this many
};

// Reports problems at one line of one file: "buffers.csv:7: ...".
class Where {
 public:
  Where(absl::string_view filename, int line) : filename_(filename), line_(line) {}

  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(filename_, ":", line_, ": ", message));
  }
  absl::Status FieldError(const ColumnAt& column, absl::string_view value,
                          absl::string_view problem) const {
    return Error(absl::StrCat("column '", column.name, "': '", value, "' ", problem));
  }

 private:
  absl::string_view filename_;
  int line_;
};

// Splits a line into trimmed fields.
std::vector<absl::string_view> Fields(absl::string_view line) {
  std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
  for (absl::string_view& f : fields) f = absl::StripAsciiWhitespace(f);
  return fields;
}

absl::StatusOr<Header> ParseHeader(absl::string_view line, const Where& where) {
  const std::vector<absl::string_view> fields = Fields(line);
  Header header{std::vector<ColumnAt>(kNumColumns), fields.size()};
  std::vector<ColumnAt>& columns = header.columns;
  for (size_t i = 0; i < fields.size(); ++i) {
    for (int c = 0; c < kNumColumns; ++c) {
      if (!absl::EqualsIgnoreCase(fields[i], kNames[c][0]) &&
          !absl::EqualsIgnoreCase(fields[i], kNames[c][1])) {
        continue;
      }
      if (columns[c].index >= 0) {
        return where.Error(absl::StrCat("header names column ", kNames[c][0], " twice ('",
                                        columns[c].name, "' and '", fields[i], "')"));
      }
      columns[c] = {static_cast<int>(i), std::string(fields[i])};
    }
  }
  for (int c = 0; c < kOffset; ++c) {
    if (columns[c].index < 0) {
      return where.Error(absl::StrCat("header has no column ", kNames[c][0],
                                      c == kSize ? "" : absl::StrCat("/", kNames[c][1]),
                                      " (expected id,lower,upper,size or buffer,start,end,size)"));
    }
  }
  return header;
}

// An integer field in [min, max].
absl::StatusOr<int64_t> ParseInteger(const ColumnAt& column, absl::string_view value, int64_t min,
                                     int64_t max, const Where& where) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(value, &v)) {
    // SimpleAtoi also fails on integers past int64.
    const bool digits = !value.empty() && value.find_first_not_of("+-0123456789") == value.npos;
    return where.FieldError(column, value,
                            digits ? absl::StrCat("is out of range ", min, "..", max)
                                   : "is not an integer");
  }
  if (v < min || v > max) {
    return where.FieldError(column, value, absl::StrCat("is out of range ", min, "..", max));
  }
  return v;
}

}  // namespace

absl::StatusOr<ArenaCsv> ParseArenaCsv(absl::string_view text, absl::string_view filename) {
  constexpr absl::string_view kByteOrderMark = "\xEF\xBB\xBF";
  if (absl::StartsWith(text, kByteOrderMark)) text.remove_prefix(kByteOrderMark.size());
  constexpr int64_t kMaxStep = std::numeric_limits<int32_t>::max();
  ArenaCsv csv;
  Header header;
  const std::vector<ColumnAt>& columns = header.columns;
  absl::flat_hash_map<std::string, int> line_of_id;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const Where where(filename, line_number);
    if (columns.empty()) {
      SLIM_ASSIGN_OR_RETURN(header, ParseHeader(line, where));
      continue;
    }
    const std::vector<absl::string_view> fields = Fields(line);
    if (fields.size() != header.num_fields) {
      return where.Error(absl::StrCat(fields.size(), " fields, the header has ", header.num_fields));
    }
    const absl::string_view id = fields[columns[kId].index];
    if (id.empty()) return where.FieldError(columns[kId], id, "is empty");
    // The plan is JSON keyed by id, and JSON is UTF-8.
    if (!base::IsValidUtf8(id)) {
      return where.FieldError(columns[kId], absl::CHexEscape(id), "is not valid UTF-8");
    }
    const auto [seen, inserted] = line_of_id.emplace(std::string(id), line_number);
    if (!inserted) {
      return where.FieldError(columns[kId], id, absl::StrCat("repeats line ", seen->second));
    }
    SLIM_ASSIGN_OR_RETURN(const int64_t lower,
                          ParseInteger(columns[kLower], fields[columns[kLower].index], 0,
                                       kMaxStep, where));
    SLIM_ASSIGN_OR_RETURN(const int64_t upper,
                          ParseInteger(columns[kUpper], fields[columns[kUpper].index], 0,
                                       kMaxStep + 1, where));
    if (upper <= lower) {
      return where.Error(absl::StrCat("column '", columns[kUpper].name, "': ", upper,
                                      " is not > ", columns[kLower].name, " ", lower));
    }
    SLIM_ASSIGN_OR_RETURN(const int64_t size,
                          ParseInteger(columns[kSize], fields[columns[kSize].index], 0,
                                       std::numeric_limits<int64_t>::max(), where));
    if (columns[kOffset].index >= 0) {
      SLIM_ASSIGN_OR_RETURN(const int64_t offset,
                            ParseInteger(columns[kOffset], fields[columns[kOffset].index], 0,
                                         std::numeric_limits<int64_t>::max(), where));
      csv.offsets.push_back(offset);
    }
    csv.ids.emplace_back(id);
    csv.requests.push_back(
        {size, static_cast<int32_t>(lower), static_cast<int32_t>(upper - 1)});
  }
  if (columns.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": no header (expected id,lower,upper,size or buffer,start,end,size)"));
  }
  return csv;
}

std::string ArenaPlanJson(const ArenaCsv& csv, const ArenaPlan& plan, int64_t capacity) {
  SLIM_CHECK(plan.offsets.size() == csv.ids.size());
  std::string out = absl::StrCat("{\n  \"arena_bytes\": ", plan.arena_bytes,
                                 ",\n  \"arena_lower_bound_bytes\": ", plan.lower_bound_bytes,
                                 ",\n  \"floor_bytes\": ", plan.floor_bytes);
  if (plan.start_bytes > 0) absl::StrAppend(&out, ",\n  \"start_bytes\": ", plan.start_bytes);
  if (capacity > 0) {
    absl::StrAppend(&out, ",\n  \"capacity_bytes\": ", capacity, ",\n  \"fits\": \"",
                    FitsName(FitsIn(plan, capacity)), "\"");
  }
  absl::StrAppend(&out, ",\n  \"proven_optimal\": ", plan.proven_optimal ? "true" : "false",
                  ",\n  \"method\": ");
  base::AppendJsonQuoted(plan.method, &out);
  out.append(",\n  \"exact_search\": ");
  base::AppendJsonQuoted(plan.exact_search, &out);
  absl::StrAppend(&out, ",\n  \"exact_nodes\": ", plan.exact_nodes);
  out.append(",\n  \"offsets\": {");
  for (size_t i = 0; i < csv.ids.size(); ++i) {
    out.append(i == 0 ? "\n    " : ",\n    ");
    base::AppendJsonQuoted(csv.ids[i], &out);
    absl::StrAppend(&out, ": ", plan.offsets[i]);
  }
  out.append(csv.ids.empty() ? "}\n}\n" : "\n  }\n}\n");
  return out;
}

std::string ArenaPlanCsv(const ArenaCsv& csv, const ArenaPlan& plan) {
  SLIM_CHECK(plan.offsets.size() == csv.ids.size());
  std::string out = "id,lower,upper,size,offset\n";
  for (size_t i = 0; i < csv.ids.size(); ++i) {
    const ArenaRequest& r = csv.requests[i];
    absl::StrAppend(&out, csv.ids[i], ",", r.first, ",", int64_t{r.last} + 1, ",", r.size, ",", plan.offsets[i], "\n");
  }
  return out;
}

}  // namespace planner
}  // namespace slimtrain
