// See cuda_backend.h. The CUDA Backend: cuDNN convolutions (cudnn_ops.h),
// cuBLAS linear layers (cublas_ops.h), kernels.h for every other op, all on
// one stream.
//
// Memory (every byte a step uses comes from the executor's arena):
//   conv2d    workspace = cudnn_ops.h's per pass: the KRSC filter copy plus
//             the chosen cuDNN algorithm's workspace; backward = max(data,
//             filter), data counted only when the input is not the model's.
//   linear    0, except on an image input with C > 1 and H·W > 1, whose
//             PyTorch flatten order (C,H,W) differs from NHWC: then
//             min(N, out)·F floats, both passes (cublas_ops.h).
//   others    0.
// Backend-owned, not activation-sized: the cuDNN and cuBLAS handles, cuBLAS's
// 32 MiB workspace (cublasSetWorkspace), one device int for AllFinite, the
// kernels' reduction scratch (kernels.h: 1 MiB, grown by Prepare for a graph
// with more than 32768 channels) and the cuDNN descriptors of each conv
// shape; all made at construction except the descriptors (WorkspaceBytes or
// Prepare), never during a step.
//
// Errors: every CUDA, cuDNN and cuBLAS status is checked; the first failure
// (file and line, prefixed with the layer for conv2d/linear) is kept until
// ConsumeError, which also picks up failures of kernels that already ran
// (cudaStreamQuery) without waiting for the stream.
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
#include "engine/cuda/cublas_include.h"
#include "engine/cuda/cublas_ops.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/cudnn_ops.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/library_status.h"
#include "planner/status_macros.h"

