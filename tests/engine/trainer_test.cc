// The Trainer: deterministic for a seed, resumes from a checkpoint to the same
// next-step loss, stops on a NaN naming the step and the layer, rejects bad
// specs naming the field; checkpoints and weights round-trip.
#include "engine/trainer.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "base/file_util.h"
#include "engine/checkpoint.h"
#include "engine/comm/communicator.h"
#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"
#include "engine/data_metadata.h"
#include "engine/safetensors.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/engine/comm/mirror_communicator.h"
#include "tests/testing/subprocess.h"

namespace slimtrain::engine {
namespace {

constexpr char kSpec[] = R"pb(
  model {
    spec {
      name: "tiny"
      input { dims: 3 dims: 8 dims: 8 }
      num_classes: 4
      layers { name: "conv1" inputs: "input" conv2d { out_channels: 6 kernel_size: 3 padding: 1 bias: false } }
      layers { name: "bn1" inputs: "conv1" batch_norm {} }
      layers { name: "relu1" inputs: "bn1" relu {} }
      layers { name: "drop" inputs: "relu1" dropout { p: 0.1 } }
      layers { name: "conv2" inputs: "drop" conv2d { out_channels: 6 kernel_size: 3 stride: 2 padding: 1 } }
      layers { name: "gap" inputs: "conv2" global_avg_pool {} }
      layers { name: "fc" inputs: "gap" linear { out_features: 4 } }
      layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
    }
  }
  dataset { name: "synthetic" synthetic_examples: 64 random_crop_padding: 1 horizontal_flip: true normalize: true }
  optimizer { kind: "sgd" learning_rate: 0.05 momentum: 0.9 nesterov: true weight_decay: 0.0005 }
  learning_rate_schedule { kind: "cosine" warmup_steps: 2 }
  batch_size: 8
  epochs: 2
  strategy: "approx4"
  seed: 11
)pb";

v1::JobSpec Spec() {
  v1::JobSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(kSpec, &spec));
  return spec;
}

