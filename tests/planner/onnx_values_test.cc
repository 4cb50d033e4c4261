// The importer's constant folding with a symbolic batch, and its views:
// how a reshape regroups a layer's axes and what Arrange emits, on the
// shapes PyTorch's MultiheadAttention and nanoGPT's attention export.
#include "planner/onnx_values.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace slimtrain::planner::onnx_values {
namespace {

onnx::NodeProto Node(const std::string& op) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(op);
  return n;
}

ConstTensor Ints(std::vector<int64_t> dims, std::vector<double> v, std::vector<int> n = {}) {
  ConstTensor t;
  t.dims = std::move(dims);
  t.v = std::move(v);
  t.n = std::move(n);
  return t;
}

TEST(OnnxValuesTest, ShapeGatherMulKeepTheBatchSymbolic) {
  onnx::NodeProto shape = Node("Shape");
  shape.add_input("x");
  auto r = FoldNode(shape, {nullptr}, {SymDims{{1, 1}, {16, 0}, {32, 0}}});
  ASSERT_TRUE(r.ok() && r->has_value());
  const ConstTensor s = (**r)[0];
  EXPECT_EQ(s.dims, (std::vector<int64_t>{3}));
  EXPECT_EQ(s.at(0), (SymInt{1, 1}));
  EXPECT_EQ(s.at(2), (SymInt{32, 0}));

  onnx::NodeProto gather = Node("Gather");
  gather.add_input("s");
  gather.add_input("i");
  const ConstTensor zero = Ints({}, {0});
  auto g = FoldNode(gather, {&s, &zero}, {std::nullopt, std::nullopt});
  ASSERT_TRUE(g.ok() && g->has_value());
  const ConstTensor batch = (**g)[0];
  EXPECT_TRUE(batch.dims.empty());
  EXPECT_EQ(batch.at(0), (SymInt{1, 1}));

  onnx::NodeProto mul = Node("Mul");
  mul.add_input("b");
  mul.add_input("four");
  const ConstTensor four = Ints({}, {4});
  auto m = FoldNode(mul, {&batch, &four}, {std::nullopt, std::nullopt});
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((**m)[0].at(0), (SymInt{4, 1}));
  EXPECT_EQ(SymString((**m)[0].at(0)), "4N");

  // N·N is not representable: not folded.
  auto square = FoldNode(mul, {&batch, &batch}, {std::nullopt, std::nullopt});
  ASSERT_TRUE(square.ok());
  EXPECT_FALSE(square->has_value());

  // Equal(N, -1) is false for every batch (the -1 test of expand's shape).
  onnx::NodeProto equal = Node("Equal");
  equal.add_input("b");
  equal.add_input("m1");
  const ConstTensor minus_one = Ints({}, {-1});
  auto e = FoldNode(equal, {&batch, &minus_one}, {std::nullopt, std::nullopt});
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ((**e)[0].v, (std::vector<double>{0}));
}

TEST(OnnxValuesTest, SliceAndWhereOfAConstantMask) {
  // mask[:, :, :2, :2] of a 3x3 tril, == 0: the causal pattern.
  const ConstTensor tril = Ints({1, 1, 3, 3}, {1, 0, 0, 1, 1, 0, 1, 1, 1});
  onnx::NodeProto slice = Node("Slice");
  for (const char* in : {"m", "s", "e", "a"}) slice.add_input(in);
  const ConstTensor starts = Ints({2}, {0, 0}), ends = Ints({2}, {2, 2}), axes = Ints({2}, {2, 3});
  auto r = FoldNode(slice, {&tril, &starts, &ends, &axes}, {});
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((**r)[0].dims, (std::vector<int64_t>{1, 1, 2, 2}));
  EXPECT_EQ((**r)[0].v, (std::vector<double>{1, 0, 1, 1}));
}

