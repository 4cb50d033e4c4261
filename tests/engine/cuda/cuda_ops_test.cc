// The CUDA backend (engine/cuda/cuda_backend.h) against the reference backend
// (float32), and docs/DESIGN.md's invariants on the GPU. Every test skips, with
// NewCudaBackend's UNAVAILABLE message, where there is no GPU (or the build
// has no CUDA toolkit), so the binary passes on CPU-only machines; it is
// tagged "gpu" and run for real by tools/device/check.sh.
//
// Data reaches the GPU only through the Backend's own memory methods
// (Allocate, CopyToDevice, CopyToHost, Fill), which are tested first.
// What each table proves (TF32 off unless a test says otherwise):
//   - conv2d and linear (cuDNN, cuBLAS) on fixed and seeded random shapes
//     (odd channel counts, stride 2, padding, dilation, groups, bias on and
//     off): forward, backward-data overwriting and accumulating,
//     backward-weights, each inside exactly the workspace WorkspaceBytes
//     reports (guard bytes after it stay untouched); relative error
//     (max |Δ| / max |reference|) below 1e-4; with TF32 on, below 1e-2;
//   - batch norm in its three forward modes (running statistics too) and its
//     backward (accumulate, in place, dx = null): below 1e-5;
//   - the quantizer for K = 8, 4, 2 and pass-through: codes byte-identical,
//     the ReLU mask of the restored values and ReLU-from-code gradients
//     exact, BN backward from codes below 1e-5; K = 2's restored values
//     (the device's erfc and exp in the Lloyd-Max levels) within 8 ulp;
//   - elementwise, dropout, layout, pooling (max-pool indices exact), loss and
//     the three optimizers;
//   - the executor on zoo models: exact training losses and gradients match
//     the reference backend's, approx-K's loss equals exact's bit for bit,
//     checkpointing trains as exact does, approx4 trains (its loss falls), the
//     NaN-poisoning debug mode changes nothing, and the device memory taken
//     is the plan's (MemoryMatchesThePlan says how it is measured).
//
// This file: the memory methods, conv2d, linear, batch norm and the quantizer;
// cuda_kernels_test.cc the other ops; cuda_executor_test.cc the executor. The
// rows and inputs the fast backend's tests share are tests/testing/op_cases.h's.
#include <cmath>
#include <limits>

#include "engine/quant.h"
#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/testing/op_cases.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine::gpu_test {
namespace {

TEST_F(GpuTest, MemoryMethodsAllocateCopyFillAndCheckFiniteness) {
  EXPECT_FALSE(gpu_->host_addressable());
  EXPECT_EQ(gpu_->dtype(), DType::kF32);
  DeviceMemory mem(gpu_);
  for (const int64_t bytes : {int64_t{1}, int64_t{257}, int64_t{4097}, 3 * kMiB + 5}) {
    SCOPED_TRACE(bytes);
    absl::StatusOr<DeviceBuffer> buffer = gpu_->Allocate(bytes);
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    EXPECT_EQ(buffer->size(), bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer->data()) % 256, 0u);
    std::vector<uint8_t> host(bytes, 0xff);
    gpu_->CopyToHost(host.data(), buffer->data(), bytes);
    EXPECT_TRUE(std::all_of(host.begin(), host.end(), [](uint8_t b) { return b == 0; })) << "not zeroed";
    // A round trip at an odd offset, then a fill of part of it.
    std::vector<uint8_t> pattern(bytes);
    for (int64_t i = 0; i < bytes; ++i) pattern[i] = static_cast<uint8_t>(i * 131 + 7);
    const int64_t offset = bytes > 3 ? 3 : 0, n = bytes - offset;
    gpu_->CopyToDevice(buffer->data() + offset, pattern.data(), n);
    gpu_->Fill(buffer->data(), 0x5c, std::min<int64_t>(offset + 1, bytes));
    gpu_->CopyToHost(host.data(), buffer->data(), bytes);
    for (int64_t i = 0; i < bytes; ++i) {
      const uint8_t want = i <= offset ? 0x5c : pattern[i - offset];
      if (host[i] != want) {
        ADD_FAILURE() << "byte " << i << " is " << int{host[i]} << ", want " << int{want};
        break;
      }
    }
  }
  // More memory than any GPU has: RESOURCE_EXHAUSTED, and the backend goes on.
  absl::StatusOr<DeviceBuffer> huge = gpu_->Allocate(int64_t{1} << 50);
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
  (void)gpu_->ConsumeError();

