// nccl_library.h — NCCL, loaded when an NcclCommunicator is created.
//
// Binaries do not link NCCL, as they link neither cuDNN nor cuBLAS
// (engine/cuda/dynamic_libs.h): they start on a machine without it and fail
// only when a job asks for NCCL, saying why. Every NCCL call goes through
// the table:
//
//   SLIM_RETURN_IF_ERROR(comm::LoadNccl());   // UNAVAILABLE: why not
//   comm::Nccl().ncclGetUniqueId(&id);
//
// Only the functions listed below are loaded; add one to the list to use it.
// ncclCommInitRankConfig (not ncclCommInitRank) creates a non-blocking
// communicator, whose creation a deadline can bound. The library is found by
// the dynamic loader's rules (LD_LIBRARY_PATH, ld.so.conf) as
// libnccl.so.<NCCL_MAJOR>, the version the header is from.
//
// Only in builds with the CUDA toolkit (target //engine/comm:nccl_library).
#ifndef SLIMTRAIN_ENGINE_COMM_NCCL_LIBRARY_H_
#define SLIMTRAIN_ENGINE_COMM_NCCL_LIBRARY_H_

#include <nccl.h>

#include "absl/status/status.h"

namespace slimtrain::engine::comm {

#define SLIM_NCCL_FUNCTIONS(X) \
  X(ncclGetUniqueId)           \
  X(ncclCommInitRankConfig)    \
  X(ncclAllReduce)             \
  X(ncclBroadcast)             \
  X(ncclCommDestroy)           \
  X(ncclCommAbort)             \
  X(ncclCommGetAsyncError)     \
  X(ncclGetErrorString)        \
  X(ncclGetLastError)

#define SLIM_DECLARE_POINTER(f) decltype(&::f) f = nullptr;
struct NcclApi {
  SLIM_NCCL_FUNCTIONS(SLIM_DECLARE_POINTER)
};
#undef SLIM_DECLARE_POINTER

// Loads NCCL once (later calls return the first result): UNAVAILABLE naming
// the library and the loader's message when it is missing or lacks a
// function.
absl::Status LoadNccl();

// The loaded functions; only after LoadNccl() returned OK.
const NcclApi& Nccl();

}  // namespace slimtrain::engine::comm

#endif  // SLIMTRAIN_ENGINE_COMM_NCCL_LIBRARY_H_
