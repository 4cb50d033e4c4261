// See communicator.h.
#include "engine/comm/communicator.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"

namespace slimtrain::engine::comm {
namespace {

class Finished final : public PendingCollective {
 public:
  explicit Finished(absl::Status status) : status_(std::move(status)) {}
  absl::Status Wait() override { return status_; }

 private:
  absl::Status status_;
};

}  // namespace

std::unique_ptr<PendingCollective> FinishedCollective(absl::Status status) {
  return std::make_unique<Finished>(std::move(status));
}

absl::Status CheckCommunicatorOptions(const CommunicatorOptions& options) {
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrFormat("CommunicatorOptions.timeout %s is not above zero",
                                                      absl::FormatDuration(options.timeout)));
  }
  if (options.max_message_bytes < 8) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "CommunicatorOptions.max_message_bytes %d is below 8 (one float64)", options.max_message_bytes));
  }
  if (options.max_operations_in_flight < 1) {
    return absl::InvalidArgumentError(absl::StrFormat("CommunicatorOptions.max_operations_in_flight %d is below 1",
                                                      options.max_operations_in_flight));
  }
  return absl::OkStatus();
}

std::string Communicator::Collective::Describe() const {
  switch (kind) {
    case Kind::kAllReduceSum:
      return absl::StrFormat("all-reduce (sum) of %d %s", count,
                             type == ElementType::kFloat64 ? "float64" : "float32");
    case Kind::kBroadcast:
      return absl::StrFormat("broadcast of %d bytes from rank %d", count, root);
    case Kind::kBarrier:
      return "barrier";
  }
  return "collective";
}

std::unique_ptr<PendingCollective> Communicator::StartChecked(const Collective& op) {
  if (op.count < 0) {
    return FinishedCollective(absl::InvalidArgumentError(
        absl::StrFormat("%s on rank %d: the count %d is negative", op.Describe(), rank(), op.count)));
  }
  if (op.count > 0 && op.data == nullptr) {
    return FinishedCollective(absl::InvalidArgumentError(
        absl::StrFormat("%s on rank %d: the buffer is null", op.Describe(), rank())));
  }
  if (op.root < 0 || op.root >= size()) {
    return FinishedCollective(absl::InvalidArgumentError(absl::StrFormat(
        "%s on rank %d: root %d is not a rank of %d", op.Describe(), rank(), op.root, size())));
  }
  return Start(op);
}

Communicator::Collective Communicator::SumOf(void* data, int64_t count, ElementType type) {
  Collective op;
  op.kind = Collective::Kind::kAllReduceSum;
  op.data = data;
  op.count = count;
  op.type = type;
  return op;
}

std::unique_ptr<PendingCollective> Communicator::StartAllReduceSum(float* data, int64_t count) {
  return StartChecked(SumOf(data, count, ElementType::kFloat32));
}

std::unique_ptr<PendingCollective> Communicator::StartAllReduceSum(double* data, int64_t count) {
  return StartChecked(SumOf(data, count, ElementType::kFloat64));
}

absl::Status Communicator::AllReduceSum(float* data, int64_t count) {
  return StartAllReduceSum(data, count)->Wait();
}

absl::Status Communicator::AllReduceSum(double* data, int64_t count) {
  return StartAllReduceSum(data, count)->Wait();
}

absl::Status Communicator::Broadcast(void* data, int64_t bytes, int root) {
  Collective op;
  op.kind = Collective::Kind::kBroadcast;
  op.data = data;
  op.count = bytes;
  op.root = root;
  return StartChecked(op)->Wait();
}

absl::Status Communicator::Barrier() {
  Collective op;
  op.kind = Collective::Kind::kBarrier;
  return StartChecked(op)->Wait();
}

std::unique_ptr<PendingCollective> LocalCommunicator::Start(const Collective&) {
  return FinishedCollective(absl::OkStatus());
}

}  // namespace slimtrain::engine::comm
