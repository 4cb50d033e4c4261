// See cudnn_ops.h. cuDNN 9's legacy convolution API (cudnn_cnn.h) with NHWC
// tensor descriptors; the weight layout transposes are kernels.h's.
#include "engine/cuda/cudnn_ops.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/library_status.h"
#include "engine/cuda/workspace_bounds.h"

namespace slimtrain::engine::cuda {
namespace {

constexpr int64_t kAlignment = 256;
constexpr int64_t kMaxTensorElements = INT_MAX;          // cuDNN's 32-bit descriptors

int64_t RoundUp(int64_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

const char* MathName(cudnnMathType_t math) {
  switch (math) {
    case CUDNN_DEFAULT_MATH:
      return "default";
    case CUDNN_TENSOR_OP_MATH:
      return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION:
      return "tensor-op-conversion";
    case CUDNN_FMA_MATH:
      return "FMA";
  }
  return "?";
}

// The algorithm chosen for one pass, its math type and workspace (bytes
// cudnnGet*WorkspaceSize reports, not rounded).
struct Selection {
  int algo = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
  int64_t bytes = 0;
};

// Index into `perfs` of the algorithm to run (cudnn_ops.h, step 3), or -1.
template <typename Perf>
int Pick(const std::vector<Perf>& perfs, bool tf32, int64_t cap) {
  auto usable = [&](const Perf& p) {
    if (p.status != CUDNN_STATUS_SUCCESS) return false;
    // Down-conversion to 16-bit types is never allowed; TF32 only when asked.
    if (p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
    if (!tf32 && p.mathType == CUDNN_TENSOR_OP_MATH) return false;
    return true;
  };
  auto fits = [&](const Perf& p) { return static_cast<int64_t>(p.memory) <= cap; };
  const int n = static_cast<int>(perfs.size());
  for (int i = 0; i < n; ++i) {
    if (usable(perfs[i]) && fits(perfs[i]) && perfs[i].determinism == CUDNN_DETERMINISTIC) return i;
  }
  for (int i = 0; i < n; ++i) {
    if (usable(perfs[i]) && fits(perfs[i])) return i;
  }
  int best = -1;
  for (int i = 0; i < n; ++i) {
    if (usable(perfs[i]) && (best < 0 || perfs[i].memory < perfs[best].memory)) best = i;
  }
  return best;
}

// Chooses one pass's algorithm on `conv` and leaves `conv` set to its math
// type. `query(requested, &returned, perfs)` runs the v7 heuristic;
// `size_of(algo, &bytes)` the workspace query.
template <typename Perf, typename Query, typename SizeOf>
absl::StatusOr<Selection> Choose(const std::string& layer, const char* pass, cudnnConvolutionDescriptor_t conv,
                                 bool tf32, int64_t cap, int max_count, Query query, SizeOf size_of) {
  SLIM_CUDA_RETURN_IF_ERROR(
      cuda::Cudnn().cudnnSetConvolutionMathType(conv, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  std::vector<Perf> perfs(std::max(max_count, 1));
  int returned = 0;
  SLIM_CUDA_RETURN_IF_ERROR(query(static_cast<int>(perfs.size()), &returned, perfs.data()));
  perfs.resize(std::clamp(returned, 0, static_cast<int>(perfs.size())));
  const int i = Pick(perfs, tf32, cap);
  if (i < 0) {
    return absl::UnimplementedError(
        absl::StrFormat("layer '%s': cuDNN offers no %s algorithm for this shape (%d candidates, none usable%s)",
                        layer, pass, returned, tf32 ? "" : " in true fp32"));
  }
  Selection s;
  s.algo = static_cast<int>(perfs[i].algo);
  s.math = tf32 ? perfs[i].mathType : CUDNN_FMA_MATH;
  SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnSetConvolutionMathType(conv, s.math));
  size_t bytes = 0;
  SLIM_CUDA_RETURN_IF_ERROR(size_of(s.algo, &bytes));
  s.bytes = std::max(static_cast<int64_t>(bytes), static_cast<int64_t>(perfs[i].memory));
  return s;
}

}  // namespace

// ---------------------------------------------------------------- Chunk

struct ConvOp::Chunk {
  Chunk() = default;
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;
  ~Chunk() {
    if (x != nullptr) cuda::Cudnn().cudnnDestroyTensorDescriptor(x);
    if (y != nullptr) cuda::Cudnn().cudnnDestroyTensorDescriptor(y);
    if (fwd != nullptr) cuda::Cudnn().cudnnDestroyConvolutionDescriptor(fwd);
    if (bwd_data != nullptr) cuda::Cudnn().cudnnDestroyConvolutionDescriptor(bwd_data);
    if (bwd_filter != nullptr) cuda::Cudnn().cudnnDestroyConvolutionDescriptor(bwd_filter);
  }

  int64_t n = 0;                           // examples
  cudnnTensorDescriptor_t x = nullptr;     // (n,H,W,C) NHWC
  cudnnTensorDescriptor_t y = nullptr;     // (n,Ho,Wo,K) NHWC
  // One convolution descriptor per pass: each carries its algorithm's math type.
  cudnnConvolutionDescriptor_t fwd = nullptr, bwd_data = nullptr, bwd_filter = nullptr;
  cudnnConvolutionFwdAlgo_t fwd_algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  cudnnConvolutionBwdDataAlgo_t bwd_data_algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
  Selection fwd_sel, bwd_data_sel, bwd_filter_sel;
};

// ---------------------------------------------------------------- creation

absl::StatusOr<std::unique_ptr<ConvOp>> ConvOp::Create(cudnnHandle_t handle, const planner::Node& node,
                                                       int64_t batch, bool tf32) {
  if (node.kind != planner::OpKind::kConv2d || node.input_dims.size() != 1 || node.input_dims[0].size() != 3 ||
      node.out.size() != 3) {
    return absl::InvalidArgumentError(absl::StrFormat("layer '%s' is not a conv2d on an image", node.name));
  }
  if (batch <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("layer '%s': batch %d is not positive", node.name, batch));
  }
  std::unique_ptr<ConvOp> op(new ConvOp());
  op->layer_ = node.name;
  op->batch_ = batch;
  op->c_ = node.input_dims[0][0];
  op->h_ = node.input_dims[0][1];
  op->w_ = node.input_dims[0][2];
  op->k_ = node.out[0];
  op->ho_ = node.out[1];
  op->wo_ = node.out[2];
  op->in_h_ = op->h_;
  op->in_w_ = op->w_;
  op->r_ = node.kernel_h;
  op->s_ = node.kernel_w;
  op->stride_h_ = node.stride_h;
  op->stride_w_ = node.stride_w;
  op->pad_h_ = node.pad_top;
  op->pad_w_ = node.pad_left;
  // cuDNN pads each axis the same on both sides: asymmetric padding runs on
  // a zero-padded copy of x without padding.
  if (node.pad_top != node.pad_bottom || node.pad_left != node.pad_right) {
    op->h_ = op->in_h_ + node.pad_top + node.pad_bottom;
    op->w_ = op->in_w_ + node.pad_left + node.pad_right;
    op->pad_top_ = node.pad_top;
    op->pad_left_ = node.pad_left;
    op->pad_h_ = op->pad_w_ = 0;
  }
  op->dil_h_ = node.dilation_h;
  op->dil_w_ = node.dilation_w;
  op->groups_ = node.groups;
  if (op->groups_ <= 0 || op->c_ % op->groups_ != 0 || op->k_ % op->groups_ != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("layer '%s': %d input and %d output channels in %d groups",
                                                      node.name, op->c_, op->k_, op->groups_));
  }

  // Examples per chunk: x and y of a chunk stay within 2^31 - 1 elements.
  const int64_t x_per = op->h_ * op->w_ * op->c_, y_per = op->ho_ * op->wo_ * op->k_;
  const int64_t per = std::max(x_per, y_per);
  if (per > kMaxTensorElements) {
    return absl::UnimplementedError(
        absl::StrFormat("layer '%s': one example's tensor has %d elements, more than cuDNN's %d", node.name, per,
                        kMaxTensorElements));
  }
  int64_t n = std::min(batch, kMaxTensorElements / per);
  // Chunks start 256-byte aligned (a multiple of 64 examples) when split.
  if (n < batch && n >= 64) n -= n % 64;
  op->chunk_examples_ = n;
  op->workspace_cap_ = ConvWorkspaceCap(node, batch);  // workspace_bounds.h: the server admits with it

  absl::Status krsc = op->Build(handle, /*krsc=*/true, tf32);
  if (absl::IsUnimplemented(krsc)) {
    absl::Status kcrs = op->Build(handle, /*krsc=*/false, tf32);
    if (!kcrs.ok()) {
      return absl::Status(kcrs.code(), absl::StrCat(kcrs.message(), " (with a KRSC filter: ", krsc.message(), ")"));
    }
  } else if (!krsc.ok()) {
    return krsc;
  }
  return op;
}

absl::Status ConvOp::Build(cudnnHandle_t handle, bool krsc, bool tf32) {
  chunks_.clear();
  if (filter_ != nullptr) {
    cuda::Cudnn().cudnnDestroyFilterDescriptor(filter_);
    filter_ = nullptr;
  }
  krsc_ = krsc;
  const int64_t cg = c_ / groups_;
  filter_copy_bytes_ = krsc ? RoundUp(k_ * cg * r_ * s_ * static_cast<int64_t>(sizeof(float))) : 0;
  SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnCreateFilterDescriptor(&filter_));
  SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnSetFilter4dDescriptor(filter_, CUDNN_DATA_FLOAT,
                                                       krsc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                                       static_cast<int>(k_), static_cast<int>(cg),
                                                       static_cast<int>(r_), static_cast<int>(s_)));

