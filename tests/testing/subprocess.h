// subprocess.h — run a command from a test and capture what it printed.
//
//   CommandResult r = RunCommand("client/slimtrain zoo list");
//   EXPECT_EQ(r.exit_code, 0) << r.output;
#ifndef SLIMTRAIN_TESTS_TESTING_SUBPROCESS_H_
#define SLIMTRAIN_TESTS_TESTING_SUBPROCESS_H_

#include <string>

namespace slimtrain::test_util {

struct CommandResult {
  int exit_code = -1;   // -1 when the command did not exit normally
  std::string output;   // stdout and stderr, interleaved
  std::string stdout_only;  // stdout alone (RunCommandSplit)
};

// Runs `command` with /bin/sh; captures stdout and stderr together.
CommandResult RunCommand(const std::string& command);

// Runs `command`; output holds stderr, stdout_only holds stdout.
CommandResult RunCommandSplit(const std::string& command);

// $TEST_TMPDIR (or /tmp) joined with `name`.
std::string TempPath(const std::string& name);

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_TESTING_SUBPROCESS_H_