  for (const int64_t count : {int64_t{1}, int64_t{37}, int64_t{100003}, (int64_t{1} << 22) + 3}) {
    SCOPED_TRACE(count);
    std::vector<float> x = Random(count, 1, -1e30f, 1e30f);
    float* d = mem.Upload(x);
    EXPECT_TRUE(gpu_->AllFinite(count, d));
    for (const int64_t at : {int64_t{0}, count / 2, count - 1}) {
      for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity()}) {
        std::vector<float> y = x;
        y[at] = bad;
        mem.Set(d, y);
        EXPECT_FALSE(gpu_->AllFinite(count, d)) << "value " << bad << " at " << at;
      }
    }
    mem.Set(d, x);
    EXPECT_TRUE(gpu_->AllFinite(count, d));
  }
}

// ------------------------------------------------------------ conv2d

using test_util::ConvCase;
using test_util::ConvSpec;

// The rows both backends run (tests/testing/op_cases.h) after a ResNet stage
// at batch 8 (ConvCases()[0] and [2], odd_bias_stride2, run with TF32 too),
// then the CUDA backend's own and seeded random shapes.
std::vector<ConvCase> ConvCases() {
  std::vector<ConvCase> cases = {{"resnet_16x32x32", 8, 16, 32, 32, 16, 3, 1, 1, 1, 1, false}};
  for (const ConvCase& t : test_util::CommonConvCases()) cases.push_back(t);
  const std::vector<ConvCase> own = {
      {"odd_channels_5_to_7", 4, 5, 9, 11, 7, 3, 1, 1, 1, 1, true},
      {"depthwise_s2", 3, 6, 7, 7, 6, 3, 2, 1, 1, 6, false},
      {"one_channel_input", 4, 1, 28, 28, 16, 3, 1, 1, 1, 1, false},  // fmnist_resnet's conv1
      {"depthwise_5x3_dilated", 2, 6, 8, 9, 6, 0, 0, 0, 0, 6, false,
       "kernel_hw: [5, 3] pads: [2, 2] dilation_hw: [1, 2]"},
      // cuDNN pads both sides alike: these run on a zero-padded copy in the
      // planned workspace, the data gradient cropped back.
      {"asymmetric_pads_dilated", 2, 4, 9, 7, 6, 0, 0, 0, 0, 1, true,
       "kernel_hw: [3, 2] pads: [1, 0, 2, 1] dilation_hw: [2, 1]"},
      {"same_padding_even_kernel_s2", 3, 5, 8, 8, 7, 0, 0, 0, 0, 1, false,
       "kernel_size: 4 stride: 2 pads: [1, 1, 2, 2]"},
  };
  cases.insert(cases.end(), own.begin(), own.end());
  // Seeded random shapes.
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    std::mt19937 rng(seed);
    auto pick = [&rng](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    ConvCase t;
    t.name = absl::StrCat("random_seed", seed);
    t.groups = std::vector<int64_t>{1, 1, 2, 3}[pick(0, 3)];
    t.c = t.groups * pick(1, 9);
    t.k = t.groups * pick(1, 9);
    t.r = std::vector<int64_t>{1, 3, 3, 5}[pick(0, 3)];
    t.stride = pick(1, 2);
    t.pad = pick(0, t.r / 2);
    t.dil = t.r > 1 && pick(0, 3) == 0 ? 2 : 1;
    const int64_t span = t.dil * (t.r - 1) + 1;
    t.h = pick(std::max<int64_t>(span - 2 * t.pad, 1), 19);
    t.w = pick(std::max<int64_t>(span - 2 * t.pad, 1), 19);
    t.batch = pick(1, 6);
    t.bias = pick(0, 1) == 1;
    cases.push_back(t);
  }
  return cases;
}

