// dnnl_ops.h — oneDNN primitives for conv2d and linear (inner product):
// forward, backward-data and backward-weights with the bias gradient.
//
// A WeightedOp holds the three primitives of one layer shape at one batch,
// created once (JIT code generation) and run many times:
//
//   WeightedOpCache cache(engine);
//   absl::StatusOr<WeightedOp*> op = cache.Get(conv_node, /*batch=*/128);
//   int64_t ws = (*op)->forward_workspace_bytes();      // plan this much
//   (*op)->Forward(stream, x, w, b, y, Workspace{arena + offset, ws});
//
// Formats: activations stay the engine's NHWC ("nhwc"; (N,F) "nc"), so no
// activation is reordered. Weights are OIHW in the parameter region
// (backend.h; linear weights (O,F) with F in (C,H,W) order are oihw over
// the input's (C,H,W), which oneDNN takes with a 4-D nhwc source). Each
// primitive picks its own weights format (format_tag::any; on AVX-512 a
// blocked one, e.g. OIhw16i16o — plain OIHW selects oneDNN's reference
// implementation, 100–1000x slower), and every call reorders: forward and
// backward-data reorder w into their format in the workspace, backward-
// weights computes dw in its format in the workspace and reorders it into
// the OIHW dw. Nothing weight-sized is cached across calls (weights change
// every step), and the backend owns no weight copies.
//
// Workspace, in bytes (every piece 64-byte aligned; the scratchpad is
// USER-MANAGED, so all of it is in the plan):
//   forward          = w' + max(scratchpad, reorder scratchpad)
//   backward-data    = w' + max(scratchpads)
//     accumulating   = w' + dx temp + max(scratchpads)
//   backward-weights = dw' + max(scratchpads)
// where w' and dw' are the weights in the primitive's format (0 when it is
// OIHW). oneDNN has no accumulating backward-data, so when dx must be added
// to a gradient another consumer already wrote, backward-data runs on chunks
// of examples (NHWC: contiguous) into the "dx temp", each then added to dx;
// a chunk is kAccumulateChunkBytes of examples (at least one example), with
// its own primitives for the chunk and the remainder. Measured: chunks of 8
// to 32 CIFAR examples run as fast as the whole batch, and the temp stays
// 1 MiB instead of activation-sized. Scratchpad sizes depend on the thread
// count the primitive is created with (OpenMP's max threads at creation).
//
// Errors: creation returns oneDNN's failure as a Status. Running with a
// workspace smaller than reported aborts (the plan came from another cost
// model). Not thread-safe: one call at a time per op (memory handles are
// reused).
#ifndef SLIMTRAIN_ENGINE_CPU_DNNL_OPS_H_
#define SLIMTRAIN_ENGINE_CPU_DNNL_OPS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dnnl.hpp"
#include "engine/backend.h"
#include "planner/graph.h"

namespace slimtrain::engine::cpu {

// Round up to the 64-byte alignment of workspace pieces.
inline int64_t Align64(int64_t bytes) { return (bytes + 63) / 64 * 64; }

// The dx temp of an accumulating backward-data holds this many bytes of
// examples (at least one example).
inline constexpr int64_t kAccumulateChunkBytes = int64_t{1} << 20;

class WeightedOp {
 public:
  // Creates the primitives of conv2d or linear node `n` at `batch`; with
  // `runnable` false only their descriptors, which give every workspace size
  // without oneDNN's JIT compilation (planning alone: a few times faster,
  // a third of the memory), and Forward/Backward* abort.
  static absl::StatusOr<std::unique_ptr<WeightedOp>> Create(const dnnl::engine& engine, const planner::Node& n,
                                                            int64_t batch, bool runnable = true);
  WeightedOp(const WeightedOp&) = delete;
  WeightedOp& operator=(const WeightedOp&) = delete;
  ~WeightedOp();

  int64_t forward_workspace_bytes() const;
  int64_t backward_data_workspace_bytes(bool accumulate) const;
  int64_t backward_weights_workspace_bytes() const;

  // x (N,H,W,C) or (N,F), w OIHW or (O,F), b (K) or null, y NHWC or (N,O).
  // A null b adds no bias (a layer with a bias then adds zeros); a b for a
  // layer without one aborts.
  void Forward(const dnnl::stream& stream, const float* x, const float* w, const float* b, float* y,
               Workspace ws);
  // dx (or dx += with `threads` for the add) from dy.
  void BackwardData(const dnnl::stream& stream, const float* dy, const float* w, float* dx, bool accumulate,
                    Workspace ws, int threads);
  // dw (OIHW) and db (or null: not computed) overwritten.
  void BackwardWeights(const dnnl::stream& stream, const float* x, const float* dy, float* dw, float* db,
                       Workspace ws);

  // "fwd brgconv:avx512_core w=reordered, bwd_d ..., bwd_w ...": the
  // implementations oneDNN chose, for logs and the benchmark.
  std::string Describe() const;

  struct Stage;

 private:
  // Offsets in the accumulating backward-data's workspace: w' at 0, the dx
  // temp at `temp`, the scratchpads at `region`; `total` bytes.
  struct AccumulateLayout {
    int64_t temp = 0, region = 0, total = 0;
  };
  AccumulateLayout accumulate_layout() const;

  WeightedOp();
  // Aborts naming the layer and `pass` when the op was created for its sizes alone.
  void CheckRunnable(const char* pass) const;
  std::string name_;
  bool runnable_ = true;
  bool bias_ = false;
  int64_t batch_ = 0;
  int64_t dx_example_ = 0, dy_example_ = 0;  // elements per example of dx, dy
  int64_t chunk_ = 0;  // examples per accumulating backward-data call
  std::unique_ptr<float[]> zero_bias_, unused_bias_grad_;  // (K), for null b / db
  // Full batch; accumulating backward-data at `chunk_` examples and at the
  // remainder (null when not needed: chunk_ == batch, no remainder).
  std::unique_ptr<Stage> fwd_, bwd_data_, bwd_weights_, acc_chunk_, acc_rest_;
};

// WeightedOps by layer shape and batch: identical layers share one.
// Thread-safe; ops live as long as the cache.
class WeightedOpCache {
 public:
  // `runnable` false: its ops are created for their workspace sizes alone
  // (WeightedOp::Create).
  explicit WeightedOpCache(const dnnl::engine& engine, bool runnable = true) : engine_(engine), runnable_(runnable) {}
  absl::StatusOr<WeightedOp*> Get(const planner::Node& n, int64_t batch) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // kind, batch, C, H, W, K, Ho, Wo, kernel, stride, padding, dilation,
  // groups, bias.
  using Key = std::array<int64_t, 20>;
  dnnl::engine engine_;
  const bool runnable_;
  absl::Mutex mu_;
  absl::flat_hash_map<Key, std::unique_ptr<WeightedOp>> ops_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_DNNL_OPS_H_
