// data_parallel_check — data-parallel training checked on real ranks;
// data_parallel_test.sh runs it under `mpirun -np 2`.
//
// Each rank trains a model without batch norm with a batch of 32 on its
// shard (Trainer with the MPI communicator), and also, alone in the same
// process, the same job with a batch of 64: the ranks' step s together is the
// single process's step s (BatchOptions::rank), so per-step losses and the
// final weights must agree within 1e-4 relative, for exact and checkpoint,
// with gradient buckets started during backward or after it, and with buckets
// of 4 KiB (many) or 25 MiB (one). Both ranks must end with the same weights.
// Then a model with batch norm: with sync batch norm the same holds (running
// statistics included), without it the losses differ; approx4 with sync
// batch norm is refused. On the reference backend (float32): the fast one's
// own batch-norm rounding differs from the reference's by more than the
// check's tolerance after 20 steps (weights 4.5e-4), whatever the ranks.
// Prints "data_parallel_check rank R: ..." lines, "PASS" or "FAIL: why" last.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "engine/comm/communicator.h"
#include "engine/comm/mpi_communicator.h"
#include "engine/cpu/reference_backend.h"
#include "engine/trainer.h"
#include "google/protobuf/text_format.h"

namespace slimtrain::engine {
namespace {

constexpr char kJob[] = R"pb(
  model {
    spec {
      name: "convnet"
      input { dims: 1 dims: 12 dims: 12 }
      num_classes: 5
      layers { name: "conv1" inputs: "input" conv2d { out_channels: 8 kernel_size: 3 padding: 1 } }
      layers { name: "relu1" inputs: "conv1" relu {} }
      layers { name: "pool1" inputs: "relu1" max_pool { kernel_size: 2 stride: 2 } }
      layers { name: "conv2" inputs: "pool1" conv2d { out_channels: 16 kernel_size: 3 padding: 1 } }
      layers { name: "relu2" inputs: "conv2" relu {} }
      layers { name: "add" inputs: "relu2" inputs: "relu2" add {} }
      layers { name: "gap" inputs: "add" global_avg_pool {} }
      layers { name: "fc" inputs: "gap" linear { out_features: 5 } }
      layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
    }
  }
  dataset { name: "synthetic" synthetic_examples: 1280 random_crop_padding: 1 horizontal_flip: true }
  optimizer { kind: "sgd" learning_rate: 0.1 momentum: 0.9 weight_decay: 0.0005 }
  steps: 20
  seed: 5
)pb";

// With batch norm (after a conv, and on features), for sync batch norm.
constexpr char kBatchNormLayers[] = R"pb(
  name: "convnet_bn"
  input { dims: 1 dims: 12 dims: 12 }
  num_classes: 5
  layers { name: "conv1" inputs: "input" conv2d { out_channels: 8 kernel_size: 3 padding: 1 bias: false } }
  layers { name: "bn1" inputs: "conv1" batch_norm {} }
  layers { name: "relu1" inputs: "bn1" relu {} }
  layers { name: "pool1" inputs: "relu1" max_pool { kernel_size: 2 stride: 2 } }
  layers { name: "conv2" inputs: "pool1" conv2d { out_channels: 16 kernel_size: 3 padding: 1 bias: false } }
  layers { name: "bn2" inputs: "conv2" batch_norm {} }
  layers { name: "relu2" inputs: "bn2" relu {} }
  layers { name: "add" inputs: "relu2" inputs: "relu1pool" add {} }
  layers { name: "relu1pool" inputs: "pool1" conv2d { out_channels: 16 kernel_size: 1 bias: false } }
  layers { name: "gap" inputs: "add" global_avg_pool {} }
  layers { name: "fc" inputs: "gap" linear { out_features: 5 } }
  layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
)pb";

constexpr double kTolerance = 1e-4;

struct Run {
  std::vector<double> losses;
  std::vector<double> weights;
  double wait = 0, exposed = 0;  // Trainer's communication seconds
};

absl::StatusOr<Run> Train(v1::JobSpec spec, comm::Communicator* communicator, int64_t bucket_bytes, bool overlap,
                          bool sync_bn = false) {
  ReferenceBackend backend(DType::kF32);  // the engine's truth: float32, summed in double
  TrainerOptions options;
  options.sync_batch_norm = sync_bn;
  options.communicator = communicator;
  options.bucket_bytes = bucket_bytes;
  options.overlap_communication = overlap;
  options.evaluate_at_end = false;
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(spec, &backend, options);
  if (!trainer.ok()) return trainer.status();
  if (absl::Status s = (*trainer)->RunSteps(spec.steps(), {}); !s.ok()) return s;
  Run run;
  run.losses = (*trainer)->losses();
  const ParameterRegion& params = (*trainer)->executor().params();
  for (int64_t i = 0; i < params.total_count(); ++i) run.weights.push_back(params.Get(i));
  run.wait = (*trainer)->communication_wait_seconds();
  run.exposed = (*trainer)->communication_exposed_seconds();
  // The exposed part is the least wait of any rank, so never more than this
  // rank's.
  if (!(run.exposed >= 0 && run.exposed <= run.wait)) {
    return absl::InternalError(absl::StrFormat("exposed communication %.6f s is not in [0, this rank's wait %.6f s]",
                                               run.exposed, run.wait));
  }
  return run;
}

// The largest |a - b| / max|a| over the vectors, or -1 for different sizes.
double RelativeDifference(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return -1;
  double diff = 0, scale = 1e-12;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(a[i]));
  }
  return diff / scale;
}

