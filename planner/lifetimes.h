// lifetimes.h — when each buffer of a schedule is alive, and which buffers
// share storage.
//
// 1. first_step/last_step: the first and last step that reads or writes the
//    buffer (inclusive).
// 2. saved: alive across the end of the forward pass (first_step <
//    backward_begin <= last_step), not a gradient or workspace.
// 3. In place: an op that may overwrite its input (relu, sigmoid, tanh,
//    dropout, batch_norm, layer_norm, add, sub, mul, div, scale, the pointwise
//    activations (IsPointwise), softmax, log_softmax; forward and backward
//    alike) writes its
//    new output into an input buffer whose last use is that step, when the
//    input is at least as large. A backward whose node reads one tensor
//    twice (mul(x, x)) is never in place, except add's. The output's
//    in_place_of names that input; a chain of such buffers is one storage
//    block.
//
//   ComputeLifetimes(graph, schedule);             // fills the fields above
//   std::vector<StorageBlock> blocks = StorageBlocks(schedule);
#ifndef SLIMTRAIN_PLANNER_LIFETIMES_H_
#define SLIMTRAIN_PLANNER_LIFETIMES_H_

#include <cstdint>
#include <vector>

#include "planner/graph.h"
#include "planner/schedule.h"

namespace slimtrain::planner {

// Sets first_step, last_step, saved and in_place_of of every buffer of `s`.
void ComputeLifetimes(const Graph& graph, Schedule& s);

// One piece of arena storage: a buffer and the buffers that reuse it in
// place, one after another.
struct StorageBlock {
  std::vector<int> buffers;  // buffer ids, in chain order
  int64_t size_bytes = 0;    // the largest member
  int first_step = 0;        // of the first member
  int last_step = 0;         // of the last member
};

// The storage blocks of a schedule whose lifetimes are computed; every buffer
// is in exactly one block.
std::vector<StorageBlock> StorageBlocks(const Schedule& s);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_LIFETIMES_H_