std::unique_ptr<Trainer> MakeTrainer(const v1::JobSpec& spec, Backend* backend, TrainerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<Trainer>> t = Trainer::Create(spec, backend, options);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

TEST(TrainerTest, SameSeedSameLosses) {
  ReferenceBackend backend(DType::kF32);
  std::unique_ptr<Trainer> a = MakeTrainer(Spec(), &backend), b = MakeTrainer(Spec(), &backend);
  ASSERT_TRUE(a->RunSteps(10, {}).ok());
  ASSERT_TRUE(b->RunSteps(10, {}).ok());
  EXPECT_EQ(a->losses(), b->losses());
  v1::JobSpec other = Spec();
  other.set_seed(12);
  std::unique_ptr<Trainer> c = MakeTrainer(other, &backend);
  ASSERT_TRUE(c->RunSteps(10, {}).ok());
  EXPECT_NE(a->losses(), c->losses());
  EXPECT_EQ(a->total_steps(), 16);  // 2 epochs of 64/8
}

// mixed without a table measures one when the job starts (the same for the
// same seed, so a resumed run plans the same bits), and with a budget plans
// within it; a table in the spec is used as given.
TEST(TrainerTest, MixedCalibratesWhenTheJobHasNoTable) {
  ReferenceBackend backend(DType::kF32);
  v1::JobSpec spec = Spec();
  spec.set_strategy("mixed");
  std::unique_ptr<Trainer> a = MakeTrainer(spec, &backend), b = MakeTrainer(spec, &backend);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::string& choice = a->executor().plan().choice();
  EXPECT_EQ(choice, b->executor().plan().choice());
  EXPECT_NE(choice.find("predicted gradient error"), std::string::npos) << choice;
  EXPECT_EQ(choice.find("assumed"), std::string::npos) << choice;  // measured
  ASSERT_TRUE(a->RunSteps(3, {}).ok());
  // A table that makes fc's input (the pooled features) the one tensor worth
  // keeping exact and the rest cheap: with room for it alone, it is exact.
  v1::JobSpec given = spec;
  for (const char* t : {"bn1", "conv2", "gap"}) {
    v1::TensorSensitivity* s = given.mutable_sensitivity()->add_tensors();
    s->set_tensor(t);
    const double w = std::string(t) == "gap" ? 1.0 : 1e-9;
    s->set_error2(w);
    s->set_error4(w / 2);
    s->set_error8(w / 4);
  }
  given.set_budget_bytes(a->executor().plan().peak_bytes() + 4096);
  std::unique_ptr<Trainer> c = MakeTrainer(given, &backend);
  ASSERT_NE(c, nullptr);
  EXPECT_LE(c->executor().plan().peak_bytes(), given.budget_bytes());
  bool gap_coded = false;
  for (const v1::Buffer& b : c->executor().plan().buffers()) gap_coded |= b.name() == "gap.code";
  EXPECT_FALSE(gap_coded) << c->executor().plan().choice();
}

// A worker that plans for itself (a server's GPU worker) must fit the peak
// its job was admitted with: one byte less than its plan's peak fails the
// job, naming both numbers; exactly the peak trains.
TEST(TrainerTest, AnAdmittedPeakTheTrainersPlanExceedsFailsTheJob) {
  ReferenceBackend backend(DType::kF32);
  std::unique_ptr<Trainer> free = MakeTrainer(Spec(), &backend);
  ASSERT_NE(free, nullptr);
  const int64_t peak = free->executor().plan().peak_bytes();
  TrainerOptions options;
  options.admitted_peak_bytes = peak - 1;
  const absl::Status over = Trainer::Create(Spec(), &backend, options).status();
  EXPECT_EQ(over.code(), absl::StatusCode::kFailedPrecondition) << over;
  const std::string message(over.message());
  EXPECT_NE(message.find(std::to_string(peak) + " bytes"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(peak - 1) + " bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("admitted"), std::string::npos) << message;
  options.admitted_peak_bytes = peak;
  std::unique_ptr<Trainer> fits = MakeTrainer(Spec(), &backend, options);
  ASSERT_NE(fits, nullptr);
  EXPECT_TRUE(fits->RunSteps(2, {}).ok());
}

TEST(TrainerTest, ResumingFromACheckpointGivesTheSameNextLosses) {
  ReferenceBackend backend(DType::kF32);
  std::unique_ptr<Trainer> straight = MakeTrainer(Spec(), &backend);
  ASSERT_TRUE(straight->RunSteps(12, {}).ok());

  TrainerOptions options;
  options.checkpoint_path = test_util::TempPath("resume.safetensors");
  options.resume = true;
  std::remove(options.checkpoint_path.c_str());
  {
    std::unique_ptr<Trainer> first = MakeTrainer(Spec(), &backend, options);
    ASSERT_TRUE(first->RunSteps(7, {}).ok());  // crosses no epoch yet (8 per epoch)
    ASSERT_TRUE(first->SaveCheckpoint().ok());
  }
  std::unique_ptr<Trainer> resumed = MakeTrainer(Spec(), &backend, options);
  EXPECT_EQ(resumed->step(), 7);
  ASSERT_TRUE(resumed->RunSteps(5, {}).ok());  // across the epoch boundary
  for (int i = 0; i < 5; ++i) EXPECT_EQ(resumed->losses()[i], straight->losses()[7 + i]) << "step " << 8 + i;
}

TEST(TrainerTest, WeightsOfACheckpointAreTheExportedWeights) {
  // What the server hands out for a running job: the checkpoint's tensors
  // less the exact copy and optimizer state equal ExportWeights' tensors,
  // with the data's metadata and the checkpoint's step.
  ReferenceBackend backend(DType::kF32);
  TrainerOptions options;
  options.checkpoint_path = test_util::TempPath("weights_of.safetensors");
  std::remove(options.checkpoint_path.c_str());
  std::unique_ptr<Trainer> t = MakeTrainer(Spec(), &backend, options);
  ASSERT_TRUE(t->RunSteps(3, {}).ok());
  ASSERT_TRUE(t->SaveCheckpoint().ok());
  absl::StatusOr<std::string> bytes = base::ReadFile(options.checkpoint_path);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  int64_t step = -1;
  absl::StatusOr<SafetensorsFile> weights = WeightsOfCheckpoint(*bytes, "weights_of.safetensors", &step);
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(step, 3);
  const SafetensorsFile want = ExportWeights(t->executor().params(), t->executor().steps_run(),
                                             MetadataEntries(t->data_metadata()));
  ASSERT_EQ(weights->tensors.size(), want.tensors.size());
  for (size_t i = 0; i < want.tensors.size(); ++i) {
    EXPECT_EQ(weights->tensors[i].name, want.tensors[i].name);
    EXPECT_EQ(weights->tensors[i].bytes, want.tensors[i].bytes) << want.tensors[i].name;
  }
  EXPECT_EQ(weights->metadata, want.metadata);
  // Weights are not a checkpoint.
  const absl::StatusOr<SafetensorsFile> not_one =
      WeightsOfCheckpoint(EncodeSafetensors(want), "plain.safetensors", &step);
  EXPECT_EQ(not_one.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(not_one.status().message().find("plain.safetensors"), std::string::npos) << not_one.status();
}

TEST(TrainerTest, NanStopsTheRunNamingTheStepAndTheLayer) {
  ReferenceBackend backend(DType::kF32);
  v1::JobSpec spec = Spec();
  spec.mutable_optimizer()->set_learning_rate(100);  // the largest accepted: diverges
  spec.clear_learning_rate_schedule();
  std::unique_ptr<Trainer> t = MakeTrainer(spec, &backend);
  const absl::Status s = t->RunSteps(10, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  const std::string m(s.message());
  EXPECT_EQ(m.rfind("step ", 0), 0u) << m;
  EXPECT_TRUE(m.find("the gradient of layer '") != std::string::npos || m.find("the loss is") != std::string::npos)
      << m;
}

TEST(TrainerTest, RunEvaluatesAndReportsMetrics) {
  ReferenceBackend backend(DType::kF32);
  v1::JobSpec spec = Spec();
  spec.set_eval_interval_steps(8);
  std::unique_ptr<Trainer> t = MakeTrainer(spec, &backend);
  int steps = 0, evals = 0;
  TrainerCallbacks callbacks;
  callbacks.on_metrics = [&](const v1::Metrics& m) {
    if (m.has_eval()) {
      ++evals;
      EXPECT_GE(m.eval_accuracy(), 0.0);
      EXPECT_LE(m.eval_accuracy(), 1.0);
    } else {
      ++steps;
      EXPECT_EQ(m.step(), steps);
      EXPECT_GT(m.images_per_second(), 0);
      EXPECT_GT(m.planned_peak_bytes(), 0);
      EXPECT_GT(m.measured_peak_bytes(), 0);
      EXPECT_GT(m.other_bytes(), 0);  // the process's code and data, before training
      // A tiny model in a process that held more before: training may fit in
      // memory already resident.
      EXPECT_LE(m.other_bytes(), m.measured_peak_bytes());
      EXPECT_EQ(m.other_bytes(), t->other_bytes());
    }
  };
  ASSERT_TRUE(t->Run(callbacks).ok());
  EXPECT_EQ(steps, 16);
  EXPECT_EQ(evals, 2);  // at step 8 and at step 16 (the end)
  absl::StatusOr<EvalResult> e = t->Evaluate();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->examples, 12);  // 64 / 5 synthetic test examples, a partial last batch
}

// A tiny GPT (tied embedding, bias-free layer norms) on the synthetic token
// sequences: it learns the Markov chain, so the test loss falls well below
// a uniform guess, log 16 = 2.77 nats, and toward the chain's entropy
// (about 1.2); accuracy counts positions.
constexpr char kTokenSpec[] = R"pb(
  model {
    spec {
      name: "tiny_gpt"
      input { dims: 12 }
      num_classes: 16
      layers { name: "wte" inputs: "input" embedding { num_embeddings: 16 embedding_dim: 16 } }
      layers { name: "wpe" inputs: "wte" positional_embedding {} }
      layers { name: "ln1" inputs: "wpe" layer_norm { bias: false } }
      layers { name: "q" inputs: "ln1" linear { out_features: 16 bias: false } }
      layers { name: "k" inputs: "ln1" linear { out_features: 16 bias: false } }
      layers { name: "v" inputs: "ln1" linear { out_features: 16 bias: false } }
      layers { name: "attn" inputs: "q" inputs: "k" inputs: "v" attention { heads: 2 causal: true } }
      layers { name: "res" inputs: "wpe" inputs: "attn" add {} }
      layers { name: "ln_f" inputs: "res" layer_norm { bias: false } }
      layers { name: "lm_head" inputs: "ln_f" linear { out_features: 16 bias: false tied_to: "wte" } }
      layers { name: "loss" inputs: "lm_head" softmax_cross_entropy {} }
    }
  }
  dataset { name: "synthetic" synthetic_examples: 512 }
  optimizer { kind: "adam" learning_rate: 0.01 }
  batch_size: 16
  steps: 150
  strategy: "checkpoint"
  seed: 5
)pb";

TEST(TrainerTest, LearnsTheSyntheticTokenSequences) {
  FastBackend backend;
  v1::JobSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kTokenSpec, &spec));
  std::unique_ptr<Trainer> t = MakeTrainer(spec, &backend);
  ASSERT_NE(t, nullptr);
  absl::StatusOr<EvalResult> before = t->Evaluate();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_NEAR(before->loss, std::log(16.0), 0.5);
  double accuracy = -1;
  TrainerCallbacks callbacks;
  callbacks.on_metrics = [&](const v1::Metrics& m) {
    if (!m.has_eval()) accuracy = m.accuracy();
  };
  ASSERT_TRUE(t->RunSteps(150, callbacks).ok());
  absl::StatusOr<EvalResult> after = t->Evaluate();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_LT(after->loss, 1.8) << before->loss << " -> " << after->loss;
  EXPECT_GT(after->accuracy, 0.4);
  EXPECT_LE(after->accuracy, 1.0);
  EXPECT_EQ(after->examples, 102);  // 512 / 5 test sequences
  EXPECT_GT(accuracy, 0.3);
  EXPECT_LE(accuracy, 1.0);
}

// A regression (mse_loss) on the synthetic targets, tanh(3·(v[a] − v[b]))
// of fixed input positions: the test loss falls well below its start, and
// no accuracy is reported.
TEST(TrainerTest, LearnsASyntheticRegression) {
  FastBackend backend;
  v1::JobSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    model {
      spec {
        name: "mlp_regression"
        input { dims: 1 dims: 8 dims: 8 }
        num_classes: 1
        layers { name: "flat" inputs: "input" flatten {} }
        layers { name: "fc1" inputs: "flat" linear { out_features: 64 } }
        layers { name: "bn" inputs: "fc1" batch_norm {} }
        layers { name: "act" inputs: "bn" relu {} }
        layers { name: "fc2" inputs: "act" linear { out_features: 4 } }
        layers { name: "loss" inputs: "fc2" mse_loss {} }
      }
    }
    dataset { name: "synthetic" synthetic_examples: 2000 }
    optimizer { kind: "adam" learning_rate: 0.003 }
    batch_size: 64
    steps: 200
    strategy: "approx4"
    seed: 3
  )pb", &spec));
  std::unique_ptr<Trainer> t = MakeTrainer(spec, &backend);
  ASSERT_NE(t, nullptr);
  absl::StatusOr<EvalResult> before = t->Evaluate();
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(t->RunSteps(200, {}).ok());
  absl::StatusOr<EvalResult> after = t->Evaluate();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_LT(after->loss, before->loss / 3) << before->loss << " -> " << after->loss;
  EXPECT_EQ(after->accuracy, 0.0);
  EXPECT_EQ(after->examples, 400);
}

