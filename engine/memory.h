// memory.h — host memory the engine allocates: the arena and the parameter
// region, each one aligned allocation made once.
//
//   HostBuffer arena(plan.arena_bytes());   // 4 KiB aligned, pages touched
//   float* x = reinterpret_cast<float*>(arena.data() + offset);
#ifndef SLIMTRAIN_ENGINE_MEMORY_H_
#define SLIMTRAIN_ENGINE_MEMORY_H_

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace slimtrain::engine {

class HostBuffer {
 public:
  HostBuffer() = default;
  // `bytes` zeroed bytes at a multiple of `alignment` (a power of two). The
  // zeroing touches every page, so the memory is resident from the start and
  // the process's peak memory shows it. Aborts when the allocation fails (an
  // out-of-memory worker fails alone; the server reports it).
  explicit HostBuffer(int64_t bytes, int64_t alignment = 4096) : bytes_(bytes) {
    if (bytes <= 0) return;
    const int64_t rounded = (bytes + alignment - 1) / alignment * alignment;
    data_ = static_cast<uint8_t*>(std::aligned_alloc(alignment, rounded));
    if (data_ == nullptr) std::abort();
    std::memset(data_, 0, rounded);
  }
  ~HostBuffer() { std::free(data_); }
  HostBuffer(HostBuffer&& other) noexcept { *this = std::move(other); }
  HostBuffer& operator=(HostBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    return *this;
  }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  int64_t size() const { return bytes_; }

 private:
  uint8_t* data_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_MEMORY_H_
