// See calibrate.h.
#include "engine/calibrate.h"

#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/batches.h"
#include "engine/executor.h"
#include "planner/mixed.h"
#include "planner/schedule.h"

namespace slimtrain::engine {
namespace {

double SquaredRelativeError(const std::vector<double>& approx, const std::vector<double>& exact) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < exact.size(); ++i) {
    diff += (approx[i] - exact[i]) * (approx[i] - exact[i]);
    norm += exact[i] * exact[i];
  }
  return norm > 0 ? diff / norm : 0.0;
}

}  // namespace

absl::StatusOr<v1::SensitivityTable> MeasureSensitivity(const planner::Graph& graph, const Dataset& data,
                                                        const CalibrationOptions& options, Backend* backend) {
  SLIM_RETURN_IF_ERROR(CheckDatasetFits(graph, data));
  if (options.batches < 1 || options.batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("calibration needs batch >= 1 and batches >= 1, got %d and %d", options.batch,
                        options.batches));
  }
  if (data.size < options.batch * options.batches) {
    return absl::InvalidArgumentError(absl::StrFormat("the dataset's %d examples are fewer than %d batches of %d",
                                                      data.size, options.batches, options.batch));
  }
  // The tensors approx-K codes.
  SLIM_ASSIGN_OR_RETURN(planner::Schedule approx,
                        planner::BuildSchedule(graph, planner::Strategy::kApprox4, options.batch, *backend));
  const std::vector<planner::MixedCandidate> candidates = planner::MixedCandidates(graph, approx);

  ExecutorOptions exec_options;
  exec_options.seed = options.seed;
  SLIM_ASSIGN_OR_RETURN(auto exact, Executor::Create(graph, planner::Strategy::kExact, options.batch, backend,
                                                     exec_options));
  if (options.weights) SLIM_RETURN_IF_ERROR(options.weights(exact->params()));

  BatchOptions batch_options;
  batch_options.normalize = options.normalize;
  batch_options.shuffle = true;
  BatchIterator batches(data, options.batch, batch_options, options.seed, options.stats);
  std::vector<std::vector<float>> images(options.batches, std::vector<float>(options.batch * data.example_elements()));
  std::vector<std::vector<int32_t>> labels(options.batches,
                                           std::vector<int32_t>(options.batch * data.labels_per_example));
  std::vector<std::vector<float>> targets(options.batches,
                                          std::vector<float>(options.batch * data.targets_per_example));
  auto forward_backward = [&](Executor& e, int64_t b) {
    return targets[b].empty() ? e.ForwardBackward(images[b].data(), labels[b].data())
                              : e.ForwardBackward(images[b].data(), targets[b].data());
  };
  std::vector<std::vector<double>> exact_grads;
  for (int64_t b = 0; b < options.batches; ++b) {
    batches.Next(images[b].data(), labels[b].data(), targets[b].data());
    SLIM_RETURN_IF_ERROR(forward_backward(*exact, b).status());
    exact_grads.push_back(exact->params().Gradients());
  }

  v1::SensitivityTable table;
  table.set_model(graph.spec().name());
  table.set_batch_size(options.batch);
  table.set_batches(options.batches);
  for (size_t t = 0; t < candidates.size(); ++t) {
    v1::TensorSensitivity* s = table.add_tensors();
    s->set_tensor(candidates[t].name);
    for (int bits : planner::kMixedBits) {
      // A mixed plan coding this tensor alone.
      const planner::TensorBits alone = {{candidates[t].name, bits}};
      ExecutorOptions one_options = exec_options;
      one_options.tensor_bits = &alone;
      SLIM_ASSIGN_OR_RETURN(auto one, Executor::Create(graph, planner::Strategy::kMixed, options.batch, backend,
                                                       one_options));
      std::memcpy(one->params().data(), exact->params().data(), exact->params().bytes());
      double error = 0;
      for (int64_t b = 0; b < options.batches; ++b) {
        SLIM_RETURN_IF_ERROR(forward_backward(*one, b).status());
        error += SquaredRelativeError(one->params().Gradients(), exact_grads[b]) / options.batches;
      }
      if (bits == 2) s->set_error2(error);
      if (bits == 4) s->set_error4(error);
      if (bits == 8) s->set_error8(error);
    }
    if (options.progress) options.progress(static_cast<int64_t>(t) + 1, static_cast<int64_t>(candidates.size()));
  }
  return table;
}

}  // namespace slimtrain::engine
