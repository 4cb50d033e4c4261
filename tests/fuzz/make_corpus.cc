// make_corpus — writes the generated part of the fuzz targets' seed corpus:
// files the code itself produces, so the seeds stay real as formats change.
//
//   bazel run //tests/fuzz:make_corpus -- $PWD/tests/fuzz/corpus
//
// Writes <dir>/<target>/gen_* (overwriting): zoo models as text and JSON, job
// specs as binary, text and JSON, arena CSVs from a real plan and from a
// generated training-like list, safetensors weights, and a checkpoint of
// fuzz_util.h's CheckpointGraph. Deterministic: the same files every run.
// The hand-written seeds beside them (other names) are not touched.
#include <cstdio>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "engine/checkpoint.h"
#include "engine/params.h"
#include "engine/safetensors.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "planner/arena.h"
#include "planner/cost_model.h"
#include "planner/graph.h"
#include "planner/model_io.h"
#include "planner/planner.h"
#include "planner/zoo.h"
#include "proto/job.pb.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/testing/arena_instances.h"

namespace slimtrain::fuzz {
namespace {

std::string dir;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  const std::string path = absl::StrCat(dir, "/", target, "/gen_", name);
  const absl::Status written = base::WriteFileAtomically(path, bytes);
  FUZZ_CHECK(written.ok(), written);
  std::printf("%s (%zu bytes)\n", path.c_str(), bytes.size());
}

void Models() {
  for (const char* name : {"fmnist_resnet", "resnet20"}) {
    absl::StatusOr<v1::ModelSpec> spec = planner::ZooModel(name);
    FUZZ_CHECK(spec.ok(), spec.status());
    Write("model", absl::StrCat(name, ".pbtxt"), planner::ModelToText(*spec));
  }
  absl::StatusOr<v1::ModelSpec> small = planner::ParseModel(
      planner::ModelToText(CheckpointGraph().spec()), planner::ModelFormat::kText, "checkpoint model");
  FUZZ_CHECK(small.ok(), small.status());
  Write("model", "checkpoint_model.pbtxt", planner::ModelToText(*small));
  Write("model", "checkpoint_model.json", planner::ModelToJson(*small));
}

void JobSpecs() {
  v1::JobSpec zoo;
  zoo.set_display_name("fmnist approx4");
  zoo.mutable_model()->set_zoo("fmnist_resnet");
  zoo.mutable_dataset()->set_name("fashion-mnist");
  zoo.mutable_dataset()->set_normalize(true);
  zoo.set_batch_size(128);
  zoo.set_epochs(3);
  zoo.set_strategy("approx4");
  zoo.set_seed(1);
  v1::JobSpec inline_spec;
  *inline_spec.mutable_model()->mutable_spec() = CheckpointGraph().spec();
  inline_spec.mutable_dataset()->set_name("synthetic");
  inline_spec.set_batch_size(4);
  inline_spec.set_steps(10);
  inline_spec.set_strategy("checkpoint_optimal");
  inline_spec.set_budget_bytes(1 << 20);
  inline_spec.set_eval_interval_steps(5);
  inline_spec.set_checkpoint_interval_steps(5);
  google::protobuf::TextFormat::Parser parser;
  FUZZ_CHECK(parser.ParseFromString(R"pb(
               kind: "adam"
               learning_rate: 0.001
               weight_decay: 0.0001
             )pb",
                                    inline_spec.mutable_optimizer()),
             "the optimizer seed does not parse");
  for (const auto& [name, spec] : {std::pair<const char*, const v1::JobSpec*>{"zoo", &zoo}, {"inline", &inline_spec}}) {
    Write("jobspec", absl::StrCat(name, ".binpb"), spec->SerializeAsString());
    std::string text, json;
    FUZZ_CHECK(google::protobuf::TextFormat::PrintToString(*spec, &text), name);
    FUZZ_CHECK(google::protobuf::util::MessageToJsonString(*spec, &json).ok(), name);
    Write("jobspec", absl::StrCat(name, ".pbtxt"), text);
    Write("jobspec", absl::StrCat(name, ".json"), json);
  }
}

std::string Csv(const std::vector<planner::ArenaRequest>& requests) {
  std::string csv = "id,lower,upper,size\n";
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::StrAppend(&csv, "b", i, ",", requests[i].first, ",", requests[i].last + 1, ",", requests[i].size, "\n");
  }
  return csv;
}

void ArenaCsvs() {
  std::mt19937_64 rng(1);
  Write("arena_csv", "training_like.csv", Csv(test_util::TrainingLike(rng, 4)));
  Write("arena_csv", "rectangle.csv", Csv(test_util::RectangleSlices(rng, 24, 12, 16)));
  // The buffers of a real plan, named as the plan names them.
  planner::PlanOptions options;
  options.batch_size = 2;
  options.include_buffers = true;
  absl::StatusOr<v1::MemoryPlan> plan =
      planner::PlanMemory(CheckpointGraph(), planner::Strategy::kApprox4, options, planner::DefaultCostModel());
  FUZZ_CHECK(plan.ok(), plan.status());
  std::string csv = "buffer,start,end,size,layer\n";
  for (const v1::Buffer& b : plan->buffers()) {
    absl::StrAppend(&csv, b.name(), ",", b.first_step(), ",", b.last_step() + 1, ",", b.size_bytes(), ",", b.layer(),
                    "\n");
  }
  Write("arena_csv", "plan_approx4.csv", csv);
}

void Weights() {
  engine::ParameterRegion params(CheckpointGraph(), engine::DType::kF32, /*optimizer_slots=*/1);
  params.Initialize(/*seed=*/1);
  const std::string weights = engine::EncodeSafetensors(engine::ExportWeights(params, 3));
  Write("safetensors", "weights.safetensors", weights);
  Write("checkpoint", "weights.safetensors", weights);
  engine::TrainingState state;
  state.step = 12;
  state.epoch = 1;
  state.position = 32;
  state.seed = 7;
  state.info["model"] = "fuzz_checkpoint";
  state.info["strategy"] = "approx4";
  const std::string path = absl::StrCat(dir, "/checkpoint/gen_checkpoint.safetensors");
  const absl::Status saved = engine::SaveCheckpoint(path, params, state);
  FUZZ_CHECK(saved.ok(), saved);
  std::printf("%s\n", path.c_str());
  // The same checkpoint must load back into the fuzzer's model, or the seed
  // would only reach the first error.
  absl::StatusOr<engine::TrainingState> loaded = engine::LoadCheckpoint(path, params);
  FUZZ_CHECK(loaded.ok(), loaded.status());
}

}  // namespace
}  // namespace slimtrain::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus CORPUS_DIR   (e.g. $PWD/tests/fuzz/corpus)\n");
    return 2;
  }
  slimtrain::fuzz::dir = argv[1];
  slimtrain::fuzz::Models();
  slimtrain::fuzz::JobSpecs();
  slimtrain::fuzz::ArenaCsvs();
  slimtrain::fuzz::Weights();
  return 0;
}
