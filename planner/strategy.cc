// See strategy.h.
#include "planner/strategy.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace slimtrain::planner {

const char* StrategyName(Strategy s) {
  switch (s) {
    case Strategy::kExact: return "exact";
    case Strategy::kApprox8: return "approx8";
    case Strategy::kApprox4: return "approx4";
    case Strategy::kApprox2: return "approx2";
    case Strategy::kNaive8: return "naive8";
    case Strategy::kNaive4: return "naive4";
    case Strategy::kCheckpoint: return "checkpoint";
    case Strategy::kCheckpointOptimal: return "checkpoint_optimal";
    case Strategy::kMixed: return "mixed";
    case Strategy::kApproxPassThrough: return "approx_passthrough";
  }
  return "unknown";
}

const std::vector<Strategy>& AllStrategies() {
  static const auto* all = new std::vector<Strategy>{
      Strategy::kExact,  Strategy::kApprox8, Strategy::kApprox4,    Strategy::kApprox2,
      Strategy::kNaive8, Strategy::kNaive4,  Strategy::kCheckpoint, Strategy::kCheckpointOptimal,
      Strategy::kMixed};
  return *all;
}

absl::StatusOr<Strategy> ParseStrategy(absl::string_view name) {
  std::vector<std::string> known;
  for (Strategy s : AllStrategies()) {
    if (name == StrategyName(s)) return s;
    known.push_back(StrategyName(s));
  }
  if (name == StrategyName(Strategy::kApproxPassThrough)) return Strategy::kApproxPassThrough;
  return absl::InvalidArgumentError(absl::StrCat("unknown strategy '", name,
                                                 "'; known: ", absl::StrJoin(known, ", ")));
}

absl::StatusOr<Strategy> ParseStrategyOrDefault(absl::string_view name) {
  return ParseStrategy(name.empty() ? kDefaultStrategy : name);
}

int CodeBits(Strategy s) {
  switch (s) {
    case Strategy::kApprox8:
    case Strategy::kNaive8: return 8;
    case Strategy::kApprox4:
    case Strategy::kNaive4: return 4;
    case Strategy::kApprox2: return 2;
    case Strategy::kApproxPassThrough: return kPassThroughBits;
    default: return 0;
  }
}

bool QuantizesForward(Strategy s) { return s == Strategy::kNaive8 || s == Strategy::kNaive4; }

bool IsCheckpointing(Strategy s) {
  return s == Strategy::kCheckpoint || s == Strategy::kCheckpointOptimal;
}

}  // namespace slimtrain::planner