// Runs every conv2d pass of `t` on `gpu` and checks it against the reference.
void CheckConv(Backend* gpu, const ConvCase& t, double tolerance) {
  ReferenceBackend ref(DType::kF32);
  ASSERT_OK_AND_ASSIGN(const Graph g, test_util::GraphFromText(ConvSpec(t)));
  const Node& a = g.node(g.Find("conv_a"));
  const Node& b = g.node(g.Find("conv_b"));
  const Node& first = g.node(g.Find("first"));
  ASSERT_LT(a.id, b.id);
  const absl::Status prepared = gpu->Prepare(g, t.batch);
  ASSERT_TRUE(prepared.ok()) << prepared;
  const auto& [x, w, bias, dy, dx0] = test_util::ConvInputs(t, a);
  const int64_t n_in = x.size(), n_out = dy.size(), n_w = w.size();
  DeviceMemory mem(gpu);
  const float* xd = mem.Upload(x);
  const float* wd = mem.Upload(w);
  const float* bd = t.bias ? mem.Upload(bias) : nullptr;

  // Forward (and with the bias left out, where the layer has one).
  GuardedDeviceWorkspace fws(gpu, mem, gpu->WorkspaceBytes(g, a, t.batch, Pass::kForward));
  float* yd = mem.Zeros<float>(n_out);
  std::vector<float> y_ref(n_out);
  gpu->Conv2dForward(a, t.batch, xd, wd, bd, yd, fws.ws());
  ref.Conv2dForward(a, t.batch, x.data(), w.data(), t.bias ? bias.data() : nullptr, y_ref.data(), Workspace{});
  EXPECT_LT(RelError(mem.Download(yd, n_out), y_ref), tolerance) << "forward";
  EXPECT_TRUE(fws.GuardIntact()) << "forward";
  if (t.bias) {
    gpu->Conv2dForward(a, t.batch, xd, wd, nullptr, yd, fws.ws());
    ref.Conv2dForward(a, t.batch, x.data(), w.data(), nullptr, y_ref.data(), Workspace{});
    EXPECT_LT(RelError(mem.Download(yd, n_out), y_ref), tolerance) << "forward without bias";
  }

  // Backward-data: conv_a accumulates, conv_b overwrites.
  const float* dyd = mem.Upload(dy);
  for (const bool accumulate : {true, false}) {
    const Node& n = accumulate ? a : b;
    GuardedDeviceWorkspace ws(gpu, mem, gpu->WorkspaceBytes(g, n, t.batch, Pass::kBackward));
    float* dxd = mem.Upload(dx0);
    std::vector<float> dx_ref = dx0;
    gpu->Conv2dBackwardData(n, t.batch, dyd, wd, dxd, accumulate, ws.ws());
    ref.Conv2dBackwardData(n, t.batch, dy.data(), w.data(), dx_ref.data(), accumulate, Workspace{});
    EXPECT_LT(RelError(mem.Download(dxd, n_in), dx_ref), tolerance) << "backward-data, accumulate " << accumulate;
    EXPECT_TRUE(ws.GuardIntact()) << "backward-data, accumulate " << accumulate;
  }

  // Backward-weights inside conv_a's and the first layer's backward workspace
  // (the latter has no backward-data part); dw and db are overwritten.
  for (const Node* n : {&a, &first}) {
    GuardedDeviceWorkspace ws(gpu, mem, gpu->WorkspaceBytes(g, *n, t.batch, Pass::kBackward));
    float* dwd = mem.Upload(std::vector<float>(n_w, 7.0f));
    float* dbd = t.bias ? mem.Upload(std::vector<float>(t.k, 7.0f)) : nullptr;
    std::vector<float> dw_ref(n_w), db_ref(t.k);
    gpu->Conv2dBackwardWeights(*n, t.batch, xd, dyd, dwd, dbd, ws.ws());
    ref.Conv2dBackwardWeights(*n, t.batch, x.data(), dy.data(), dw_ref.data(), t.bias ? db_ref.data() : nullptr,
                              Workspace{});
    EXPECT_LT(RelError(mem.Download(dwd, n_w), dw_ref), tolerance) << "backward-weights of " << n->name;
    if (t.bias) {
      EXPECT_LT(RelError(mem.Download(dbd, t.k), db_ref), tolerance) << "bias gradient of " << n->name;
    }
    EXPECT_TRUE(ws.GuardIntact()) << "backward-weights of " << n->name;
  }
}

