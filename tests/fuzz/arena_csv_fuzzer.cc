// arena_csv_fuzzer — the buffer list `slimtrain arena --input FILE.csv`
// reads: ParseArenaCsv → PlanArena → VerifyArena → ArenaPlanJson.
//
// Checks besides "no crash": every parsed buffer is valid as arena.h defines
// it, a plan PlanArena returns passes VerifyArena (no two live buffers
// overlap), and the JSON report parses as JSON with one offset per id.
//
// Cap (fuzz_util.h): lists of more than 512 buffers are parsed, not planned.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "planner/arena.h"
#include "planner/arena_csv.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slimtrain;  // NOLINT: a fuzz target's one function
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<planner::ArenaCsv> csv = planner::ParseArenaCsv(text, "fuzz.csv");
  if (!csv.ok()) return 0;
  FUZZ_CHECK(csv->ids.size() == csv->requests.size(), csv->ids.size() << " ids, " << csv->requests.size() << " buffers");
  for (size_t i = 0; i < csv->requests.size(); ++i) {
    const planner::ArenaRequest& r = csv->requests[i];
    FUZZ_CHECK(!csv->ids[i].empty() && r.size >= 0 && r.first >= 0 && r.last >= r.first,
               "buffer '" << csv->ids[i] << "' parsed as size " << r.size << ", steps " << r.first << ".." << r.last);
  }
  if (csv->requests.size() > slimtrain::fuzz::kMaxArenaBuffers) return 0;
  const planner::ArenaOptions options;
  absl::StatusOr<planner::ArenaPlan> plan = planner::PlanArena(csv->requests, options);
  if (!plan.ok()) return 0;  // e.g. aligned sizes past int64
  const absl::Status verified = planner::VerifyArena(csv->requests, *plan, options.alignment);
  FUZZ_CHECK(verified.ok(), verified);
  const std::string json = planner::ArenaPlanJson(*csv, *plan);
  google::protobuf::Struct parsed;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &parsed);
  FUZZ_CHECK(status.ok(), "the plan is not JSON: " << status.ToString() << "\n" << json);
  const auto offsets = parsed.fields().find("offsets");
  FUZZ_CHECK(offsets != parsed.fields().end() &&
                 offsets->second.struct_value().fields().size() == csv->ids.size(),
             "the JSON does not hold one offset per id:\n" << json);
  return 0;
}