namespace slimtrain::engine {
namespace {

using planner::Dims;
using planner::Node;
using planner::OpKind;

constexpr int64_t kAlignment = 256;
// cuBLAS's workspace, NVIDIA's recommendation for Hopper (4 MiB elsewhere).
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

const float* F(const void* p) { return static_cast<const float*>(p); }
float* F(void* p) { return static_cast<float*>(p); }

// `batch` examples of per-example dims (C,H,W) or (F) as NHWC.
cuda::Nhwc ShapeOf(const Dims& d, int64_t batch) {
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
int64_t ChannelsOf(const Dims& d) { return d.empty() ? 1 : d[0]; }

cuda::Pool PoolOf(const Node& n) {
  cuda::Pool p;
  p.kernel = static_cast<int>(n.kernel);
  p.stride = static_cast<int>(n.stride);
  p.padding = static_cast<int>(n.padding);
  p.ho = n.out.size() == 3 ? n.out[1] : 1;
  p.wo = n.out.size() == 3 ? n.out[2] : 1;
  p.count_include_pad = n.count_include_pad;
  return p;
}

int ModeOf(BatchNormMode mode) {
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
absl::Status InLayer(const Node& n, const char* what, const absl::Status& status) {
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
  void EmbeddingForward(const Node& n, int64_t batch, const void* ids, const void* table, void* y) override;
  void EmbeddingBackward(const Node& n, int64_t batch, const void* ids, const void* dy, void* dtable) override;
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

// ---------------------------------------------------------------- setup

absl::StatusOr<std::unique_ptr<Backend>> CudaBackend::Create(const CudaBackendOptions& options) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear it: later kernel launches check the last error
    return absl::UnavailableError(absl::StrFormat("no usable GPU: cudaGetDeviceCount: %s (%s)",
                                                  cudaGetErrorString(err), cudaGetErrorName(err)));
  }
  if (count == 0) return absl::UnavailableError("no usable GPU: the CUDA runtime reports 0 devices");
  if (options.device < 0 || options.device >= count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "CUDA device %d is out of range: this machine has %d GPU(s), ordinals 0..%d", options.device, count,
        count - 1));
  }
  std::unique_ptr<CudaBackend> backend(new CudaBackend(options));
  SLIM_RETURN_IF_ERROR(backend->Init());
  return std::unique_ptr<Backend>(std::move(backend));
}

absl::Status CudaBackend::Init() {
  // cuDNN and cuBLAS are loaded now, not linked: UNAVAILABLE (and the CPU)
  // on a machine without them.
  SLIM_RETURN_IF_ERROR(cuda::LoadGpuLibraries());
  SLIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  SLIM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  // The kernels' reduction scratch, made now so that no step allocates.
  SLIM_CUDA_RETURN_IF_ERROR(cuda::ReserveScratch(stream_));
  absl::Status cudnn = cuda::CudaStatus(cuda::Cudnn().cudnnCreate(&cudnn_), "cudnnCreate", __FILE__, __LINE__);
  if (!cudnn.ok()) {
    cudnn_ = nullptr;
    cudaGetLastError();
    return absl::UnavailableError(absl::StrCat("cuDNN cannot be loaded: ", cudnn.message()));
  }
  SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnSetStream(cudnn_, stream_));
  absl::Status cublas = cuda::CudaStatus(cuda::Cublas().cublasCreate(&cublas_), "cublasCreate", __FILE__, __LINE__);
  if (!cublas.ok()) {
    cublas_ = nullptr;
    cudaGetLastError();
    return absl::UnavailableError(absl::StrCat("cuBLAS cannot be loaded: ", cublas.message()));
  }
  SLIM_CUDA_RETURN_IF_ERROR(cuda::Cublas().cublasSetStream(cublas_, stream_));
  // cuBLAS's own workspace, set after the stream (setting a stream resets it):
  // GEMMs never allocate.
  SLIM_CUDA_RETURN_IF_ERROR(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
  SLIM_CUDA_RETURN_IF_ERROR(cuda::Cublas().cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
  // True fp32 unless TF32 is asked for: pedantic math forbids TF32 and any
  // reduced-precision or emulated path for the float32 GEMMs.
  SLIM_CUDA_RETURN_IF_ERROR(
      cuda::Cublas().cublasSetMathMode(cublas_, tf32_ ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH));
  SLIM_CUDA_RETURN_IF_ERROR(cudaMalloc(reinterpret_cast<void**>(&finite_flag_), sizeof(int)));
  return absl::OkStatus();
}

CudaBackend::~CudaBackend() {
  cudaSetDevice(device_);
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  convs_.clear();
  if (cudnn_ != nullptr) cuda::Cudnn().cudnnDestroy(cudnn_);
  if (cublas_ != nullptr) cuda::Cublas().cublasDestroy(cublas_);
  if (cublas_workspace_ != nullptr) cudaFree(cublas_workspace_);
  if (finite_flag_ != nullptr) cudaFree(finite_flag_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  cudaGetLastError();
}

absl::StatusOr<cuda::ConvOp*> CudaBackend::Conv(const Node& n, int64_t batch) const {
  const Dims in = n.input_dims.empty() ? Dims{} : n.input_dims[0];
  const std::string key = absl::StrFormat("%s|%s|%s|%d,%d,%d,%d,%d|%d", n.name, planner::DimsString(in),
                                          planner::DimsString(n.out), n.kernel, n.stride, n.padding, n.dilation,
                                          n.groups, batch);
  std::lock_guard<std::mutex> lock(conv_mu_);
  auto it = convs_.find(key);
  if (it != convs_.end()) return it->second.get();
  SLIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  SLIM_ASSIGN_OR_RETURN(std::unique_ptr<cuda::ConvOp> op, cuda::ConvOp::Create(cudnn_, n, batch, tf32_));
  cuda::ConvOp* raw = op.get();
  convs_.emplace(key, std::move(op));
  return raw;
}

int64_t CudaBackend::WorkspaceBytes(const planner::Graph&, const Node& node, int64_t batch,
                                    planner::Pass pass) const {
  if (node.kind == OpKind::kLinear) return cuda::PlanLinear(node, batch).workspace_bytes;
  if (node.kind != OpKind::kConv2d) return 0;
  absl::StatusOr<cuda::ConvOp*> op = Conv(node, batch);
  if (!op.ok()) return 0;  // Prepare reports the error
  if (pass == planner::Pass::kForward) return (*op)->forward_workspace_bytes();
  // Backward runs backward-data (skipped for the model input) and then
  // backward-filter in the same workspace.
  const bool data = !node.inputs.empty() && node.inputs[0] != 0;
  return std::max(data ? (*op)->backward_data_workspace_bytes() : int64_t{0},
                  (*op)->backward_filter_workspace_bytes());
}

absl::Status CudaBackend::Prepare(const planner::Graph& graph, int64_t batch) {
  if (batch <= 0) return absl::InvalidArgumentError(absl::StrFormat("batch %d is not positive", batch));
  int64_t units = 0;  // the most channels or columns a reduction runs over
  int64_t rows = batch;  // the most rows one (a linear's bias gradient)
  for (const Node& n : graph.nodes()) {
    if (n.kind == OpKind::kConv2d) {
      SLIM_RETURN_IF_ERROR(Conv(n, batch).status());
      if (n.bias && !n.out.empty()) units = std::max(units, n.out[0]);
    } else if (n.kind == OpKind::kLinear) {
      const planner::KernelView k = planner::KernelShape(n, batch);  // (L,D) tokens: N·L rows
      rows = std::max(rows, k.rows);
      const cuda::LinearPlan s = cuda::PlanLinear(k.node, k.rows);
      if (s.f <= 0 || s.o <= 0) {
        return absl::InvalidArgumentError(
            absl::StrFormat("layer '%s': linear of %d inputs and %d outputs", n.name, s.f, s.o));
      }
      if (n.bias) units = std::max(units, s.o);
    } else if (n.kind == OpKind::kBatchNorm) {
      units = std::max(units, ShapeOf(n.out, batch).c);
    } else if (n.kind == OpKind::kSoftmaxCrossEntropy) {
      rows = std::max(rows, planner::KernelShape(n, batch).rows);  // (L, classes): N·L rows
    } else if (n.kind == OpKind::kAttention && n.input_dims[0][1] / n.heads > cuda::kMaxHeadDim) {
      return absl::UnimplementedError(absl::StrFormat("layer '%s': attention heads of %d features; the CUDA "
                                                      "kernels take at most %d",
                                                      n.name, n.input_dims[0][1] / n.heads, cuda::kMaxHeadDim));
    }
  }
  // The kernels' reduction scratch for this graph, grown now (if at all) so
  // that no step allocates.
  SLIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  SLIM_CUDA_RETURN_IF_ERROR(cuda::ReserveScratch(stream_, cuda::ScratchDoublesFor(units, rows)));
  return absl::OkStatus();
}

// ---------------------------------------------------------------- memory

absl::StatusOr<DeviceBuffer> CudaBackend::Allocate(int64_t bytes) {
  if (bytes <= 0) return DeviceBuffer();
  SLIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  void* data = nullptr;
  const cudaError_t err = cudaMalloc(&data, static_cast<size_t>(bytes));
  if (err != cudaSuccess) {
    cudaGetLastError();  // out of memory is not sticky: clear it for later launches
    const absl::Status s = cuda::CudaStatus(err, "cudaMalloc", __FILE__, __LINE__);
    return absl::Status(s.code(), absl::StrFormat("cannot allocate %d bytes on GPU %d: %s", bytes, device_,
                                                  s.message()));
  }
  const int device = device_;
  DeviceBuffer buffer(data, bytes, [device](void* p) {
    int previous = -1;
    cudaGetDevice(&previous);
    cudaSetDevice(device);
    cudaFree(p);
    if (previous >= 0 && previous != device) cudaSetDevice(previous);
  });
  SLIM_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(data, 0, static_cast<size_t>(bytes), stream_));
  SLIM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  return buffer;
}

void CudaBackend::CopyToDevice(void* dst, const void* src, int64_t bytes) {
  if (bytes <= 0) return;
  Use();
  SLIM_CUDA_RECORD(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyHostToDevice, stream_));
}

void CudaBackend::CopyToHost(void* dst, const void* src, int64_t bytes) {
  if (bytes <= 0) return;
  Use();
  SLIM_CUDA_RECORD(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost, stream_));
  SLIM_CUDA_RECORD(cudaStreamSynchronize(stream_));
}

