// cuda_backend_impl.h — the CUDA backend's class, private to
// cuda_backend.cc (setup, memory, conv2d, linear, batch norm, loss,
// optimizers) and cuda_backend_ops.cc (every other op). See cuda_backend.h.
#ifndef SLIMTRAIN_ENGINE_CUDA_CUDA_BACKEND_IMPL_H_
#define SLIMTRAIN_ENGINE_CUDA_CUDA_BACKEND_IMPL_H_

#include "engine/cuda/cuda_backend.h"


#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/cuda/cublas_include.h"
#include "engine/cuda/cublas_ops.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/cudnn_ops.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/library_status.h"

namespace slimtrain::engine::cuda_impl {


using planner::Dims;
using planner::Node;
using planner::OpKind;

constexpr int64_t kAlignment = 256;
// cuBLAS's workspace, NVIDIA's recommendation for Hopper (4 MiB elsewhere).
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

inline const float* F(const void* p) { return static_cast<const float*>(p); }
inline float* F(void* p) { return static_cast<float*>(p); }

// `batch` examples of per-example dims (C,H,W) or (F) as NHWC.
inline cuda::Nhwc ShapeOf(const Dims& d, int64_t batch) {
  cuda::Nhwc s;
  s.n = batch;
  if (d.size() == 3) {
    s.c = d[0];
    s.h = d[1];
    s.w = d[2];
  } else {
    s.c = planner::NumElements(d);
  }
  return s;
}

// Channels of per-example dims: C of (C,H,W), F of (F).
inline int64_t ChannelsOf(const Dims& d) { return d.empty() ? 1 : d[0]; }

inline cuda::Pool PoolOf(const Node& n) {
  cuda::Pool p;
  p.kernel_h = static_cast<int>(n.kernel_h);
  p.kernel_w = static_cast<int>(n.kernel_w);
  p.stride_h = static_cast<int>(n.stride_h);
  p.stride_w = static_cast<int>(n.stride_w);
  p.pad_top = static_cast<int>(n.pad_top);
  p.pad_left = static_cast<int>(n.pad_left);
  p.pad_bottom = static_cast<int>(n.pad_bottom);
  p.pad_right = static_cast<int>(n.pad_right);
  p.ho = n.out.size() == 3 ? n.out[1] : 1;
  p.wo = n.out.size() == 3 ? n.out[2] : 1;
  p.count_include_pad = n.count_include_pad;
  return p;
}

inline int ModeOf(BatchNormMode mode) {
  switch (mode) {
    case BatchNormMode::kTrain:
      return 0;
    case BatchNormMode::kTrainNoUpdate:
      return 1;
    case BatchNormMode::kInference:
      return 2;
  }
  return 0;
}

// `status` with "layer '<name>' <what>: " in front.
inline absl::Status InLayer(const Node& n, const char* what, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("layer '", n.name, "' ", what, ": ", status.message()));
}

// Records the first failure of a CUDA/cuDNN/cuBLAS call in the backend.
#define SLIM_CUDA_RECORD(expr) Record(::slimtrain::engine::cuda::CudaStatus((expr), #expr, __FILE__, __LINE__))