TEST(TrainerTest, CancelStopsAfterACheckpoint) {
  ReferenceBackend backend(DType::kF32);
  TrainerOptions options;
  options.checkpoint_path = test_util::TempPath("cancel.safetensors");
  std::unique_ptr<Trainer> t = MakeTrainer(Spec(), &backend, options);
  int calls = 0;
  TrainerCallbacks callbacks;
  callbacks.should_stop = [&] { return ++calls > 3; };
  const absl::Status s = t->Run(callbacks);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(t->step(), 3);
  EXPECT_TRUE(std::ifstream(options.checkpoint_path).good());
}

TEST(CheckpointTest, WeightsRoundTripAndCheckpointErrorsNameTheFile) {
  ReferenceBackend backend(DType::kF32);
  std::unique_ptr<Trainer> t = MakeTrainer(Spec(), &backend);
  ASSERT_TRUE(t->RunSteps(3, {}).ok());
  ParameterRegion& params = t->executor().params();
  const SafetensorsFile exported = ExportWeights(params, 3);
  // Every parameter and running statistic, plus num_batches_tracked per BN.
  EXPECT_EQ(exported.tensors.size(), params.tensors().size() + 1);
  EXPECT_EQ(exported.tensors.back().name, "bn1.num_batches_tracked");
  const std::string bytes = EncodeSafetensors(exported);
  absl::StatusOr<SafetensorsFile> decoded = DecodeSafetensors(bytes, "w.safetensors");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  std::unique_ptr<Trainer> fresh = MakeTrainer(Spec(), &backend);
  ASSERT_TRUE(ImportWeights(*decoded, fresh->executor().params(), "w.safetensors").ok());
  for (int64_t i = 0; i < params.total_count(); ++i) {
    ASSERT_EQ(fresh->executor().params().Get(i), params.Get(i)) << i;
  }
  decoded->tensors.erase(decoded->tensors.begin());
  EXPECT_EQ(ImportWeights(*decoded, params, "w.safetensors").message(),
            "w.safetensors: tensor 'conv1.weight' is missing");

  const std::string path = test_util::TempPath("bad.safetensors");
  ASSERT_TRUE(base::WriteFileAtomically(path, bytes).ok());  // weights, not a checkpoint
  absl::StatusOr<TrainingState> loaded = LoadCheckpoint(path, params);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(), path + ": not a slimtrain checkpoint (format 'pt')");
  ASSERT_TRUE(base::WriteFileAtomically(path, bytes.substr(0, bytes.size() / 2)).ok());
  EXPECT_NE(std::string(LoadCheckpoint(path, params).status().message()).find(path + ": not a valid safetensors"),
            std::string::npos);
  EXPECT_EQ(LoadCheckpoint("/nonexistent/ckpt", params).status().code(), absl::StatusCode::kNotFound);
}