class ConvTest : public OnGpu<::testing::TestWithParam<ConvCase>> {};

TEST_P(ConvTest, MatchesReferenceInsideItsPlannedWorkspace) { CheckConv(gpu_, GetParam(), kMatmulTolerance); }

INSTANTIATE_TEST_SUITE_P(Shapes, ConvTest, ::testing::ValuesIn(ConvCases()),
                         [](const ::testing::TestParamInfo<ConvCase>& info) { return info.param.name; });

// TF32 tensor-core math, when a job asks for it: close, not fp32-close.
TEST_F(GpuTest, Tf32ConvolutionIsCloseToReference) {
  absl::StatusOr<Backend*> tf32 = SharedGpu(/*tf32=*/true);
  ASSERT_TRUE(tf32.ok()) << tf32.status();
  CheckConv(*tf32, ConvCases()[0], kTf32Tolerance);
  CheckConv(*tf32, ConvCases()[2], kTf32Tolerance);
  const absl::Status error = (*tf32)->ConsumeError();
  EXPECT_TRUE(error.ok()) << error;
}

// ------------------------------------------------------------ linear

using test_util::LinearCase;
using test_util::LinearSpec;

// The rows both backends run, a batch of one, and seeded random shapes.
std::vector<LinearCase> LinearCases() {
  std::vector<LinearCase> cases = test_util::CommonLinearCases();
  cases.push_back({"batch_one", 1, {17}, 3, false});
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    std::mt19937 rng(100 + seed);
    auto pick = [&rng](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    LinearCase t;
    t.name = absl::StrCat("random_seed", seed);
    t.batch = pick(1, 40);
    t.in = pick(0, 1) == 1 ? Dims{pick(1, 9), pick(1, 5), pick(1, 5)} : Dims{pick(1, 500)};
    t.out = pick(1, 50);
    t.bias = pick(0, 1) == 1;
    cases.push_back(t);
  }
  return cases;
}

class LinearTest : public OnGpu<::testing::TestWithParam<LinearCase>> {};

