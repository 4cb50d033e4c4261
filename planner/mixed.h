// mixed.h — the `mixed` strategy's choice: which bits (2, 4, 8 or exact)
// each saved tensor gets so that a plan fits a budget with the least
// predicted gradient error.
//
// The prediction is data: for each tensor approx-K would code, the squared
// relative weight-gradient error ‖g_K − g‖² / ‖g‖² measured with only that
// tensor coded at K bits (engine/calibrate.h measures it on a few batches;
// errors of different tensors add, as independent noise does). A tensor
// without a measurement is assumed as sensitive as its share of the coded
// elements with the quantization noise of a uniform grid (∝ 4^−K).
//
// ChooseMixedBits is a multiple-choice knapsack solved greedily: every
// tensor starts at 2 bits, then upgrades (2 → 4 → 8 → exact, along each
// tensor's lower convex hull of bytes against error) are taken in order of
// error removed per byte added while they fit the allowance. The planner
// (planner.cc) packs the choice and shrinks the allowance until the packed
// peak fits the budget.
//
//   std::vector<MixedCandidate> c = MixedCandidates(graph, approx4_schedule);
//   double predicted = 0;
//   TensorBits bits = ChooseMixedBits(c, sensitivity, allowance_bytes, &predicted);
#ifndef SLIMTRAIN_PLANNER_MIXED_H_
#define SLIMTRAIN_PLANNER_MIXED_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "planner/graph.h"
#include "planner/schedule.h"
#include "proto/plan.pb.h"

namespace slimtrain::planner {

// The bit widths a mixed plan chooses among (besides exact), in order.
inline constexpr std::array<int, 3> kMixedBits = {2, 4, 8};

// One tensor's measured sensitivity: error[i] at kMixedBits[i] bits.
struct TensorSensitivity {
  std::array<double, 3> error = {0, 0, 0};
};
// By TensorBits' names.
using Sensitivity = std::map<std::string, TensorSensitivity>;

struct MixedCandidate {
  std::string name;                 // TensorBits' name
  int64_t elements = 0;             // of the coded tensor
  std::array<int64_t, 3> code_bytes = {0, 0, 0};  // at kMixedBits
  int64_t exact_bytes = 0;          // what keeping it exact saves instead
};

// The tensors an approx-K schedule of `graph` codes, in buffer order.
std::vector<MixedCandidate> MixedCandidates(const Graph& graph, const Schedule& approx);

// Whether candidate `index` may grow by `added_bytes`; a true answer is
// taken as committed (the caller books the bytes).
using MixedAdmit = std::function<bool(size_t index, int64_t added_bytes)>;

// Bits for every candidate (0: exact), starting from all at 2 bits and
// taking each upgrade `admit` allows; `predicted_error` (if not null) gets
// the sum of the chosen errors.
TensorBits ChooseMixedBits(const std::vector<MixedCandidate>& candidates, const Sensitivity& sensitivity,
                           const MixedAdmit& admit, double* predicted_error);
// The same with one allowance for all upgrades together.
TensorBits ChooseMixedBits(const std::vector<MixedCandidate>& candidates, const Sensitivity& sensitivity,
                           int64_t allowance_bytes, double* predicted_error);
// `sensitivity` with every candidate in it: the measured values, and the
// assumed ones (above) for the others, so that a choice among a subset of
// the candidates predicts the same errors.
Sensitivity CompleteSensitivity(const std::vector<MixedCandidate>& candidates, const Sensitivity& sensitivity);
// The predicted error of all candidates at `bits`.
double UniformMixedError(const std::vector<MixedCandidate>& candidates, const Sensitivity& sensitivity, int bits);

// The table of a request or job as the planner takes it; INVALID_ARGUMENT
// naming the field and value for an empty or repeated tensor name or an
// error that is not finite and >= 0.
absl::StatusOr<Sensitivity> SensitivityFromTable(const v1::SensitivityTable& table);

// "12 tensors at 2 bits, 30 at 4, 3 at 8, 1 exact".
std::string DescribeMixedBits(const TensorBits& bits, size_t candidates);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_MIXED_H_