struct BadSpec {
  const char* name;
  void (*mutate)(v1::JobSpec&);
  const char* message;
};

class TrainerSpecTest : public testing::TestWithParam<BadSpec> {};

TEST_P(TrainerSpecTest, NamesTheField) {
  ReferenceBackend backend(DType::kF32);
  v1::JobSpec spec = Spec();
  GetParam().mutate(spec);
  absl::StatusOr<std::unique_ptr<Trainer>> t = Trainer::Create(spec, &backend, {});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(std::string(t.status().message()).find(GetParam().message), std::string::npos) << t.status();
}

INSTANTIATE_TEST_SUITE_P(
    Fields, TrainerSpecTest,
    testing::Values(
        BadSpec{"Batch", [](v1::JobSpec& s) { s.set_batch_size(0); }, "batch_size: must be in [1, 16777216], got 0"},
        BadSpec{"Length", [](v1::JobSpec& s) { s.set_epochs(0); }, "epochs: give epochs > 0 or steps > 0"},
        BadSpec{"Strategy", [](v1::JobSpec& s) { s.set_strategy("fast"); }, "strategy: unknown strategy 'fast'"},
        BadSpec{"Auto", [](v1::JobSpec& s) { s.set_strategy("auto"); }, "strategy: 'auto' is chosen when"},
        BadSpec{"Optimizer", [](v1::JobSpec& s) { s.mutable_optimizer()->set_kind("lamb"); },
                "optimizer.kind: unknown optimizer 'lamb'"},
        BadSpec{"LearningRate", [](v1::JobSpec& s) { s.mutable_optimizer()->set_learning_rate(0); },
                "optimizer.learning_rate: must be a finite number in (0, 100], got 0"},
        BadSpec{"Momentum", [](v1::JobSpec& s) { s.mutable_optimizer()->set_momentum(1.5); },
                "optimizer.momentum: must be a finite number in [0, 1), got 1.5"},
        BadSpec{"Schedule", [](v1::JobSpec& s) { s.mutable_learning_rate_schedule()->set_kind("linear"); },
                "learning_rate_schedule.kind: unknown 'linear'"},
        BadSpec{"Dataset", [](v1::JobSpec& s) { s.mutable_dataset()->set_name("imagenet"); },
                "dataset.name: unknown dataset 'imagenet'"},
        BadSpec{"ShapeMismatch", [](v1::JobSpec& s) { s.mutable_dataset()->set_name("fashion-mnist"); },
                "dataset: fashion-mnist has 1x28x28 images but model 'tiny' takes 3x8x8"},
        BadSpec{"CifarNeedsPath", [](v1::JobSpec& s) { s.mutable_dataset()->set_name("cifar10"); },
                "dataset.path: the folder of the CIFAR binary files is needed"},
        BadSpec{"BatchOverData", [](v1::JobSpec& s) { s.set_batch_size(100); },
                "batch_size: 100 is more than the 64 training examples"}),
    [](const testing::TestParamInfo<BadSpec>& info) { return info.param.name; });

