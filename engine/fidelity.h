// fidelity.h — how far approx-K's weight gradients are from exact ones,
// next to SGD's own noise.
//
// On the same weights and batch b, per layer with weights, the approximation
// error ‖g_K(b) − g(b)‖ / ‖g(b)‖ of the approx-K weight gradient; and SGD's
// noise: the mean over `other_batches` batches b′ of ‖g(b′) − ḡ‖ / ‖ḡ‖,
// where ḡ is the mean exact gradient over those batches. The paper's claim is
// that the first is an order of magnitude below the second.
//
//   SLIM_ASSIGN_OR_RETURN(FidelityReport r,
//       MeasureFidelity(graph, Strategy::kApprox4, data, options, &backend));
//   for (const LayerFidelity& l : r.layers) ...
#ifndef SLIMTRAIN_ENGINE_FIDELITY_H_
#define SLIMTRAIN_ENGINE_FIDELITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/data.h"
#include "engine/safetensors.h"
#include "planner/graph.h"
#include "planner/strategy.h"

namespace slimtrain::engine {

struct FidelityOptions {
  int64_t batch = 128;
  int64_t other_batches = 16;
  uint64_t seed = 1;                  // initialisation (without weights) and batch order
  const SafetensorsFile* weights = nullptr;  // trained weights; null: the seed's initialisation
  bool normalize = true;
};

struct LayerFidelity {
  std::string layer;          // e.g. "layer2.1.conv1"
  std::string tensor;         // its weight, e.g. "layer2.1.conv1.weight"
  // How the input its weight gradient reads was kept: "exact", or a coding
  // and its bits ("bn_relu 4-bit", "relu 4-bit", "group 8-bit", ...;
  // planner/coding.h).
  std::string input;
  double approx_error = 0;    // ‖g_K(b) − g(b)‖ / ‖g(b)‖
  double sgd_noise = 0;       // mean ‖g(b′) − ḡ‖ / ‖ḡ‖
};

struct FidelityReport {
  std::string model, strategy;
  int64_t batch = 0, other_batches = 0;
  std::vector<LayerFidelity> layers;  // conv2d and linear weights, in graph order
  // Median of sgd_noise / approx_error over the layers with an error (one
  // whose input and upstream gradient are both exact has none).
  double median_ratio = 0;
};

// `strategy` must be an approx-K or naive-K strategy (or approx_passthrough).
absl::StatusOr<FidelityReport> MeasureFidelity(const planner::Graph& graph, planner::Strategy strategy,
                                               const Dataset& data, const FidelityOptions& options,
                                               Backend* backend);

// The report as an SVG plot: per layer, the approximation error and SGD's
// noise on a log scale.
std::string FidelitySvg(const FidelityReport& report);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_FIDELITY_H_
