// arena_csv.h — a raw buffer list as CSV in, an arena plan as JSON out: what
// `slimtrain arena --input FILE.csv` reads and prints.
//
// Input (the format of MiniMalloc's benchmarks): a header line naming the
// columns, then one buffer per line. The lifetime is the HALF-OPEN step
// interval [lower, upper), so the buffer is alive at steps lower..upper-1.
//
//   id,lower,upper,size
//   conv1.out,0,3,802816
//   conv1.ws,1,2,4096
//
// The header `buffer,start,end,size` means the same (buffer = id, start =
// lower, end = upper); each column may use either name, in any letter case.
// Columns come in any order and are matched by name. An `offset` column (as
// ArenaPlanCsv and MiniMalloc's solutions have) is read as a placement to
// start from (bytes, >= 0; ArenaOptions.start_offsets); other columns are
// ignored, but every line has as many fields as the header. Whitespace around
// fields is trimmed; blank lines are skipped; there is no quoting. Ids are
// non-empty, unique and valid UTF-8; 0 <= lower < upper <= 2^31;
// 0 <= size < 2^63.
//
//   SLIM_ASSIGN_OR_RETURN(ArenaCsv csv, ParseArenaCsv(text, "buffers.csv"));
//   SLIM_ASSIGN_OR_RETURN(ArenaPlan plan, PlanArena(csv.requests));
//   std::cout << ArenaPlanJson(csv, plan);
//   // {"arena_bytes": 802816, "arena_lower_bound_bytes": 802816,
//   //  "offsets": {"conv1.out": 0, "conv1.ws": ...}}  (one key per line)
#ifndef SLIMTRAIN_PLANNER_ARENA_CSV_H_
#define SLIMTRAIN_PLANNER_ARENA_CSV_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "planner/arena.h"

namespace slimtrain {
namespace planner {

// The buffers of one CSV file, in file order: ids[i] names requests[i].
struct ArenaCsv {
  std::vector<std::string> ids;
  std::vector<ArenaRequest> requests;  // first = lower, last = upper - 1
  std::vector<int64_t> offsets;        // the offset column, bytes; empty without one
};

// Parses `text`, the contents of the file named `filename` (used in messages
// only). Errors: INVALID_ARGUMENT naming the file, the line, and for a bad
// field its column and value, e.g.
//   "buffers.csv:7: column 'size': 'abc' is not an integer"
//   "buffers.csv:9: column 'upper': 4 is not > lower 4"
//   "buffers.csv:12: column 'id': 'conv1.ws' repeats line 3"
//   "buffers.csv:4: column 'id': 'b\xff' is not valid UTF-8" (bytes escaped)
//   "buffers.csv:5: 3 fields, the header has 4"
//   "buffers.csv:1: header has no column upper/end (expected id,lower,upper,size
//    or buffer,start,end,size)"
absl::StatusOr<ArenaCsv> ParseArenaCsv(absl::string_view text, absl::string_view filename);

// The plan as a JSON object: {"arena_bytes": N, "arena_lower_bound_bytes": N,
// "floor_bytes": N, "proven_optimal": true|false, "method": "...",
// "exact_search": "...", "exact_nodes": N (ArenaPlan.exact_nodes),
// "offsets": {"<id>": offset, ...}} with the offsets keyed by id in input
// order, one per line; ends with a newline. After
// "floor_bytes", "start_bytes": N when the plan started from known offsets
// (ArenaPlan.start_bytes), and with a `capacity` (bytes; 0: none)
// "capacity_bytes": N and "fits": "yes"|"no"|"unknown" (FitsIn). `plan` must come from
// csv.requests (one offset per id); ids are escaped as JSON strings.
std::string ArenaPlanJson(const ArenaCsv& csv, const ArenaPlan& plan, int64_t capacity = 0);

// The plan as MiniMalloc writes its solutions: the header
// "id,lower,upper,size,offset", then each buffer in input order with its
// offset in bytes (lower/upper as read: half-open). ParseArenaCsv reads it
// back (its offsets as ArenaCsv.offsets).
std::string ArenaPlanCsv(const ArenaCsv& csv, const ArenaPlan& plan);

}  // namespace planner
}  // namespace slimtrain

#endif  // SLIMTRAIN_PLANNER_ARENA_CSV_H_