using test_util::MirrorCommunicator;

// CPU ranks need no other communicator than their host one; a gradient
// communicator over other ranks than the host one's is refused naming both.
TEST(TrainerTest, GradientCommunicatorIsTheHostsOnTheCpuAndMustShareItsRanks) {
  ReferenceBackend backend(DType::kF32);
  comm::LocalCommunicator alone;
  absl::StatusOr<std::unique_ptr<comm::Communicator>> none = MakeGradientCommunicator(backend, alone, 0, {});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, nullptr);
  MirrorCommunicator two(2);
  none = MakeGradientCommunicator(backend, two, 0, {});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, nullptr) << "no rank is on a GPU: MPI sums the gradients";

  MirrorCommunicator three(3);
  TrainerOptions options;
  options.communicator = &two;
  options.gradient_communicator = &three;
  const absl::Status refused = Trainer::Create(Spec(), &backend, options).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_NE(refused.message().find("rank 0 of 3, but the communicator's is rank 0 of 2"), std::string::npos)
      << refused;
  // The same ranks: the gradients go over it.
  MirrorCommunicator gradients(2);
  options.gradient_communicator = &gradients;
  std::unique_ptr<Trainer> t = MakeTrainer(Spec(), &backend, options);
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->RunSteps(1, {}).ok());
}

}  // namespace
}  // namespace slimtrain::engine
