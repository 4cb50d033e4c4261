// See subprocess.h.
#include "tests/testing/subprocess.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace slimtrain::test_util {
namespace {

CommandResult Run(const std::string& shell_command) {
  CommandResult result;
  FILE* pipe = popen(shell_command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace

CommandResult RunCommand(const std::string& command) { return Run(command + " 2>&1"); }

CommandResult RunCommandSplit(const std::string& command) {
  const std::string err = TempPath("stderr.txt");
  CommandResult result = Run(command + " 2>" + err);
  result.stdout_only = result.output;
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  result.output = ss.str();
  return result;
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

}  // namespace slimtrain::test_util
