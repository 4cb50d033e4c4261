// ValidateJobSpec: every field of a JobSpec in its documented range
// (proto/job.proto), one row per case; errors begin with the field's name.
#include "engine/job_spec.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace slimtrain::engine {
namespace {

constexpr char kSpec[] = R"pb(
  model { zoo: "fmnist_resnet" }
  dataset { name: "fashion-mnist" }
  optimizer { kind: "sgd" learning_rate: 0.1 momentum: 0.9 }
  batch_size: 128
  epochs: 3
  strategy: "approx4"
)pb";

v1::JobSpec Valid() {
  v1::JobSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(kSpec, &spec));
  return spec;
}

struct Case {
  const char* name;
  std::function<void(v1::JobSpec&)> edit;
  const char* message;  // the error's start: the field, and what is wrong
};

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kHuge = int64_t{1} << 62;

const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
      {"LongDisplayName", [](v1::JobSpec& s) { s.set_display_name(std::string(257, 'n')); },
       "display_name: 257 bytes, over the limit of 256"},
      {"NewlineInDisplayName", [](v1::JobSpec& s) { s.set_display_name("a\nb"); },
       "display_name: contains the control character 0x0a"},
      {"ZeroBatch", [](v1::JobSpec& s) { s.set_batch_size(0); }, "batch_size: must be in [1, 16777216], got 0"},
      {"HugeBatch", [](v1::JobSpec& s) { s.set_batch_size(int64_t{1} << 40); },
       "batch_size: must be in [1, 16777216], got 1099511627776"},
      {"BatchOverTheDataset", [](v1::JobSpec& s) { s.set_batch_size(60001); },
       "batch_size: 60001 is more than the 60000 training examples of fashion-mnist"},
      {"NoLength", [](v1::JobSpec& s) { s.set_epochs(0); }, "epochs: give epochs > 0 or steps > 0"},
      {"HugeSteps", [](v1::JobSpec& s) { s.set_steps(kHuge); }, "steps: must be in [0, 1000000000]"},
      {"HugeEpochs", [](v1::JobSpec& s) { s.set_epochs(kHuge); }, "epochs: must be in [0, 1000000]"},
      {"EpochsTimesStepsOverflow", [](v1::JobSpec& s) { s.set_epochs(1000000); s.set_batch_size(1); },
       "epochs: 1000000 epochs of 60000 steps are over the limit of 1000000000 steps"},
      {"NegativeCheckpointInterval", [](v1::JobSpec& s) { s.set_checkpoint_interval_steps(-1); },
       "checkpoint_interval_steps: must be in [0, 1000000000], got -1"},
      {"NegativeEvalInterval", [](v1::JobSpec& s) { s.set_eval_interval_steps(-1); },
       "eval_interval_steps: must be in [0, 1000000000], got -1"},
      {"NegativeBudget", [](v1::JobSpec& s) { s.set_budget_bytes(-1); }, "budget_bytes: must be >= 0, got -1"},
      {"NegativeSensitivity",
       [](v1::JobSpec& s) {
         v1::TensorSensitivity* t = s.mutable_sensitivity()->add_tensors();
         t->set_tensor("bn1");
         t->set_error8(-0.5);
       },
       "sensitivity.tensors[0].error8: must be finite and >= 0, got -0.5"},
      {"UnknownStrategy", [](v1::JobSpec& s) { s.set_strategy("fast"); }, "strategy: "},
      {"AutoUnresolved", [](v1::JobSpec& s) { s.set_strategy("auto"); }, "strategy: 'auto' is chosen"},
      {"UnknownOptimizer", [](v1::JobSpec& s) { s.mutable_optimizer()->set_kind("lamb"); },
       "optimizer.kind: unknown optimizer 'lamb'"},
      {"InfiniteLr", [](v1::JobSpec& s) { s.mutable_optimizer()->set_learning_rate(kInf); },
       "optimizer.learning_rate: must be a finite number in (0, 100], got inf"},
      {"HugeLr", [](v1::JobSpec& s) { s.mutable_optimizer()->set_learning_rate(1e308); },
       "optimizer.learning_rate: must be a finite number in (0, 100], got 1e+308"},
      {"ZeroLr", [](v1::JobSpec& s) { s.mutable_optimizer()->set_learning_rate(0); }, "optimizer.learning_rate: "},
      {"NanMomentum", [](v1::JobSpec& s) { s.mutable_optimizer()->set_momentum(kNaN); },
       "optimizer.momentum: must be a finite number in [0, 1), got nan"},
      {"MomentumOne", [](v1::JobSpec& s) { s.mutable_optimizer()->set_momentum(1); }, "optimizer.momentum: "},
      {"NanWeightDecay", [](v1::JobSpec& s) { s.mutable_optimizer()->set_weight_decay(kNaN); },
       "optimizer.weight_decay: "},
      {"NesterovWithoutMomentum",
       [](v1::JobSpec& s) {
         s.mutable_optimizer()->set_momentum(0);
         s.mutable_optimizer()->set_nesterov(true);
       },
       "optimizer.nesterov: needs kind sgd with momentum > 0"},
      {"Beta1OverOne", [](v1::JobSpec& s) { s.mutable_optimizer()->set_beta1(1.5); },
       "optimizer.beta1: must be 0 (the default) or a finite number in (0, 1), got 1.5"},
      {"Beta2Nan", [](v1::JobSpec& s) { s.mutable_optimizer()->set_beta2(kNaN); }, "optimizer.beta2: "},
      {"NegativeEpsilon", [](v1::JobSpec& s) { s.mutable_optimizer()->set_epsilon(-1); }, "optimizer.epsilon: "},
      {"InfiniteAlpha", [](v1::JobSpec& s) { s.mutable_optimizer()->set_alpha(kInf); }, "optimizer.alpha: "},
      {"UnknownSchedule", [](v1::JobSpec& s) { s.mutable_learning_rate_schedule()->set_kind("linear"); },
       "learning_rate_schedule.kind: unknown 'linear'; known: constant, step, cosine"},
      {"NegativeWarmup", [](v1::JobSpec& s) { s.mutable_learning_rate_schedule()->set_warmup_steps(-1); },
       "learning_rate_schedule.warmup_steps: "},
      {"NegativeMilestone", [](v1::JobSpec& s) { s.mutable_learning_rate_schedule()->add_milestone_epochs(-1); },
       "learning_rate_schedule.milestone_epochs: must be in [0, 1000000], got -1"},
      {"MilestonesDescend",
       [](v1::JobSpec& s) {
         s.mutable_learning_rate_schedule()->add_milestone_epochs(5);
         s.mutable_learning_rate_schedule()->add_milestone_epochs(3);
       },
       "learning_rate_schedule.milestone_epochs: must ascend, got 5 then 3"},
      {"GammaOverOne", [](v1::JobSpec& s) { s.mutable_learning_rate_schedule()->set_gamma(2); },
       "learning_rate_schedule.gamma: "},
      {"MinLrOverLr", [](v1::JobSpec& s) { s.mutable_learning_rate_schedule()->set_min_learning_rate(1); },
       "learning_rate_schedule.min_learning_rate: must be a finite number in [0, 0.1], got 1"},
      {"UnknownDataset", [](v1::JobSpec& s) { s.mutable_dataset()->set_name("imagenet"); },
       "dataset.name: unknown dataset 'imagenet'"},
      {"LongPath", [](v1::JobSpec& s) { s.mutable_dataset()->set_path(std::string(5000, 'p')); },
       "dataset.path: 5000 bytes, over the limit of 4096"},
      {"HugeCropPadding", [](v1::JobSpec& s) { s.mutable_dataset()->set_random_crop_padding(int64_t{1} << 40); },
       "dataset.random_crop_padding: must be in [0, 256], got 1099511627776"},
      {"NegativeSyntheticExamples",
       [](v1::JobSpec& s) {
         s.mutable_dataset()->set_name("synthetic");
         s.mutable_dataset()->set_synthetic_examples(-1);
       },
       "dataset.synthetic_examples: must be in [0, 10000000], got -1"},
      {"HugeSyntheticExamples",
       [](v1::JobSpec& s) {
         s.mutable_dataset()->set_name("synthetic");
         s.mutable_dataset()->set_synthetic_examples(int64_t{1} << 40);
       },
       "dataset.synthetic_examples: must be in [0, 10000000]"},
      {"SyntheticBytesOverTheLimit",
       [](v1::JobSpec& s) {
         s.mutable_dataset()->set_name("synthetic");
         s.mutable_dataset()->set_synthetic_examples(10000000);
       },
       "dataset.synthetic_examples: 10000000 examples of 1x28x28 are over the limit of 4294967296 bytes"},
      {"UnknownDevice", [](v1::JobSpec& s) { s.mutable_resources()->set_device("tpu"); },
       "resources.device: unknown device 'tpu'"},
      {"NegativeGpus", [](v1::JobSpec& s) { s.mutable_resources()->set_gpu_count(-1); }, "resources.gpu_count: "},
      {"TooManyCpuRanks", [](v1::JobSpec& s) { s.mutable_resources()->set_cpu_ranks(5000); },
       "resources.cpu_ranks: must be in [0, 1024], got 5000"},
      {"CpuRanksOnCuda",
       [](v1::JobSpec& s) {
         s.mutable_resources()->set_device("cuda");
         s.mutable_resources()->set_cpu_ranks(2);
       },
       "resources.cpu_ranks: 2 asks for CPU processes, but resources.device is 'cuda'"},
      {"CpuRanksAndGpus",
       [](v1::JobSpec& s) {
         s.mutable_resources()->set_gpu_count(2);
         s.mutable_resources()->set_cpu_ranks(2);
       },
       "resources.cpu_ranks: 2 CPU processes and resources.gpu_count 2"},
      {"RanksInDataParallel", [](v1::JobSpec& s) { s.mutable_data_parallel()->set_ranks(4); },
       "data_parallel.ranks: 4; leave it 0"},
      {"TinyBuckets", [](v1::JobSpec& s) { s.mutable_data_parallel()->set_bucket_bytes(3); },
       "data_parallel.bucket_bytes: 3 is less than one element"},
      {"HugeBuckets", [](v1::JobSpec& s) { s.mutable_data_parallel()->set_bucket_bytes(int64_t{1} << 40); },
       "data_parallel.bucket_bytes: must be in [0, 4294967296]"},
      {"SyncBnWithCodes",
       [](v1::JobSpec& s) {
         s.set_strategy("approx4");
         s.mutable_data_parallel()->set_sync_batch_norm(true);
       },
       "data_parallel.sync_batch_norm: with strategy 'approx4'"},
      {"TooManyThreads", [](v1::JobSpec& s) { s.mutable_resources()->set_cpu_threads(100000); },
       "resources.cpu_threads: must be in [0, "},
      {"NegativeRunSeconds", [](v1::JobSpec& s) { s.mutable_resources()->set_max_run_seconds(-1); },
       "resources.max_run_seconds: "},
      {"TokenModelOnImages", [](v1::JobSpec& s) { s.mutable_model()->set_zoo("nanogpt"); },
       "dataset.name: model 'nanogpt' reads token ids, and fashion-mnist has images with one label each; train it "
       "on synthetic"},
      {"TokenModelWithCrops",
       [](v1::JobSpec& s) {
         s.mutable_model()->set_zoo("nanogpt");
         s.mutable_dataset()->set_name("synthetic");
         s.mutable_dataset()->set_random_crop_padding(2);
       },
       "dataset.random_crop_padding: model 'nanogpt' reads token ids, which have no pixels to crop, flip or "
       "normalise"},
      {"TokenModelNormalized",
       [](v1::JobSpec& s) {
         s.mutable_model()->set_zoo("nanogpt");
         s.mutable_dataset()->set_name("synthetic");
         s.mutable_dataset()->set_normalize(true);
       },
       "dataset.normalize: model 'nanogpt' reads token ids"},
      {"RegressionOnImages",
       [](v1::JobSpec& s) {
         s.mutable_model()->clear_zoo();
         ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
           name: "reg" input { dims: 4 } num_classes: 1
           layers { name: "fc" inputs: "input" linear { out_features: 2 } }
           layers { name: "loss" inputs: "fc" mse_loss {} })pb", s.mutable_model()->mutable_spec()));
       },
       "dataset.name: model 'reg' ends in mse_loss (a regression), and fashion-mnist has class labels"},
      {"ModelOverTheSizeLimit",
       [](v1::JobSpec& s) {
         s.mutable_model()->clear_zoo();
         v1::ModelSpec* m = s.mutable_model()->mutable_spec();
         m->set_name("wide");
         m->mutable_input()->add_dims(1);
         m->mutable_input()->add_dims(28);
         m->mutable_input()->add_dims(28);
         m->set_num_classes(10);
         v1::Layer* fc = m->add_layers();
         fc->set_name("fc");
         fc->add_inputs("input");
         fc->mutable_linear()->set_out_features(int64_t{1} << 40);
         v1::Layer* loss = m->add_layers();
         loss->set_name("loss");
         loss->add_inputs("fc");
         loss->mutable_softmax_cross_entropy();
       },
       "layer 'fc': a 1099511627776 tensor is over the limit"},
  };
  return *cases;
}