void CudaBackend::Fill(void* dst, uint8_t byte, int64_t bytes) {
  if (bytes <= 0) return;
  Use();
  SLIM_CUDA_RECORD(cuda::Fill(dst, byte, bytes, stream_));
}

bool CudaBackend::AllFinite(int64_t count, const void* x) {
  if (count <= 0) return true;
  Use();
  int finite = 0;
  absl::Status s = cuda::CudaStatus(cuda::AllFinite(count, F(x), finite_flag_, stream_), "cuda::AllFinite",
                                    __FILE__, __LINE__);
  if (s.ok()) {
    s = cuda::CudaStatus(cudaMemcpyAsync(&finite, finite_flag_, sizeof(int), cudaMemcpyDeviceToHost, stream_),
                         "cudaMemcpyAsync", __FILE__, __LINE__);
  }
  if (s.ok()) s = cuda::CudaStatus(cudaStreamSynchronize(stream_), "cudaStreamSynchronize", __FILE__, __LINE__);
  Record(s);
  // A check that failed is not a pass: "not finite", with the error recorded.
  return s.ok() && finite == 1;
}

void CudaBackend::Synchronize() {
  Use();
  SLIM_CUDA_RECORD(cudaStreamSynchronize(stream_));
}

absl::Status CudaBackend::ConsumeError() {
  Use();
  const cudaError_t err = cudaStreamQuery(stream_);
  if (err == cudaErrorNotReady) {
    cudaGetLastError();  // not an error; clear it for later launches
  } else {
    SLIM_CUDA_RECORD(err);
  }
  absl::Status error = std::move(error_);
  error_ = absl::OkStatus();
  return error;
}