  std::vector<int64_t> sizes = {chunk_examples_};
  if (batch_ % chunk_examples_ != 0) sizes.push_back(batch_ % chunk_examples_);
  int fwd_max = 0, data_max = 0, filter_max = 0;
  SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &fwd_max));
  SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &data_max));
  SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &filter_max));

  int64_t fwd_ws = 0, data_ws = 0, filter_ws = 0;
  for (int64_t n : sizes) {
    auto chunk = std::make_unique<Chunk>();
    Chunk& ch = *chunk;
    ch.n = n;
    SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnCreateTensorDescriptor(&ch.x));
    SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnCreateTensorDescriptor(&ch.y));
    SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnSetTensor4dDescriptor(ch.x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT,
                                                         static_cast<int>(n), static_cast<int>(c_),
                                                         static_cast<int>(h_), static_cast<int>(w_)));
    SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnSetTensor4dDescriptor(ch.y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT,
                                                         static_cast<int>(n), static_cast<int>(k_),
                                                         static_cast<int>(ho_), static_cast<int>(wo_)));
    for (cudnnConvolutionDescriptor_t* conv : {&ch.fwd, &ch.bwd_data, &ch.bwd_filter}) {
      SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnCreateConvolutionDescriptor(conv));
      SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnSetConvolution2dDescriptor(
          *conv, static_cast<int>(pad_h_), static_cast<int>(pad_w_), static_cast<int>(stride_h_),
          static_cast<int>(stride_w_), static_cast<int>(dil_h_), static_cast<int>(dil_w_), CUDNN_CROSS_CORRELATION,
          CUDNN_DATA_FLOAT));
      SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnSetConvolutionGroupCount(*conv, static_cast<int>(groups_)));
    }
    int on = 0, oc = 0, oh = 0, ow = 0;
    SLIM_CUDA_RETURN_IF_ERROR(
        cuda::Cudnn().cudnnGetConvolution2dForwardOutputDim(ch.fwd, ch.x, filter_, &on, &oc, &oh, &ow));
    if (on != n || oc != k_ || oh != ho_ || ow != wo_) {
      return absl::InvalidArgumentError(
          absl::StrFormat("layer '%s': cuDNN computes output %dx%dx%dx%d, the graph says %dx%dx%dx%d (N,K,Ho,Wo)",
                          layer_, on, oc, oh, ow, n, k_, ho_, wo_));
    }

    SLIM_ASSIGN_OR_RETURN(ch.fwd_sel, Choose<cudnnConvolutionFwdAlgoPerf_t>(
                                          layer_, "forward", ch.fwd, tf32, workspace_cap_, fwd_max,
                                          [&](int req, int* got, cudnnConvolutionFwdAlgoPerf_t* perfs) {
                                            return cuda::Cudnn().cudnnGetConvolutionForwardAlgorithm_v7(
                                                handle, ch.x, filter_, ch.fwd, ch.y, req, got, perfs);
                                          },
                                          [&](int algo, size_t* bytes) {
                                            return cuda::Cudnn().cudnnGetConvolutionForwardWorkspaceSize(
                                                handle, ch.x, filter_, ch.fwd, ch.y,
                                                static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
                                          }));
    ch.fwd_algo = static_cast<cudnnConvolutionFwdAlgo_t>(ch.fwd_sel.algo);

    SLIM_ASSIGN_OR_RETURN(ch.bwd_data_sel, Choose<cudnnConvolutionBwdDataAlgoPerf_t>(
                                               layer_, "backward-data", ch.bwd_data, tf32, workspace_cap_, data_max,
                                               [&](int req, int* got, cudnnConvolutionBwdDataAlgoPerf_t* perfs) {
                                                 return cuda::Cudnn().cudnnGetConvolutionBackwardDataAlgorithm_v7(
                                                     handle, filter_, ch.y, ch.bwd_data, ch.x, req, got, perfs);
                                               },
                                               [&](int algo, size_t* bytes) {
                                                 return cuda::Cudnn().cudnnGetConvolutionBackwardDataWorkspaceSize(
                                                     handle, filter_, ch.y, ch.bwd_data, ch.x,
                                                     static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
                                               }));
    ch.bwd_data_algo = static_cast<cudnnConvolutionBwdDataAlgo_t>(ch.bwd_data_sel.algo);

    SLIM_ASSIGN_OR_RETURN(
        ch.bwd_filter_sel,
        Choose<cudnnConvolutionBwdFilterAlgoPerf_t>(
            layer_, "backward-filter", ch.bwd_filter, tf32, workspace_cap_, filter_max,
            [&](int req, int* got, cudnnConvolutionBwdFilterAlgoPerf_t* perfs) {
              return cuda::Cudnn().cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, ch.x, ch.y, ch.bwd_filter,
                                                                                 filter_, req, got, perfs);
            },
            [&](int algo, size_t* bytes) {
              return cuda::Cudnn().cudnnGetConvolutionBackwardFilterWorkspaceSize(
                  handle, ch.x, ch.y, ch.bwd_filter, filter_, static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
                  bytes);
            }));
    ch.bwd_filter_algo = static_cast<cudnnConvolutionBwdFilterAlgo_t>(ch.bwd_filter_sel.algo);

    fwd_ws = std::max(fwd_ws, ch.fwd_sel.bytes);
    data_ws = std::max(data_ws, ch.bwd_data_sel.bytes);
    filter_ws = std::max(filter_ws, ch.bwd_filter_sel.bytes);
    chunks_.push_back(std::move(chunk));
  }
  const bool padded = h_ != in_h_ || w_ != in_w_;
  padded_bytes_ = padded ? RoundUp(batch_ * h_ * w_ * c_ * static_cast<int64_t>(sizeof(float))) : 0;
  forward_bytes_ = filter_copy_bytes_ + padded_bytes_ + RoundUp(fwd_ws);
  backward_data_bytes_ = filter_copy_bytes_ + padded_bytes_ + RoundUp(data_ws);
  backward_filter_bytes_ = filter_copy_bytes_ + padded_bytes_ + RoundUp(filter_ws);
  return absl::OkStatus();
}

