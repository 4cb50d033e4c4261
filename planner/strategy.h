// strategy.h — the training strategies the planner and the engine both know.
//
//   exact               every tensor backward needs, kept in fp32
//   approx8/4/2         exact forward; each BN→ReLU keeps a K-bit code and
//                       per-channel statistics for backward (Chakrabarti &
//                       Moseley 2019), and every other tensor a backward
//                       reads a K-bit code of its own (coding.h) but the
//                       model input, token ids and the mse_loss input
//   naive8/4            the BN→ReLU codes, also used in the forward pass
//                       (errors compound); everything else kept exact
//   mixed               exact forward; each saved tensor's code and bits
//                       (exact, 8, 4 or 2) chosen for the budget, least
//                       predicted gradient error first (mixed.h)
//   checkpoint          √n segments over the graph's cut points (Chen 2016);
//                       segments recomputed in backward
//   checkpoint_optimal  the segmentation of least recompute whose peak fits a
//                       budget, or of least peak without one
//   approx_passthrough  approx's data path keeping exact values (tests only)
#ifndef SLIMTRAIN_PLANNER_STRATEGY_H_
#define SLIMTRAIN_PLANNER_STRATEGY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slimtrain::planner {

enum class Strategy {
  kExact,
  kApprox8,
  kApprox4,
  kApprox2,
  kNaive8,
  kNaive4,
  kCheckpoint,
  kCheckpointOptimal,
  kMixed,
  // approx-K with no quantization: the "code" keeps the exact value. Not in
  // AllStrategies(); for tests that check the approximate path reproduces
  // exact gradients.
  kApproxPassThrough,
};

// CodeBits of kApproxPassThrough: codes are full-precision values.
inline constexpr int kPassThroughBits = 64;

// "exact", "approx8", ..., "checkpoint_optimal".
const char* StrategyName(Strategy s);

// The inverse of StrategyName; INVALID_ARGUMENT naming the value and the
// known names otherwise.
absl::StatusOr<Strategy> ParseStrategy(absl::string_view name);

// What a job or a plan request that names no strategy or optimizer gets: the
// one place these defaults live.
inline constexpr char kDefaultStrategy[] = "exact";
inline constexpr char kDefaultOptimizer[] = "sgd";
// ParseStrategy, with kDefaultStrategy for "".
absl::StatusOr<Strategy> ParseStrategyOrDefault(absl::string_view name);
// `optimizer`, or kDefaultOptimizer for "".
inline std::string OptimizerOrDefault(absl::string_view optimizer) {
  return std::string(optimizer.empty() ? kDefaultOptimizer : optimizer);
}

// Every strategy, in the order above.
const std::vector<Strategy>& AllStrategies();

// Bits per code for approx-K and naive-K (8, 4, 2), kPassThroughBits for
// approx_passthrough; 0 for the others (mixed chooses per tensor).
int CodeBits(Strategy s);

// Whether the forward pass uses the restored (quantized) values: naive-K.
bool QuantizesForward(Strategy s);

bool IsCheckpointing(Strategy s);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_STRATEGY_H_
