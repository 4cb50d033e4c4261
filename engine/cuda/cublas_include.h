// cublas_include.h — <cublas_v2.h> for host code compiled by Bazel's g++.
//
// cuBLAS's header pulls in cuda_fp16.h and cuda_bf16.h, which include the
// extension-less libcu++ header <nv/target>; @local_cuda's :cuda_headers
// declares only *.h/*.hpp/*.inl files, so that header is missing from Bazel's
// sandbox. cuBLAS's API names __half and __nv_bfloat16 only through pointers,
// so where those headers have not been included yet this one declares the two
// types and skips them. Host code that needs the half types themselves must
// include cuda_fp16.h/cuda_bf16.h before this header (and then needs
// <nv/target> in the sandbox).
//
//   #include "engine/cuda/cublas_include.h"   // instead of <cublas_v2.h>
#ifndef SLIMTRAIN_ENGINE_CUDA_CUBLAS_INCLUDE_H_
#define SLIMTRAIN_ENGINE_CUDA_CUBLAS_INCLUDE_H_

#if !defined(__CUDACC__) && !defined(__CUDA_FP16_H__)
#define __CUDA_FP16_H__
struct __half;
#endif
#if !defined(__CUDACC__) && !defined(__CUDA_BF16_H__)
#define __CUDA_BF16_H__
struct __nv_bfloat16;
#endif

#include <cublas_v2.h>  // IWYU pragma: export

#endif  // SLIMTRAIN_ENGINE_CUDA_CUBLAS_INCLUDE_H_
