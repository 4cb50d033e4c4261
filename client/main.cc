// slimtrain — the command-line client.
//
// Local commands plan and inspect models on this machine; remote commands
// (added with the server) talk to a slimtrain server.
#include <iostream>
#include <string>
#include <vector>

#include "client/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: slimtrain COMMAND [flags]   (slimtrain COMMAND --help for each)\n"
    "\n"
    "slimtrain plans, before training, how much memory a model takes at a batch size under\n"
    "exact backprop, gradient checkpointing and approximate activations.\n"
    "\n"
    "commands:\n"
    "  plan     memory plans of a model per strategy; budget answers (--max-batch, auto)\n"
    "  zoo      list the zoo's models, or export one as an editable file\n"
    "  import   an ONNX model: what each node becomes; --output writes it as a model file\n"
    "  arena    plan a raw buffer list (CSV) into one arena\n"
    "  train    train a model on this machine (progress, summary, checkpoints, weights)\n"
    "  eval     score saved weights on a dataset\n"
    "  fidelity approx-K's weight-gradient error per layer, next to SGD's noise\n"
    "  calibrate  each saved tensor's gradient sensitivity to its code (for mixed plans)\n"
    "\n"
    "remote commands (a slimtrain server: --server or $SLIMTRAIN_SERVER, --token or $SLIMTRAIN_TOKEN):\n"
    "  submit   submit a training job (--wait follows it)\n"
    "  status   a job's state, progress and metrics\n"
    "  list     jobs, newest first\n"
    "  watch    follow a job with a live progress bar (exit 0 on SUCCEEDED)\n"
    "  cancel   cancel a pending or running job\n"
    "  logs     a job's state changes and log lines\n"
    "  download a job's weights as .safetensors\n"
    "  plan --server ...  the same plans, computed by the server\n"
    "\n"
    "example:\n"
    "  slimtrain plan --model zoo:resnet164 --batch 128 --strategies exact,approx4\n";

}  // namespace

int main(int argc, char** argv) {
  namespace client = slimtrain::client;
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "plan") return client::RunPlanCommand(args);
  if (command == "zoo") return client::RunZooCommand(args);
  if (command == "import") return client::RunImportCommand(args);
  if (command == "arena") return client::RunArenaCommand(args);
  if (command == "train") return client::RunTrainCommand(args);
  if (command == "eval") return client::RunEvalCommand(args);
  if (command == "fidelity") return client::RunFidelityCommand(args);
  if (command == "calibrate") return client::RunCalibrateCommand(args);
  if (command == "submit") return client::RunSubmitCommand(args);
  if (command == "status") return client::RunStatusCommand(args);
  if (command == "list") return client::RunListCommand(args);
  if (command == "watch") return client::RunWatchCommand(args);
  if (command == "cancel") return client::RunCancelCommand(args);
  if (command == "logs") return client::RunLogsCommand(args);
  if (command == "download") return client::RunDownloadCommand(args);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "slimtrain: unknown command '" << command << "'\n\n" << kUsage;
  return 2;
}
