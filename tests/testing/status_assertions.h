// status_assertions.h — gtest assertions on absl::StatusOr for test bodies: an
// error fails the test case with its status and returns from it, instead of
// .value() or * aborting the whole test binary.
//
//   TEST(ExecutorTest, Something) {
//     ASSERT_OK_AND_ASSIGN(const Graph g, Graph::Build(spec));
//     ...
//   }
//
// Like every ASSERT_*, only in functions returning void (test bodies, and
// helpers called through ASSERT_NO_FATAL_FAILURE).
#ifndef SLIMTRAIN_TESTS_TESTING_STATUS_ASSERTIONS_H_
#define SLIMTRAIN_TESTS_TESTING_STATUS_ASSERTIONS_H_

#include <utility>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#define SLIM_TEST_CONCAT_INNER_(a, b) a##b
#define SLIM_TEST_CONCAT_(a, b) SLIM_TEST_CONCAT_INNER_(a, b)

// Evaluates `...` (an absl::StatusOr<T>); on an error fails the test case,
// printing the expression and its status, and returns; otherwise moves the
// value into `lhs` (a declaration such as `const Graph g`, or a variable).
#define ASSERT_OK_AND_ASSIGN(lhs, ...) \
  ASSERT_OK_AND_ASSIGN_IMPL_(SLIM_TEST_CONCAT_(slim_test_statusor_, __LINE__), lhs, __VA_ARGS__)

#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, ...)                    \
  auto statusor = (__VA_ARGS__);                                           \
  ASSERT_TRUE(statusor.ok()) << #__VA_ARGS__ << ": " << statusor.status(); \
  lhs = *std::move(statusor)

#endif  // SLIMTRAIN_TESTS_TESTING_STATUS_ASSERTIONS_H_
