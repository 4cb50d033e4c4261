// See lifetimes.h.
#include "planner/lifetimes.h"

#include <algorithm>

namespace slimtrain::planner {
namespace {

bool MayRunInPlace(OpKind kind) {
  switch (kind) {
    case OpKind::kRelu:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kDropout:
    case OpKind::kBatchNorm:
    case OpKind::kAdd:
    case OpKind::kSoftmax:
    case OpKind::kLogSoftmax:
    case OpKind::kMul:
    case OpKind::kSub:
    case OpKind::kDiv:
    case OpKind::kScale:
    case OpKind::kLayerNorm:
    case OpKind::kGroupNorm:
    case OpKind::kPositionalEmbedding:
      return true;
    default:
      return IsPointwise(kind);
  }
}

}  // namespace

void ComputeLifetimes(const Graph& graph, Schedule& s) {
  // 1. First and last touch.
  for (ScheduleBuffer& b : s.buffers) {
    b.first_step = -1;
    b.last_step = -1;
    b.in_place_of = -1;
  }
  for (int t = 0; t < static_cast<int>(s.steps.size()); ++t) {
    for (const Operand& o : s.steps[t].operands) {
      ScheduleBuffer& b = s.buffers[o.buffer];
      if (b.first_step < 0) b.first_step = t;
      b.last_step = std::max(b.last_step, t);
    }
  }
  // 2. Saved across the end of the forward pass.
  for (ScheduleBuffer& b : s.buffers) {
    b.saved = b.kind != v1::Buffer::GRADIENT && b.kind != v1::Buffer::WORKSPACE &&
              b.first_step < s.backward_begin && b.last_step >= s.backward_begin;
  }
  // 3. In place: the step's new activation or gradient takes over an input
  // that dies at this step. Each buffer's storage is handed on at most once.
  std::vector<bool> handed_on(s.buffers.size(), false);
  for (int t = 0; t < static_cast<int>(s.steps.size()); ++t) {
    const ScheduleStep& step = s.steps[t];
    if (step.node < 0 || step.kind == v1::Step::SAVE) continue;
    const Node& node = graph.node(step.node);
    if (!MayRunInPlace(node.kind)) continue;
    // mul(x, x) and the like: both input gradients are the same buffer and
    // each reads dy, so it cannot be dy's storage (add's copies can).
    if (step.kind == v1::Step::BACKWARD && node.kind != OpKind::kAdd && node.inputs.size() == 2 &&
        node.inputs[0] == node.inputs[1]) {
      continue;
    }
    const v1::Buffer::Kind want =
        step.kind == v1::Step::BACKWARD ? v1::Buffer::GRADIENT : v1::Buffer::ACTIVATION;
    for (int out : step.writes()) {
      ScheduleBuffer& o = s.buffers[out];
      if (o.kind != want || o.first_step != t || o.in_place_of >= 0) continue;
      for (int in : step.reads()) {
        const ScheduleBuffer& i = s.buffers[in];
        if (in == out || i.kind != want || i.last_step != t || handed_on[in] ||
            i.size_bytes < o.size_bytes) {
          continue;
        }
        o.in_place_of = in;
        handed_on[in] = true;
        break;
      }
    }
  }
}

std::vector<StorageBlock> StorageBlocks(const Schedule& s) {
  const int n = static_cast<int>(s.buffers.size());
  std::vector<int> next(n, -1);
  for (int i = 0; i < n; ++i) {
    if (s.buffers[i].in_place_of >= 0) next[s.buffers[i].in_place_of] = i;
  }
  std::vector<StorageBlock> blocks;
  for (int i = 0; i < n; ++i) {
    if (s.buffers[i].in_place_of >= 0) continue;  // not a chain's head
    StorageBlock block;
    block.first_step = s.buffers[i].first_step;
    for (int b = i; b >= 0; b = next[b]) {
      block.buffers.push_back(b);
      block.size_bytes = std::max(block.size_bytes, s.buffers[b].size_bytes);
      block.last_step = std::max(block.last_step, s.buffers[b].last_step);
    }
    blocks.push_back(std::move(block));
  }
  return blocks;
}

}  // namespace slimtrain::planner
