#include "planner/model_builder.h"

#include <cstdio>
#include <utility>

#include "base/status_macros.h"

namespace slimtrain::planner {

ModelBuilder::ModelBuilder(std::string name, std::string description,
                           std::vector<int64_t> input_dims, int64_t num_classes) {
  spec_.set_name(std::move(name));
  spec_.set_description(std::move(description));
  for (int64_t d : input_dims) spec_.mutable_input()->add_dims(d);
  spec_.set_num_classes(num_classes);
  names_.insert("input");
}

v1::Layer* ModelBuilder::Append(const std::vector<std::string>& ins, const std::string& name) {
  const bool fresh = names_.insert(name).second;
  if (!fresh)
    std::fprintf(stderr, "zoo model '%s': duplicate layer '%s'\n", spec_.name().c_str(),
                 name.c_str());
  SLIM_CHECK(fresh);
  v1::Layer* layer = spec_.add_layers();
  layer->set_name(name);
  for (const std::string& in : ins) layer->add_inputs(in);
  return layer;
}

std::string ModelBuilder::Conv(const std::string& in, const std::string& name, int64_t out_channels,
                               int64_t kernel, int64_t stride, int64_t padding, bool bias, int64_t groups) {
  v1::Conv2d* conv = Append({in}, name)->mutable_conv2d();
  conv->set_out_channels(out_channels);
  conv->set_kernel_size(kernel);
  if (stride != 1) conv->set_stride(stride);
  if (groups != 1) conv->set_groups(groups);
  conv->set_padding(padding);
  conv->set_bias(bias);
  return name;
}

std::string ModelBuilder::BatchNorm(const std::string& in, const std::string& name) {
  Append({in}, name)->mutable_batch_norm();
  return name;
}

std::string ModelBuilder::Relu(const std::string& in, const std::string& name) {
  Append({in}, name)->mutable_relu();
  return name;
}

std::string ModelBuilder::Relu6(const std::string& in, const std::string& name) {
  Append({in}, name)->mutable_relu6();
  return name;
}

std::string ModelBuilder::Silu(const std::string& in, const std::string& name) {
  Append({in}, name)->mutable_silu();
  return name;
}

std::string ModelBuilder::Sigmoid(const std::string& in, const std::string& name) {
  Append({in}, name)->mutable_sigmoid();
  return name;
}

std::string ModelBuilder::Mul(const std::string& a, const std::string& b, const std::string& name) {
  Append({a, b}, name)->mutable_mul();
  return name;
}

std::string ModelBuilder::SpatialMean(const std::string& in, const std::string& name) {
  v1::ReduceMean* mean = Append({in}, name)->mutable_reduce_mean();
  mean->add_axes(2);
  mean->add_axes(3);
  mean->set_keepdim(true);
  return name;
}

std::string ModelBuilder::Add(const std::vector<std::string>& ins, const std::string& name) {
  Append(ins, name)->mutable_add();
  return name;
}

std::string ModelBuilder::Concat(const std::vector<std::string>& ins, const std::string& name) {
  Append(ins, name)->mutable_concat();
  return name;
}

std::string ModelBuilder::MaxPool(const std::string& in, const std::string& name, int64_t kernel,
                                  int64_t stride, int64_t padding) {
  v1::MaxPool* pool = Append({in}, name)->mutable_max_pool();
  pool->set_kernel_size(kernel);
  pool->set_stride(stride);
  pool->set_padding(padding);
  return name;
}

std::string ModelBuilder::AvgPool(const std::string& in, const std::string& name, int64_t kernel,
                                  int64_t stride, int64_t padding) {
  v1::AvgPool* pool = Append({in}, name)->mutable_avg_pool();
  pool->set_kernel_size(kernel);
  pool->set_stride(stride);
  pool->set_padding(padding);
  return name;
}

std::string ModelBuilder::GlobalAvgPool(const std::string& in, const std::string& name) {
  Append({in}, name)->mutable_global_avg_pool();
  return name;
}

std::string ModelBuilder::Linear(const std::string& in, const std::string& name,
                                 int64_t out_features, bool bias) {
  v1::Linear* linear = Append({in}, name)->mutable_linear();
  linear->set_out_features(out_features);
  linear->set_bias(bias);
  return name;
}

std::string ModelBuilder::Flatten(const std::string& in, const std::string& name) {
  Append({in}, name)->mutable_flatten();
  return name;
}

std::string ModelBuilder::Dropout(const std::string& in, const std::string& name, double p) {
  Append({in}, name)->mutable_dropout()->set_p(p);
  return name;
}

std::string ModelBuilder::LayerNorm(const std::string& in, const std::string& name, double eps, bool bias) {
  v1::LayerNorm* l = Append({in}, name)->mutable_layer_norm();
  l->set_eps(eps);
  if (!bias) l->set_bias(false);
  return name;
}

std::string ModelBuilder::Tanh(const std::string& in, const std::string& name) {
  Append({in}, name)->mutable_tanh();
  return name;
}

std::string ModelBuilder::Embedding(const std::string& in, const std::string& name, int64_t vocabulary,
                                    int64_t dim) {
  v1::Embedding* e = Append({in}, name)->mutable_embedding();
  e->set_num_embeddings(vocabulary);
  e->set_embedding_dim(dim);
  return name;
}

std::string ModelBuilder::TiedLinear(const std::string& in, const std::string& name, const std::string& embedding,
                                     int64_t vocabulary) {
  v1::Linear* linear = Append({in}, name)->mutable_linear();
  linear->set_out_features(vocabulary);
  linear->set_bias(false);
  linear->set_tied_to(embedding);
  return name;
}

std::string ModelBuilder::Gelu(const std::string& in, const std::string& name) {
  Append({in}, name)->mutable_gelu();
  return name;
}

std::string ModelBuilder::Attention(const std::string& q, const std::string& k, const std::string& v,
                                    const std::string& name, int64_t heads, bool causal) {
  v1::Attention* a = Append({q, k, v}, name)->mutable_attention();
  a->set_heads(heads);
  a->set_causal(causal);
  return name;
}

std::string ModelBuilder::ClassToken(const std::string& in, const std::string& name) {
  Append({in}, name)->mutable_class_token();
  return name;
}

std::string ModelBuilder::PositionalEmbedding(const std::string& in, const std::string& name) {
  Append({in}, name)->mutable_positional_embedding();
  return name;
}

std::string ModelBuilder::Reshape(const std::string& in, const std::string& name, const std::vector<int64_t>& dims) {
  v1::Reshape* r = Append({in}, name)->mutable_reshape();
  for (int64_t d : dims) r->add_dims(d);
  return name;
}

std::string ModelBuilder::Transpose(const std::string& in, const std::string& name,
                                    const std::vector<int64_t>& perm) {
  v1::Transpose* t = Append({in}, name)->mutable_transpose();
  for (int64_t p : perm) t->add_perm(p);
  return name;
}

std::string ModelBuilder::Slice(const std::string& in, const std::string& name, int64_t axis, int64_t start,
                                int64_t end) {
  v1::Slice* s = Append({in}, name)->mutable_slice();
  s->set_axis(axis);
  s->set_start(start);
  s->set_end(end);
  return name;
}

std::string ModelBuilder::Loss(const std::string& in) {
  Append({in}, "loss")->mutable_softmax_cross_entropy();
  return "loss";
}

v1::ModelSpec ModelBuilder::Finish() && { return std::move(spec_); }

}  // namespace slimtrain::planner
