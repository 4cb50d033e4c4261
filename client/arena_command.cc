// slimtrain arena --input FILE.csv [--search-seconds S] [--threads N] [--capacity SIZE]
// [--output FILE.csv] [--quiet]: plans a raw buffer list into one arena; S
// seconds of exact search (planner/arena_exact.h) may lower it and prove it
// optimal, or, with a capacity, decide whether everything fits in it.
// Exit status: 0, or with --capacity 0 fits, 3 does not fit, 4 unknown (the
// time ran out first); 2 a bad flag or input, 1 any other failure.
#include <chrono>
#include <cmath>
#include <cstddef>
#include <iostream>

#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/flags.h"
#include "base/units.h"
#include "client/commands.h"
#include "planner/arena.h"
#include "planner/arena_csv.h"

namespace slimtrain::client {
namespace {

// --capacity's answers as exit statuses, so a script can branch on them
// (`slimtrain arena --capacity 1MiB ... && deploy`); 1 and 2 stay errors.
constexpr int kFitsNot = 3;
constexpr int kFitsUnknown = 4;

int FitsExitCode(planner::Fits fits) {
  switch (fits) {
    case planner::Fits::kYes:
      return 0;
    case planner::Fits::kNo:
      return kFitsNot;
    case planner::Fits::kUnknown:
      return kFitsUnknown;
  }
  return kFitsUnknown;
}

int Fail(const absl::Status& status) {
  std::cerr << "slimtrain arena: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int RunArenaCommand(const std::vector<std::string>& args) {
  std::string input, format = "table";
  int64_t alignment = 1;
  double search = 1.0;  // as the planner's arena_exact_seconds
  // Parallel searches: planner::DefaultExactThreads().
  int64_t threads = planner::DefaultExactThreads();
  base::FlagSet flags("slimtrain arena",
                      "Plans a raw buffer list into one arena: no two buffers alive at the same step overlap.\n"
                      "The CSV has a header id,lower,upper,size (or buffer,start,end,size); each buffer is\n"
                      "alive over the half-open step interval [lower, upper) and takes size bytes.\n"
                      "Exit status: 0; with --capacity, 0 when the buffers fit, 3 when they cannot, 4 when\n"
                      "the search time ran out before an answer; 2 for a bad flag or input, 1 otherwise.",
                      "slimtrain arena --input buffers.csv --format json");
  flags.String("input", &input, "CSV file of buffers (required)");
  flags.Int("alignment", &alignment, "offsets and sizes rounded up to this many bytes");
  flags.Double("search-seconds", &search,
               "seconds for the exact search (planner/arena_exact.h) when the heuristics miss the lower\n"
               "bound; 0: the heuristics alone");
  flags.Int("threads", &threads,
            "parallel exact searches, one thread each, sharing what they find (by default the\n"
            "cores, 4 to 8)");
  int64_t max_nodes = 0;
  flags.Int("max-nodes", &max_nodes,
            "also stop the exact search after this many nodes per thread (the table's `nodes`\n"
            "line); 0: the time alone. With --threads 1, a search the nodes end gives the same\n"
            "arena and offsets on every run, as the planner's does");
  flags.String("format", &format, "table (arena and lower bound) or json (also every offset)");
  std::string capacity_text, output;
  flags.String("capacity", &capacity_text,
               "answer whether the buffers fit in this much memory (1048576, 1MiB; MiniMalloc's\n"
               "--capacity): the search stops at a placement within it or a proof that none exists,\n"
               "instead of looking for the smallest arena");
  flags.String("output", &output,
               "also write the plan to this CSV file: id,lower,upper,size,offset per buffer (as\n"
               "MiniMalloc's --output; slimtrain arena reads it back)");
  bool ignore_offsets = false;
  flags.Bool("ignore-offsets", &ignore_offsets,
             "plan from scratch even when the CSV has an offset column (by default its offsets, as\n"
             "--output and `slimtrain plan --arena-csv` write them, are a placement to start from:\n"
             "the arena is never larger than theirs)");
  bool quiet = false;
  flags.Bool("quiet", &quiet,
             "no progress lines (on stderr, one a second while planning takes longer: the heuristics on large "
             "inputs, the exact search)");
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (input.empty()) return Fail(absl::InvalidArgumentError("--input FILE.csv is required"));
  if (format != "table" && format != "json") {
    return Fail(absl::InvalidArgumentError(absl::StrFormat("--format: '%s' is not table or json", format)));
  }
  if (!(search >= 0) || std::isinf(search)) {
    return Fail(absl::InvalidArgumentError(
        absl::StrFormat("--search-seconds: %g is not a finite number >= 0", search)));
  }
  if (alignment < 1) {
    return Fail(absl::InvalidArgumentError(absl::StrFormat("--alignment: %d is not >= 1 byte", alignment)));
  }
  if (max_nodes < 0) {
    return Fail(absl::InvalidArgumentError(absl::StrFormat("--max-nodes: %d is not >= 0", max_nodes)));
  }
  if (threads < 1 || threads > planner::kMaxExactThreads) {
    return Fail(absl::InvalidArgumentError(
        absl::StrFormat("--threads: %d is not in [1, %d]", threads, planner::kMaxExactThreads)));
  }
  int64_t capacity = 0;
  if (!capacity_text.empty()) {
    absl::StatusOr<int64_t> bytes = base::ParseBytes(capacity_text, "--capacity");
    if (!bytes.ok()) return Fail(bytes.status());
    if (*bytes == 0) return Fail(absl::InvalidArgumentError("--capacity: 0 bytes; give a capacity > 0"));
    capacity = *bytes;
  }
  if (absl::Status s = base::CheckOutputDirectory(output, "--output"); !s.ok()) return Fail(s);
  absl::StatusOr<std::string> text = base::ReadFile(input);
  if (!text.ok()) return Fail(text.status());
  absl::StatusOr<planner::ArenaCsv> csv = planner::ParseArenaCsv(*text, input);
  if (!csv.ok()) return Fail(csv.status());
  planner::ArenaOptions options;
  options.alignment = alignment;
  options.exact_seconds = search;
  options.exact_min_gap = 0;    // any gap: the user asked for the time
  options.exact_max_nodes = max_nodes;  // 0: the time alone
  options.exact_threads = static_cast<int>(threads);
  options.capacity = capacity;
  const bool from_offsets = !csv->offsets.empty() && !ignore_offsets;
  if (from_offsets) {
    if (absl::Status s = planner::CheckPlacement(csv->requests, csv->offsets, alignment); !s.ok()) {
      return Fail(absl::InvalidArgumentError(absl::StrFormat(
          "%s: the offset column is not a valid placement (buffers numbered from 0 in file order): %s; "
          "--ignore-offsets plans without it",
          input, s.message())));
    }
    options.start_offsets = csv->offsets;
  }
  if (!quiet) {
    const int64_t bound = planner::ArenaLowerBound(csv->requests, alignment);
    options.progress = [bound](int64_t arena, int64_t floor, double seconds) {
      std::cerr << absl::StrFormat("slimtrain arena: %4.0f s  best %d bytes (%.4fx the lower bound)  proven: none "
                                   "below %d bytes\n",
                                   seconds, arena, bound > 0 ? static_cast<double>(arena) / bound : 1.0, floor);
    };
  }
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<planner::ArenaPlan> plan = planner::PlanArena(csv->requests, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!plan.ok()) return Fail(plan.status());
  // Step 6 has a size limit: say so rather than leave the time unused unexplained.
  size_t taking_space = 0;
  for (const planner::ArenaRequest& r : csv->requests) taking_space += r.size > 0 ? 1 : 0;
  const bool answered = capacity > 0 && planner::FitsIn(*plan, capacity) != planner::Fits::kUnknown;
  if (search > 0 && !plan->proven_optimal && !answered && taking_space > planner::kMaxExactBuffers) {
    std::cerr << absl::StrFormat(
        "slimtrain arena: no exact search: it runs on at most %d buffers that take space, and %s has %d; "
        "the arena is the heuristics'\n",
        planner::kMaxExactBuffers, input, taking_space);
  }
  if (!output.empty()) {
    if (absl::Status s = base::WriteFileAtomically(output, planner::ArenaPlanCsv(*csv, *plan)); !s.ok()) {
      return Fail(s);
    }
  }
  if (format == "json") {
    std::cout << planner::ArenaPlanJson(*csv, *plan, capacity) << "\n";
    return capacity > 0 ? FitsExitCode(planner::FitsIn(*plan, capacity)) : 0;
  }
  std::cout << absl::StrFormat(
      "buffers      %d\narena        %d bytes\nlower bound  %d bytes\nratio        %.4f\n", csv->requests.size(),
      plan->arena_bytes, plan->lower_bound_bytes,
      plan->lower_bound_bytes > 0 ? static_cast<double>(plan->arena_bytes) / plan->lower_bound_bytes : 1.0);
  if (from_offsets) std::cout << absl::StrFormat("start        %d bytes (the input's offsets)\n", plan->start_bytes);
  if (plan->floor_bytes > plan->lower_bound_bytes && !plan->proven_optimal) {
    std::cout << absl::StrFormat("floor        %d bytes (proven: no arena is smaller)\n", plan->floor_bytes);
  }
  if (capacity > 0) {
    std::cout << absl::StrFormat("capacity     %d bytes\nfits         %s\n", capacity,
                                 planner::FitsName(planner::FitsIn(*plan, capacity)));
  }
  std::cout << absl::StrFormat("optimal      %s\nmethod       %s\nsearch       %s\n",
                               plan->proven_optimal ? "proven" : "not proven", plan->method, plan->exact_search);
  if (plan->exact_nodes > 0) std::cout << absl::StrFormat("nodes        %d (the exact search's)\n", plan->exact_nodes);
  std::cout << absl::StrFormat("time         %.3f s\n", seconds);
  return capacity > 0 ? FitsExitCode(planner::FitsIn(*plan, capacity)) : 0;
}

}  // namespace slimtrain::client
