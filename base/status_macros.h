// status_macros.h — the project's error-handling macros, defined once.
//
// Abseil 20220623 has Status and StatusOr but neither status macros nor CHECK.
// Recoverable errors (files, specs, plans that do not fit, RPCs) travel as
// absl::Status; SLIM_CHECK is only for invariants no caller can break.
//
//   absl::StatusOr<Graph> BuildGraph(const ModelSpec& spec) {
//     SLIM_RETURN_IF_ERROR(Validate(spec));
//     SLIM_ASSIGN_OR_RETURN(std::vector<int> order, TopologicalOrder(spec));
//     ...
//   }
#ifndef SLIMTRAIN_BASE_STATUS_MACROS_H_
#define SLIMTRAIN_BASE_STATUS_MACROS_H_

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// when it is not OK.
#define SLIM_RETURN_IF_ERROR(expr)                        \
  do {                                                    \
    ::absl::Status slim_status_ = (expr);                 \
    if (!slim_status_.ok()) return slim_status_;          \
  } while (0)

#define SLIM_STATUS_CONCAT_INNER_(a, b) a##b
#define SLIM_STATUS_CONCAT_(a, b) SLIM_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::StatusOr<T>); on error returns its status from the
// enclosing function, otherwise moves the value into `lhs` (a declaration such
// as `auto x` or an existing variable).
#define SLIM_ASSIGN_OR_RETURN(lhs, expr) \
  SLIM_ASSIGN_OR_RETURN_IMPL_(SLIM_STATUS_CONCAT_(slim_statusor_, __LINE__), lhs, expr)

#define SLIM_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

// Aborts with file:line and the condition when `cond` is false. For broken
// internal invariants only; never for input a user can get wrong.
#define SLIM_CHECK(cond)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                   \
      std::abort();                                                          \
    }                                                                        \
  } while (0)

#endif  // SLIMTRAIN_BASE_STATUS_MACROS_H_
