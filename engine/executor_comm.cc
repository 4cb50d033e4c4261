// Data-parallel training in the executor: the plan's gradient buckets,
// copied into their ALLREDUCE buffers and summed as backward completes them,
// their means copied back before the optimizer, every copy a backend kernel
// on the backend's memory (executor.h, ExecutorOptions::communicator;
// planner/data_parallel.h); sync batch norm (host-addressable backends).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/executor.h"
#include "engine/tensor_view.h"

namespace slimtrain::engine {

using planner::Node;
using planner::ScheduleStep;

absl::Status Executor::CheckDataParallel(const planner::Schedule& schedule, const Backend& backend,
                                         const ExecutorOptions& options) {
  const int ranks = options.communicator != nullptr ? options.communicator->size() : 1;
  if (ranks != schedule.ranks) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the plan's ranks (data-parallel processes), %d, are not the communicator's size, %d: plan for the job's "
        "ranks",
        schedule.ranks, ranks));
  }
  if (ranks == 1) return absl::OkStatus();
  // The buckets and the broadcast hand the communicator the backend's own
  // memory: it must be able to reach it.
  const comm::BufferMemory memory = options.communicator->buffer_memory();
  if (!backend.host_addressable() && memory == comm::BufferMemory::kHost) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "data-parallel training on %s: its gradients and parameters are in device memory, which this "
        "communicator (host buffers, MPI) cannot reach; give ExecutorOptions.communicator a device one "
        "(NcclCommunicator over the host communicator)",
        backend.name()));
  }
  if (backend.host_addressable() && memory == comm::BufferMemory::kDevice) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "data-parallel training on %s: its gradients are in host memory, but the communicator takes device "
        "buffers (NCCL); use the host communicator (MPI) on a CPU backend",
        backend.name()));
  }
  if (options.sync_batch_norm && !backend.host_addressable()) {
    return absl::UnimplementedError(absl::StrFormat(
        "sync batch norm on %s: its per-channel sums are computed on the host from the activations, which are "
        "in device memory there; train without sync batch norm (each rank's own statistics), or on the CPU",
        backend.name()));
  }
  if (options.sync_batch_norm && schedule.strategy != planner::Strategy::kExact &&
      schedule.strategy != planner::Strategy::kCheckpoint &&
      schedule.strategy != planner::Strategy::kCheckpointOptimal) {
    return absl::UnimplementedError(absl::StrFormat(
        "sync batch norm with %s: its batch-norm codes keep each rank's statistics; use exact, checkpoint or "
        "checkpoint_optimal, or train without sync batch norm",
        planner::StrategyName(schedule.strategy)));
  }
  return absl::OkStatus();
}

namespace {

// A contiguous run of `count` elements, as a view.
TensorView Contiguous(int64_t count) {
  TensorView v;
  v.rank = 1;
  v.dims[0] = count;
  v.strides[0] = 1;
  return v;
}

}  // namespace

// Every copy goes through the backend, on its own memory (host or device),
// in the order of its other kernels: the same code on every backend.
void Executor::StartReadyBuckets(int t) {
  const int64_t element = SizeOf(params_.dtype());
  for (int k : buckets_after_step_[t]) {
    const planner::GradientBucket& b = schedule_.buckets[k];
    uint8_t* buffer = arena_.data() + offset_[b.buffer];  // the backend's memory, as the gradients
    const uint8_t* grads = static_cast<const uint8_t*>(params_.kernel_grads());
    uint8_t* to = buffer;
    for (const auto& [begin, end] : b.ranges) {  // the bucket's ranges one after another
      backend_->Copy(end - begin, grads + begin * element, to, /*accumulate=*/false);
      to += (end - begin) * element;
    }
    // The communicator orders its sum after the copies (NCCL: after the
    // backend's stream; MPI: the CPU backends' kernels have returned).
    if (params_.dtype() == DType::kF64) {
      pending_.push_back(options_.communicator->StartAllReduceSum(reinterpret_cast<double*>(buffer), b.elements));
    } else {
      pending_.push_back(options_.communicator->StartAllReduceSum(reinterpret_cast<float*>(buffer), b.elements));
    }
  }
}