TEST_P(LinearTest, MatchesReferenceInsideItsPlannedWorkspace) {
  const LinearCase& t = GetParam();
  ASSERT_OK_AND_ASSIGN(const Graph g, test_util::GraphFromText(LinearSpec(t)));
  const Node& a = g.node(g.Find("fc_a"));
  const Node& b = g.node(g.Find("fc_b"));
  ASSERT_LT(a.id, b.id);
  const absl::Status prepared = gpu_->Prepare(g, t.batch);
  ASSERT_TRUE(prepared.ok()) << prepared;
  const int64_t f = planner::NumElements(t.in);
  const auto& [x, w, bias, dy, dx0] = test_util::LinearInputs(t);
  DeviceMemory mem(gpu_);
  const float* xd = mem.Upload(x);
  const float* wd = mem.Upload(w);
  const float* bd = t.bias ? mem.Upload(bias) : nullptr;

  GuardedDeviceWorkspace fws(gpu_, mem, gpu_->WorkspaceBytes(g, a, t.batch, Pass::kForward));
  float* yd = mem.Zeros<float>(t.batch * t.out);
  std::vector<float> y_ref(t.batch * t.out);
  gpu_->LinearForward(a, t.batch, xd, wd, bd, yd, fws.ws());
  ref_.LinearForward(a, t.batch, x.data(), w.data(), t.bias ? bias.data() : nullptr, y_ref.data(), Workspace{});
  EXPECT_LT(RelError(mem.Download(yd, t.batch * t.out), y_ref), kMatmulTolerance) << "forward";
  EXPECT_TRUE(fws.GuardIntact()) << "forward";

  const float* dyd = mem.Upload(dy);
  for (const bool accumulate : {true, false}) {
    const Node& n = accumulate ? a : b;
    GuardedDeviceWorkspace ws(gpu_, mem, gpu_->WorkspaceBytes(g, n, t.batch, Pass::kBackward));
    float* dxd = mem.Upload(dx0);
    std::vector<float> dx_ref = dx0;
    gpu_->LinearBackwardData(n, t.batch, dyd, wd, dxd, accumulate, ws.ws());
    ref_.LinearBackwardData(n, t.batch, dy.data(), w.data(), dx_ref.data(), accumulate, Workspace{});
    EXPECT_LT(RelError(mem.Download(dxd, t.batch * f), dx_ref), kMatmulTolerance) << "accumulate " << accumulate;
    float* dwd = mem.Upload(std::vector<float>(t.out * f, 7.0f));
    float* dbd = t.bias ? mem.Upload(std::vector<float>(t.out, 7.0f)) : nullptr;
    std::vector<float> dw_ref(t.out * f), db_ref(t.out);
    gpu_->LinearBackwardWeights(n, t.batch, xd, dyd, dwd, dbd, ws.ws());
    ref_.LinearBackwardWeights(n, t.batch, x.data(), dy.data(), dw_ref.data(), t.bias ? db_ref.data() : nullptr,
                               Workspace{});
    EXPECT_LT(RelError(mem.Download(dwd, t.out * f), dw_ref), kMatmulTolerance) << "weights";
    if (t.bias) {
      EXPECT_LT(RelError(mem.Download(dbd, t.out), db_ref), kMatmulTolerance) << "bias";
    }
    EXPECT_TRUE(ws.GuardIntact()) << "backward, accumulate " << accumulate;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearTest, ::testing::ValuesIn(LinearCases()),
                         [](const ::testing::TestParamInfo<LinearCase>& info) { return info.param.name; });

// ------------------------------------------------------------ batch_norm

using test_util::BnCase;

// The rows both backends run, the CUDA backend's own, and seeded random
// shapes.
std::vector<BnCase> BnCases() {
  std::vector<BnCase> cases = test_util::CommonBnCases();
  cases.push_back({"large_64x32x32", 32, {64, 32, 32}});
  cases.push_back({"sequence_300x7", 5, {300, 7}});
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    std::mt19937 rng(200 + seed);
    auto pick = [&rng](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    cases.push_back({absl::StrCat("random_seed", seed), pick(1, 9), {pick(1, 70), pick(1, 12), pick(1, 12)}});
  }
  return cases;
}

class BatchNormTest : public OnGpu<::testing::TestWithParam<BnCase>> {};

TEST_P(BatchNormTest, ForwardModesAndBackwardMatchReference) {
  const BnCase& t = GetParam();
  const int64_t c = t.dims[0], count = t.batch * planner::NumElements(t.dims);
  const auto& [n, x, gamma, beta, rm0, rv0, dy, dx0] = test_util::BatchNormInputs(t);
  DeviceMemory mem(gpu_);
  const float* xd = mem.Upload(x);
  const float* gd = mem.Upload(gamma);
  const float* bd = mem.Upload(beta);
  for (BatchNormMode mode : {BatchNormMode::kTrain, BatchNormMode::kTrainNoUpdate, BatchNormMode::kInference}) {
    SCOPED_TRACE(::testing::Message() << "mode " << static_cast<int>(mode));
    const std::vector<float> stats0(2 * c, -1.0f);
    float* yd = mem.Zeros<float>(count);
    float* sd = mem.Upload(stats0);
    float* rmd = mem.Upload(rm0);
    float* rvd = mem.Upload(rv0);
    std::vector<float> y_ref(count), stats_ref = stats0, rm_ref = rm0, rv_ref = rv0;
    gpu_->BatchNormForward(n, t.batch, mode, xd, gd, bd, rmd, rvd, yd, sd);
    ref_.BatchNormForward(n, t.batch, mode, x.data(), gamma.data(), beta.data(), rm_ref.data(), rv_ref.data(),
                          y_ref.data(), stats_ref.data());
    const std::vector<float> y = mem.Download(yd, count);
    EXPECT_LT(RelError(y, y_ref), 1e-5);
    EXPECT_LT(RelError(mem.Download(sd, 2 * c), stats_ref), 1e-5);  // untouched in inference
    EXPECT_LT(RelError(mem.Download(rmd, c), rm_ref), 1e-6);
    EXPECT_LT(RelError(mem.Download(rvd, c), rv_ref), 1e-6);
    // In place: y == x gives the same values.
    float* inplace = mem.Upload(x);
    mem.Set(rmd, rm0);
    mem.Set(rvd, rv0);
    gpu_->BatchNormForward(n, t.batch, mode, inplace, gd, bd, rmd, rvd, inplace, sd);
    EXPECT_EQ(FirstBitDifference(mem.Download(inplace, count), y), -1) << "in place";
  }

  // Backward from the reference's statistics.
  std::vector<float> stats(2 * c), y(count), rm = rm0, rv = rv0;
  ref_.BatchNormForward(n, t.batch, BatchNormMode::kTrainNoUpdate, x.data(), gamma.data(), beta.data(), rm.data(),
                        rv.data(), y.data(), stats.data());
  const float* sd = mem.Upload(stats);
  const float* dyd = mem.Upload(dy);
  for (const bool accumulate : {false, true}) {
    SCOPED_TRACE(::testing::Message() << "accumulate " << accumulate);
    float* dxd = mem.Upload(dx0);
    float* dgd = mem.Zeros<float>(c);
    float* dbd = mem.Zeros<float>(c);
    std::vector<float> dx_ref = dx0, dg_ref(c), db_ref(c);
    gpu_->BatchNormBackward(n, t.batch, dyd, xd, gd, sd, dxd, accumulate, dgd, dbd);
    ref_.BatchNormBackward(n, t.batch, dy.data(), x.data(), gamma.data(), stats.data(), dx_ref.data(), accumulate,
                           dg_ref.data(), db_ref.data());
    const std::vector<float> dx = mem.Download(dxd, count);
    EXPECT_LT(RelError(dx, dx_ref), 1e-5);
    EXPECT_LT(RelError(mem.Download(dgd, c), dg_ref), 1e-5);
    EXPECT_LT(RelError(mem.Download(dbd, c), db_ref), 1e-5);
    if (!accumulate) {
      float* inplace = mem.Upload(dy);  // dx == dy
      gpu_->BatchNormBackward(n, t.batch, inplace, xd, gd, sd, inplace, false, dgd, dbd);
      EXPECT_EQ(FirstBitDifference(mem.Download(inplace, count), dx), -1) << "in place";
      // The model input's BN: dx = null, only dgamma and dbeta.
      mem.Set(dgd, std::vector<float>(c, 9.0f));
      mem.Set(dbd, std::vector<float>(c, 9.0f));
      gpu_->BatchNormBackward(n, t.batch, dyd, xd, gd, sd, nullptr, false, dgd, dbd);
      EXPECT_LT(RelError(mem.Download(dgd, c), dg_ref), 1e-5) << "dx = null";
      EXPECT_LT(RelError(mem.Download(dbd, c), db_ref), 1e-5) << "dx = null";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormTest, ::testing::ValuesIn(BnCases()),
                         [](const ::testing::TestParamInfo<BnCase>& info) { return info.param.name; });

// ------------------------------------------------------------ quantizer

using test_util::QuantCase;

std::string QuantName(const ::testing::TestParamInfo<QuantCase>& info) {
  return absl::StrCat(test_util::QuantCaseName(info.param), "_seed", info.param.seed);
}

std::vector<QuantCase> QuantCases() {
  std::vector<QuantCase> cases;
  for (int bits : {8, 4, 2, planner::kPassThroughBits}) {
    cases.push_back({bits, 4, {16, 8, 8}, 1});
    cases.push_back({bits, 3, {5, 3, 3}, 2});  // odd channels, 135 elements: a partial last byte
    cases.push_back({bits, 2, {3, 7, 5}, 3});  // 210 elements
    cases.push_back({bits, 9, {7}, 4});        // (N,F)
    cases.push_back({bits, 16, {64, 16, 16}, 5});
    cases.push_back({bits, 1, {1, 1, 1}, 6});  // one element
  }
  return cases;
}

class QuantTest : public OnGpu<::testing::TestWithParam<QuantCase>> {};

TEST_P(QuantTest, CodesAndMasksAreIdenticalToReference) {
  const QuantCase& t = GetParam();
  const Node bn = MakeNode(OpKind::kBatchNorm, {t.dims}, t.dims);
  const int64_t c = t.dims[0], count = t.batch * planner::NumElements(t.dims);
  // γ, β and y at the code's edges (seeds 10·seed + 1, 2, 3).
  const auto& [x, gamma, beta, y, stats] = test_util::QuantizerEdgeInputs(bn, t.batch, t.bits, t.seed);
  const bool pass = t.bits == planner::kPassThroughBits;
  const int64_t code_bytes = pass ? count * 4 : (count * t.bits + 7) / 8;
  DeviceMemory mem(gpu_);
  const float* xd = mem.Upload(x);
  const float* yd = mem.Upload(y);
  const float* gd = mem.Upload(gamma);
  const float* bd = mem.Upload(beta);
  const float* sd = mem.Upload(stats);
  uint8_t* coded = mem.Upload(std::vector<uint8_t>(code_bytes, 0xcd));
  std::vector<uint8_t> code_ref(code_bytes, 0xcd);
  gpu_->QuantizeBnRelu(bn, t.batch, t.bits, xd, yd, gd, bd, sd, coded);
  ref_.QuantizeBnRelu(bn, t.batch, t.bits, x.data(), y.data(), gamma.data(), beta.data(), stats.data(),
                      code_ref.data());
  const std::vector<uint8_t> code = mem.Download(coded, code_bytes);
  ASSERT_EQ(FirstBitDifference(code, code_ref), -1) << "codes differ";

  // Restored relu output: the mask (which elements are 0) exact, values to
  // float rounding.
  float* zd = mem.Zeros<float>(count);
  std::vector<float> z_ref(count);
  gpu_->RestoreRelu(bn, t.batch, t.bits, coded, gd, bd, zd);
  ref_.RestoreRelu(bn, t.batch, t.bits, code_ref.data(), gamma.data(), beta.data(), z_ref.data());
  const std::vector<float> z = mem.Download(zd, count);
  EXPECT_EQ(FirstZeroPatternDifference(z, z_ref), -1) << "restored ReLU mask";
  EXPECT_LT(RelError(z, z_ref), 1e-6);
  if (t.bits == 2) {
    // The Lloyd-Max levels ŵ come from the device's erfc and exp, which may
    // differ from the CPU's libm by a few ulp (engine/quant.h): each
    // z' = g·(ŵ + b) within 8 ulp of ŵ and of b.
    int64_t off = 0;
    for (int64_t i = 0; i < count; ++i) {
      const quant::Channel<float> ch = quant::MakeChannel<float>(2, gamma[i % c], beta[i % c]);
      const int q = quant::GetCode(code_ref.data(), 2, i);
      const double tol = 8.0 * std::numeric_limits<float>::epsilon() * ch.g *
                         (std::fabs(ch.Level(q)) + std::fabs(ch.b));
      if (std::fabs(static_cast<double>(z[i]) - z_ref[i]) > tol && ++off <= 5) {
        ADD_FAILURE() << "z' at element " << i << ": " << z[i] << " vs " << z_ref[i] << " (tolerance " << tol << ")";
      }
    }
    EXPECT_EQ(off, 0);
  }

  const std::vector<float> dz = Random(count, t.seed * 10 + 4), d0 = Random(count, t.seed * 10 + 5);
  const float* dzd = mem.Upload(dz);
  for (const bool accumulate : {false, true}) {
    SCOPED_TRACE(::testing::Message() << "accumulate " << accumulate);
    // ReLU backward from the codes: dz * mask, exact.
    float* dd = mem.Upload(d0);
    std::vector<float> d_ref = d0;
    gpu_->ReluBackwardFromCode(bn, t.batch, t.bits, dzd, coded, gd, bd, dd, accumulate);
    ref_.ReluBackwardFromCode(bn, t.batch, t.bits, dz.data(), code_ref.data(), gamma.data(), beta.data(),
                              d_ref.data(), accumulate);
    const std::vector<float> d = mem.Download(dd, count);
    EXPECT_EQ(FirstBitDifference(d, d_ref), -1) << "ReLU backward from codes";
    if (!accumulate) {
      float* inplace = mem.Upload(dz);  // dy == dz
      gpu_->ReluBackwardFromCode(bn, t.batch, t.bits, inplace, coded, gd, bd, inplace, false);
      EXPECT_EQ(FirstBitDifference(mem.Download(inplace, count), d), -1) << "in place";
    }

    // BN backward with x̂' from the codes.
    float* dxd = mem.Upload(d0);
    float* dgd = mem.Zeros<float>(c);
    float* dbd = mem.Zeros<float>(c);
    std::vector<float> dx_ref = d0, dg_ref(c), db_ref(c);
    gpu_->BatchNormBackwardFromCode(bn, t.batch, t.bits, dzd, coded, gd, bd, sd, dxd, accumulate, dgd, dbd);
    ref_.BatchNormBackwardFromCode(bn, t.batch, t.bits, dz.data(), code_ref.data(), gamma.data(), beta.data(),
                                   stats.data(), dx_ref.data(), accumulate, dg_ref.data(), db_ref.data());
    const std::vector<float> dx = mem.Download(dxd, count);
    EXPECT_LT(RelError(dx, dx_ref), 1e-5) << "BN backward from codes";
    EXPECT_LT(RelError(mem.Download(dgd, c), dg_ref), 1e-5);
    EXPECT_LT(RelError(mem.Download(dbd, c), db_ref), 1e-5);
    if (!accumulate) {
      float* inplace = mem.Upload(dz);  // dx == dy
      gpu_->BatchNormBackwardFromCode(bn, t.batch, t.bits, inplace, coded, gd, bd, sd, inplace, false, dgd, dbd);
      EXPECT_EQ(FirstBitDifference(mem.Download(inplace, count), dx), -1) << "in place";
      mem.Set(dgd, std::vector<float>(c, 9.0f));
      gpu_->BatchNormBackwardFromCode(bn, t.batch, t.bits, dzd, coded, gd, bd, sd, nullptr, false, dgd, dbd);
      EXPECT_LT(RelError(mem.Download(dgd, c), dg_ref), 1e-5) << "dx = null";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Bits, QuantTest, ::testing::ValuesIn(QuantCases()), QuantName);

}  // namespace
}  // namespace slimtrain::engine::gpu_test
