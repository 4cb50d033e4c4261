// See params.h.
#include "engine/params.h"

#include <cmath>
#include <cstring>
#include <random>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace slimtrain::engine {

using planner::Node;
using planner::OpKind;

ParameterRegion::ParameterRegion(const planner::Graph& graph, DType dtype, int optimizer_slots)
    : dtype_(dtype), slots_(optimizer_slots) {
  nodes_.resize(graph.size());
  const auto& export_names = graph.spec().parameter_names();
  const auto& export_shapes = graph.spec().parameter_shapes();
  auto add = [&](const Node& n, const char* what, std::vector<int64_t> shape, bool trainable, InitRule rule) {
    NamedTensor t;
    t.name = n.name + "." + what;
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    // The source model's shape for it (the same elements), when it has one.
    if (auto it = export_shapes.find(t.name); it != export_shapes.end()) {
      int64_t theirs = 1;
      for (int64_t d : it->second.dims()) theirs *= d;  // Graph::Build checked the dims
      if (theirs == count) {
        shape.assign(it->second.dims().begin(), it->second.dims().end());
      } else {
        shape_errors_.push_back(absl::StrFormat("parameter_shapes['%s']: [%s] has %d elements, the parameter %d",
                                                t.name, absl::StrJoin(it->second.dims(), ","), theirs, count));
      }
    }
    // The source model's name for it (an imported ONNX model's initializer).
    if (auto it = export_names.find(t.name); it != export_names.end()) t.name = it->second;
    t.offset = total_;
    t.trainable = trainable;
    t.shape = std::move(shape);
    tensors_.push_back(t);
    init_.push_back(rule);
    total_ += count;
    return t.offset;
  };
  // Trainable tensors first, in node order; then the running statistics.
  for (const Node& n : graph.nodes()) {
    NodeParams& p = nodes_[n.id];
    if (n.kind == OpKind::kConv2d) {
      const int64_t cin = n.input_dims[0][0] / n.groups, k2 = n.kernel_h * n.kernel_w;
      p.weight = add(n, "weight", {n.out_channels, cin, n.kernel_h, n.kernel_w}, true,
                     {Init::kKaimingNormal, n.out_channels * k2});
      if (n.bias) p.bias = add(n, "bias", {n.out_channels}, true, {Init::kUniform, cin * k2});
    } else if (n.kind == OpKind::kLinear) {
      const int64_t in = planner::NumElements(planner::KernelShape(n, 1).node.input_dims[0]);  // D of (L,D)
      // A tied linear's weight is the embedding's table (upstream, so
      // already added), as nn.Linear.weight = nn.Embedding.weight shares it.
      p.weight = n.tied_to >= 0 ? nodes_[n.tied_to].weight
                                : add(n, "weight", {n.out_features, in}, true, {Init::kUniform, in});
      if (n.bias) p.bias = add(n, "bias", {n.out_features}, true, {Init::kUniform, in});
    } else if (n.kind == OpKind::kLayerNorm) {
      if (n.affine) {
        // nn.LayerNorm's weight and bias have the normalised shape.
        const planner::Dims shape(n.out.end() - n.norm_axes, n.out.end());
        p.gamma = add(n, "weight", shape, true, {Init::kOnes, 0});
        if (n.bias) p.beta = add(n, "bias", shape, true, {Init::kZeros, 0});
      }
    } else if (n.kind == OpKind::kPositionalEmbedding) {
      planner::Dims shape = {1};
      shape.insert(shape.end(), n.out.begin(), n.out.end());
      p.weight = add(n, "weight", shape, true, {Init::kNormal002, 0});
    } else if (n.kind == OpKind::kGroupNorm) {
      if (n.affine) {
        p.gamma = add(n, "weight", {n.out[0]}, true, {Init::kOnes, 0});
        p.beta = add(n, "bias", {n.out[0]}, true, {Init::kZeros, 0});
      }
    } else if (n.kind == OpKind::kEmbedding) {
      p.weight = add(n, "weight", {n.vocabulary, n.out_features}, true, {Init::kNormal002, 0});
    } else if (n.kind == OpKind::kClassToken) {
      p.weight = add(n, "weight", {1, 1, n.out[1]}, true, {Init::kZeros, 0});
    } else if (n.kind == OpKind::kBatchNorm) {
      p.gamma = add(n, "weight", {n.out[0]}, true, {Init::kOnes, 0});
      p.beta = add(n, "bias", {n.out[0]}, true, {Init::kZeros, 0});
    }
  }
  trainable_ = total_;
  for (const Node& n : graph.nodes()) {
    if (n.kind != OpKind::kBatchNorm) continue;
    nodes_[n.id].running_mean = add(n, "running_mean", {n.out[0]}, false, {Init::kZeros, 0});
    nodes_[n.id].running_var = add(n, "running_var", {n.out[0]}, false, {Init::kOnes, 0});
  }
  const int64_t elem = SizeOf(dtype_);
  storage_ = HostBuffer(total_ * elem, 64);
  grad_storage_ = HostBuffer(trainable_ * elem, 64);
  state_storage_ = HostBuffer(slots_ * trainable_ * elem, 64);
}

