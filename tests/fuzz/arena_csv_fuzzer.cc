// arena_csv_fuzzer — the buffer list `slimtrain arena --input FILE.csv`
// reads: ParseArenaCsv → PlanArena (with the exact search of step 6, a warm
// start from the offset column, and a capacity to decide) → VerifyArena →
// ArenaPlanJson.
//
// Checks besides "no crash": every parsed buffer is valid as arena.h defines
// it; every plan PlanArena returns passes VerifyArena (no two live buffers
// overlap); its floor is at most its arena and at least the lower bound,
// and proven_optimal says floor == arena; a plan from a valid offset column
// is no larger than that column's arena (start_bytes); deciding a capacity
// at or above an arena already found never answers "does not fit"; and on
// inputs of up to kMaxBruteForce buffers that take space, the optimum found
// by trying every order (below) lies between every plan's floor and its
// arena (so a proof reaches it), and is above a capacity the search says
// nothing fits in. The JSON report parses as JSON with one offset per id.
//
// The options (alignment 1, 8 or 256; a tolerance or none; a capacity, most
// often between the lower bound and the arena) come from a hash of the input, so an input
// always runs the same way; the exact search runs one stream under a node cap
// (deterministic).
//
// Cap (fuzz_util.h): lists of more than 512 buffers are parsed, not planned.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "planner/arena.h"
#include "planner/arena_csv.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using slimtrain::planner::AlignUp;
using slimtrain::planner::ArenaRequest;

// Inputs with at most this many buffers that take space get the brute-force
// optimum (every order: 7! = 5,040 greedy placements at most).
constexpr size_t kMaxBruteForce = 7;

// Search nodes of step 6 per plan: enough to prove small inputs, bounded work.
constexpr int64_t kExactNodes = 4000;

uint64_t Fnv1a(absl::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (const char c : bytes) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

// The smallest arena of `requests` (bytes): every optimal placement can be
// lowered so that, taking buffers by offset, each sits at the lowest offset
// where it fits among those before it; so some order placed greedily that
// way reaches the optimum. Only for buffers whose aligned sizes add up within
// int64 (PlanArena accepted them).
int64_t BruteForceOptimum(const std::vector<ArenaRequest>& requests, int64_t alignment) {
  std::vector<size_t> order;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].size > 0) order.push_back(i);
  }
  std::vector<int64_t> size(requests.size()), offset(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) size[i] = AlignUp(requests[i].size, alignment);
  int64_t best = INT64_MAX;
  do {
    int64_t arena = 0;
    for (size_t n = 0; n < order.size(); ++n) {
      const size_t k = order[n];
      // Lowest offset clear of the placed buffers alive with k: try 0 and
      // the top of each, smallest first.
      std::vector<int64_t> tries = {0};
      for (size_t m = 0; m < n; ++m) tries.push_back(offset[order[m]] + size[order[m]]);
      std::sort(tries.begin(), tries.end());
      for (const int64_t at : tries) {
        bool clear = true;
        for (size_t m = 0; m < n && clear; ++m) {
          const size_t j = order[m];
          const bool together = requests[j].first <= requests[k].last && requests[k].first <= requests[j].last;
          clear = !together || offset[j] + size[j] <= at || at + size[k] <= offset[j];
        }
        if (clear) {
          offset[k] = at;
          break;
        }
      }
      arena = std::max(arena, offset[k] + size[k]);
    }
    best = std::min(best, arena);
  } while (std::next_permutation(order.begin(), order.end()));
  return order.empty() ? 0 : best;
}