ConvOp::~ConvOp() {
  chunks_.clear();
  if (filter_ != nullptr) cuda::Cudnn().cudnnDestroyFilterDescriptor(filter_);
}

std::string ConvOp::Describe() const {
  std::string s = absl::StrFormat("filter %s", krsc_ ? "KRSC (transposed in the workspace)" : "KCRS (OIHW)");
  for (const auto& ch : chunks_) {
    absl::StrAppendFormat(&s, "; batch %d: fwd algo %d (%s, %d B), bwd_data algo %d (%s, %d B), "
                          "bwd_filter algo %d (%s, %d B)",
                          ch->n, ch->fwd_sel.algo, MathName(ch->fwd_sel.math), ch->fwd_sel.bytes,
                          ch->bwd_data_sel.algo, MathName(ch->bwd_data_sel.math), ch->bwd_data_sel.bytes,
                          ch->bwd_filter_sel.algo, MathName(ch->bwd_filter_sel.math), ch->bwd_filter_sel.bytes);
  }
  if (chunks_.size() > 1 || (!chunks_.empty() && chunks_[0]->n < batch_)) {
    absl::StrAppendFormat(&s, "; batch %d runs in chunks of %d", batch_, chunk_examples_);
  }
  return s;
}

// ---------------------------------------------------------------- running

