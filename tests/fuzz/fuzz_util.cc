// See fuzz_util.h.
#include "tests/fuzz/fuzz_util.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "planner/model_io.h"

namespace slimtrain::fuzz {
namespace {

std::string ScratchDir() {
  if (const char* dir = std::getenv("TEST_TMPDIR"); dir != nullptr && *dir != '\0') return dir;
  if (access("/dev/shm", W_OK) == 0) return "/dev/shm";
  return "/tmp";
}

constexpr char kCheckpointModel[] = R"pb(
  name: "fuzz_checkpoint"
  input { dims: [1, 4, 4] }
  num_classes: 2
  layers { name: "conv1" inputs: "input" conv2d { out_channels: 4 kernel_size: 3 padding: 1 } }
  layers { name: "bn1" inputs: "conv1" batch_norm {} }
  layers { name: "relu1" inputs: "bn1" relu {} }
  layers { name: "pool" inputs: "relu1" global_avg_pool {} }
  layers { name: "fc" inputs: "pool" linear { out_features: 2 bias: true } }
  layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
)pb";

// The scratch files this process wrote, removed when it exits normally (a
// crash leaves them; their names say which process wrote them).
std::set<std::string>& ScratchFiles() {
  static std::set<std::string>* const files = [] {
    std::atexit([] {
      for (const std::string& f : ScratchFiles()) std::remove(f.c_str());
    });
    return new std::set<std::string>();
  }();
  return *files;
}

}  // namespace

std::string WriteScratchFile(absl::string_view name, absl::string_view bytes) {
  const std::string path = absl::StrCat(ScratchDir(), "/slimtrain_fuzz_", getpid(), "_", name);
  ScratchFiles().insert(path);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  FUZZ_CHECK(out.good(), "cannot write the scratch file " << path);
  return path;
}

const planner::Graph& CheckpointGraph() {
  static const planner::Graph* const graph = [] {
    absl::StatusOr<v1::ModelSpec> spec = planner::ParseModel(kCheckpointModel, planner::ModelFormat::kText,
                                                             "fuzz_util.cc");
    FUZZ_CHECK(spec.ok(), spec.status());
    absl::StatusOr<planner::Graph> graph = planner::Graph::Build(*spec);
    FUZZ_CHECK(graph.ok(), graph.status());
    return new planner::Graph(*std::move(graph));
  }();
  return *graph;
}

}  // namespace slimtrain::fuzz
