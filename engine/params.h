// params.h — the parameter region: parameters, their gradients, the
// optimizer state and batch-norm running statistics, outside the arena.
//
//   ParameterRegion params(graph, DType::kF32);
//   params.Initialize(/*seed=*/1);                 // torchvision-style init
//   const NodeParams& p = params.node(conv_id);   // element offsets
//   float* w = params.Data<float>() + p.weight;
//
// Layout: one block of element type `dtype` laid out as
// planner::LayoutParameters says (planner/parameter_layout.h: in node order,
// every trainable tensor, then the non-trainable running_mean and
// running_var of every batch_norm); the planner's gradient buckets use the
// same offsets. Gradients and each optimizer state buffer
// (planner::OptimizerStateSlots: sgd's momentum; adam's two moments;
// rmsprop's square average and momentum) mirror the trainable part, so one
// optimizer call covers every parameter. Sizes match
// planner::ParameterRegionBytes.
//
// On a backend whose kernels do not address host memory (CUDA), the region
// has a device copy too (AttachDevice): the kernel accessors (At, GradAt,
// kernel_data, kernel_grads, kernel_state) return device pointers, the host
// accessors (Get, Set, GetGrad, data, grads, optimizer_state, Data, Grads)
// host ones, and each side is brought up to date from the other on first use
// after the other may have written (a kernel accessor counts as a write).
// On the CPU backends both sides are the same memory and nothing is copied.
#ifndef SLIMTRAIN_ENGINE_PARAMS_H_
#define SLIMTRAIN_ENGINE_PARAMS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/backend.h"
#include "engine/memory.h"
#include "planner/graph.h"
#include "planner/parameter_layout.h"

namespace slimtrain::engine {

// Element offsets of one node's tensors in the region (-1: none).
using planner::NodeParams;

// One named tensor, as PyTorch's state_dict names it ("layer1.0.conv1.weight").
struct NamedTensor {
  std::string name;
  int64_t offset = 0;                // elements into the region
  std::vector<int64_t> shape;        // PyTorch's shape, e.g. (K, C/g, R, R)
  bool trainable = true;
};

class ParameterRegion {
 public:
  // `optimizer_slots` state buffers of trainable_count() elements each.
  ParameterRegion(const planner::Graph& graph, DType dtype, int optimizer_slots = 1);

  DType dtype() const { return dtype_; }
  int64_t trainable_count() const { return trainable_; }
  int64_t total_count() const { return total_; }
  int64_t bytes() const { return total_ * SizeOf(dtype_); }
  const NodeParams& node(int id) const { return nodes_[id]; }
  const std::vector<NamedTensor>& tensors() const { return tensors_; }
  // The model's parameter_shapes that do not fit their parameter (those
  // keep slimtrain's shape); Executor::Create refuses a model with any.
  const std::vector<std::string>& shape_errors() const { return shape_errors_; }

  // Weights as torchvision initialises ResNets: conv2d kaiming-normal
  // (fan_out, ReLU gain), linear and biases uniform(±1/sqrt(fan_in)) as
  // PyTorch's defaults, batch_norm γ = 1, β = 0, running mean 0 and variance
  // 1. Gradients and the optimizer state start at zero. Deterministic for a
  // seed.
  void Initialize(uint64_t seed);

  // Gives the region a copy in `backend`'s kernel memory when that is not
  // host memory (else does nothing), holding the host's current values.
  // `backend` must outlive the region.
  absl::Status AttachDevice(Backend* backend);

  // --- host side.
  void* data() { return HostWrite(storage_.data()); }
  const void* data() const { return HostRead(storage_.data()); }
  void* grads() { return HostWrite(grad_storage_.data()); }
  // State buffer `slot` (0-based) of the optimizer.
  void* optimizer_state(int slot = 0) {
    return HostWrite(state_storage_.data() + slot * trainable_ * SizeOf(dtype_));
  }
  const void* optimizer_state(int slot = 0) const {
    return HostRead(state_storage_.data() + slot * trainable_ * SizeOf(dtype_));
  }
  int optimizer_slots() const { return slots_; }
  template <typename T>
  T* Data() { return reinterpret_cast<T*>(data()); }
  template <typename T>
  T* Grads() { return reinterpret_cast<T*>(grads()); }

  // Element i of the region as a double, and setting it (any dtype).
  double Get(int64_t i) const;
  void Set(int64_t i, double value);
  double GetGrad(int64_t i) const;
  // Every trainable gradient, as doubles.
  std::vector<double> Gradients() const;

  // --- kernel side: pointers for the backend's kernels.
  void* kernel_data() { return KernelAccess(storage_.data(), device_.data()); }
  void* kernel_grads() { return KernelAccess(grad_storage_.data(), device_grads_.data()); }
  void* kernel_state(int slot = 0) {
    return static_cast<uint8_t*>(KernelAccess(state_storage_.data(), device_state_.data())) +
           slot * trainable_ * SizeOf(dtype_);
  }
  // Pointers to one node's tensors (null where the node has none).
  void* At(int64_t offset) {
    return offset < 0 ? nullptr : static_cast<uint8_t*>(kernel_data()) + offset * SizeOf(dtype_);
  }
  void* GradAt(int64_t offset) {
    return offset < 0 || offset >= trainable_ ? nullptr
                                              : static_cast<uint8_t*>(kernel_grads()) + offset * SizeOf(dtype_);
  }

 private:
  DType dtype_;
  std::vector<std::string> shape_errors_;
  int slots_ = 1;
  int64_t trainable_ = 0, total_ = 0;
  std::vector<NodeParams> nodes_;
  std::vector<NamedTensor> tensors_;
  // How each tensor starts (Initialize).
  // kNormal002: N(0, 0.02²), as ViT's and GPT-2's embeddings.
  enum class Init { kKaimingNormal, kUniform, kOnes, kZeros, kNormal002 };
  struct InitRule {
    Init init;
    int64_t fan;  // fan_out for kKaimingNormal, fan_in for kUniform
  };
  static InitRule InitRuleOf(const planner::Node& n, planner::ParameterRole role);
  std::vector<InitRule> init_;  // one per tensor
  HostBuffer storage_, grad_storage_, state_storage_;

  // The device copy (AttachDevice) and which side holds the latest values.
  enum class Latest { kBoth, kHost, kDevice };
  void PullToHost() const;
  void PushToDevice();
  template <typename P>
  P HostRead(P p) const {
    if (latest_ == Latest::kDevice) PullToHost();
    return p;
  }
  template <typename P>
  P HostWrite(P p) {
    if (backend_ == nullptr) return p;
    if (latest_ == Latest::kDevice) PullToHost();
    latest_ = Latest::kHost;
    return p;
  }
  void* KernelAccess(uint8_t* host, uint8_t* device) {
    if (backend_ == nullptr) return host;
    if (latest_ == Latest::kHost) PushToDevice();
    latest_ = Latest::kDevice;
    return device;
  }
  Backend* backend_ = nullptr;  // set when the kernels need a device copy
  DeviceBuffer device_, device_grads_, device_state_;
  mutable Latest latest_ = Latest::kBoth;
};

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_PARAMS_H_
