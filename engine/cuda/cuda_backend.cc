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

#include "engine/cuda/cuda_backend_impl.h"

namespace slimtrain::engine {
namespace cuda_impl {


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
  const std::string key =
      absl::StrFormat("%s|%s|%s|%dx%d,%dx%d,%d:%d:%d:%d,%dx%d,%d|%d", n.name, planner::DimsString(in),
                      planner::DimsString(n.out), n.kernel_h, n.kernel_w, n.stride_h, n.stride_w, n.pad_top,
                      n.pad_left, n.pad_bottom, n.pad_right, n.dilation_h, n.dilation_w, n.groups, batch);
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
      units = std::max(units, n.out.size() == 2 ? n.out[0] : ShapeOf(n.out, batch).c);  // (C,L): C
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
  if (n.out.size() == 2) {  // (N,C,L), row-major
    SLIM_CUDA_RECORD(cuda::BatchNormSequenceForward(batch, n.out[0], n.out[1], ModeOf(mode), n.eps, n.momentum, F(x),
                                                    F(gamma), F(beta), F(running_mean), F(running_var), F(y),
                                                    F(stats), stream_));
    return;
  }
  SLIM_CUDA_RECORD(cuda::BatchNormForward(ShapeOf(n.out, batch), ModeOf(mode), n.eps, n.momentum, F(x), F(gamma),
                                          F(beta), F(running_mean), F(running_var), F(y), F(stats), stream_));
}

void CudaBackend::BatchNormBackward(const Node& n, int64_t batch, const void* dy, const void* x, const void* gamma,
                                    const void* stats, void* dx, bool accumulate, void* dgamma, void* dbeta) {
  Use();
  if (n.out.size() == 2) {  // (N,C,L), row-major
    SLIM_CUDA_RECORD(cuda::BatchNormSequenceBackward(batch, n.out[0], n.out[1], F(dy), F(x), F(gamma), F(stats),
                                                     F(dx), accumulate, F(dgamma), F(dbeta), stream_));
    return;
  }
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

void CudaBackend::EncodeSaved(const quant::CodeSpec& spec, const void* x, const void* stats, void* code) {
  Use();
  SLIM_CUDA_RECORD(cuda::EncodeSaved(spec, F(x), F(stats), code, stream_));
}

void CudaBackend::DecodeSaved(const quant::CodeSpec& spec, const void* code, const void* stats, void* x) {
  Use();
  SLIM_CUDA_RECORD(cuda::DecodeSaved(spec, code, F(stats), F(x), stream_));
}

// ---------------------------------------------------------------- loss, optimizers

void CudaBackend::MseLossForward(int64_t count, const void* x, const void* targets, void* loss) {
  Use();
  SLIM_CUDA_RECORD(cuda::MseLossForward(count, F(x), F(targets), F(loss), stream_));
}

void CudaBackend::MseLossBackward(int64_t count, const void* x, const void* targets, void* dx, bool accumulate) {
  Use();
  SLIM_CUDA_RECORD(cuda::MseLossBackward(count, F(x), F(targets), F(dx), accumulate, stream_));
}

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

}  // namespace cuda_impl

using cuda_impl::CudaBackend;


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