absl::Status Executor::FinishGradients() {
  const auto start = std::chrono::steady_clock::now();
  absl::Status status;
  for (std::unique_ptr<comm::PendingCollective>& p : pending_) {
    const absl::Status s = p->Wait();
    if (status.ok() && !s.ok()) status = s;
  }
  pending_.clear();
  wait_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  SLIM_RETURN_IF_ERROR(status);
  // Each bucket holds the sum of every rank's gradients; over the ranks,
  // their mean. The buckets cover every trainable element once. float32:
  // the scale is float(1/ranks), and the backend's double product of two
  // floats rounds once to float, as float(sum) * float(1/ranks) would.
  double scale = 1.0 / options_.communicator->size();
  if (params_.dtype() == DType::kF32) scale = static_cast<float>(scale);
  const int64_t element = SizeOf(params_.dtype());
  uint8_t* grads = static_cast<uint8_t*>(params_.kernel_grads());
  for (const planner::GradientBucket& b : schedule_.buckets) {
    const uint8_t* from = arena_.data() + offset_[b.buffer];
    for (const auto& [begin, end] : b.ranges) {
      const TensorView run = Contiguous(end - begin);
      backend_->StridedCopy(run, from, run, grads + begin * element, scale, /*accumulate=*/false);
      from += (end - begin) * element;
    }
  }
  return absl::OkStatus();
}

absl::Status Executor::BroadcastParameters(int root) {
  if (!data_parallel()) return absl::OkStatus();
  comm::Communicator& c = *options_.communicator;
  // The kernel side: device memory for a device communicator
  // (CheckDataParallel), the host's on the CPU backends. Whatever the backend
  // queued before is done first.
  void* data = params_.kernel_data();
  backend_->Synchronize();
  SLIM_RETURN_IF_ERROR(c.Broadcast(data, params_.bytes(), root));
  for (int slot = 0; slot < params_.optimizer_slots(); ++slot) {
    SLIM_RETURN_IF_ERROR(
        c.Broadcast(params_.kernel_state(slot), params_.trainable_count() * SizeOf(params_.dtype()), root));
  }
  return absl::OkStatus();
}

namespace {

// Batch norm's layout in the arena: x (N,H,W,C) with channels innermost,
// (N,C), or (N,C,L) row-major (L innermost).
struct BnLayout {
  int64_t channels = 1, inner = 1, elements = 0;  // inner: L for (N,C,L), else 1
  int64_t Channel(int64_t e) const { return (e / inner) % channels; }
};

// Element i of a float32 or float64 (f64) array, as a double.
double ElementAt(bool f64, const void* p, int64_t i) {
  return f64 ? static_cast<const double*>(p)[i] : static_cast<const float*>(p)[i];
}

BnLayout LayoutOf(const Node& n, int64_t batch) {
  BnLayout l;
  l.channels = n.out.empty() ? 1 : n.out[0];
  if (n.out.size() == 2) l.inner = n.out[1];
  l.elements = batch * planner::NumElements(n.out);
  return l;
}

}  // namespace