// What every plan must satisfy, whatever its options.
void CheckPlan(const std::vector<ArenaRequest>& requests, const slimtrain::planner::ArenaPlan& plan,
               int64_t alignment, int64_t optimum) {
  const absl::Status verified = slimtrain::planner::VerifyArena(requests, plan, alignment);
  FUZZ_CHECK(verified.ok(), verified);
  FUZZ_CHECK(plan.lower_bound_bytes <= plan.floor_bytes && plan.floor_bytes <= plan.arena_bytes,
             "lower bound " << plan.lower_bound_bytes << ", floor " << plan.floor_bytes << ", arena "
                            << plan.arena_bytes);
  FUZZ_CHECK(plan.proven_optimal == (plan.floor_bytes == plan.arena_bytes),
             "proven_optimal " << plan.proven_optimal << " with floor " << plan.floor_bytes << " and arena "
                               << plan.arena_bytes);
  if (optimum < 0) return;
  FUZZ_CHECK(plan.arena_bytes >= optimum && plan.floor_bytes <= optimum,
             "arena " << plan.arena_bytes << ", floor " << plan.floor_bytes << ", but every order gives "
                      << optimum << " at best (" << plan.method << ", " << plan.exact_search << ")");
}

}  // namespace

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
  FUZZ_CHECK(csv->offsets.empty() || csv->offsets.size() == csv->requests.size(),
             csv->offsets.size() << " offsets for " << csv->requests.size() << " buffers");
  if (csv->requests.size() > slimtrain::fuzz::kMaxArenaBuffers) return 0;
  const std::vector<planner::ArenaRequest>& requests = csv->requests;

  const uint64_t hash = Fnv1a(text);
  planner::ArenaOptions options;
  options.alignment = hash % 3 == 0 ? 1 : hash % 3 == 1 ? 8 : 256;
  options.exact_seconds = 60;  // the node cap ends it
  options.exact_max_nodes = kExactNodes;
  options.exact_min_gap = 0;
  options.exact_tolerance = (hash >> 8) % 2 == 0 ? 0 : 0.0001;
  // The offset column as a warm start, when it is a valid placement.
  if (!csv->offsets.empty() && planner::CheckPlacement(requests, csv->offsets, options.alignment).ok()) {
    options.start_offsets = csv->offsets;
  }
  absl::StatusOr<planner::ArenaPlan> plan = planner::PlanArena(requests, options);
  if (!plan.ok()) return 0;  // e.g. aligned sizes past int64
  const size_t taking_space =
      std::count_if(requests.begin(), requests.end(), [](const planner::ArenaRequest& r) { return r.size > 0; });
  const int64_t optimum = taking_space <= kMaxBruteForce ? BruteForceOptimum(requests, options.alignment) : -1;
  CheckPlan(requests, *plan, options.alignment, optimum);
  if (!options.start_offsets.empty()) {
    int64_t start = 0;
    for (size_t i = 0; i < requests.size(); ++i) {
      if (requests[i].size > 0) start = std::max(start, csv->offsets[i] + AlignUp(requests[i].size, options.alignment));
    }
    FUZZ_CHECK(plan->start_bytes == start && plan->arena_bytes <= start,
               "started from an arena of " << start << " bytes (start_bytes " << plan->start_bytes
                                           << "), ended at " << plan->arena_bytes);
  }

  // A capacity decided afresh: mostly between the lower bound and the arena
  // found, sometimes below the bound or as large as int64 goes.
  if (plan->arena_bytes > 0) {
    planner::ArenaOptions decide = options;
    decide.start_offsets.clear();
    decide.exact_tolerance = 0;
    const int64_t span = plan->arena_bytes - plan->lower_bound_bytes;
    const uint64_t pick = hash >> 16;
    if (pick % 8 == 0) {
      decide.capacity = std::numeric_limits<int64_t>::max();
    } else if (pick % 8 == 1) {
      decide.capacity = static_cast<int64_t>((pick >> 3) % static_cast<uint64_t>(plan->lower_bound_bytes)) + 1;
    } else {
      decide.capacity = plan->lower_bound_bytes + static_cast<int64_t>((pick >> 3) % static_cast<uint64_t>(span + 1));
    }
    absl::StatusOr<planner::ArenaPlan> decided = planner::PlanArena(requests, decide);
    FUZZ_CHECK(decided.ok(), "the same buffers with a capacity: " << decided.status());
    CheckPlan(requests, *decided, decide.alignment, optimum);
    const planner::Fits fits = planner::FitsIn(*decided, decide.capacity);
    FUZZ_CHECK(fits != planner::Fits::kNo || plan->arena_bytes > decide.capacity,
               "nothing fits in " << decide.capacity << " bytes, said the decision, but a placement of "
                                  << plan->arena_bytes << " bytes was found");
    if (optimum >= 0) {
      FUZZ_CHECK((fits == planner::Fits::kNo) == (optimum > decide.capacity) || fits == planner::Fits::kUnknown,
                 "capacity " << decide.capacity << ": " << planner::FitsName(fits) << ", but the optimum is "
                             << optimum);
    }
  }

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
