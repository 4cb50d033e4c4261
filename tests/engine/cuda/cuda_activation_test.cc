// The CUDA backend's pointwise activations, softmaxes, layer_norm,
// group_norm and fused attention against the reference backend (float32),
// on the GPU, on tests/testing/op_cases.h's rows; skipped without one (see
// cuda_test_util.h). Both evaluate engine/pointwise_math.h (softmax: each
// line max-shifted and summed) in double and round once, so they agree to
// 1e-6 of the scale (the GPU's exp and erf differ from glibc's in the last
// bits of a double). In place (y == x, dx == dy) must equal out of place
// bit for bit.
#include <string>

#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/engine/reference_test_util.h"
#include "tests/testing/op_cases.h"

namespace slimtrain::engine::gpu_test {
namespace {

using test_util::OpLayer;
using test_util::OpNode;

constexpr double kTolerance = 1e-6;

TEST_F(GpuTest, PointwiseActivationsMatchReference) {
  for (const test_util::PointwiseCase& c : test_util::PointwiseCases()) {
    for (const int64_t count : {int64_t{37}, (int64_t{1} << 20) + 3}) {
      SCOPED_TRACE(::testing::Message() << c.name << " count " << count);
      const Node n = OpNode({count}, OpLayer(c.op));
      ASSERT_FALSE(n.name.empty());
      std::vector<float> x = Random(count, 51, -12.0f, 12.0f);
      x[0] = 0.0f;
      x[1] = 3.0f;
      x[2] = -3.0f;
      DeviceMemory mem(gpu_);
      const float* xd = mem.Upload(x);
      float* yd = mem.Zeros<float>(count);
      std::vector<float> y_ref(count);
      gpu_->PointwiseForward(n, count, xd, yd);
      ref_.PointwiseForward(n, count, x.data(), y_ref.data());
      const std::vector<float> y = mem.Download(yd, count);
      EXPECT_LE(RelError(y, y_ref), kTolerance);
      float* inplace = mem.Upload(x);
      gpu_->PointwiseForward(n, count, inplace, inplace);
      EXPECT_EQ(FirstBitDifference(mem.Download(inplace, count), y), -1) << "in place";

      const std::vector<float>& saved = planner::BackwardReadsOutput(n) ? y_ref : x;
      const float* savedd = mem.Upload(saved);
      const std::vector<float> dy = Random(count, 52), dx0 = Random(count, 53);
      const float* dyd = mem.Upload(dy);
      std::vector<float> dx_over;
      for (const bool acc : {false, true}) {
        float* dxd = mem.Upload(dx0);
        std::vector<float> dx_ref = dx0;
        gpu_->PointwiseBackward(n, count, savedd, dyd, dxd, acc);
        ref_.PointwiseBackward(n, count, saved.data(), dy.data(), dx_ref.data(), acc);
        const std::vector<float> dx = mem.Download(dxd, count);
        EXPECT_LE(RelError(dx, dx_ref), kTolerance) << "accumulate " << acc;
        if (!acc) dx_over = dx;
      }
      float* dinplace = mem.Upload(dy);
      gpu_->PointwiseBackward(n, count, savedd, dinplace, dinplace, false);
      EXPECT_EQ(FirstBitDifference(mem.Download(dinplace, count), dx_over), -1) << "backward in place";
    }
  }
}

TEST_F(GpuTest, SoftmaxAndLogSoftmaxOnEveryAxisMatchReference) {
  for (const test_util::ShapedOpCase& c : test_util::SoftmaxCases()) {
    SCOPED_TRACE(c.name);
    const Node n = OpNode(c.dims, OpLayer(c.op));
    ASSERT_FALSE(n.name.empty());
    const int64_t count = c.batch * planner::NumElements(n.out);
    const std::vector<float> x = Random(count, 61, -8.0f, 8.0f);
    DeviceMemory mem(gpu_);
    const float* xd = mem.Upload(x);
    float* yd = mem.Zeros<float>(count);
    std::vector<float> y_ref(count);
    gpu_->SoftmaxForward(n, c.batch, xd, yd);
    ref_.SoftmaxForward(n, c.batch, x.data(), y_ref.data());
    const std::vector<float> y = mem.Download(yd, count);
    EXPECT_LE(RelError(y, y_ref), kTolerance);
    float* inplace = mem.Upload(x);
    gpu_->SoftmaxForward(n, c.batch, inplace, inplace);
    EXPECT_EQ(FirstBitDifference(mem.Download(inplace, count), y), -1) << "in place";
    const std::vector<float> dy = Random(count, 62), dx0 = Random(count, 63);
    const float* y_refd = mem.Upload(y_ref);
    const float* dyd = mem.Upload(dy);
    for (const bool acc : {false, true}) {
      float* dxd = mem.Upload(dx0);
      std::vector<float> dx_ref = dx0;
      gpu_->SoftmaxBackward(n, c.batch, y_refd, dyd, dxd, acc);
      ref_.SoftmaxBackward(n, c.batch, y_ref.data(), dy.data(), dx_ref.data(), acc);
      EXPECT_LE(RelError(mem.Download(dxd, count), dx_ref), kTolerance) << "accumulate " << acc;
    }
  }
}

// layer_norm: the same double arithmetic in the same order (per row, per
// column for dγ and dβ): equal to the reference to 1e-7 of the scale.
TEST_F(GpuTest, LayerNormMatchesReference) {
  for (const test_util::ShapedOpCase& c : test_util::LayerNormCases()) {
    SCOPED_TRACE(c.name);
    const Node n = OpNode(c.dims, OpLayer(c.op));
    ASSERT_FALSE(n.name.empty());
    const int64_t count = c.batch * planner::NumElements(n.out), size = n.norm_row_size;
    const int64_t stats_size = 2 * c.batch * n.norm_rows;
    const std::vector<float> x = Random(count, 91, -3.0f, 4.0f), gamma = Random(size, 92, 0.5f, 1.5f),
                             beta = Random(size, 93), dy = Random(count, 94), dx0 = Random(count, 95);
    DeviceMemory mem(gpu_);
    const float* xd = mem.Upload(x);
    const float* gd = n.affine ? mem.Upload(gamma) : nullptr;
    const float* bd = n.bias ? mem.Upload(beta) : nullptr;
    float* yd = mem.Zeros<float>(count);
    float* sd = mem.Zeros<float>(stats_size);
    std::vector<float> y_ref(count), s_ref(stats_size);
    gpu_->LayerNormForward(n, c.batch, xd, gd, bd, yd, sd);
    ref_.LayerNormForward(n, c.batch, x.data(), n.affine ? gamma.data() : nullptr, n.bias ? beta.data() : nullptr,
                          y_ref.data(), s_ref.data());
    EXPECT_LE(RelError(mem.Download(yd, count), y_ref), 1e-7);
    EXPECT_LE(RelError(mem.Download(sd, stats_size), s_ref), 1e-7);
    const float* dyd = mem.Upload(dy);
    const float* s_refd = mem.Upload(s_ref);
    for (const bool acc : {false, true}) {
      float* dxd = mem.Upload(dx0);
      float* dgd = mem.Zeros<float>(size);
      float* dbd = mem.Zeros<float>(size);
      std::vector<float> dx_ref = dx0, dg_ref(size), db_ref(size);
      gpu_->LayerNormBackward(n, c.batch, dyd, xd, gd, s_refd, dxd, acc, n.affine ? dgd : nullptr,
                              n.bias ? dbd : nullptr);
      ref_.LayerNormBackward(n, c.batch, dy.data(), x.data(), n.affine ? gamma.data() : nullptr, s_ref.data(),
                             dx_ref.data(), acc, n.affine ? dg_ref.data() : nullptr,
                             n.bias ? db_ref.data() : nullptr);
      EXPECT_LE(RelError(mem.Download(dxd, count), dx_ref), 1e-7) << "accumulate " << acc;
      if (n.affine) {
        EXPECT_LE(RelError(mem.Download(dgd, size), dg_ref), 1e-7);
      }
      if (n.bias) {
        EXPECT_LE(RelError(mem.Download(dbd, size), db_ref), 1e-7);
      }
    }
  }
}

// group_norm: engine/norm_math.h's functions on the device: equal to the
// reference to 1e-7 of the scale.
TEST_F(GpuTest, GroupNormMatchesReference) {
  for (const test_util::ShapedOpCase& c : test_util::GroupNormCases()) {
    SCOPED_TRACE(c.name);
    const Node n = OpNode(c.dims, OpLayer(c.op));
    ASSERT_FALSE(n.name.empty());
    const int64_t count = c.batch * planner::NumElements(n.out), ch = n.out[0], stats_size = 2 * c.batch * n.groups_norm;
    const std::vector<float> x = Random(count, 141, -3.0f, 4.0f), gamma = Random(ch, 142, 0.5f, 1.5f),
                             beta = Random(ch, 143), dy = Random(count, 144);
    DeviceMemory mem(gpu_);
    const float* xd = mem.Upload(x);
    const float* gd = n.affine ? mem.Upload(gamma) : nullptr;
    const float* bd = n.affine ? mem.Upload(beta) : nullptr;  // group_norm has β whenever it has γ
    float* yd = mem.Zeros<float>(count);
    float* sd = mem.Zeros<float>(stats_size);
    std::vector<float> y_ref(count), s_ref(stats_size);
    gpu_->GroupNormForward(n, c.batch, xd, gd, bd, yd, sd);
    ref_.GroupNormForward(n, c.batch, x.data(), n.affine ? gamma.data() : nullptr, n.affine ? beta.data() : nullptr,
                          y_ref.data(), s_ref.data());
    EXPECT_LE(RelError(mem.Download(yd, count), y_ref), 1e-7);
    float* dxd = mem.Zeros<float>(count);
    float* dgd = mem.Zeros<float>(ch);
    float* dbd = mem.Zeros<float>(ch);
    std::vector<float> dx_ref(count), dg_ref(ch), db_ref(ch);
    gpu_->GroupNormBackward(n, c.batch, mem.Upload(dy), xd, gd, mem.Upload(s_ref), dxd, false,
                            n.affine ? dgd : nullptr, n.affine ? dbd : nullptr);
    ref_.GroupNormBackward(n, c.batch, dy.data(), x.data(), n.affine ? gamma.data() : nullptr, s_ref.data(),
                           dx_ref.data(), false, n.affine ? dg_ref.data() : nullptr,
                           n.affine ? db_ref.data() : nullptr);
    EXPECT_LE(RelError(mem.Download(dxd, count), dx_ref), 1e-7);
    if (n.affine) {
      EXPECT_LE(RelError(mem.Download(dgd, ch), dg_ref), 1e-7);
      EXPECT_LE(RelError(mem.Download(dbd, ch), db_ref), 1e-7);
    }
  }
}

// Fused attention: the reference's double arithmetic per query (and per
// key for dk, dv): within 1e-6 of the scale; causal, cross-attention.
TEST_F(GpuTest, AttentionMatchesReference) {
  for (const test_util::AttentionCase& c : test_util::AttentionCases()) {
    const Node n = OpNode(c.dims, c.layers);
    ASSERT_FALSE(n.name.empty());
    const int64_t b = c.batch, count = b * planner::NumElements(n.out), lse_size = b * n.heads * n.out[0];
    DeviceMemory mem(gpu_);
    std::vector<std::vector<float>> in;
    std::vector<const float*> ind;
    for (int i = 0; i < 3; ++i) {
      in.push_back(Random(b * planner::NumElements(n.input_dims[i]), 101 + i, -1.5f, 1.5f));
      ind.push_back(mem.Upload(in.back()));
    }
    float* yd = mem.Zeros<float>(count);
    float* ld = mem.Zeros<float>(lse_size);
    std::vector<float> y_ref(count), lse_ref(lse_size);
    gpu_->AttentionForward(n, b, ind[0], ind[1], ind[2], yd, ld, {});
    ref_.AttentionForward(n, b, in[0].data(), in[1].data(), in[2].data(), y_ref.data(), lse_ref.data(), {});
    EXPECT_LE(RelError(mem.Download(yd, count), y_ref), 1e-6);
    EXPECT_LE(RelError(mem.Download(ld, lse_size), lse_ref), 1e-6);
    const std::vector<float> dout = Random(count, 110);
    const float* doutd = mem.Upload(dout);
    const float* y_refd = mem.Upload(y_ref);
    const float* l_refd = mem.Upload(lse_ref);
    for (const bool acc : {false, true}) {
      const bool accumulate[3] = {acc, acc, acc};
      std::vector<float> d_ref[3];
      float* dd[3];
      for (int i = 0; i < 3; ++i) {
        d_ref[i] = Random(in[i].size(), 120 + i);
        dd[i] = mem.Upload(d_ref[i]);
      }
      gpu_->AttentionBackward(n, b, ind[0], ind[1], ind[2], y_refd, l_refd, doutd, dd[0], dd[1], dd[2], accumulate,
                              {});
      ref_.AttentionBackward(n, b, in[0].data(), in[1].data(), in[2].data(), y_ref.data(), lse_ref.data(),
                             dout.data(), d_ref[0].data(), d_ref[1].data(), d_ref[2].data(), accumulate, {});
      for (int i = 0; i < 3; ++i) {
        EXPECT_LE(RelError(mem.Download(dd[i], d_ref[i].size()), d_ref[i]), 1e-6) << "input " << i << " acc " << acc;
      }
    }
  }
}

}  // namespace
}  // namespace slimtrain::engine::gpu_test