// ---------------------------------------------------------------- conv2d

void CudaBackend::Conv2dForward(const Node& n, int64_t batch, const void* x, const void* w, const void* b, void* y,
                                Workspace ws) {
  Use();
  absl::StatusOr<cuda::ConvOp*> op = Conv(n, batch);
  if (!op.ok()) return Record(op.status());  // names the layer
  Record(InLayer(n, "forward", (*op)->Forward(cudnn_, stream_, F(x), F(w), F(b), F(y), ws)));
}

void CudaBackend::Conv2dBackwardData(const Node& n, int64_t batch, const void* dy, const void* w, void* dx,
                                     bool accumulate, Workspace ws) {
  Use();
  absl::StatusOr<cuda::ConvOp*> op = Conv(n, batch);
  if (!op.ok()) return Record(op.status());  // names the layer
  Record(InLayer(n, "backward-data", (*op)->BackwardData(cudnn_, stream_, F(dy), F(w), F(dx), accumulate, ws)));
}

void CudaBackend::Conv2dBackwardWeights(const Node& n, int64_t batch, const void* x, const void* dy, void* dw,
                                        void* db, Workspace ws) {
  Use();
  absl::StatusOr<cuda::ConvOp*> op = Conv(n, batch);
  if (!op.ok()) return Record(op.status());  // names the layer
  Record(InLayer(n, "backward-filter", (*op)->BackwardFilter(cudnn_, stream_, F(x), F(dy), F(dw), F(db), ws)));
}

// ---------------------------------------------------------------- linear

void CudaBackend::LinearForward(const Node& n, int64_t batch, const void* x, const void* w, const void* b, void* y,
                                Workspace ws) {
  Use();
  Record(InLayer(n, "forward",
                 cuda::LinearForward(cublas_, stream_, cuda::PlanLinear(n, batch), F(x), F(w), F(b), F(y), ws)));
}

void CudaBackend::LinearBackwardData(const Node& n, int64_t batch, const void* dy, const void* w, void* dx,
                                     bool accumulate, Workspace ws) {
  Use();
  Record(InLayer(n, "backward-data", cuda::LinearBackwardData(cublas_, stream_, cuda::PlanLinear(n, batch), F(dy),
                                                              F(w), F(dx), accumulate, ws)));
}

void CudaBackend::LinearBackwardWeights(const Node& n, int64_t batch, const void* x, const void* dy, void* dw,
                                        void* db, Workspace ws) {
  Use();
  Record(InLayer(n, "backward-weights", cuda::LinearBackwardWeights(cublas_, stream_, cuda::PlanLinear(n, batch),
                                                                    F(x), F(dy), F(dw), F(db), ws)));
}