absl::Status ConvOp::CheckWorkspace(const char* pass, int64_t needed, const Workspace& ws) const {
  if (ws.bytes < needed || (needed > 0 && ws.data == nullptr)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s got a workspace of %d bytes, its cuDNN algorithm needs %d", pass, ws.bytes, needed));
  }
  return absl::OkStatus();
}

float* ConvOp::FilterCopy(const Workspace& ws) const {
  return krsc_ ? static_cast<float*>(ws.data) : nullptr;
}

absl::StatusOr<const float*> ConvOp::FilterFor(const float* w, const Workspace& ws, cudaStream_t stream) const {
  if (!krsc_) return w;
  float* copy = FilterCopy(ws);
  SLIM_CUDA_RETURN_IF_ERROR(OihwToOhwi(k_, c_ / groups_, r_, s_, w, copy, stream));
  return copy;
}

void* ConvOp::CudnnWorkspace(const Workspace& ws, size_t* bytes) const {
  const int64_t used = filter_copy_bytes_ + padded_bytes_, left = ws.bytes - used;
  *bytes = left > 0 ? static_cast<size_t>(left) : 0;
  return left > 0 ? static_cast<uint8_t*>(ws.data) + used : nullptr;
}

float* ConvOp::PaddedInput(const Workspace& ws) const {
  return padded_bytes_ > 0 ? reinterpret_cast<float*>(static_cast<uint8_t*>(ws.data) + filter_copy_bytes_) : nullptr;
}