class CudaBackend final : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<Backend>> Create(const CudaBackendOptions& options);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  // --- planner::CostModel.
  std::string name() const override { return "cudnn"; }
  int64_t alignment_bytes() const override { return kAlignment; }
  int64_t WorkspaceBytes(const planner::Graph& graph, const Node& node, int64_t batch,
                         planner::Pass pass) const override;

  DType dtype() const override { return DType::kF32; }

  // --- memory.
  bool host_addressable() const override { return false; }
  absl::StatusOr<DeviceBuffer> Allocate(int64_t bytes) override;
  void CopyToDevice(void* dst, const void* src, int64_t bytes) override;
  void CopyToHost(void* dst, const void* src, int64_t bytes) override;
  void Fill(void* dst, uint8_t byte, int64_t bytes) override;
  bool AllFinite(int64_t count, const void* x) override;
  void Synchronize() override;
  void* stream() const override { return stream_; }
  absl::Status ConsumeError() override;
  int64_t DeviceBytesInUse() const override { return CudaDeviceBytesInUse(device_); }

  absl::Status Prepare(const planner::Graph& graph, int64_t batch) override;

  void Conv2dForward(const Node& n, int64_t batch, const void* x, const void* w, const void* b, void* y,
                     Workspace ws) override;
  void Conv2dBackwardData(const Node& n, int64_t batch, const void* dy, const void* w, void* dx, bool accumulate,
                          Workspace ws) override;
  void Conv2dBackwardWeights(const Node& n, int64_t batch, const void* x, const void* dy, void* dw, void* db,
                             Workspace ws) override;

  void LinearForward(const Node& n, int64_t batch, const void* x, const void* w, const void* b, void* y,
                     Workspace ws) override;
  void LinearBackwardData(const Node& n, int64_t batch, const void* dy, const void* w, void* dx, bool accumulate,
                          Workspace ws) override;
  void LinearBackwardWeights(const Node& n, int64_t batch, const void* x, const void* dy, void* dw, void* db,
                             Workspace ws) override;

  void BatchNormForward(const Node& n, int64_t batch, BatchNormMode mode, const void* x, const void* gamma,
                        const void* beta, void* running_mean, void* running_var, void* y, void* stats) override;
  void BatchNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                         const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) override;

  void QuantizeBnRelu(const Node& bn, int64_t batch, int bits, const void* x, const void* y, const void* gamma,
                      const void* beta, const void* stats, void* code) override;
  void RestoreRelu(const Node& bn, int64_t batch, int bits, const void* code, const void* gamma, const void* beta,
                   void* z) override;
  void ReluBackwardFromCode(const Node& bn, int64_t batch, int bits, const void* dz, const void* code,
                            const void* gamma, const void* beta, void* dy, bool accumulate) override;
  void BatchNormBackwardFromCode(const Node& bn, int64_t batch, int bits, const void* dy, const void* code,
                                 const void* gamma, const void* beta, const void* stats, void* dx, bool accumulate,
                                 void* dgamma, void* dbeta) override;
  void EncodeSaved(const quant::CodeSpec& spec, const void* x, const void* stats, void* code) override;
  void DecodeSaved(const quant::CodeSpec& spec, const void* code, const void* stats, void* x) override;

  void ReluForward(int64_t count, const void* x, void* y) override;
  void ReluBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) override;
  void SigmoidForward(int64_t count, const void* x, void* y) override;
  void SigmoidBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) override;
  void TanhForward(int64_t count, const void* x, void* y) override;
  void TanhBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) override;
  void PointwiseForward(const Node& n, int64_t count, const void* x, void* y) override;
  void PointwiseBackward(const Node& n, int64_t count, const void* saved, const void* dy, void* dx,
                         bool accumulate) override;
  void GroupNormForward(const Node& n, int64_t batch, const void* x, const void* gamma, const void* beta, void* y,
                        void* stats) override;
  void GroupNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                         const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) override;
  void LayerNormForward(const Node& n, int64_t batch, const void* x, const void* gamma, const void* beta, void* y,
                        void* stats) override;
  void LayerNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                         const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) override;
  void AttentionForward(const Node& n, int64_t batch, const void* q, const void* k, const void* v, void* out,
                        void* lse, Workspace ws) override;
  void AttentionBackward(const Node& n, int64_t batch, const void* q, const void* k, const void* v, const void* out,
                         const void* lse, const void* dout, void* dq, void* dk, void* dv, const bool* accumulate,
                         Workspace ws) override;
  void StridedCopy(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
                   bool accumulate) override;
  void Reduce(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
              bool accumulate) override;
  void BinaryForward(BinaryOp op, const TensorView& a, const void* a_data, const TensorView& b, const void* b_data,
                     const TensorView& y, void* y_data) override;
  void MatMul(const TensorView& a, const void* a_data, const TensorView& b, const void* b_data, const TensorView& y,
              void* y_data, bool accumulate) override;
  void AdaptiveAvgPoolForward(const Node& n, int64_t batch, const void* x, void* y) override;
  void AdaptiveAvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) override;
  void UpsampleForward(const Node& n, int64_t batch, const void* x, void* y) override;
  void UpsampleBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) override;
  void EmbeddingForward(const Node& n, int64_t batch, const void* ids, const void* table, void* y) override;
  void EmbeddingBackward(const Node& n, int64_t batch, const void* ids, const void* dy, void* dtable,
                         bool accumulate) override;
  void BinaryBackward(BinaryOp op, int index, const TensorView& a, const void* a_data, const TensorView& b,
                      const void* b_data, const TensorView& dy, const void* dy_data, const TensorView& d,
                      void* d_data, bool accumulate) override;
  void SoftmaxForward(const Node& n, int64_t batch, const void* x, void* y) override;
  void SoftmaxBackward(const Node& n, int64_t batch, const void* y, const void* dy, void* dx,
                       bool accumulate) override;
  void AddForward(int64_t count, absl::Span<const void* const> inputs, void* y) override;
  void Copy(int64_t count, const void* src, void* dst, bool accumulate) override;
  void DropoutForward(const Node& n, int64_t batch, const DropoutKey& key, const void* x, void* y) override;
  void DropoutBackward(const Node& n, int64_t batch, const DropoutKey& key, const void* dy, void* dx,
                       bool accumulate) override;

  void ConcatForward(const Node& n, int64_t batch, absl::Span<const void* const> inputs, void* y) override;
  void ConcatBackward(const Node& n, int64_t batch, int index, const void* dy, void* dx, bool accumulate) override;
  void FlattenForward(const Node& n, int64_t batch, const void* x, void* y) override;
  void FlattenBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) override;

  void MaxPoolForward(const Node& n, int64_t batch, const void* x, void* y, int32_t* indices, Workspace ws) override;
  void MaxPoolBackward(const Node& n, int64_t batch, const void* dy, const int32_t* indices, void* dx,
                       bool accumulate, Workspace ws) override;
  void AvgPoolForward(const Node& n, int64_t batch, const void* x, void* y, Workspace ws) override;
  void AvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate,
                       Workspace ws) override;
  void GlobalAvgPoolForward(const Node& n, int64_t batch, const void* x, void* y) override;
  void GlobalAvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) override;

  void MseLossForward(int64_t count, const void* x, const void* targets, void* loss) override;
  void MseLossBackward(int64_t count, const void* x, const void* targets, void* dx, bool accumulate) override;
  void SoftmaxCrossEntropyForward(const Node& n, int64_t batch, const void* logits, const int32_t* labels,
                                  void* probs, void* loss) override;
  void SoftmaxCrossEntropyBackward(const Node& n, int64_t batch, const void* probs, const int32_t* labels,
                                   void* dlogits, bool accumulate) override;

  void SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov, void* param,
                 const void* grad, void* momentum_buffer) override;
  void AdamUpdate(int64_t count, double lr, double beta1, double beta2, double eps, double weight_decay, int64_t t,
                  void* param, const void* grad, void* m, void* v) override;
  void RmspropUpdate(int64_t count, double lr, double alpha, double eps, double weight_decay, double momentum,
                     void* param, const void* grad, void* square_avg, void* buf) override;

 private:
  explicit CudaBackend(const CudaBackendOptions& options) : device_(options.device), tf32_(options.tf32) {}
  absl::Status Init();

  // Keeps `status` when it is the first failure since ConsumeError.
  void Record(const absl::Status& status) {
    if (!status.ok() && error_.ok()) error_ = status;
  }
  // Makes the backend's GPU current for this thread (the server may drive
  // backends of several GPUs from one thread pool).
  void Use() { SLIM_CUDA_RECORD(cudaSetDevice(device_)); }

  // The cuDNN op of conv2d `n` at `batch`, created on first use.
  absl::StatusOr<cuda::ConvOp*> Conv(const Node& n, int64_t batch) const;

  const int device_;
  const bool tf32_;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;  // kCublasWorkspaceBytes for cuBLAS
  int* finite_flag_ = nullptr;        // device int for AllFinite
  absl::Status error_;

  // conv2d ops by layer name, shape and batch; filled by WorkspaceBytes
  // (planning) and Prepare.
  mutable std::mutex conv_mu_;
  mutable absl::flat_hash_map<std::string, std::unique_ptr<cuda::ConvOp>> convs_;
};

}  // namespace slimtrain::engine::cuda_impl

#endif  // SLIMTRAIN_ENGINE_CUDA_CUDA_BACKEND_IMPL_H_
