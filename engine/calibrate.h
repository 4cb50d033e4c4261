// calibrate.h — how sensitive a model's weight gradients are to coding each
// saved tensor: the data the mixed strategy chooses bits from
// (planner/mixed.h).
//
// On the same weights and batch, for every tensor approx-K would code and
// K = 2, 4, 8: the squared relative error ‖g_K − g‖² / ‖g‖² of all weight
// gradients with only that tensor coded at K bits (a mixed plan naming it
// alone), averaged over `batches` batches. 3·T + 1 forward-backward passes
// per batch for T tensors.
//
//   CalibrationOptions options;
//   options.batch = 128;
//   SLIM_ASSIGN_OR_RETURN(v1::SensitivityTable t,
//                         MeasureSensitivity(graph, data, options, &backend));
#ifndef SLIMTRAIN_ENGINE_CALIBRATE_H_
#define SLIMTRAIN_ENGINE_CALIBRATE_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/data.h"
#include "engine/params.h"
#include "planner/graph.h"
#include "proto/plan.pb.h"

namespace slimtrain::engine {

struct CalibrationOptions {
  int64_t batch = 128;
  int64_t batches = 2;
  uint64_t seed = 1;      // initialisation (unless `weights` sets them) and batch order
  bool normalize = true;  // with `stats`
  ChannelStats stats;     // the training set's (ComputeChannelStats); empty: none
  // Sets the weights measured on (trained or imported); null: the seed's
  // initialisation.
  std::function<absl::Status(ParameterRegion&)> weights;
  // Called after each tensor is measured: (done, total).
  std::function<void(int64_t, int64_t)> progress;
};

// INVALID_ARGUMENT when the dataset does not fit the model or has fewer than
// `batches` batches.
absl::StatusOr<v1::SensitivityTable> MeasureSensitivity(const planner::Graph& graph, const Dataset& data,
                                                        const CalibrationOptions& options, Backend* backend);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_CALIBRATE_H_
