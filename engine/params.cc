// See params.h.
#include "engine/params.h"

#include <cmath>
#include <cstring>
#include <random>
#include <utility>

#include "base/status_macros.h"

namespace slimtrain::engine {

using planner::Node;
using planner::OpKind;

ParameterRegion::ParameterRegion(const planner::Graph& graph, DType dtype, int optimizer_slots)
    : dtype_(dtype), slots_(optimizer_slots) {
  planner::ParameterLayout layout = planner::LayoutParameters(graph);
  nodes_ = std::move(layout.nodes);
  shape_errors_ = std::move(layout.shape_errors);
  trainable_ = layout.trainable_count;
  total_ = layout.total_count;
  for (planner::ParameterTensor& t : layout.tensors) {
    init_.push_back(InitRuleOf(graph.node(t.node), t.role));
    NamedTensor named;
    named.name = std::move(t.name);
    named.offset = t.offset;
    named.shape = std::move(t.shape);
    named.trainable = t.trainable;
    tensors_.push_back(std::move(named));
  }
  const int64_t elem = SizeOf(dtype_);
  storage_ = HostBuffer(total_ * elem, 64);
  grad_storage_ = HostBuffer(trainable_ * elem, 64);
  state_storage_ = HostBuffer(slots_ * trainable_ * elem, 64);
}

ParameterRegion::InitRule ParameterRegion::InitRuleOf(const Node& n, planner::ParameterRole role) {
  using planner::ParameterRole;
  switch (role) {
    case ParameterRole::kGamma:
    case ParameterRole::kRunningVar:
      return {Init::kOnes, 0};
    case ParameterRole::kBeta:
    case ParameterRole::kRunningMean:
      return {Init::kZeros, 0};
    case ParameterRole::kWeight:
    case ParameterRole::kBias:
      break;
  }
  switch (n.kind) {
    case OpKind::kConv2d: {
      const int64_t cin = n.input_dims[0][0] / n.groups, k2 = n.kernel_h * n.kernel_w;
      return role == ParameterRole::kWeight ? InitRule{Init::kKaimingNormal, n.out_channels * k2}
                                            : InitRule{Init::kUniform, cin * k2};
    }
    case OpKind::kLinear:
      return {Init::kUniform, planner::NumElements(planner::KernelShape(n, 1).node.input_dims[0])};  // D of (L,D)
    case OpKind::kPositionalEmbedding:
    case OpKind::kEmbedding:
      return {Init::kNormal002, 0};
    default:  // the class token
      return {Init::kZeros, 0};
  }
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