absl::Status ParameterRegion::AttachDevice(Backend* backend) {
  if (backend->host_addressable()) return absl::OkStatus();
  SLIM_ASSIGN_OR_RETURN(device_, backend->Allocate(storage_.size()));
  SLIM_ASSIGN_OR_RETURN(device_grads_, backend->Allocate(grad_storage_.size()));
  SLIM_ASSIGN_OR_RETURN(device_state_, backend->Allocate(state_storage_.size()));
  backend_ = backend;
  latest_ = Latest::kHost;
  return absl::OkStatus();
}

void ParameterRegion::PullToHost() const {
  // Host storage is logically part of the region's value: copying into it
  // from a const accessor is a cache refresh.
  auto* self = const_cast<ParameterRegion*>(this);
  backend_->CopyToHost(self->storage_.data(), device_.data(), storage_.size());
  backend_->CopyToHost(self->grad_storage_.data(), device_grads_.data(), grad_storage_.size());
  backend_->CopyToHost(self->state_storage_.data(), device_state_.data(), state_storage_.size());
  latest_ = Latest::kBoth;
}

void ParameterRegion::PushToDevice() {
  backend_->CopyToDevice(device_.data(), storage_.data(), storage_.size());
  backend_->CopyToDevice(device_grads_.data(), grad_storage_.data(), grad_storage_.size());
  backend_->CopyToDevice(device_state_.data(), state_storage_.data(), state_storage_.size());
  latest_ = Latest::kBoth;
}

double ParameterRegion::Get(int64_t i) const {
  const void* p = data();
  return dtype_ == DType::kF32 ? static_cast<const float*>(p)[i] : static_cast<const double*>(p)[i];
}

void ParameterRegion::Set(int64_t i, double value) {
  void* p = data();
  if (dtype_ == DType::kF32) {
    static_cast<float*>(p)[i] = static_cast<float>(value);
  } else {
    static_cast<double*>(p)[i] = value;
  }
}

double ParameterRegion::GetGrad(int64_t i) const {
  const void* p = HostRead(grad_storage_.data());
  return dtype_ == DType::kF32 ? static_cast<const float*>(p)[i] : static_cast<const double*>(p)[i];
}

std::vector<double> ParameterRegion::Gradients() const {
  std::vector<double> g(trainable_count());
  for (int64_t i = 0; i < trainable_count(); ++i) g[i] = GetGrad(i);
  return g;
}

void ParameterRegion::Initialize(uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const NamedTensor& t = tensors_[k];
    int64_t count = 1;
    for (int64_t d : t.shape) count *= d;
    const InitRule rule = init_[k];
    for (int64_t i = 0; i < count; ++i) {
      double v = 0;
      switch (rule.init) {
        case Init::kKaimingNormal:
          v = std::normal_distribution<double>(0.0, std::sqrt(2.0 / static_cast<double>(rule.fan)))(rng);
          break;
        case Init::kUniform: {
          const double bound = 1.0 / std::sqrt(static_cast<double>(rule.fan));
          v = std::uniform_real_distribution<double>(-bound, bound)(rng);
          break;
        }
        case Init::kOnes:
          v = 1.0;
          break;
        case Init::kNormal002:
          v = std::normal_distribution<double>(0.0, 0.02)(rng);
          break;
        case Init::kZeros:
          break;
      }
      Set(t.offset + i, v);
    }
  }
  std::memset(grads(), 0, grad_storage_.size());
  std::memset(state_storage_.data(), 0, state_storage_.size());
}

}  // namespace slimtrain::engine
