// slimtrain arena --input FILE.csv: plans a raw buffer list into one arena.
#include <iostream>

#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/flags.h"
#include "client/commands.h"
#include "planner/arena.h"
#include "planner/arena_csv.h"

namespace slimtrain::client {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "slimtrain arena: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int RunArenaCommand(const std::vector<std::string>& args) {
  std::string input, format = "table";
  int64_t alignment = 1;
  double search = 0.0;
  base::FlagSet flags("slimtrain arena",
                      "Plans a raw buffer list into one arena: no two buffers alive at the same step overlap.\n"
                      "The CSV has a header id,lower,upper,size (or buffer,start,end,size); each buffer is\n"
                      "alive over the half-open step interval [lower, upper) and takes size bytes.",
                      "slimtrain arena --input buffers.csv --format json");
  flags.String("input", &input, "CSV file of buffers (required)");
  flags.Int("alignment", &alignment, "offsets and sizes rounded up to this many bytes");
  flags.Double("search-seconds", &search, "extra time to search for a smaller arena on hard inputs");
  flags.String("format", &format, "table (arena and lower bound) or json (also every offset)");
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (input.empty()) return Fail(absl::InvalidArgumentError("--input FILE.csv is required"));
  if (format != "table" && format != "json") {
    return Fail(absl::InvalidArgumentError(absl::StrFormat("--format: '%s' is not table or json", format)));
  }
  absl::StatusOr<std::string> text = base::ReadFile(input);
  if (!text.ok()) return Fail(text.status());
  absl::StatusOr<planner::ArenaCsv> csv = planner::ParseArenaCsv(*text, input);
  if (!csv.ok()) return Fail(csv.status());
  planner::ArenaOptions options;
  options.alignment = alignment;
  options.search_seconds = search;
  absl::StatusOr<planner::ArenaPlan> plan = planner::PlanArena(csv->requests, options);
  if (!plan.ok()) return Fail(plan.status());
  if (format == "json") {
    std::cout << planner::ArenaPlanJson(*csv, *plan) << "\n";
  } else {
    std::cout << absl::StrFormat("buffers      %d\narena        %d bytes\nlower bound  %d bytes\nratio        %.4f\n",
                                 csv->requests.size(), plan->arena_bytes, plan->lower_bound_bytes,
                                 plan->lower_bound_bytes > 0
                                     ? static_cast<double>(plan->arena_bytes) / plan->lower_bound_bytes
                                     : 1.0);
  }
  return 0;
}

}  // namespace slimtrain::client
