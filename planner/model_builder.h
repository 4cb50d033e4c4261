// model_builder.h — appends layers to a ModelSpec, one call per layer.
//
// Internal to the zoo (planner/zoo*.cc): it writes the architectures compactly.
// Every call appends one layer and returns its name, so layers chain:
//
//   ModelBuilder b("tiny", "a tiny CNN; input 1x28x28", {1, 28, 28}, 10);
//   std::string x = b.Conv("input", "conv1", 8, /*k=*/3, /*stride=*/1, /*pad=*/1,
//                          /*bias=*/false);                  // (8,28,28)
//   x = b.Relu(b.BatchNorm(x, "bn1"), "relu1");
//   x = b.Linear(b.GlobalAvgPool(x, "avgpool"), "fc", 10);   // (10)
//   b.Loss(x);
//   v1::ModelSpec spec = std::move(b).Finish();
//
// The builder checks nothing about shapes (Graph::Build does); it only aborts
// on a duplicate layer name, which is a bug in the zoo, never user input.
#ifndef SLIMTRAIN_PLANNER_MODEL_BUILDER_H_
#define SLIMTRAIN_PLANNER_MODEL_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "proto/model.pb.h"

namespace slimtrain::planner {

class ModelBuilder {
 public:
  // `input_dims` is one example's shape: (C,H,W), or (L) token ids.
  ModelBuilder(std::string name, std::string description, std::vector<int64_t> input_dims,
               int64_t num_classes);

  // Square conv2d; `stride` and `groups` are written only when not 1, `bias`
  // always (PyTorch's default is true, ResNets use false before BN).
  std::string Conv(const std::string& in, const std::string& name, int64_t out_channels,
                   int64_t kernel, int64_t stride, int64_t padding, bool bias, int64_t groups = 1);
  // BatchNorm with PyTorch's defaults (eps 1e-5, momentum 0.1).
  std::string BatchNorm(const std::string& in, const std::string& name);
  std::string Relu(const std::string& in, const std::string& name);
  std::string Relu6(const std::string& in, const std::string& name);
  std::string Silu(const std::string& in, const std::string& name);
  std::string Sigmoid(const std::string& in, const std::string& name);
  // Elementwise product with broadcasting (e.g. (C,H,W) by (C,1,1)).
  std::string Mul(const std::string& a, const std::string& b, const std::string& name);
  // Mean over H and W keeping them: (C,H,W) -> (C,1,1), PyTorch's
  // AdaptiveAvgPool2d(1).
  std::string SpatialMean(const std::string& in, const std::string& name);
  std::string Add(const std::vector<std::string>& ins, const std::string& name);
  // Concatenation along channels, in the order of `ins`.
  std::string Concat(const std::vector<std::string>& ins, const std::string& name);
  std::string MaxPool(const std::string& in, const std::string& name, int64_t kernel,
                      int64_t stride, int64_t padding);
  std::string AvgPool(const std::string& in, const std::string& name, int64_t kernel,
                      int64_t stride, int64_t padding);
  std::string GlobalAvgPool(const std::string& in, const std::string& name);
  std::string Linear(const std::string& in, const std::string& name, int64_t out_features,
                     bool bias = true);
  std::string Flatten(const std::string& in, const std::string& name);
  std::string Dropout(const std::string& in, const std::string& name, double p);
  // Transformers.
  std::string LayerNorm(const std::string& in, const std::string& name, double eps, bool bias = true);
  std::string Gelu(const std::string& in, const std::string& name);
  std::string Tanh(const std::string& in, const std::string& name);
  // Token ids (the model input) to (L, dim) rows of a (vocabulary, dim) table.
  std::string Embedding(const std::string& in, const std::string& name, int64_t vocabulary, int64_t dim);
  // A linear without a weight of its own: `embedding`'s table, (L,D) -> (L,V).
  std::string TiedLinear(const std::string& in, const std::string& name, const std::string& embedding,
                         int64_t vocabulary);
  std::string Attention(const std::string& q, const std::string& k, const std::string& v, const std::string& name,
                        int64_t heads, bool causal);
  std::string ClassToken(const std::string& in, const std::string& name);
  std::string PositionalEmbedding(const std::string& in, const std::string& name);
  std::string Reshape(const std::string& in, const std::string& name, const std::vector<int64_t>& dims);
  std::string Transpose(const std::string& in, const std::string& name, const std::vector<int64_t>& perm);
  // Elements [start, end) of batched axis `axis`.
  std::string Slice(const std::string& in, const std::string& name, int64_t axis, int64_t start, int64_t end);

  // The softmax cross-entropy loss, named "loss"; reads the logits `in`.
  std::string Loss(const std::string& in);

  // The finished spec. The builder is spent afterwards.
  v1::ModelSpec Finish() &&;

 private:
  // Appends a layer named `name` reading `ins`; aborts on a duplicate name.
  v1::Layer* Append(const std::vector<std::string>& ins, const std::string& name);

  v1::ModelSpec spec_;
  absl::flat_hash_set<std::string> names_;
};

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_MODEL_BUILDER_H_
