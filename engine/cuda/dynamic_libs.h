// dynamic_libs.h — cuDNN and cuBLAS, loaded when the CUDA backend starts.
//
// The project's binaries do not link cuDNN or cuBLAS: a binary built with
// CUDA then starts on a machine without them (or without a GPU) and trains
// on the CPU, saying why. The CUDA backend calls LoadGpuLibraries() when it
// is created, and every cuDNN/cuBLAS call goes through the tables:
//
//   SLIM_RETURN_IF_ERROR(cuda::LoadGpuLibraries());   // UNAVAILABLE: why not
//   cuda::Cudnn().cudnnCreate(&handle);
//   cuda::Cublas().cublasCreate(&blas);               // cublas_v2.h's names
//
// Only the functions listed below are loaded; add one to its list to use it.
// The libraries are found by the dynamic loader's rules (LD_LIBRARY_PATH,
// ld.so.conf): libcudnn.so.<CUDNN_MAJOR> and libcublas.so.<CUBLAS_VER_MAJOR>,
// the versions the headers are from.
#ifndef SLIMTRAIN_ENGINE_CUDA_DYNAMIC_LIBS_H_
#define SLIMTRAIN_ENGINE_CUDA_DYNAMIC_LIBS_H_

#include <cudnn.h>

#include "absl/status/status.h"
#include "engine/cuda/cublas_include.h"

namespace slimtrain::engine::cuda {

#define SLIM_CUDNN_FUNCTIONS(X)                        \
  X(cudnnCreate)                                       \
  X(cudnnDestroy)                                      \
  X(cudnnSetStream)                                    \
  X(cudnnGetErrorString)                               \
  X(cudnnGetLastErrorString)                           \
  X(cudnnCreateTensorDescriptor)                       \
  X(cudnnDestroyTensorDescriptor)                      \
  X(cudnnSetTensor4dDescriptor)                        \
  X(cudnnCreateFilterDescriptor)                       \
  X(cudnnDestroyFilterDescriptor)                      \
  X(cudnnSetFilter4dDescriptor)                        \
  X(cudnnCreateConvolutionDescriptor)                  \
  X(cudnnDestroyConvolutionDescriptor)                 \
  X(cudnnSetConvolution2dDescriptor)                   \
  X(cudnnSetConvolutionGroupCount)                     \
  X(cudnnSetConvolutionMathType)                       \
  X(cudnnGetConvolution2dForwardOutputDim)             \
  X(cudnnGetConvolutionForwardAlgorithmMaxCount)       \
  X(cudnnGetConvolutionForwardAlgorithm_v7)            \
  X(cudnnGetConvolutionForwardWorkspaceSize)           \
  X(cudnnConvolutionForward)                           \
  X(cudnnGetConvolutionBackwardDataAlgorithmMaxCount)  \
  X(cudnnGetConvolutionBackwardDataAlgorithm_v7)       \
  X(cudnnGetConvolutionBackwardDataWorkspaceSize)      \
  X(cudnnConvolutionBackwardData)                      \
  X(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount) \
  X(cudnnGetConvolutionBackwardFilterAlgorithm_v7)     \
  X(cudnnGetConvolutionBackwardFilterWorkspaceSize)    \
  X(cudnnConvolutionBackwardFilter)

// cublas_v2.h #defines the plain names (cublasCreate) to these symbols.
#define SLIM_CUBLAS_FUNCTIONS(X) \
  X(cublasCreate_v2)             \
  X(cublasDestroy_v2)            \
  X(cublasSetStream_v2)          \
  X(cublasSetWorkspace_v2)       \
  X(cublasSetMathMode)           \
  X(cublasGetStatusString)       \
  X(cublasGetStatusName)         \
  X(cublasSgemm_v2)              \
  X(cublasSgemm_v2_64)

#define SLIM_DECLARE_POINTER(f) decltype(&::f) f = nullptr;
struct CudnnApi {
  SLIM_CUDNN_FUNCTIONS(SLIM_DECLARE_POINTER)
};
struct CublasApi {
  SLIM_CUBLAS_FUNCTIONS(SLIM_DECLARE_POINTER)
};
#undef SLIM_DECLARE_POINTER

// Loads both libraries once (later calls return the first result):
// UNAVAILABLE naming the library and the loader's message when one is
// missing or lacks a function.
absl::Status LoadGpuLibraries();

// The loaded functions; only after LoadGpuLibraries() returned OK.
const CudnnApi& Cudnn();
const CublasApi& Cublas();

}  // namespace slimtrain::engine::cuda

#endif  // SLIMTRAIN_ENGINE_CUDA_DYNAMIC_LIBS_H_