// ---------------------------------------------------------------- batch_norm and codes

void CudaBackend::BatchNormForward(const Node& n, int64_t batch, BatchNormMode mode, const void* x,
                                   const void* gamma, const void* beta, void* running_mean, void* running_var,
                                   void* y, void* stats) {
  Use();
  SLIM_CUDA_RECORD(cuda::BatchNormForward(ShapeOf(n.out, batch), ModeOf(mode), n.eps, n.momentum, F(x), F(gamma),
                                          F(beta), F(running_mean), F(running_var), F(y), F(stats), stream_));
}

void CudaBackend::BatchNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                                    const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) {
  Use();
  SLIM_CUDA_RECORD(cuda::BatchNormBackward(ShapeOf(n.out, batch), F(dy), F(x), F(gamma), F(stats), F(dx),
                                           accumulate, F(dgamma), F(dbeta), stream_));
}

void CudaBackend::QuantizeBnRelu(const Node& bn, int64_t batch, int bits, const void* x, const void* y,
                                 const void* gamma, const void* beta, const void* stats, void* code) {
  Use();
  SLIM_CUDA_RECORD(cuda::QuantizeBnRelu(ShapeOf(bn.out, batch), bits, F(x), F(y), F(gamma), F(beta), F(stats), code,
                                        stream_));
}

void CudaBackend::RestoreRelu(const Node& bn, int64_t batch, int bits, const void* code, const void* gamma,
                              const void* beta, void* z) {
  Use();
  SLIM_CUDA_RECORD(cuda::RestoreRelu(ShapeOf(bn.out, batch), bits, code, F(gamma), F(beta), F(z), stream_));
}

void CudaBackend::ReluBackwardFromCode(const Node& bn, int64_t batch, int bits, const void* dz, const void* code,
                                       const void* gamma, const void* beta, void* dy, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::ReluBackwardFromCode(ShapeOf(bn.out, batch), bits, F(dz), code, F(gamma), F(beta), F(dy),
                                              accumulate, stream_));
}

void CudaBackend::BatchNormBackwardFromCode(const Node& bn, int64_t batch, int bits, const void* dy,
                                            const void* code, const void* gamma, const void* beta,
                                            const void* stats, void* dx, bool accumulate, void* dgamma,
                                            void* dbeta) {
  Use();
  SLIM_CUDA_RECORD(cuda::BatchNormBackwardFromCode(ShapeOf(bn.out, batch), bits, F(dy), code, F(gamma), F(beta),
                                                   F(stats), F(dx), accumulate, F(dgamma), F(dbeta), stream_));
}

// ---------------------------------------------------------------- elementwise

void CudaBackend::ReluForward(int64_t count, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::ReluForward(count, F(x), F(y), stream_));
}

void CudaBackend::ReluBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::ReluBackward(count, F(y), F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::SigmoidForward(int64_t count, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::SigmoidForward(count, F(x), F(y), stream_));
}

void CudaBackend::SigmoidBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::SigmoidBackward(count, F(y), F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::TanhForward(int64_t count, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::TanhForward(count, F(x), F(y), stream_));
}

