// host_device.h — SLIM_HD marks functions that CUDA kernels run too: under
// nvcc they are __host__ __device__, elsewhere plain functions, so the CPU
// and the GPU execute the same code (engine/quant.h, engine/dropout_hash.h).
#ifndef SLIMTRAIN_ENGINE_HOST_DEVICE_H_
#define SLIMTRAIN_ENGINE_HOST_DEVICE_H_

#if defined(__CUDACC__)
#define SLIM_HD __host__ __device__
#else
#define SLIM_HD
#endif

#endif  // SLIMTRAIN_ENGINE_HOST_DEVICE_H_
