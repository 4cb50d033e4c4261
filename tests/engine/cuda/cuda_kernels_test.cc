// The CUDA backend's elementwise, dropout, layout, pooling, loss and
// optimizer kernels against the reference backend (float32), on the GPU;
// skipped without one (see cuda_test_util.h and cuda_ops_test.cc).
#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/testing/op_cases.h"

namespace slimtrain::engine::gpu_test {
namespace {

// ------------------------------------------------------------ elementwise

const int64_t kCounts[] = {1, 37, 100003, (int64_t{1} << 20) + 3};

// The activations' inputs and kernels of tests/testing/op_cases.h, as the
// fast backend's test.
using test_util::Unary;
using test_util::UnaryBackward;
using test_util::UnaryForward;
using test_util::UnaryInput;

TEST_F(GpuTest, ActivationsForwardBackwardAccumulateAndInPlace) {
  for (Unary op : {Unary::kRelu, Unary::kSigmoid, Unary::kTanh}) {
    // Not a count of 1: its scale would be one |1 − y²| near 0, whose
    // relative error is all cancellation.
    for (int64_t n : {int64_t{37}, int64_t{100003}, (int64_t{1} << 20) + 3}) {
      SCOPED_TRACE(::testing::Message() << "op " << static_cast<int>(op) << " count " << n);
      const std::vector<float> x = UnaryInput(op, n);
      auto forward = [&](Backend& b, const float* in, float* out) { UnaryForward(b, op, n, in, out); };
      auto backward = [&](Backend& b, const float* out, const float* dy, float* dx, bool acc) {
        UnaryBackward(b, op, n, out, dy, dx, acc);
      };
      const double tol = op == Unary::kRelu ? 0.0 : 1e-6;
      DeviceMemory mem(gpu_);
      const float* xd = mem.Upload(x);
      float* yd = mem.Zeros<float>(n);
      std::vector<float> y_ref(n);
      forward(*gpu_, xd, yd);
      forward(ref_, x.data(), y_ref.data());
      const std::vector<float> y = mem.Download(yd, n);
      EXPECT_LE(RelError(y, y_ref), tol);
      if (op == Unary::kRelu) {
        EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
      }
      float* inplace = mem.Upload(x);
      forward(*gpu_, inplace, inplace);
      EXPECT_EQ(FirstBitDifference(mem.Download(inplace, n), y), -1) << "in place";
      const std::vector<float> dy = Random(n, 42), dx0 = Random(n, 43);
      const float* dyd = mem.Upload(dy);
      const float* y_refd = mem.Upload(y_ref);
      std::vector<float> dx_over;
      for (const bool acc : {false, true}) {
        float* dxd = mem.Upload(dx0);
        std::vector<float> dx_ref = dx0;
        backward(*gpu_, y_refd, dyd, dxd, acc);
        backward(ref_, y_ref.data(), dy.data(), dx_ref.data(), acc);
        const std::vector<float> dx = mem.Download(dxd, n);
        EXPECT_LE(RelError(dx, dx_ref), tol) << "accumulate " << acc;
        if (!acc) dx_over = dx;
      }
      float* dinplace = mem.Upload(dy);  // dx == dy
      backward(*gpu_, y_refd, dinplace, dinplace, false);
      EXPECT_EQ(FirstBitDifference(mem.Download(dinplace, n), dx_over), -1) << "backward in place";
    }
  }
}

TEST_F(GpuTest, AddAndCopy) {
  for (int64_t n : kCounts) {
    SCOPED_TRACE(n);
    const std::vector<float> a = Random(n, 51), b = Random(n, 52), c = Random(n, 53);
    DeviceMemory mem(gpu_);
    const float* ad = mem.Upload(a);
    const float* bd = mem.Upload(b);
    const float* cd = mem.Upload(c);
    float* yd = mem.Zeros<float>(n);
    std::vector<float> y_ref(n);
    const void* two[] = {ad, bd};
    const void* two_ref[] = {a.data(), b.data()};
    gpu_->AddForward(n, two, yd);
    ref_.AddForward(n, two_ref, y_ref.data());
    EXPECT_EQ(FirstBitDifference(mem.Download(yd, n), y_ref), -1) << "two inputs";
    const void* three[] = {ad, bd, cd};
    const void* three_ref[] = {a.data(), b.data(), c.data()};
    gpu_->AddForward(n, three, yd);
    ref_.AddForward(n, three_ref, y_ref.data());
    EXPECT_LT(RelError(mem.Download(yd, n), y_ref), 1e-6) << "three inputs";
    float* inplace = mem.Upload(a);  // y == inputs[0]
    const void* alias[] = {inplace, bd};
    gpu_->AddForward(n, alias, inplace);
    ref_.AddForward(n, two_ref, y_ref.data());
    EXPECT_EQ(FirstBitDifference(mem.Download(inplace, n), y_ref), -1) << "in place";
    for (const bool acc : {false, true}) {
      float* dd = mem.Upload(b);
      std::vector<float> d_ref = b;
      gpu_->Copy(n, ad, dd, acc);
      ref_.Copy(n, a.data(), d_ref.data(), acc);
      EXPECT_EQ(FirstBitDifference(mem.Download(dd, n), d_ref), -1) << "copy, accumulate " << acc;
    }
  }
}

TEST_F(GpuTest, DropoutKeepsExactlyDropoutKeepsElements) {
  for (double p : {0.0, 0.1, 0.5, 0.9}) {
    SCOPED_TRACE(::testing::Message() << "p " << p);
    Node n = MakeNode(OpKind::kDropout, {{6, 7, 5}}, {6, 7, 5}, /*id=*/11);
    n.dropout_p = p;
    const int64_t batch = 97, count = batch * 6 * 7 * 5;
    const DropoutKey key{12345, 17};
    const std::vector<float> x = Random(count, 61, 0.5f, 1.5f);  // never 0
    DeviceMemory mem(gpu_);
    const float* xd = mem.Upload(x);
    float* yd = mem.Zeros<float>(count);
    std::vector<float> y_ref(count);
    gpu_->DropoutForward(n, batch, key, xd, yd);
    ref_.DropoutForward(n, batch, key, x.data(), y_ref.data());
    const std::vector<float> y = mem.Download(yd, count);
    EXPECT_EQ(FirstZeroPatternDifference(y, y_ref), -1);
    EXPECT_LT(RelError(y, y_ref), 1e-6);
    int64_t mismatched = 0;
    for (int64_t i = 0; i < count; ++i) mismatched += (y[i] != 0) != DropoutKeep(key, n.id, i, p);
    EXPECT_EQ(mismatched, 0);
    float* inplace = mem.Upload(x);
    gpu_->DropoutForward(n, batch, key, inplace, inplace);
    EXPECT_EQ(FirstBitDifference(mem.Download(inplace, count), y), -1) << "in place";
    for (const bool acc : {false, true}) {
      float* dxd = mem.Upload(x);
      std::vector<float> dx_ref = x;
      gpu_->DropoutBackward(n, batch, key, yd, dxd, acc);
      ref_.DropoutBackward(n, batch, key, y.data(), dx_ref.data(), acc);
      const std::vector<float> dx = mem.Download(dxd, count);
      EXPECT_LT(RelError(dx, dx_ref), 1e-6) << "accumulate " << acc;
      if (!acc) {
        EXPECT_EQ(FirstZeroPatternDifference(dx, dx_ref), -1);
      }
    }
  }
}

// ------------------------------------------------------------ layout

TEST_F(GpuTest, ConcatForwardAndBackwardSlices) {
  const std::vector<Dims> inputs = {{3, 4, 5}, {5, 4, 5}, {16, 4, 5}};
  const Node n = MakeNode(OpKind::kConcat, inputs, {24, 4, 5});
  for (int64_t batch : {1, 200}) {
    DeviceMemory mem(gpu_);
    std::vector<std::vector<float>> xs;
    std::vector<const void*> ptrs, ptrs_ref;
    for (size_t k = 0; k < inputs.size(); ++k) {
      xs.push_back(Random(batch * planner::NumElements(inputs[k]), 71 + static_cast<uint32_t>(k)));
    }
    for (const auto& v : xs) {
      ptrs.push_back(mem.Upload(v));
      ptrs_ref.push_back(v.data());
    }
    const int64_t out = batch * 24 * 20;
    float* yd = mem.Zeros<float>(out);
    std::vector<float> y_ref(out);
    gpu_->ConcatForward(n, batch, ptrs, yd);
    ref_.ConcatForward(n, batch, ptrs_ref, y_ref.data());
    EXPECT_EQ(FirstBitDifference(mem.Download(yd, out), y_ref), -1) << "batch " << batch;
    for (int index = 0; index < 3; ++index) {
      for (const bool acc : {false, true}) {
        float* dxd = mem.Upload(xs[index]);
        std::vector<float> dx_ref = xs[index];
        gpu_->ConcatBackward(n, batch, index, yd, dxd, acc);
        ref_.ConcatBackward(n, batch, index, y_ref.data(), dx_ref.data(), acc);
        EXPECT_EQ(FirstBitDifference(mem.Download(dxd, static_cast<int64_t>(dx_ref.size())), dx_ref), -1)
            << "index " << index << " accumulate " << acc;
      }
    }
  }
}

TEST_F(GpuTest, FlattenInTorchOrderAndBack) {
  for (const Dims& in : {Dims{5, 3, 4}, Dims{64, 7, 7}, Dims{33}, Dims{3, 1, 1}}) {
    const Node n = MakeNode(OpKind::kFlatten, {in}, {planner::NumElements(in)});
    const int64_t batch = 9, count = batch * planner::NumElements(in);
    const std::vector<float> x = Random(count, 81);
    DeviceMemory mem(gpu_);
    const float* xd = mem.Upload(x);
    float* yd = mem.Zeros<float>(count);
    std::vector<float> y_ref(count);
    gpu_->FlattenForward(n, batch, xd, yd);
    ref_.FlattenForward(n, batch, x.data(), y_ref.data());
    EXPECT_EQ(FirstBitDifference(mem.Download(yd, count), y_ref), -1);
    for (const bool acc : {false, true}) {
      float* dxd = mem.Upload(x);
      std::vector<float> dx_ref = x;
      gpu_->FlattenBackward(n, batch, yd, dxd, acc);
      ref_.FlattenBackward(n, batch, y_ref.data(), dx_ref.data(), acc);
      EXPECT_EQ(FirstBitDifference(mem.Download(dxd, count), dx_ref), -1) << "accumulate " << acc;
    }
  }
}

// ------------------------------------------------------------ pooling

// The rows, nodes and inputs of tests/testing/op_cases.h, as the fast
// backend's pooling tests.
using test_util::MaxPoolInput;
using test_util::PoolCase;
using test_util::PoolCases;
using test_util::PoolNode;

TEST_F(GpuTest, MaxPoolTiesNanAndIndicesMatchReference) {
  for (const PoolCase& t : PoolCases()) {
    SCOPED_TRACE(::testing::Message() << "pool " << t.c << "x" << t.h << "x" << t.w << " k" << t.k);
    const Node n = PoolNode(OpKind::kMaxPool, t);
    const int64_t in = t.batch * t.c * t.h * t.w, out = t.batch * planner::NumElements(n.out);
    const std::vector<float> x = MaxPoolInput(in);
    DeviceMemory mem(gpu_);
    const float* xd = mem.Upload(x);
    float* yd = mem.Zeros<float>(out);
    int32_t* idxd = mem.Upload(std::vector<int32_t>(out, -1));
    std::vector<float> y_ref(out);
    std::vector<int32_t> idx_ref(out, -2);
    gpu_->MaxPoolForward(n, t.batch, xd, yd, idxd, Workspace{});
    ref_.MaxPoolForward(n, t.batch, x.data(), y_ref.data(), idx_ref.data(), Workspace{});
    EXPECT_EQ(FirstBitDifference(mem.Download(yd, out), y_ref), -1);
    EXPECT_EQ(FirstBitDifference(mem.Download(idxd, out), idx_ref), -1) << "indices";
    const std::vector<float> dy = Random(out, 92), dx0 = Random(in, 93);
    const float* dyd = mem.Upload(dy);
    mem.Set(idxd, idx_ref);
    for (const bool acc : {false, true}) {
      float* dxd = mem.Upload(dx0);
      std::vector<float> dx_ref = dx0;
      gpu_->MaxPoolBackward(n, t.batch, dyd, idxd, dxd, acc, Workspace{});
      ref_.MaxPoolBackward(n, t.batch, dy.data(), idx_ref.data(), dx_ref.data(), acc, Workspace{});
      // Overlapping windows sum several dy into one dx: order may differ.
      EXPECT_LT(RelError(mem.Download(dxd, in), dx_ref), 1e-6) << "accumulate " << acc;
    }
  }
}

TEST_F(GpuTest, AvgPoolBothDivisorsMatchReference) {
  for (const PoolCase& t : PoolCases()) {
    for (const bool include_pad : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "pool " << t.c << "x" << t.h << "x" << t.w << " k" << t.k
                                        << " include_pad " << include_pad);
      Node n = PoolNode(OpKind::kAvgPool, t);
      n.count_include_pad = include_pad;
      const int64_t in = t.batch * t.c * t.h * t.w, out = t.batch * planner::NumElements(n.out);
      const std::vector<float> x = Random(in, 101);
      DeviceMemory mem(gpu_);
      const float* xd = mem.Upload(x);
      float* yd = mem.Zeros<float>(out);
      std::vector<float> y_ref(out);
      gpu_->AvgPoolForward(n, t.batch, xd, yd, Workspace{});
      ref_.AvgPoolForward(n, t.batch, x.data(), y_ref.data(), Workspace{});
      EXPECT_LT(RelError(mem.Download(yd, out), y_ref), 1e-6);
      const std::vector<float> dy = Random(out, 102), dx0 = Random(in, 103);
      const float* dyd = mem.Upload(dy);
      for (const bool acc : {false, true}) {
        float* dxd = mem.Upload(dx0);
        std::vector<float> dx_ref = dx0;
        gpu_->AvgPoolBackward(n, t.batch, dyd, dxd, acc, Workspace{});
        ref_.AvgPoolBackward(n, t.batch, dy.data(), dx_ref.data(), acc, Workspace{});
        EXPECT_LT(RelError(mem.Download(dxd, in), dx_ref), 1e-6) << "accumulate " << acc;
      }
    }
  }
}

TEST_F(GpuTest, GlobalAvgPoolMatchesReference) {
  for (const Dims& in : {Dims{64, 8, 8}, Dims{70, 3, 5}, Dims{3, 1, 1}, Dims{256, 8, 8}}) {
    const Node n = MakeNode(OpKind::kGlobalAvgPool, {in}, {in[0]});
    const int64_t batch = 33, count = batch * planner::NumElements(in);
    const std::vector<float> x = Random(count, 111);
    DeviceMemory mem(gpu_);
    const float* xd = mem.Upload(x);
    float* yd = mem.Zeros<float>(batch * in[0]);
    std::vector<float> y_ref(batch * in[0]);
    gpu_->GlobalAvgPoolForward(n, batch, xd, yd);
    ref_.GlobalAvgPoolForward(n, batch, x.data(), y_ref.data());
    EXPECT_LT(RelError(mem.Download(yd, batch * in[0]), y_ref), 1e-6);
    for (const bool acc : {false, true}) {
      float* dxd = mem.Upload(x);
      std::vector<float> dx_ref = x;
      gpu_->GlobalAvgPoolBackward(n, batch, yd, dxd, acc);
      ref_.GlobalAvgPoolBackward(n, batch, y_ref.data(), dx_ref.data(), acc);
      EXPECT_LT(RelError(mem.Download(dxd, count), dx_ref), 1e-6) << "accumulate " << acc;
    }
  }
}

// ------------------------------------------------------------ loss, optimizers

TEST_F(GpuTest, SoftmaxCrossEntropyWithLabelSmoothing) {
  for (const double smoothing : {0.0, 0.1}) {
    for (const int64_t classes : {2, 10, 1000}) {
      SCOPED_TRACE(::testing::Message() << "smoothing " << smoothing << " classes " << classes);
      const int64_t batch = 37;
      const auto& [n, logits, labels] = test_util::CrossEntropyInputs(batch, classes, smoothing);
      DeviceMemory mem(gpu_);
      const float* ld = mem.Upload(logits);
      const int32_t* labd = mem.Upload(labels);
      float* pd = mem.Zeros<float>(batch * classes);
      float* lossd = mem.Zeros<float>(1);
      std::vector<float> probs_ref(batch * classes), loss_ref(1);
      gpu_->SoftmaxCrossEntropyForward(n, batch, ld, labd, pd, lossd);
      ref_.SoftmaxCrossEntropyForward(n, batch, logits.data(), labels.data(), probs_ref.data(), loss_ref.data());
      const std::vector<float> probs = mem.Download(pd, batch * classes);
      EXPECT_LT(RelError(probs, probs_ref), 1e-6);
      EXPECT_LT(RelError(mem.Download(lossd, 1), loss_ref), 1e-6);
      for (const bool acc : {false, true}) {
        float* dd = mem.Upload(logits);
        std::vector<float> d_ref = logits;
        gpu_->SoftmaxCrossEntropyBackward(n, batch, pd, labd, dd, acc);
        ref_.SoftmaxCrossEntropyBackward(n, batch, probs.data(), labels.data(), d_ref.data(), acc);
        EXPECT_LT(RelError(mem.Download(dd, batch * classes), d_ref), 1e-6) << "accumulate " << acc;
      }
    }
  }
}

// Three steps of each optimizer on the GPU and on the reference (whose Adam
// and RMSprop are Backend's default loops): parameters and state agree.
TEST_F(GpuTest, OptimizersMatchReference) {
  enum class Kind { kSgd, kAdam, kRmsprop };
  struct Config {
    Kind kind;
    double lr, momentum, weight_decay;
    bool nesterov;
  };
  const Config configs[] = {
      {Kind::kSgd, 0.1, 0.0, 0.0, false},     {Kind::kSgd, 0.05, 0.9, 5e-4, false},
      {Kind::kSgd, 0.05, 0.9, 1e-4, true},    {Kind::kAdam, 1e-3, 0.0, 0.0, false},
      {Kind::kAdam, 1e-2, 0.0, 1e-4, false},  {Kind::kRmsprop, 1e-2, 0.0, 0.0, false},
      {Kind::kRmsprop, 1e-2, 0.9, 1e-4, false},
  };
  for (const Config& c : configs) {
    for (int64_t n : kCounts) {
      SCOPED_TRACE(::testing::Message() << "optimizer " << static_cast<int>(c.kind) << " momentum " << c.momentum
                                        << " nesterov " << c.nesterov << " count " << n);
      std::vector<float> p = Random(n, 131), s1(n, 0.0f), s2(n, 0.0f);
      DeviceMemory mem(gpu_);
      float* pd = mem.Upload(p);
      float* s1d = mem.Upload(s1);
      float* s2d = mem.Upload(s2);
      for (int step = 1; step <= 3; ++step) {
        const std::vector<float> g = Random(n, 132 + static_cast<uint32_t>(step));
        const float* gd = mem.Upload(g);
        switch (c.kind) {
          case Kind::kSgd:
            gpu_->SgdUpdate(n, c.lr, c.momentum, c.weight_decay, c.nesterov, pd, gd,
                            c.momentum == 0 ? nullptr : s1d);
            ref_.SgdUpdate(n, c.lr, c.momentum, c.weight_decay, c.nesterov, p.data(), g.data(),
                           c.momentum == 0 ? nullptr : s1.data());
            break;
          case Kind::kAdam:
            gpu_->AdamUpdate(n, c.lr, 0.9, 0.999, 1e-8, c.weight_decay, step, pd, gd, s1d, s2d);
            ref_.AdamUpdate(n, c.lr, 0.9, 0.999, 1e-8, c.weight_decay, step, p.data(), g.data(), s1.data(),
                            s2.data());
            break;
          case Kind::kRmsprop:
            gpu_->RmspropUpdate(n, c.lr, 0.99, 1e-8, c.weight_decay, c.momentum, pd, gd, s1d, s2d);
            ref_.RmspropUpdate(n, c.lr, 0.99, 1e-8, c.weight_decay, c.momentum, p.data(), g.data(), s1.data(),
                               s2.data());
            break;
        }
      }
      EXPECT_LT(RelError(mem.Download(pd, n), p), 1e-6) << "parameters";
      EXPECT_LT(RelError(mem.Download(s1d, n), s1), 1e-6) << "state 1";
      EXPECT_LT(RelError(mem.Download(s2d, n), s2), 1e-6) << "state 2";
    }
  }
}

}  // namespace
}  // namespace slimtrain::engine::gpu_test