void CudaBackend::TanhBackward(int64_t count, const void* y, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::TanhBackward(count, F(y), F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::PointwiseForward(const Node& n, int64_t count, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::PointwiseForward(count, PointwiseFnOf(n), F(x), F(y), stream_));
}

void CudaBackend::PointwiseBackward(const Node& n, int64_t count, const void* saved, const void* dy, void* dx,
                                    bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::PointwiseBackward(count, PointwiseFnOf(n), F(saved), F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::GroupNormForward(const Node& n, int64_t batch, const void* x, const void* gamma, const void* beta,
                                   void* y, void* stats) {
  Use();
  SLIM_CUDA_RECORD(cuda::GroupNormForward(GroupsOf(n), batch, n.eps, F(x), F(gamma), F(beta), F(y), F(stats), stream_));
}

void CudaBackend::GroupNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                                    const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) {
  Use();
  SLIM_CUDA_RECORD(cuda::GroupNormBackward(GroupsOf(n), batch, F(dy), F(x), F(gamma), F(stats), F(dx), accumulate,
                                           F(dgamma), F(dbeta), stream_));
}

void CudaBackend::LayerNormForward(const Node& n, int64_t batch, const void* x, const void* gamma, const void* beta,
                                   void* y, void* stats) {
  Use();
  SLIM_CUDA_RECORD(cuda::LayerNormForward(batch * n.norm_rows, n.norm_row_size, n.out.size() == 3 ? n.out[0] : 0,
                                          n.eps, F(x), F(gamma), F(beta), F(y), F(stats), stream_));
}

void CudaBackend::LayerNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                                    const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) {
  Use();
  SLIM_CUDA_RECORD(cuda::LayerNormBackward(batch * n.norm_rows, n.norm_row_size, n.out.size() == 3 ? n.out[0] : 0,
                                           F(dy), F(x), F(gamma), F(stats), F(dx), accumulate, F(dgamma), F(dbeta),
                                           stream_));
}

void CudaBackend::AttentionForward(const Node& n, int64_t batch, const void* q, const void* k, const void* v,
                                   void* out, void* lse, Workspace) {
  Use();
  SLIM_CUDA_RECORD(cuda::AttentionForward(batch, n.input_dims[0][0], n.input_dims[1][0], n.input_dims[0][1], n.heads,
                                          n.attention_scale, n.causal, F(q), F(k), F(v), F(out), F(lse), stream_));
}

void CudaBackend::AttentionBackward(const Node& n, int64_t batch, const void* q, const void* k, const void* v,
                                    const void* out, const void* lse, const void* dout, void* dq, void* dk, void* dv,
                                    const bool* accumulate, Workspace) {
  Use();
  SLIM_CUDA_RECORD(cuda::AttentionBackward(batch, n.input_dims[0][0], n.input_dims[1][0], n.input_dims[0][1],
                                           n.heads, n.attention_scale, n.causal, F(q), F(k), F(v), F(out), F(lse),
                                           F(dout), F(dq), F(dk), F(dv), accumulate, stream_));
}

void CudaBackend::StridedCopy(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
                              bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::StridedCopy(src, F(x), dst, F(y), scale, accumulate, stream_));
}

void CudaBackend::Reduce(const TensorView& src, const void* x, const TensorView& dst, void* y, double scale,
                         bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::Reduce(src, F(x), dst, F(y), scale, accumulate, stream_));
}

void CudaBackend::BinaryForward(BinaryOp op, const TensorView& a, const void* a_data, const TensorView& b,
                                const void* b_data, const TensorView& y, void* y_data) {
  Use();
  SLIM_CUDA_RECORD(cuda::BinaryForward(op, a, F(a_data), b, F(b_data), y, F(y_data), stream_));
}

void CudaBackend::MatMul(const TensorView& a, const void* a_data, const TensorView& b, const void* b_data,
                         const TensorView& y, void* y_data, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::MatMul(a, F(a_data), b, F(b_data), y, F(y_data), accumulate, stream_));
}

void CudaBackend::AdaptiveAvgPoolForward(const Node& n, int64_t batch, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::AdaptiveAvgPoolForward(AdaptiveOf(n), batch, F(x), F(y), stream_));
}

void CudaBackend::AdaptiveAvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::AdaptiveAvgPoolBackward(AdaptiveOf(n), batch, F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::EmbeddingForward(const Node& n, int64_t batch, const void* ids, const void* table, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::EmbeddingForward(batch * n.out[0], n.out_features, F(ids), F(table), F(y), stream_));
}

void CudaBackend::EmbeddingBackward(const Node& n, int64_t batch, const void* ids, const void* dy, void* dtable) {
  Use();
  SLIM_CUDA_RECORD(cuda::EmbeddingBackward(batch * n.out[0], n.out_features, n.vocabulary, F(ids), F(dy), F(dtable),
                                           stream_));
}

void CudaBackend::BinaryBackward(BinaryOp op, int index, const TensorView& a, const void* a_data,
                                 const TensorView& b, const void* b_data, const TensorView& dy, const void* dy_data,
                                 const TensorView& d, void* d_data, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::BinaryBackward(op, index, a, F(a_data), b, F(b_data), dy, F(dy_data), d, F(d_data),
                                        accumulate, stream_));
}