absl::Status ConvOp::Forward(cudnnHandle_t handle, cudaStream_t stream, const float* x, const float* w,
                             const float* b, float* y, Workspace ws) const {
  SLIM_RETURN_IF_ERROR(CheckWorkspace("forward", forward_bytes_, ws));
  SLIM_ASSIGN_OR_RETURN(const float* filter, FilterFor(w, ws, stream));
  if (float* padded = PaddedInput(ws); padded != nullptr) {
    SLIM_CUDA_RETURN_IF_ERROR(PadNhwc(batch_, in_h_, in_w_, c_, pad_top_, pad_left_, h_, w_, x, padded, stream));
    x = padded;
  }
  size_t cudnn_bytes = 0;
  void* cudnn_ws = CudnnWorkspace(ws, &cudnn_bytes);
  const float one = 1.0f, zero = 0.0f;
  const int64_t x_per = h_ * w_ * c_, y_per = ho_ * wo_ * k_;
  for (int64_t first = 0; first < batch_;) {
    const Chunk& ch = batch_ - first >= chunk_examples_ ? *chunks_[0] : *chunks_.back();
    SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnConvolutionForward(handle, &one, ch.x, x + first * x_per, filter_,
                                                                    filter, ch.fwd, ch.fwd_algo, cudnn_ws, cudnn_bytes,
                                                                    &zero, ch.y, y + first * y_per));
    first += ch.n;
  }
  if (b != nullptr) SLIM_CUDA_RETURN_IF_ERROR(AddBias(batch_ * ho_ * wo_, k_, b, y, stream));
  return absl::OkStatus();
}