void Executor::SyncBatchNormForward(const Node& n, int64_t batch, BatchNormMode mode, const void* x_in,
                                    const void* gamma, const void* beta, void* running_mean, void* running_var,
                                    void* y, void* stats) {
  const BnLayout l = LayoutOf(n, batch);
  const int64_t c_count = l.channels;
  // This rank's sums, then every rank's.
  std::vector<double> sums(2 * c_count, 0.0);
  const bool f64 = backend_->dtype() == DType::kF64;
  for (int64_t e = 0; e < l.elements; ++e) {
    const double v = ElementAt(f64, x_in, e);
    const int64_t c = l.Channel(e);
    sums[c] += v;
    sums[c_count + c] += v * v;
  }
  if (absl::Status s = options_.communicator->AllReduceSum(sums.data(), 2 * c_count); !s.ok()) {
    comm_error_ = s;
    return;
  }
  const double count = static_cast<double>(l.elements / c_count) * options_.communicator->size();
  std::vector<double> mean(c_count), var(c_count);
  for (int64_t c = 0; c < c_count; ++c) {
    mean[c] = sums[c] / count;
    var[c] = std::max(0.0, sums[c_count + c] / count - mean[c] * mean[c]);
  }
  // The backend normalises with them (its inference path, given them as
  // the statistics); the stats backward reads and the running statistics
  // are set here, as its training path would.
  auto finish = [&](auto* st, auto* rm, auto* rv) {
    using T = std::remove_pointer_t<decltype(st)>;
    std::vector<T> mean_t(c_count), var_t(c_count);
    for (int64_t c = 0; c < c_count; ++c) {
      mean_t[c] = static_cast<T>(mean[c]);
      var_t[c] = static_cast<T>(var[c]);
    }
    backend_->BatchNormForward(n, batch, BatchNormMode::kInference, x_in, gamma, beta, mean_t.data(), var_t.data(),
                               y, stats);
    for (int64_t c = 0; c < c_count; ++c) {  // stats (2, C): mean, then 1/sqrt(var + eps), as normalised
      st[c] = mean_t[c];
      st[c_count + c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(var_t[c]) + n.eps));
    }
    if (mode == BatchNormMode::kTrain && rm != nullptr && rv != nullptr) {
      const double m = n.momentum, unbiased = count > 1 ? count / (count - 1) : 1.0;
      for (int64_t c = 0; c < c_count; ++c) {
        rm[c] = static_cast<T>((1 - m) * rm[c] + m * mean[c]);
        rv[c] = static_cast<T>((1 - m) * rv[c] + m * var[c] * unbiased);
      }
    }
  };
  if (f64) {
    finish(static_cast<double*>(stats), static_cast<double*>(running_mean), static_cast<double*>(running_var));
  } else {
    finish(static_cast<float*>(stats), static_cast<float*>(running_mean), static_cast<float*>(running_var));
  }
}

void Executor::SyncBatchNormSums(const Node& n, int64_t batch, const void* dy_in, const void* x_in,
                                 const void* stats_in) {
  const BnLayout l = LayoutOf(n, batch);
  const int64_t c_count = l.channels;
  const bool f64 = backend_->dtype() == DType::kF64;
  auto at = [f64](const void* p, int64_t i) { return ElementAt(f64, p, i); };
  bn_local_.assign(2 * c_count, 0.0);
  for (int64_t e = 0; e < l.elements; ++e) {
    const int64_t c = l.Channel(e);
    const double xhat = (at(x_in, e) - at(stats_in, c)) * at(stats_in, c_count + c);
    bn_local_[c] += at(dy_in, e);
    bn_local_[c_count + c] += at(dy_in, e) * xhat;
  }
  bn_global_ = bn_local_;
  if (absl::Status s = options_.communicator->AllReduceSum(bn_global_.data(), 2 * c_count); !s.ok()) {
    comm_error_ = s;
  }
}

void Executor::SyncBatchNormCorrect(const Node& n, int64_t batch, const void* x_in, const void* gamma_in,
                                    const void* stats_in, void* dx_out) {
  if (dx_out == nullptr || !comm_error_.ok()) return;  // batch norm on the model input: no dx
  const BnLayout l = LayoutOf(n, batch);
  const int64_t c_count = l.channels;
  const bool f64 = backend_->dtype() == DType::kF64;
  auto at = [f64](const void* p, int64_t i) { return ElementAt(f64, p, i); };
  // dx = g·inv·(dy - S1/N - x̂·S2/N): the backend's used this rank's sums and
  // count; add the difference to every rank's.
  const double n_local = static_cast<double>(l.elements / c_count);
  const double n_global = n_local * options_.communicator->size();
  for (int64_t e = 0; e < l.elements; ++e) {
    const int64_t c = l.Channel(e);
    const double inv = at(stats_in, c_count + c);
    const double xhat = (at(x_in, e) - at(stats_in, c)) * inv;
    const double g = gamma_in != nullptr ? at(gamma_in, c) : 1.0;
    const double delta = g * inv *
                         ((bn_local_[c] / n_local - bn_global_[c] / n_global) +
                          xhat * (bn_local_[c_count + c] / n_local - bn_global_[c_count + c] / n_global));
    if (f64) {
      static_cast<double*>(dx_out)[e] += delta;
    } else {
      static_cast<float*>(dx_out)[e] += static_cast<float>(delta);
    }
  }
}

}  // namespace slimtrain::engine