void CudaBackend::SoftmaxForward(const Node& n, int64_t batch, const void* x, void* y) {
  Use();
  const AxisSpan s = PhysicalAxis(n.out, n.axis, batch);
  SLIM_CUDA_RECORD(cuda::SoftmaxForward(s.outer, s.size, s.inner, n.kind == planner::OpKind::kLogSoftmax, F(x), F(y),
                                        stream_));
}

void CudaBackend::SoftmaxBackward(const Node& n, int64_t batch, const void* y, const void* dy, void* dx,
                                  bool accumulate) {
  Use();
  const AxisSpan s = PhysicalAxis(n.out, n.axis, batch);
  SLIM_CUDA_RECORD(cuda::SoftmaxBackward(s.outer, s.size, s.inner, n.kind == planner::OpKind::kLogSoftmax, F(y),
                                         F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::AddForward(int64_t count, absl::Span<const void* const> inputs, void* y) {
  Use();
  absl::InlinedVector<const float*, 8> in;
  for (const void* p : inputs) in.push_back(F(p));
  SLIM_CUDA_RECORD(cuda::AddForward(count, in.data(), static_cast<int>(in.size()), F(y), stream_));
}

void CudaBackend::Copy(int64_t count, const void* src, void* dst, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::Copy(count, F(src), F(dst), accumulate, stream_));
}

void CudaBackend::DropoutForward(const Node& n, int64_t batch, const DropoutKey& key, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::DropoutForward(batch * planner::NumElements(n.out), key.seed, key.step, n.id, n.dropout_p,
                                        F(x), F(y), stream_));
}

void CudaBackend::DropoutBackward(const Node& n, int64_t batch, const DropoutKey& key, const void* dy, void* dx,
                                  bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::DropoutBackward(batch * planner::NumElements(n.out), key.seed, key.step, n.id,
                                         n.dropout_p, F(dy), F(dx), accumulate, stream_));
}

// ---------------------------------------------------------------- layout

void CudaBackend::ConcatForward(const Node& n, int64_t batch, absl::Span<const void* const> inputs, void* y) {
  Use();
  const cuda::Nhwc shape = ShapeOf(n.out, batch);
  int64_t offset = 0;
  for (size_t i = 0; i < inputs.size() && i < n.input_dims.size(); ++i) {
    const int64_t c_in = ChannelsOf(n.input_dims[i]);
    SLIM_CUDA_RECORD(cuda::ConcatForwardOne(shape, c_in, offset, shape.c, F(inputs[i]), F(y), stream_));
    offset += c_in;
  }
}

void CudaBackend::ConcatBackward(const Node& n, int64_t batch, int index, const void* dy, void* dx,
                                 bool accumulate) {
  Use();
  const cuda::Nhwc shape = ShapeOf(n.out, batch);
  int64_t offset = 0;
  for (int i = 0; i < index; ++i) offset += ChannelsOf(n.input_dims[i]);
  SLIM_CUDA_RECORD(cuda::ConcatBackwardOne(shape, ChannelsOf(n.input_dims[index]), offset, shape.c, F(dy), F(dx),
                                           accumulate, stream_));
}

void CudaBackend::FlattenForward(const Node& n, int64_t batch, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::FlattenForward(ShapeOf(n.input_dims[0], batch), F(x), F(y), stream_));
}

void CudaBackend::FlattenBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::FlattenBackward(ShapeOf(n.input_dims[0], batch), F(dy), F(dx), accumulate, stream_));
}

// ---------------------------------------------------------------- pooling

void CudaBackend::MaxPoolForward(const Node& n, int64_t batch, const void* x, void* y, int32_t* indices,
                                 Workspace) {
  Use();
  SLIM_CUDA_RECORD(cuda::MaxPoolForward(ShapeOf(n.input_dims[0], batch), PoolOf(n), F(x), F(y), indices, stream_));
}

