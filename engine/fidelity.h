// fidelity.h — how far approx-K's weight gradients are from exact ones,
// next to SGD's own noise.
//
// On the same weights and batch b, per layer with weights, the approximation
// error ‖g_K(b) − g(b)‖ / ‖g(b)‖ of the approx-K weight gradient; and SGD's
// noise: the mean over `other_batches` batches b′ of ‖g(b′) − ḡ‖ / ‖ḡ‖,
// where ḡ is the mean exact gradient over those batches. The paper's claim is
// that the first is an order of magnitude below the second.
//
// Per tensor (approx-K): for every tensor approx-K codes, the error of all
// conv2d and linear weight gradients together with that tensor alone coded
// (a mixed plan naming it alone, at K bits), next to SGD's noise of the same
// weights together: one forward-backward pass per coded tensor.
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
  bool per_tensor = true;  // approx-K: measure every coded tensor alone too
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

// One tensor approx-K codes, coded alone.
struct TensorFidelity {
  std::string tensor;        // the layer whose output it is (a BN→ReLU's: its batch_norm)
  std::string coding;        // "bn_relu 4-bit", "relu 4-bit", ...
  double approx_error = 0;   // ‖g_T(b) − g(b)‖ / ‖g(b)‖ over every conv2d/linear weight
};

struct FidelityReport {
  std::string model, strategy;
  int64_t batch = 0, other_batches = 0;
  std::vector<LayerFidelity> layers;  // conv2d and linear weights, in graph order
  // Median of sgd_noise / approx_error over the layers with an error (one
  // whose input and upstream gradient are both exact has none).
  double median_ratio = 0;
  // Every conv2d and linear weight together: approx-K's error and SGD's
  // noise, as above.
  double model_error = 0;
  double model_sgd_noise = 0;
  // approx-K with options.per_tensor: every coded tensor alone, in the order
  // the plan codes them; empty otherwise (naive-K's codes change the forward).
  std::vector<TensorFidelity> tensors;
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