class JobSpecErrorTest : public testing::TestWithParam<Case> {};

TEST_P(JobSpecErrorTest, NamesTheFieldAndValue) {
  v1::JobSpec spec = Valid();
  GetParam().edit(spec);
  const absl::Status s = ValidateJobSpec(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StartsWith(s.message(), GetParam().message)) << s.message();
}

INSTANTIATE_TEST_SUITE_P(EveryField, JobSpecErrorTest, testing::ValuesIn(Cases()),
                         [](const testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(JobSpecTest, ValidSpecsAtTheEdgesOfTheirRangesPass) {
  EXPECT_TRUE(ValidateJobSpec(Valid()).ok()) << ValidateJobSpec(Valid());
  v1::JobSpec spec = Valid();
  spec.set_display_name(std::string(256, 'n'));
  spec.set_batch_size(60000);
  spec.set_steps(1000000000);
  spec.mutable_optimizer()->set_kind("adam");
  spec.mutable_optimizer()->set_momentum(0);
  spec.mutable_optimizer()->set_learning_rate(100);
  spec.mutable_optimizer()->set_beta1(0.5);
  spec.mutable_optimizer()->set_epsilon(1);
  spec.mutable_learning_rate_schedule()->set_kind("step");
  spec.mutable_learning_rate_schedule()->add_milestone_epochs(0);
  spec.mutable_learning_rate_schedule()->add_milestone_epochs(1000000);
  spec.mutable_learning_rate_schedule()->set_gamma(1);
  spec.mutable_dataset()->set_random_crop_padding(256);
  spec.mutable_resources()->set_cpu_threads(1);
  EXPECT_TRUE(ValidateJobSpec(spec).ok()) << ValidateJobSpec(spec);
  // A smaller limit than the default is the caller's to set.
  planner::SizeLimits limits;
  limits.max_batch_size = 64;
  EXPECT_EQ(ValidateJobSpec(Valid(), limits).message(), "batch_size: must be in [1, 64], got 128");
}

TEST(JobSpecTest, TrainingExamplesPerDataset) {
  v1::DatasetSpec d;
  d.set_name("fashion-mnist");
  EXPECT_EQ(TrainingExamples(d), 60000);
  d.set_name("cifar100");
  EXPECT_EQ(TrainingExamples(d), 50000);
  d.set_name("synthetic");
  EXPECT_EQ(TrainingExamples(d), 10000);
  d.set_synthetic_examples(77);
  EXPECT_EQ(TrainingExamples(d), 77);
}

}  // namespace
}  // namespace slimtrain::engine