void CudaBackend::MaxPoolBackward(const Node& n, int64_t batch, const void* dy, const int32_t* indices, void* dx,
                                  bool accumulate, Workspace) {
  Use();
  SLIM_CUDA_RECORD(cuda::MaxPoolBackward(ShapeOf(n.input_dims[0], batch), PoolOf(n), F(dy), indices, F(dx),
                                         accumulate, stream_));
}

void CudaBackend::AvgPoolForward(const Node& n, int64_t batch, const void* x, void* y, Workspace) {
  Use();
  SLIM_CUDA_RECORD(cuda::AvgPoolForward(ShapeOf(n.input_dims[0], batch), PoolOf(n), F(x), F(y), stream_));
}

void CudaBackend::AvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate,
                                  Workspace) {
  Use();
  SLIM_CUDA_RECORD(
      cuda::AvgPoolBackward(ShapeOf(n.input_dims[0], batch), PoolOf(n), F(dy), F(dx), accumulate, stream_));
}

void CudaBackend::GlobalAvgPoolForward(const Node& n, int64_t batch, const void* x, void* y) {
  Use();
  SLIM_CUDA_RECORD(cuda::GlobalAvgPoolForward(ShapeOf(n.input_dims[0], batch), F(x), F(y), stream_));
}

void CudaBackend::GlobalAvgPoolBackward(const Node& n, int64_t batch, const void* dy, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(
      cuda::GlobalAvgPoolBackward(ShapeOf(n.input_dims[0], batch), F(dy), F(dx), accumulate, stream_));
}

// ---------------------------------------------------------------- loss, optimizers

void CudaBackend::SoftmaxCrossEntropyForward(const Node& n, int64_t batch, const void* logits,
                                             const int32_t* labels, void* probs, void* loss) {
  Use();
  SLIM_CUDA_RECORD(cuda::SoftmaxCrossEntropyForward(batch, planner::NumElements(n.input_dims[0]), n.label_smoothing,
                                                    F(logits), labels, F(probs), F(loss), stream_));
}

void CudaBackend::SoftmaxCrossEntropyBackward(const Node& n, int64_t batch, const void* probs,
                                              const int32_t* labels, void* dlogits, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::SoftmaxCrossEntropyBackward(batch, planner::NumElements(n.input_dims[0]),
                                                     n.label_smoothing, F(probs), labels, F(dlogits), accumulate,
                                                     stream_));
}

void CudaBackend::SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov,
                            void* param, const void* grad, void* momentum_buffer) {
  Use();
  SLIM_CUDA_RECORD(cuda::SgdUpdate(count, lr, momentum, weight_decay, nesterov, F(param), F(grad),
                                   F(momentum_buffer), stream_));
}

void CudaBackend::AdamUpdate(int64_t count, double lr, double beta1, double beta2, double eps, double weight_decay,
                             int64_t t, void* param, const void* grad, void* m, void* v) {
  Use();
  SLIM_CUDA_RECORD(
      cuda::AdamUpdate(count, lr, beta1, beta2, eps, weight_decay, t, F(param), F(grad), F(m), F(v), stream_));
}

void CudaBackend::RmspropUpdate(int64_t count, double lr, double alpha, double eps, double weight_decay,
                                double momentum, void* param, const void* grad, void* square_avg, void* buf) {
  Use();
  SLIM_CUDA_RECORD(cuda::RmspropUpdate(count, lr, alpha, eps, weight_decay, momentum, F(param), F(grad),
                                       F(square_avg), F(buf), stream_));
}

#undef SLIM_CUDA_RECORD

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> NewCudaBackend(const CudaBackendOptions& options) {
  return CudaBackend::Create(options);
}

int64_t CudaDeviceBytesInUse(int device) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  if (device < 0 || device >= count) return -1;
  int previous = -1;
  cudaGetDevice(&previous);
  size_t free_bytes = 0, total_bytes = 0;
  const bool ok = cudaSetDevice(device) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess;
  if (previous >= 0 && previous != device) cudaSetDevice(previous);
  if (!ok) {
    cudaGetLastError();
    return -1;
  }
  return static_cast<int64_t>(total_bytes - free_bytes);
}

}  // namespace slimtrain::engine
