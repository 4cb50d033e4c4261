// cuda_test_util.h — shared by the CUDA backend's tests in this folder (all
// tagged "gpu"; run for real by tools/device/check.sh): one CUDA backend per
// TF32 setting for the binary (tests skip, naming NewCudaBackend's
// UNAVAILABLE reason, without a GPU or a CUDA build), device copies of host
// data made only through the Backend's memory methods, and a workspace with
// guard bytes after it.
#ifndef SLIMTRAIN_TESTS_ENGINE_CUDA_CUDA_TEST_UTIL_H_
#define SLIMTRAIN_TESTS_ENGINE_CUDA_CUDA_TEST_UTIL_H_

#include "engine/cuda/cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/backend.h"
#include "engine/cpu/reference_backend.h"
#include "engine/executor.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "planner/strategy.h"
#include "planner/zoo.h"
#include "tests/engine/fast_backend_test_util.h"

namespace slimtrain::engine::gpu_test {

using planner::Dims;
using planner::Graph;
using planner::Node;
using planner::OpKind;
using planner::Pass;
using planner::Strategy;
using testing::FirstBitDifference;
using testing::MakeNode;
using testing::Random;
using testing::RelError;

constexpr double kMatmulTolerance = 1e-4;
constexpr double kTf32Tolerance = 1e-2;
constexpr int64_t kMiB = int64_t{1} << 20;


// ------------------------------------------------------------ the backends

// One CUDA backend per TF32 setting for the whole binary (creating one loads
// cuDNN and cuBLAS), or why there is none.
inline absl::StatusOr<Backend*> SharedGpu(bool tf32 = false) {
  static auto* const off = new absl::StatusOr<std::unique_ptr<Backend>>(NewCudaBackend({0, false}));
  static absl::StatusOr<std::unique_ptr<Backend>>* on = nullptr;
  absl::StatusOr<std::unique_ptr<Backend>>* gpu = off;
  if (tf32) {
    if (on == nullptr) on = new absl::StatusOr<std::unique_ptr<Backend>>(NewCudaBackend({0, true}));
    gpu = on;
  }
  if (!gpu->ok()) return gpu->status();
  return gpu->value().get();
}

// Tests derive from OnGpu<...>: they skip, naming the reason, without a GPU.
template <typename Base>
class OnGpu : public Base {
 protected:
  void SetUp() override {
    absl::StatusOr<Backend*> gpu = SharedGpu();
    if (!gpu.ok()) GTEST_SKIP() << "no GPU: " << gpu.status();
    gpu_ = *gpu;
    ASSERT_TRUE(gpu_->ConsumeError().ok());
  }
  void TearDown() override {
    if (gpu_ != nullptr) {
      const absl::Status error = gpu_->ConsumeError();
      EXPECT_TRUE(error.ok()) << error;
    }
  }
  Backend* gpu_ = nullptr;
  ReferenceBackend ref_{DType::kF32};
};

class GpuTest : public OnGpu<::testing::Test> {};

// ------------------------------------------------------------ device memory

// Device copies of host vectors, made and read back through the backend's
// memory methods; every allocation is released with this object.
class DeviceMemory {
 public:
  explicit DeviceMemory(Backend* backend) : backend_(backend) {}

  // `bytes` zeroed bytes (at least one, so the pointer is never null).
  void* Alloc(int64_t bytes) {
    absl::StatusOr<DeviceBuffer> buffer = backend_->Allocate(std::max<int64_t>(bytes, 1));
    if (!buffer.ok()) {
      ADD_FAILURE() << "Allocate(" << bytes << "): " << buffer.status();
      std::abort();  // a null device pointer would only fail later, less clearly
    }
    buffers_.push_back(*std::move(buffer));
    return buffers_.back().data();
  }
  template <typename T>
  T* Zeros(int64_t count) {
    return static_cast<T*>(Alloc(count * static_cast<int64_t>(sizeof(T))));
  }
  template <typename T>
  T* Upload(const std::vector<T>& host) {
    T* p = Zeros<T>(static_cast<int64_t>(host.size()));
    backend_->CopyToDevice(p, host.data(), static_cast<int64_t>(host.size() * sizeof(T)));
    return p;
  }
  template <typename T>
  std::vector<T> Download(const T* p, int64_t count) {
    std::vector<T> host(static_cast<size_t>(count));
    backend_->CopyToHost(host.data(), p, count * static_cast<int64_t>(sizeof(T)));
    return host;
  }
  template <typename T>
  void Set(T* p, const std::vector<T>& host) {
    backend_->CopyToDevice(p, host.data(), static_cast<int64_t>(host.size() * sizeof(T)));
  }

 private:
  Backend* backend_;
  std::vector<DeviceBuffer> buffers_;
};

// Exactly `bytes` of device workspace followed by guard bytes that must stay
// untouched: the op ran inside what it reported.
class GuardedDeviceWorkspace {
 public:
  GuardedDeviceWorkspace(Backend* backend, DeviceMemory& memory, int64_t bytes) : backend_(backend), bytes_(bytes) {
    data_ = static_cast<uint8_t*>(memory.Alloc(bytes + kGuard));
    backend_->Fill(data_ + bytes_, kPattern, kGuard);
  }
  Workspace ws() const { return Workspace{bytes_ > 0 ? data_ : nullptr, bytes_}; }
  bool GuardIntact() const {
    std::vector<uint8_t> guard(kGuard);
    backend_->CopyToHost(guard.data(), data_ + bytes_, kGuard);
    return std::all_of(guard.begin(), guard.end(), [](uint8_t b) { return b == kPattern; });
  }

 private:
  static constexpr int64_t kGuard = 4096;
  static constexpr uint8_t kPattern = 0xA5;
  Backend* backend_;
  int64_t bytes_;
  uint8_t* data_ = nullptr;
};

// Index of the first element that is zero in one vector and not in the other.
inline int64_t FirstZeroPatternDifference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] == 0.0f) != (b[i] == 0.0f)) return static_cast<int64_t>(i);
  }
  return -1;
}


}  // namespace slimtrain::engine::gpu_test

#endif  // SLIMTRAIN_TESTS_ENGINE_CUDA_CUDA_TEST_UTIL_H_
