// See backend.h.
#include "engine/backend.h"

#include <cmath>
#include <cstring>

#include "base/status_macros.h"
#include "engine/dropout_hash.h"
#include "engine/memory.h"

namespace slimtrain::engine {

absl::Status Backend::Prepare(const planner::Graph&, int64_t) { return absl::OkStatus(); }

absl::StatusOr<DeviceBuffer> Backend::Allocate(int64_t bytes) {
  if (bytes <= 0) return DeviceBuffer();
  auto* host = new HostBuffer(bytes);
  return DeviceBuffer(host->data(), bytes, [host](void*) { delete host; });
}

void Backend::CopyToDevice(void* dst, const void* src, int64_t bytes) {
  if (bytes > 0 && dst != src) std::memmove(dst, src, bytes);
}

void Backend::CopyToHost(void* dst, const void* src, int64_t bytes) {
  if (bytes > 0 && dst != src) std::memmove(dst, src, bytes);
}

void Backend::Fill(void* dst, uint8_t byte, int64_t bytes) {
  if (bytes > 0) std::memset(dst, byte, bytes);
}

bool Backend::AllFinite(int64_t count, const void* x) {
  for (int64_t i = 0; i < count; ++i) {
    const double v =
        dtype() == DType::kF32 ? static_cast<const float*>(x)[i] : static_cast<const double*>(x)[i];
    if (!std::isfinite(v)) return false;
  }
  return true;
}

// The hash lives in dropout_hash.h, shared with the CUDA kernels.
bool DropoutKeep(const DropoutKey& key, int node, int64_t i, double p) {
  return dropout::KeepAt(dropout::Base(key.seed, key.step, node), i, p);
}

PointwiseFn PointwiseFnOf(const planner::Node& n) {
  using planner::OpKind;
  PointwiseFn f;
  f.from_output = planner::BackwardReadsOutput(n);
  switch (n.kind) {
    case OpKind::kRelu6:
    case OpKind::kClip:
      f.op = PointwiseOp::kClip;
      f.a = n.clip_min;
      f.b = n.clip_max;
      break;
    case OpKind::kLeakyRelu:
      f.op = PointwiseOp::kLeakyRelu;
      f.a = n.negative_slope;
      break;
    case OpKind::kElu:
      f.op = PointwiseOp::kElu;
      f.a = n.alpha;
      break;
    case OpKind::kGelu:
      f.op = n.gelu_tanh ? PointwiseOp::kGeluTanh : PointwiseOp::kGeluErf;
      break;
    case OpKind::kSilu:
      f.op = PointwiseOp::kSilu;
      break;
    case OpKind::kHardswish:
      f.op = PointwiseOp::kHardswish;
      break;
    case OpKind::kHardsigmoid:
      f.op = PointwiseOp::kHardsigmoid;
      break;
    case OpKind::kSoftplus:
      f.op = PointwiseOp::kSoftplus;
      f.a = n.beta;
      f.b = n.threshold;
      break;
    case OpKind::kScale:
      f.op = PointwiseOp::kScale;
      f.a = n.scale;
      break;
    default:
      SLIM_CHECK(false && "PointwiseFnOf: not a pointwise op");
  }
  return f;
}

pool::Adaptive AdaptiveOf(const planner::Node& n) {
  return {n.input_dims[0][0], n.input_dims[0][1], n.input_dims[0][2], n.out[1], n.out[2]};
}

pool::Upsample UpsampleOf(const planner::Node& n) {
  pool::Upsample g;
  g.c = n.input_dims[0][0];
  g.h = n.input_dims[0][1];
  g.w = n.input_dims[0][2];
  g.oh = n.out[1];
  g.ow = n.out[2];
  g.bilinear = n.bilinear;
  g.align_corners = n.align_corners;
  return g;
}

norm::Groups GroupsOf(const planner::Node& n) {
  norm::Groups g;
  g.channels = n.out[0];
  g.spatial = planner::NumElements(n.out) / n.out[0];
  g.groups = n.groups_norm;
  g.channels_last = n.out.size() == 3;
  return g;
}

AxisSpan PhysicalAxis(const planner::Dims& dims, int64_t axis, int64_t batch) {
  SLIM_CHECK(axis >= 0 && axis < static_cast<int64_t>(dims.size()));
  // The per-example dims in memory order: (C,H,W) is stored (H,W,C).
  planner::Dims memory = dims;
  int64_t at = axis;
  if (dims.size() == 3) {
    memory = {dims[1], dims[2], dims[0]};
    at = axis == 0 ? 2 : axis - 1;
  }
  AxisSpan span;
  span.outer = batch;
  for (int64_t i = 0; i < at; ++i) span.outer *= memory[i];
  span.size = memory[at];
  for (size_t i = at + 1; i < memory.size(); ++i) span.inner *= memory[i];
  return span;
}

namespace {

template <typename T>
void Adam(int64_t count, double lr, double beta1, double beta2, double eps, double wd, int64_t t, T* p,
          const T* grad, T* m, T* v) {
  const double c1 = 1.0 - std::pow(beta1, static_cast<double>(t));
  const double c2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  for (int64_t i = 0; i < count; ++i) {
    const double g = static_cast<double>(grad[i]) + wd * p[i];
    m[i] = static_cast<T>(beta1 * m[i] + (1.0 - beta1) * g);
    v[i] = static_cast<T>(beta2 * v[i] + (1.0 - beta2) * g * g);
    p[i] = static_cast<T>(p[i] - lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps));
  }
}

template <typename T>
void Rmsprop(int64_t count, double lr, double alpha, double eps, double wd, double momentum, T* p, const T* grad,
             T* sq, T* buf) {
  for (int64_t i = 0; i < count; ++i) {
    const double g = static_cast<double>(grad[i]) + wd * p[i];
    sq[i] = static_cast<T>(alpha * sq[i] + (1.0 - alpha) * g * g);
    const double d = g / (std::sqrt(static_cast<double>(sq[i])) + eps);
    if (momentum > 0) {
      buf[i] = static_cast<T>(momentum * buf[i] + d);
      p[i] = static_cast<T>(p[i] - lr * buf[i]);
    } else {
      p[i] = static_cast<T>(p[i] - lr * d);
    }
  }
}

}  // namespace

void Backend::AdamUpdate(int64_t count, double lr, double beta1, double beta2, double eps, double weight_decay,
                         int64_t t, void* param, const void* grad, void* m, void* v) {
  if (dtype() == DType::kF32) {
    Adam(count, lr, beta1, beta2, eps, weight_decay, t, static_cast<float*>(param), static_cast<const float*>(grad),
         static_cast<float*>(m), static_cast<float*>(v));
  } else {
    Adam(count, lr, beta1, beta2, eps, weight_decay, t, static_cast<double*>(param),
         static_cast<const double*>(grad), static_cast<double*>(m), static_cast<double*>(v));
  }
}

void Backend::RmspropUpdate(int64_t count, double lr, double alpha, double eps, double weight_decay,
                            double momentum, void* param, const void* grad, void* square_avg, void* buf) {
  if (dtype() == DType::kF32) {
    Rmsprop(count, lr, alpha, eps, weight_decay, momentum, static_cast<float*>(param),
            static_cast<const float*>(grad), static_cast<float*>(square_avg), static_cast<float*>(buf));
  } else {
    Rmsprop(count, lr, alpha, eps, weight_decay, momentum, static_cast<double*>(param),
            static_cast<const double*>(grad), static_cast<double*>(square_avg), static_cast<double*>(buf));
  }
}

}  // namespace slimtrain::engine
