// The CUDA backend's view kernels (broadcast binary ops, strided copies,
// reductions, matmul: engine/shape_views.h) and embedding against the float32 reference backend,
// on the GPU; skipped without one (cuda_test_util.h). Both evaluate the
// same double expressions (engine/tensor_view.h) in the same order, built
// with --fmad=false, so they agree to 1e-7 of the scale (bit for bit is
// expected; the bound leaves room for a device's division).
#include <cmath>
#include <string>

#include "engine/shape_views.h"
#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/engine/reference_test_util.h"
#include "tests/testing/op_cases.h"

namespace slimtrain::engine::gpu_test {
namespace {

using test_util::OpLayer;
using test_util::OpNode;

struct Case {
  std::vector<int64_t> dims;
  const char* layers;
  int64_t batch;
};

TEST_F(GpuTest, ViewOpsMatchReference) {
  const Case cases[] = {
      {{3, 4, 5}, R"pb(layers { name: "se" inputs: "input" reduce_mean { axes: [2, 3] keepdim: true } }
                       layers { name: "op" inputs: "input" inputs: "se" mul {} })pb", 4},
      {{3, 2, 4}, R"pb(layers { name: "p" inputs: "input" softplus {} }
                       layers { name: "q" inputs: "p" reduce_sum { axes: [2] keepdim: true } }
                       layers { name: "op" inputs: "input" inputs: "q" div {} })pb", 3},
      {{6, 8}, R"pb(layers { name: "op" inputs: "input" reshape { dims: [2, 3, 8] } })pb", 5},
      {{3, 5, 7}, R"pb(layers { name: "op" inputs: "input" transpose { perm: [0, 3, 1, 2] } })pb", 2},
      {{2, 9, 3}, R"pb(layers { name: "op" inputs: "input" slice { axis: 2 start: 1 step: 3 } })pb", 3},
      {{4, 3}, R"pb(layers { name: "first" inputs: "input" slice { axis: 1 end: 1 } }
                    layers { name: "op" inputs: "first" inputs: "input" concat { axis: 1 } })pb", 3},
      {{5, 6, 7}, R"pb(layers { name: "op" inputs: "input" reduce_mean { axes: [1, 3] } })pb", 2},
      {{2, 4, 3}, R"pb(layers { name: "t" inputs: "input" transpose { perm: [0, 1, 3, 2] } }
                       layers { name: "op" inputs: "input" inputs: "t" matmul {} })pb", 3},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.layers);
    const Node n = OpNode(c.dims, c.layers);
    ASSERT_FALSE(n.name.empty());
    DeviceMemory mem(gpu_);
    std::vector<std::vector<float>> x;
    std::vector<const void*> xh, xd;
    for (size_t i = 0; i < n.input_dims.size(); ++i) {
      std::vector<float> v = Random(c.batch * planner::NumElements(n.input_dims[i]), 71 + i, -2.0f, 2.0f);
      if (n.kind == OpKind::kDiv && i == 1) {
        for (float& f : v) f = 0.5f + std::fabs(f);
      }
      x.push_back(v);
    }
    for (const auto& v : x) {
      xh.push_back(v.data());
      xd.push_back(mem.Upload(v));
    }
    const int64_t out = c.batch * planner::NumElements(n.out);
    float* yd = mem.Zeros<float>(out);
    std::vector<float> y_ref(out);
    ViewOpForward(*gpu_, n, c.batch, xd.data(), yd);
    ViewOpForward(ref_, n, c.batch, xh.data(), y_ref.data());
    EXPECT_LE(RelError(mem.Download(yd, out), y_ref), 1e-7) << "forward";
    const std::vector<float> dy = Random(out, 72);
    const float* dyd = mem.Upload(dy);
    for (const bool acc : {false, true}) {
      const int k = static_cast<int>(x.size());
      std::vector<std::vector<float>> g_ref(k);
      std::vector<void*> dh(k), dd(k);
      std::unique_ptr<bool[]> accs(new bool[k]);
      for (int i = 0; i < k; ++i) {
        g_ref[i] = Random(x[i].size(), 80 + i);
        dd[i] = mem.Upload(g_ref[i]);
        dh[i] = g_ref[i].data();
        accs[i] = acc;
      }
      ViewOpBackward(*gpu_, n, c.batch, xd.data(), dyd, dd.data(), accs.get());
      ViewOpBackward(ref_, n, c.batch, xh.data(), dy.data(), dh.data(), accs.get());
      for (int i = 0; i < k; ++i) {
        EXPECT_LE(RelError(mem.Download(static_cast<float*>(dd[i]), g_ref[i].size()), g_ref[i]), 1e-7)
            << "gradient of input " << i << " accumulate " << acc;
      }
    }
  }
}

TEST_F(GpuTest, AdaptiveAvgPoolMatchesReference) {
  const Node n = OpNode({4, 5, 7}, R"pb(layers { name: "op" inputs: "input"
                                         adaptive_avg_pool { out_h: 2 out_w: 3 } })pb");
  ASSERT_FALSE(n.name.empty());
  const int64_t batch = 3, in = batch * 4 * 5 * 7, out = batch * 4 * 2 * 3;
  const std::vector<float> x = Random(in, 151), dy = Random(out, 152);
  DeviceMemory mem(gpu_);
  float* yd = mem.Zeros<float>(out);
  float* dxd = mem.Zeros<float>(in);
  std::vector<float> y_ref(out), dx_ref(in);
  gpu_->AdaptiveAvgPoolForward(n, batch, mem.Upload(x), yd);
  ref_.AdaptiveAvgPoolForward(n, batch, x.data(), y_ref.data());
  EXPECT_LE(RelError(mem.Download(yd, out), y_ref), 1e-7);
  gpu_->AdaptiveAvgPoolBackward(n, batch, mem.Upload(dy), dxd, false);
  ref_.AdaptiveAvgPoolBackward(n, batch, dy.data(), dx_ref.data(), false);
  EXPECT_LE(RelError(mem.Download(dxd, in), dx_ref), 1e-7);
}

TEST_F(GpuTest, UpsampleMatchesReference) {
  for (const char* op : {"upsample { out_h: 7 out_w: 8 }",
                         "upsample { out_h: 9 out_w: 13 mode: \"bilinear\" }",
                         "upsample { scale_factor: 3 mode: \"bilinear\" align_corners: true }"}) {
    SCOPED_TRACE(op);
    const Node n = OpNode({3, 4, 5}, OpLayer(op));
    ASSERT_FALSE(n.name.empty());
    const int64_t batch = 2, in = batch * planner::NumElements(n.input_dims[0]),
                  out = batch * planner::NumElements(n.out);
    const std::vector<float> x = Random(in, 161), dy = Random(out, 162), dx0 = Random(in, 163);
    DeviceMemory mem(gpu_);
    float* yd = mem.Zeros<float>(out);
    std::vector<float> y_ref(out);
    gpu_->UpsampleForward(n, batch, mem.Upload(x), yd);
    ref_.UpsampleForward(n, batch, x.data(), y_ref.data());
    EXPECT_LE(RelError(mem.Download(yd, out), y_ref), 1e-7);
    for (const bool acc : {false, true}) {
      float* dxd = mem.Upload(dx0);
      std::vector<float> dx_ref = dx0;
      gpu_->UpsampleBackward(n, batch, mem.Upload(dy), dxd, acc);
      ref_.UpsampleBackward(n, batch, dy.data(), dx_ref.data(), acc);
      EXPECT_LE(RelError(mem.Download(dxd, in), dx_ref), 1e-7) << "accumulate " << acc;
    }
  }
}

// Non-square and asymmetric pooling windows (ONNX's pads).
TEST_F(GpuTest, NonSquareAndAsymmetricPoolsMatchReference) {
  for (const std::string& op : test_util::AsymmetricPoolOps()) {
    SCOPED_TRACE(op);
    const Node n = OpNode({5, 7, 8}, OpLayer(op));
    ASSERT_FALSE(n.name.empty());
    const bool max = n.kind == planner::OpKind::kMaxPool;
    const int64_t batch = 3, in = batch * planner::NumElements(n.input_dims[0]),
                  out = batch * planner::NumElements(n.out);
    const std::vector<float> x = Random(in, 171), dy = Random(out, 172);
    DeviceMemory mem(gpu_);
    float* yd = mem.Zeros<float>(out);
    float* dxd = mem.Zeros<float>(in);
    int32_t* idxd = mem.Zeros<int32_t>(out);
    std::vector<float> y_ref(out), dx_ref(in);
    std::vector<int32_t> idx_ref(out);
    if (max) {
      gpu_->MaxPoolForward(n, batch, mem.Upload(x), yd, idxd, {});
      ref_.MaxPoolForward(n, batch, x.data(), y_ref.data(), idx_ref.data(), {});
      EXPECT_EQ(mem.Download(idxd, out), idx_ref);
      gpu_->MaxPoolBackward(n, batch, mem.Upload(dy), idxd, dxd, false, {});
      ref_.MaxPoolBackward(n, batch, dy.data(), idx_ref.data(), dx_ref.data(), false, {});
    } else {
      gpu_->AvgPoolForward(n, batch, mem.Upload(x), yd, {});
      ref_.AvgPoolForward(n, batch, x.data(), y_ref.data(), {});
      gpu_->AvgPoolBackward(n, batch, mem.Upload(dy), dxd, false, {});
      ref_.AvgPoolBackward(n, batch, dy.data(), dx_ref.data(), false, {});
    }
    EXPECT_LE(RelError(mem.Download(yd, out), y_ref), 1e-7);
    EXPECT_LE(RelError(mem.Download(dxd, in), dx_ref), 1e-7);
  }
}

TEST_F(GpuTest, MseLossMatchesReference) {
  const int64_t count = 3 * 70001;
  const std::vector<float> x = Random(count, 181), t = Random(count, 182), dx0 = Random(count, 183);
  DeviceMemory mem(gpu_);
  const float* xd = mem.Upload(x);
  const float* td = mem.Upload(t);
  float* lossd = mem.Zeros<float>(1);
  std::vector<float> loss_ref(1);
  gpu_->MseLossForward(count, xd, td, lossd);
  ref_.MseLossForward(count, x.data(), t.data(), loss_ref.data());
  EXPECT_LE(RelError(mem.Download(lossd, 1), loss_ref), 1e-7);
  for (const bool acc : {false, true}) {
    float* dxd = mem.Upload(dx0);
    std::vector<float> dx_ref = dx0;
    gpu_->MseLossBackward(count, xd, td, dxd, acc);
    ref_.MseLossBackward(count, x.data(), t.data(), dx_ref.data(), acc);
    EXPECT_LE(RelError(mem.Download(dxd, count), dx_ref), 1e-7) << "accumulate " << acc;
  }
}

TEST_F(GpuTest, EmbeddingMatchesReference) {
  const auto& [dims, layers, batch, tokens, rows, d, ids, table, dy] = test_util::EmbeddingInputs();
  const Node n = OpNode(dims, layers);
  ASSERT_FALSE(n.name.empty());
  DeviceMemory mem(gpu_);
  const float* idsd = mem.Upload(ids);
  float* yd = mem.Zeros<float>(tokens * d);
  float* gd = mem.Upload(std::vector<float>(rows * d, 7.0f));
  std::vector<float> y_ref(tokens * d), g_ref(rows * d);
  gpu_->EmbeddingForward(n, batch, idsd, mem.Upload(table), yd);
  ref_.EmbeddingForward(n, batch, ids.data(), table.data(), y_ref.data());
  EXPECT_EQ(FirstBitDifference(mem.Download(yd, tokens * d), y_ref), -1);
  gpu_->EmbeddingBackward(n, batch, idsd, mem.Upload(dy), gd, /*accumulate=*/false);
  ref_.EmbeddingBackward(n, batch, ids.data(), dy.data(), g_ref.data(), /*accumulate=*/false);
  EXPECT_LE(RelError(mem.Download(gd, rows * d), g_ref), 1e-6);
  // Accumulating into a tied linear's gradient.
  std::vector<float> acc_ref(rows * d);
  for (int64_t i = 0; i < rows * d; ++i) acc_ref[i] = 0.25f * static_cast<float>(i % 9);
  float* accd = mem.Upload(acc_ref);
  gpu_->EmbeddingBackward(n, batch, idsd, mem.Upload(dy), accd, /*accumulate=*/true);
  ref_.EmbeddingBackward(n, batch, ids.data(), dy.data(), acc_ref.data(), /*accumulate=*/true);
  EXPECT_LE(RelError(mem.Download(accd, rows * d), acc_ref), 1e-6);
}

}  // namespace
}  // namespace slimtrain::engine::gpu_test
