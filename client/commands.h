// commands.h — the `slimtrain` subcommands. Each takes its arguments (after the
// subcommand's name), writes to stdout/stderr, and returns the exit code:
// 0 success, 1 failure, 2 bad usage (an unknown flag, a missing value).
#ifndef SLIMTRAIN_CLIENT_COMMANDS_H_
#define SLIMTRAIN_CLIENT_COMMANDS_H_

#include <string>
#include <vector>

namespace slimtrain::client {

// slimtrain plan: memory plans of a model (local).
int RunPlanCommand(const std::vector<std::string>& args);
// slimtrain zoo list | export NAME
int RunZooCommand(const std::vector<std::string>& args);
int RunImportCommand(const std::vector<std::string>& args);
// slimtrain arena --input FILE.csv: plans a raw buffer list.
int RunArenaCommand(const std::vector<std::string>& args);
// slimtrain train: trains locally.
int RunTrainCommand(const std::vector<std::string>& args);
// slimtrain eval: scores saved weights on a dataset.
int RunEvalCommand(const std::vector<std::string>& args);
// slimtrain fidelity: approx-K's gradient error against SGD's noise.
int RunFidelityCommand(const std::vector<std::string>& args);
int RunCalibrateCommand(const std::vector<std::string>& args);

// Remote commands (a slimtrain server; client/connection.h).
int RunSubmitCommand(const std::vector<std::string>& args);
int RunStatusCommand(const std::vector<std::string>& args);
int RunListCommand(const std::vector<std::string>& args);
int RunWatchCommand(const std::vector<std::string>& args);
int RunCancelCommand(const std::vector<std::string>& args);
int RunLogsCommand(const std::vector<std::string>& args);
int RunDownloadCommand(const std::vector<std::string>& args);

}  // namespace slimtrain::client

#endif  // SLIMTRAIN_CLIENT_COMMANDS_H_
