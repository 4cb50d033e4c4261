// export_check MODEL DIR — the slimtrain side of bench/export_check.sh: trains
// a zoo model two steps on random data (so weights and running statistics
// move), exports its weights as safetensors, and writes an input batch and
// slimtrain's inference logits for it:
//   DIR/weights.safetensors, DIR/input.f32 (2,C,H,W), DIR/logits.f32 (2,classes)
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/cpu/fast_backend.h"
#include "engine/executor.h"
#include "planner/zoo.h"

namespace {

bool WriteFloats(const std::string& path, const std::vector<float>& v) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  return out.good();
}

}  // namespace

int main(int argc, char** argv) {
  namespace engine = slimtrain::engine;
  namespace planner = slimtrain::planner;
  if (argc != 3) {
    std::fprintf(stderr, "usage: export_check MODEL DIR\n");
    return 2;
  }
  const std::string dir = argv[2];
  absl::StatusOr<slimtrain::v1::ModelSpec> spec = planner::ZooModel(argv[1]);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
    return 2;
  }
  const planner::Graph graph = planner::Graph::Build(*spec).value();
  constexpr int64_t kBatch = 2;
  engine::FastBackend backend;
  engine::ExecutorOptions options;
  options.seed = 3;
  std::unique_ptr<engine::Executor> exec =
      engine::Executor::Create(graph, planner::Strategy::kExact, kBatch, &backend, options).value();
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> images(kBatch * planner::NumElements(graph.node(0).out));
  std::vector<int32_t> labels(kBatch);
  for (int step = 0; step < 2; ++step) {
    for (float& v : images) v = normal(rng);
    for (int32_t& l : labels) l = static_cast<int32_t>(rng() % graph.spec().num_classes());
    if (!exec->TrainStep(images.data(), labels.data(), 0.01).ok()) return 1;
  }
  for (float& v : images) v = normal(rng);
  std::vector<float> logits(kBatch * graph.spec().num_classes());
  if (!exec->Predict(images.data(), logits.data()).ok()) return 1;
  const absl::Status written = engine::WriteWeights(dir + "/weights.safetensors", exec->params(), exec->steps_run());
  if (!written.ok() || !WriteFloats(dir + "/input.f32", images) || !WriteFloats(dir + "/logits.f32", logits)) {
    std::fprintf(stderr, "cannot write to %s\n", dir.c_str());
    return 1;
  }
  std::printf("slimtrain: %s, %zu tensors exported, logits[0][0..3] = %.6f %.6f %.6f\n", argv[1],
              exec->params().tensors().size(), logits[0], logits[1], logits[2]);
  return 0;
}
