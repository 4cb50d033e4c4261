// op_rules.h — each op's rules, private to Graph::Build (graph.cc): its
// attributes with their defaults and ranges (op_rules.cc), and its shape,
// parameter and FLOP counts (op_shapes.cc). One switch per step over every
// OpKind; a new op adds a case to each (and to graph.h's OpKind). Every
// count is overflow-checked; every error is INVALID_ARGUMENT naming the
// layer, the field and the value.
#ifndef SLIMTRAIN_PLANNER_OP_RULES_H_
#define SLIMTRAIN_PLANNER_OP_RULES_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "planner/graph.h"
#include "planner/limits.h"
#include "proto/model.pb.h"

namespace slimtrain::planner::op_rules {

// "layer 'name': message", INVALID_ARGUMENT.
absl::Status LayerError(const std::string& layer, const std::string& message);
// "layer 'name'", for messages.
std::string LayerWho(const std::string& layer);
// The product of `factors`; INVALID_ARGUMENT naming the layer and `what`
// when it overflows int64.
absl::StatusOr<int64_t> Product(const std::string& layer, const char* what, std::initializer_list<int64_t> factors);
// The sum of `terms`; INVALID_ARGUMENT naming the layer and `what` when it
// overflows int64.
absl::StatusOr<int64_t> Sum(const std::string& layer, const char* what, std::initializer_list<int64_t> terms);
// Elements of `dims` per example, checked against overflow and the tensor
// limit; errors begin with `who` ("layer 'conv1'", "model input").
absl::StatusOr<int64_t> CheckedElements(const std::string& who, const Dims& dims, const SizeLimits& limits);

// The op a layer sets (kInput when none).
OpKind KindOf(const v1::Layer& layer);
// n's attributes from the spec, defaults applied, ranges checked (not yet
// against shapes). n.kind and n.name are set.
absl::Status ResolveAttributes(const v1::Layer& layer, Node& n);
// n.out from n.input_dims (and, for reshape and slice, the layer's fields);
// parameters and FLOPs per example. n.inputs and n.input_dims are set.
absl::Status InferShape(const v1::Layer* layer, Node& n, const std::vector<std::string>& input_names,
                        int64_t num_classes, const SizeLimits& limits);

}  // namespace slimtrain::planner::op_rules

#endif  // SLIMTRAIN_PLANNER_OP_RULES_H_