absl::Status ConvOp::BackwardData(cudnnHandle_t handle, cudaStream_t stream, const float* dy, const float* w,
                                  float* dx, bool accumulate, Workspace ws) const {
  SLIM_RETURN_IF_ERROR(CheckWorkspace("backward-data", backward_data_bytes_, ws));
  SLIM_ASSIGN_OR_RETURN(const float* filter, FilterFor(w, ws, stream));
  size_t cudnn_bytes = 0;
  void* cudnn_ws = CudnnWorkspace(ws, &cudnn_bytes);
  const float one = 1.0f, zero = 0.0f;
  const int64_t x_per = h_ * w_ * c_, y_per = ho_ * wo_ * k_;
  // With asymmetric padding the padded gradient is formed in the workspace
  // and its interior cropped into dx.
  float* padded = PaddedInput(ws);
  float* target = padded != nullptr ? padded : dx;
  const bool add = padded == nullptr && accumulate;
  for (int64_t first = 0; first < batch_;) {
    const Chunk& ch = batch_ - first >= chunk_examples_ ? *chunks_[0] : *chunks_.back();
    SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnConvolutionBackwardData(
        handle, &one, filter_, filter, ch.y, dy + first * y_per, ch.bwd_data, ch.bwd_data_algo, cudnn_ws, cudnn_bytes,
        add ? &one : &zero, ch.x, target + first * x_per));
    first += ch.n;
  }
  if (padded != nullptr) {
    SLIM_CUDA_RETURN_IF_ERROR(
        CropNhwc(batch_, in_h_, in_w_, c_, pad_top_, pad_left_, h_, w_, padded, dx, accumulate, stream));
  }
  return absl::OkStatus();
}

absl::Status ConvOp::BackwardFilter(cudnnHandle_t handle, cudaStream_t stream, const float* x, const float* dy,
                                    float* dw, float* db, Workspace ws) const {
  SLIM_RETURN_IF_ERROR(CheckWorkspace("backward-filter", backward_filter_bytes_, ws));
  float* target = krsc_ ? FilterCopy(ws) : dw;
  if (float* padded = PaddedInput(ws); padded != nullptr) {
    SLIM_CUDA_RETURN_IF_ERROR(PadNhwc(batch_, in_h_, in_w_, c_, pad_top_, pad_left_, h_, w_, x, padded, stream));
    x = padded;
  }
  size_t cudnn_bytes = 0;
  void* cudnn_ws = CudnnWorkspace(ws, &cudnn_bytes);
  const float one = 1.0f, zero = 0.0f;
  const int64_t x_per = h_ * w_ * c_, y_per = ho_ * wo_ * k_;
  for (int64_t first = 0; first < batch_;) {
    const Chunk& ch = batch_ - first >= chunk_examples_ ? *chunks_[0] : *chunks_.back();
    // The first chunk overwrites the gradient, later ones add to it.
    SLIM_CUDA_RETURN_IF_ERROR(cuda::Cudnn().cudnnConvolutionBackwardFilter(handle, &one, ch.x, x + first * x_per, ch.y,
                                                             dy + first * y_per, ch.bwd_filter, ch.bwd_filter_algo,
                                                             cudnn_ws, cudnn_bytes, first == 0 ? &zero : &one,
                                                             filter_, target));
    first += ch.n;
  }
  if (krsc_) SLIM_CUDA_RETURN_IF_ERROR(OhwiToOihw(k_, c_ / groups_, r_, s_, target, dw, stream));
  if (db != nullptr) SLIM_CUDA_RETURN_IF_ERROR(BiasGrad(batch_ * ho_ * wo_, k_, dy, db, stream));
  return absl::OkStatus();
}

}  // namespace slimtrain::engine::cuda
