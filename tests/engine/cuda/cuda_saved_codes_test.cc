// The CUDA backend's codes of the other saved tensors (engine/quant.h's
// "saved-tensor codes") against the reference backend, on the GPU; skipped
// without one (cuda_test_util.h). Over saved_codes_test_util.h's table of
// coding × bits × size:
//   - every byte of the code equals the reference's, and the decoded floats
//     equal the reference's bit for bit (a NaN, from NaN or ±inf values,
//     only has to be a NaN: the GPU's NaN payload differs from x86's) — at
//     K = 2 too: kBnInput's and kLnInput's Lloyd-Max levels are constants,
//     no erfc or exp (unlike the BN→ReLU code's, cuda_ops_test.cc);
//   - nothing is written past planner::CodeBytes or past the decoded tensor
//     (canaries), and every byte of the code is written (two prefills);
//   - the same with x and the code off their usual alignment (x by one
//     float, the code by 4 bytes: the kernels' scalar paths);
//   - pass-through copies the values and decodes them exactly;
//   - an invalid spec (kLnInput without whole rows or stats) is an error.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/engine/saved_codes_test_util.h"

namespace slimtrain::engine::code_test {
namespace {

using gpu_test::DeviceMemory;
using gpu_test::OnGpu;

// Index of the first element whose bits differ where not both are NaN, or -1.
int64_t FirstDifferenceButNaN(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return static_cast<int64_t>(i);
  }
  return -1;
}

int64_t FirstByteDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  }
  return -1;
}

// Encodes and decodes on `b` (host memory for the reference, device memory
// for the GPU) with x `x_shift` floats and the code `code_shift` bytes past
// an allocation's start; the code buffer is prefilled with `prefill`.
struct Placement {
  int64_t x_shift = 0, code_shift = 0;
};

CodeRun<float> RunOnGpu(Backend* gpu, const quant::CodeSpec& s, const std::vector<float>& x,
                        const std::vector<float>& stats, Placement at, uint8_t prefill) {
  DeviceMemory mem(gpu);
  const int64_t bytes = CodeBytesOf<float>(s), n = s.count;
  std::vector<float> shifted(static_cast<size_t>(at.x_shift), 0.0f);
  shifted.insert(shifted.end(), x.begin(), x.end());
  const float* xd = mem.Upload(shifted) + at.x_shift;
  const float* statsd = stats.empty() ? nullptr : mem.Upload(stats);
  uint8_t* buffer = static_cast<uint8_t*>(mem.Alloc(at.code_shift + bytes + kCanaryBytes));
  gpu->Fill(buffer, prefill, at.code_shift + bytes + kCanaryBytes);
  uint8_t* code = buffer + at.code_shift;
  gpu->EncodeSaved(s, xd, statsd, code);
  const std::vector<uint8_t> all = mem.Download(buffer, at.code_shift + bytes + kCanaryBytes);
  CodeRun<float> run;
  run.code.assign(all.begin() + at.code_shift, all.begin() + at.code_shift + bytes);
  for (int64_t j = 0; j < kCanaryBytes; ++j)
    run.canary_intact = run.canary_intact && all[at.code_shift + bytes + j] == prefill;
  const float sentinel = -1234.5f;
  float* yd = mem.Upload(std::vector<float>(static_cast<size_t>(at.x_shift + n + 16), sentinel)) + at.x_shift;
  gpu->DecodeSaved(s, code, statsd, yd);
  std::vector<float> y = mem.Download(yd, n + 16);
  for (int64_t j = n; j < n + 16; ++j) run.canary_intact = run.canary_intact && y[j] == sentinel;
  y.resize(static_cast<size_t>(n));
  run.decoded = std::move(y);
  return run;
}

CodeRun<float> RunOnHost(Backend& b, const quant::CodeSpec& s, const std::vector<float>& x,
                         const std::vector<float>& stats) {
  CodeRun<float> run;
  run.code.assign(static_cast<size_t>(CodeBytesOf<float>(s)), 0);
  b.EncodeSaved(s, x.data(), stats.data(), run.code.data());
  run.decoded.assign(static_cast<size_t>(s.count), 0.0f);
  b.DecodeSaved(s, run.code.data(), stats.data(), run.decoded.data());
  return run;
}