TEST(OnnxValuesTest, ReshapeRegroupsWithoutMovingData) {
  // nanoGPT: (N,16,32) -> (N,16,4,8) splits the last axis of the layer.
  const View x = Plain("q", {16, 32});
  auto split = PlanReshape(x, {{1, 1}, {16, 0}, {4, 0}, {8, 0}}, false);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->split_u, (Dims{16, 4, 8}));
  EXPECT_EQ(split->groups, (std::vector<std::vector<int>>{{0}, {1}, {2}, {3}}));

  // MultiheadAttention: (L,N,E) seen over a (N,L,E) layer, to (L, N·4, E/4).
  const View seq_first{"qkv", {6, 32}, {{1}, {0}, {2}}};
  auto heads = PlanReshape(seq_first, {{6, 0}, {4, 1}, {8, 0}}, false);
  ASSERT_TRUE(heads.ok()) << heads.status();
  EXPECT_EQ(heads->split_u, (Dims{6, 4, 8}));
  EXPECT_EQ(heads->groups, (std::vector<std::vector<int>>{{1}, {0, 2}, {3}}));

  // ...and back: (L, N·4, E/4) transposed to (N·4, L, E/4) merges to (L·N, E).
  const View back{"o", {4, 6, 8}, {{2}, {0, 1}, {3}}};
  auto rows = PlanReshape(back, {{6, 1}, {32, 0}}, false);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->split_u, (Dims{4, 6, 8}));
  EXPECT_EQ(rows->groups, (std::vector<std::vector<int>>{{2, 0}, {1, 3}}));

  // ONNX's 0 and -1; a reshape that would split the batch is refused.
  auto inferred = PlanReshape(x, {{0, 0}, {-1, 0}}, false);
  ASSERT_TRUE(inferred.ok()) << inferred.status();
  EXPECT_EQ(inferred->groups, (std::vector<std::vector<int>>{{0}, {1, 2}}));
  EXPECT_FALSE(PlanReshape(x, {{2, 0}, {-1, 0}}, false).ok());
}

TEST(OnnxValuesTest, ArrangeEmitsOnlyTheTransposeAndMergeAnOpNeeds) {
  // Rows for a linear: (L·N, E) over (N,4,L,8) -> transpose to (N,L,4,8),
  // merge to (N,L,32); the rows keep their (L, N) grouping.
  const View v{"o", {4, 6, 8}, {{2, 0}, {1, 3}}};
  auto rows = PlanArrange(v, 1, false);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->perm, (std::vector<int64_t>{0, 2, 1, 3}));
  EXPECT_EQ(rows->transposed_u, (Dims{6, 4, 8}));
  EXPECT_EQ(rows->merged_u, (Dims{6, 32}));
  EXPECT_EQ(rows->groups, (std::vector<std::vector<int>>{{1, 0}, {2}}));

  // A matmul's (N·4, L, 8) from the (L, N·4, 8) view: the batch-merged
  // heads stay one leading group.
  const View q{"q", {6, 4, 8}, {{0, 2}, {1}, {3}}};
  auto mm = PlanArrange(q, 2, true);
  ASSERT_TRUE(mm.ok()) << mm.status();
  EXPECT_EQ(mm->perm, (std::vector<int64_t>{0, 2, 1, 3}));
  EXPECT_EQ(mm->merged_u, (Dims{4, 6, 8}));
  EXPECT_EQ(mm->groups, (std::vector<std::vector<int>>{{0, 1}, {2}, {3}}));

  // A plain view needs nothing; the batch behind another axis cannot be first.
  auto plain = PlanArrange(Plain("x", {3, 5}), 2, true);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->perm.empty());
  EXPECT_EQ(plain->merged_u, (Dims{3, 5}));
  EXPECT_FALSE(PlanArrange(View{"s", {6, 32}, {{1}, {0}, {2}}}, 2, true).ok());

  // x[:, 0]: the size-1 axis the gather leaves joins the features, one reshape.
  const View cls{"t", {1, 32}, {{0}, {2}}};
  auto head = PlanArrange(cls, 1, false);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_TRUE(head->perm.empty());
  EXPECT_EQ(head->merged_u, (Dims{32}));
}

}  // namespace
}  // namespace slimtrain::planner::onnx_values
