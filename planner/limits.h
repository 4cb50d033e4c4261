// limits.h — how large a model, a batch and a tensor may be.
//
// Every size the planner or a backend computes comes from a Graph at a batch
// size, so the limits are checked in two places, both in graph.h:
// Graph::Build checks the per-example sizes while it infers shapes (every
// product in int64 with overflow checks), and Graph::CheckBatch checks them at
// a batch before anything is planned. No backend library is ever asked about a
// shape that did not pass both. Limits are generous by default (a server can
// raise or lower them with flags); they exist so that no request can make a
// product overflow, an allocation abort, or a library divide by zero.
//
//   SizeLimits limits;                 // the defaults below
//   limits.max_batch_size = 4096;
//   SLIM_ASSIGN_OR_RETURN(Graph g, Graph::Build(spec, limits));
//   SLIM_RETURN_IF_ERROR(g.CheckBatch(/*batch=*/128, /*element_bytes=*/4));
#ifndef SLIMTRAIN_PLANNER_LIMITS_H_
#define SLIMTRAIN_PLANNER_LIMITS_H_

#include <cstdint>

namespace slimtrain::planner {

struct SizeLimits {
  // Layers of a model (the model input not counted).
  int64_t max_layers = 10000;
  // Bytes of a layer or model name.
  int64_t max_name_bytes = 256;
  // Examples per step.
  int64_t max_batch_size = int64_t{1} << 24;
  // Bytes of any one tensor (an activation or its gradient) at the batch:
  // 1 TiB, more than any device holds.
  int64_t max_tensor_bytes = int64_t{1} << 40;
  // Trainable parameters plus batch-norm statistics, in elements (16 Gi:
  // 64 GiB of fp32).
  int64_t max_parameters = int64_t{1} << 34;
};

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_LIMITS_H_