class GpuCodeTest : public OnGpu<::testing::TestWithParam<CodeCase>> {};

TEST_P(GpuCodeTest, CodesAndDecodedValuesAreTheReferences) {
  const CodeCase& c = GetParam();
  const std::vector<float> x = CodeData<float>(c), stats = CodeStats<float>(c);
  const CodeRun<float> want = RunOnHost(ref_, c.spec, x, stats);
  for (const Placement at : {Placement{0, 0}, Placement{1, 4}}) {
    SCOPED_TRACE(::testing::Message() << "x shifted " << at.x_shift << " floats, code " << at.code_shift << " bytes");
    const CodeRun<float> got = RunOnGpu(gpu_, c.spec, x, stats, at, 0xA5);
    ASSERT_TRUE(gpu_->ConsumeError().ok());
    EXPECT_TRUE(got.canary_intact) << "wrote past CodeBytes or past the decoded tensor";
    EXPECT_EQ(FirstByteDifference(got.code, want.code), -1);
    EXPECT_EQ(FirstDifferenceButNaN(got.decoded, want.decoded), -1);
    EXPECT_EQ(FirstByteDifference(RunOnGpu(gpu_, c.spec, x, stats, at, 0x00).code, got.code), -1)
        << "a byte of the code depends on the buffer's old contents";
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GpuCodeTest, ::testing::ValuesIn(CodeCases()),
                         [](const ::testing::TestParamInfo<CodeCase>& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(NonFinite, GpuCodeTest, ::testing::ValuesIn(NonFiniteCases()),
                         [](const ::testing::TestParamInfo<CodeCase>& info) { return info.param.name; });

class GpuPassThroughTest : public OnGpu<::testing::Test> {};

TEST_F(GpuPassThroughTest, CopiesTheValuesAndDecodesExactly) {
  for (const Coding coding :
       {Coding::kBnInput, Coding::kLnInput, Coding::kRelu, Coding::kBounded, Coding::kRange, Coding::kGroup}) {
    SCOPED_TRACE(planner::CodingName(coding));
    const CodeCase c{"pass", Spec(coding, planner::kPassThroughBits, 1000, 3, 0.0, 6.0)};
    std::vector<float> x = CodeData<float>(c);
    x[0] = -0.0f;
    const std::vector<float> stats = CodeStats<float>(c);
    const CodeRun<float> got = RunOnGpu(gpu_, c.spec, x, stats, Placement{}, 0xA5);
    EXPECT_TRUE(got.canary_intact);
    ASSERT_EQ(got.code.size(), x.size() * sizeof(float));
    EXPECT_EQ(std::memcmp(got.code.data(), x.data(), got.code.size()), 0);
    EXPECT_EQ(FirstDifferenceButNaN(got.decoded, x), -1);
  }
}

// A spec no coding admits is an error the backend reports, not a crash; so
// is kBnInput or kLnInput without stats.
TEST_F(GpuPassThroughTest, AnInvalidSpecIsAnError) {
  DeviceMemory mem(gpu_);
  float* x = mem.Zeros<float>(256);
  float* stats = mem.Zeros<float>(256);
  uint8_t* code = static_cast<uint8_t*>(mem.Alloc(1024));
  gpu_->Fill(code, 0, 1024);
  gpu_->EncodeSaved(Spec(Coding::kBounded, 4, 256, 1, 1.0, 1.0), x, nullptr, code);  // lo == hi
  EXPECT_FALSE(gpu_->ConsumeError().ok());
  gpu_->EncodeSaved(Spec(Coding::kLnInput, 4, 256, 3), x, stats, code);  // 256 is not whole rows of 3
  EXPECT_FALSE(gpu_->ConsumeError().ok());
  gpu_->DecodeSaved(Spec(Coding::kLnInput, 4, 255, 3), code, stats, x);
  EXPECT_TRUE(gpu_->ConsumeError().ok()) << "a valid spec";
  gpu_->EncodeSaved(Spec(Coding::kLnInput, 4, 255, 3), x, nullptr, code);  // no stats
  EXPECT_FALSE(gpu_->ConsumeError().ok());
}

}  // namespace
}  // namespace slimtrain::engine::code_test