int Main() {
  absl::StatusOr<std::unique_ptr<comm::Communicator>> comm =
      comm::CommunicatorFromEnvironment(comm::CommunicatorOptions());
  if (!comm.ok()) {
    std::printf("FAIL: %s\n", std::string(comm.status().message()).c_str());
    return 1;
  }
  const int rank = (*comm)->rank(), size = (*comm)->size();
  auto say = [rank](const std::string& line) { std::printf("data_parallel_check rank %d: %s\n", rank, line.c_str()); };
  if (size != 2) {
    say(absl::StrFormat("FAIL: run me on 2 ranks (mpirun -np 2), not %d", size));
    return 1;
  }
  v1::JobSpec job;
  if (!google::protobuf::TextFormat::ParseFromString(kJob, &job)) {
    say("FAIL: the job does not parse");
    return 1;
  }
  bool ok = true;
  for (const char* strategy : {"exact", "checkpoint"}) {
    for (const bool overlap : {true, false}) {
      for (const int64_t bucket : {int64_t{4} << 10, int64_t{25} << 20}) {
        const std::string name = absl::StrFormat("%s, %s, %d KiB buckets", strategy,
                                                 overlap ? "overlapped" : "after backward", bucket >> 10);
        v1::JobSpec alone = job, ranked = job;
        alone.set_strategy(strategy);
        alone.set_batch_size(64);
        ranked.set_strategy(strategy);
        ranked.set_batch_size(32);
        absl::StatusOr<Run> one = Train(alone, nullptr, bucket, overlap);
        absl::StatusOr<Run> two = Train(ranked, comm->get(), bucket, overlap);
        if (!one.ok() || !two.ok()) {
          say(absl::StrFormat("FAIL: %s: %s", name, !one.ok() ? one.status().ToString() : two.status().ToString()));
          ok = false;
          continue;
        }
        const double losses = RelativeDifference(one->losses, two->losses);
        const double weights = RelativeDifference(one->weights, two->weights);
        // Both ranks hold the same weights: rank 1's sum equals rank 0's.
        double sums[2] = {0, 0};
        for (double w : two->weights) sums[rank] += w;
        const absl::Status reduced = (*comm)->AllReduceSum(sums, 2);
        const bool same = reduced.ok() && sums[0] == sums[1];
        const bool good = losses >= 0 && losses <= kTolerance && weights >= 0 && weights <= kTolerance && same &&
                          one->losses.size() == 20;
        say(absl::StrFormat("%s %s: 20 steps of 2 x 32 against 1 x 64: losses within %.2g, weights within %.2g "
                            "(relative); ranks' weights %s",
                            good ? "ok  " : "FAIL", name, losses, weights, same ? "identical" : "DIFFER"));
        ok = ok && good;
      }
    }
  }
  // Batch norm: with sync batch norm, 2 x 32 is 1 x 64 again (running
  // statistics included); without it, each rank's statistics differ.
  v1::JobSpec bn_job = job;
  if (!google::protobuf::TextFormat::ParseFromString(kBatchNormLayers, bn_job.mutable_model()->mutable_spec())) {
    say("FAIL: the batch-norm model does not parse");
    return 1;
  }
  for (const char* strategy : {"exact", "checkpoint"}) {
    v1::JobSpec alone = bn_job, ranked = bn_job;
    alone.set_strategy(strategy);
    alone.set_batch_size(64);
    ranked.set_strategy(strategy);
    ranked.set_batch_size(32);
    absl::StatusOr<Run> one = Train(alone, nullptr, int64_t{25} << 20, true);
    absl::StatusOr<Run> synced = Train(ranked, comm->get(), int64_t{4} << 10, true, /*sync_bn=*/true);
    absl::StatusOr<Run> own = Train(ranked, comm->get(), int64_t{4} << 10, true, /*sync_bn=*/false);
    if (!one.ok() || !synced.ok() || !own.ok()) {
      say(absl::StrFormat("FAIL: batch norm, %s: %s", strategy,
                          !one.ok() ? one.status().ToString()
                                    : (!synced.ok() ? synced.status().ToString() : own.status().ToString())));
      ok = false;
      continue;
    }
    const double losses = RelativeDifference(one->losses, synced->losses);
    const double weights = RelativeDifference(one->weights, synced->weights);
    const double unsynced = RelativeDifference(one->losses, own->losses);
    const bool good = losses >= 0 && losses <= kTolerance && weights >= 0 && weights <= kTolerance &&
                      unsynced > 10 * kTolerance;
    say(absl::StrFormat("%s batch norm, %s: 2 x 32 with sync batch norm against 1 x 64: losses within %.2g, "
                        "weights (running statistics too) within %.2g; without it the losses differ by %.2g",
                        good ? "ok  " : "FAIL", strategy, losses, weights, unsynced));
    ok = ok && good;
  }
  // An approximate strategy's batch-norm codes keep each rank's statistics.
  v1::JobSpec approx = bn_job;
  approx.set_strategy("approx4");
  approx.set_batch_size(32);
  const absl::StatusOr<Run> refused = Train(approx, comm->get(), int64_t{25} << 20, true, /*sync_bn=*/true);
  const bool says = !refused.ok() && refused.status().code() == absl::StatusCode::kUnimplemented;
  say(absl::StrFormat("%s sync batch norm with approx4 is refused: %s", says ? "ok  " : "FAIL",
                      refused.ok() ? "it ran" : refused.status().ToString()));
  ok = ok && says;
  say(ok ? "PASS" : "FAIL: see the lines above");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace slimtrain::engine

int main() { return slimtrain::engine::Main(); }
