// mirror_communicator.h — a communicator of `size` ranks that all hold this
// rank's values, in one process: an all-reduce multiplies them by `size`
// (exact for powers of two), so data-parallel training through it must
// match one process's. Counts what it sums. For tests.
#ifndef SLIMTRAIN_TESTS_ENGINE_COMM_MIRROR_COMMUNICATOR_H_
#define SLIMTRAIN_TESTS_ENGINE_COMM_MIRROR_COMMUNICATOR_H_

#include <cstdint>
#include <memory>

#include "engine/comm/communicator.h"

namespace slimtrain::test_util {

class MirrorCommunicator final : public engine::comm::Communicator {
 public:
  explicit MirrorCommunicator(int size, engine::comm::BufferMemory memory = engine::comm::BufferMemory::kHost)
      : size_(size), memory_(memory) {}
  int rank() const override { return 0; }
  int size() const override { return size_; }
  int local_rank() const override { return 0; }
  engine::comm::BufferMemory buffer_memory() const override { return memory_; }

  int64_t all_reduces = 0, elements = 0;

 protected:
  std::unique_ptr<engine::comm::PendingCollective> Start(const Collective& op) override {
    if (op.kind == Collective::Kind::kAllReduceSum) {
      ++all_reduces;
      elements += op.count;
      for (int64_t i = 0; i < op.count; ++i) {
        if (op.type == ElementType::kFloat64) {
          static_cast<double*>(op.data)[i] *= size_;
        } else {
          static_cast<float*>(op.data)[i] *= static_cast<float>(size_);
        }
      }
    }
    return engine::comm::FinishedCollective(absl::OkStatus());
  }

 private:
  int size_;
  engine::comm::BufferMemory memory_;
};

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_ENGINE_COMM_MIRROR_COMMUNICATOR_H_
