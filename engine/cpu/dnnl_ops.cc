// See dnnl_ops.h. Primitives run through oneDNN's C API with stack-allocated
// argument arrays and persistent memory handles, so a call allocates nothing
// on our side.
#include "engine/cpu/dnnl_ops.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "engine/cpu/vector_kernels.h"

namespace slimtrain::engine::cpu {

using dnnl::memory;
using Tag = memory::format_tag;

// One primitive and, when its weights format is not the user's OIHW, the
// reorder between them, with persistent memory handles (data set per call).
struct WeightedOp::Stage {
  dnnl::primitive prim;
  std::string impl;
  int64_t batch = 0;
  int64_t scratch_bytes = 0;
  bool reorder = false;  // weights (or their gradient) pass through w'
  dnnl::primitive reorder_prim;
  int64_t reorder_scratch_bytes = 0;
  int64_t prim_w_bytes = 0;  // w' in the primitive's format (aligned; 0 without reorder)
  // Handles: x-shaped and y-shaped activations, user and primitive weights,
  // bias, scratchpads.
  memory x, y, user_w, prim_w, bias, scratch, reorder_scratch;

  // The scratchpads' region: the reorder's and the primitive's never run at
  // the same time.
  int64_t region_bytes() const { return Align64(std::max(scratch_bytes, reorder_scratch_bytes)); }
};

namespace {

memory Handle(const memory::desc& md, const dnnl::engine& engine) { return memory(md, engine, DNNL_MEMORY_NONE); }

void Bind(const memory& m, const void* p) { m.set_data_handle(const_cast<void*>(p)); }

// Argument list on the stack.
class Args {
 public:
  void Add(int id, const memory& m) { args_[n_++] = dnnl_exec_arg_t{id, m.get()}; }
  void Run(const dnnl::primitive& p, const dnnl::stream& s) const {
    const dnnl_status_t status = dnnl_primitive_execute(p.get(), s.get(), n_, args_);
    SLIM_CHECK(status == dnnl_success);
  }

 private:
  dnnl_exec_arg_t args_[8];
  int n_ = 0;
};

void CheckWorkspace(const std::string& name, const char* pass, const Workspace& ws, int64_t need) {
  if (ws.bytes >= need && (need == 0 || ws.data != nullptr)) return;
  std::fprintf(stderr,
               "fast backend: layer '%s' %s needs a workspace of %lld bytes, got %lld (a plan made with another "
               "cost model?)\n",
               name.c_str(), pass, static_cast<long long>(need), static_cast<long long>(ws.bytes));
  std::abort();
}

// The memory descriptors of conv2d or linear node `n` at `batch`, and its
// primitive descriptors (oneDNN throws dnnl::error on failure).
class Layer {
 public:
  Layer(const planner::Node& n, int64_t batch) : n_(n), conv_(n.kind == planner::OpKind::kConv2d) {
    const planner::Dims& in = n.input_dims[0];
    const bool image = in.size() == 3;
    const memory::data_type f32 = memory::data_type::f32;
    const int64_t out = conv_ ? n.out_channels : n.out_features;
    x = image ? memory::desc({batch, in[0], in[1], in[2]}, f32, Tag::nhwc) : memory::desc({batch, in[0]}, f32, Tag::nc);
    y = conv_ ? memory::desc({batch, n.out[0], n.out[1], n.out[2]}, f32, Tag::nhwc)
              : memory::desc({batch, n.out_features}, f32, Tag::nc);
    bias = memory::desc({out}, f32, Tag::x);
    memory::dims w_dims;
    Tag w_tag;
    if (conv_ && n.groups > 1) {
      w_dims = {n.groups, n.out_channels / n.groups, in[0] / n.groups, n.kernel_h, n.kernel_w};
      w_tag = Tag::goihw;
    } else if (image) {
      w_dims = {out, in[0], conv_ ? n.kernel_h : in[1], conv_ ? n.kernel_w : in[2]};
      w_tag = Tag::oihw;
    } else {
      w_dims = {out, in[0]};
      w_tag = Tag::oi;
    }
    user_w = memory::desc(w_dims, f32, w_tag);
    any_w = memory::desc(w_dims, f32, Tag::any);
    if (conv_) {
      strides_ = {n.stride_h, n.stride_w};
      dil_ = {n.dilation_h - 1, n.dilation_w - 1};
      pad_l_ = {n.pad_top, n.pad_left};
      // Right padding as oneDNN defines it (negative when the last window
      // stops short of the input's end; the bottom and right padding when
      // it reaches them).
      const int64_t ext_h = n.dilation_h * (n.kernel_h - 1) + 1, ext_w = n.dilation_w * (n.kernel_w - 1) + 1;
      pad_r_ = {(n.out[1] - 1) * n.stride_h + ext_h - in[1] - n.pad_top,
                (n.out[2] - 1) * n.stride_w + ext_w - in[2] - n.pad_left};
    }
  }

  // Forward, backward-data and backward-weights primitive descriptors; the
  // backward ones only when asked.
  struct Pds {
    dnnl::primitive_desc fwd, data, weights;
  };
  Pds Create(const dnnl::engine& e, const dnnl::primitive_attr& attr, bool data, bool weights) const {
    Pds p;
    const auto prop = dnnl::prop_kind::forward_training;
    if (conv_) {
      using Fwd = dnnl::convolution_forward;
      using BwdD = dnnl::convolution_backward_data;
      using BwdW = dnnl::convolution_backward_weights;
      const auto algo = dnnl::algorithm::convolution_direct;
      const Fwd::primitive_desc fpd(
          n_.bias ? Fwd::desc(prop, algo, x, any_w, bias, y, strides_, dil_, pad_l_, pad_r_)
                  : Fwd::desc(prop, algo, x, any_w, y, strides_, dil_, pad_l_, pad_r_),
          attr, e);
      p.fwd = fpd;
      if (data) p.data = BwdD::primitive_desc(BwdD::desc(algo, x, any_w, y, strides_, dil_, pad_l_, pad_r_), attr, e, fpd);
      if (weights) {
        p.weights = BwdW::primitive_desc(n_.bias ? BwdW::desc(algo, x, any_w, bias, y, strides_, dil_, pad_l_, pad_r_)
                                                 : BwdW::desc(algo, x, any_w, y, strides_, dil_, pad_l_, pad_r_),
                                         attr, e, fpd);
      }
    } else {
      using Fwd = dnnl::inner_product_forward;
      using BwdD = dnnl::inner_product_backward_data;
      using BwdW = dnnl::inner_product_backward_weights;
      const Fwd::primitive_desc fpd(n_.bias ? Fwd::desc(prop, x, any_w, bias, y) : Fwd::desc(prop, x, any_w, y), attr,
                                    e);
      p.fwd = fpd;
      if (data) p.data = BwdD::primitive_desc(BwdD::desc(x, any_w, y), attr, e, fpd);
      if (weights) {
        p.weights = BwdW::primitive_desc(n_.bias ? BwdW::desc(x, any_w, bias, y) : BwdW::desc(x, any_w, y), attr, e, fpd);
      }
    }
    return p;
  }

  memory::desc x, y, bias, user_w, any_w;

 private:
  const planner::Node& n_;
  bool conv_;
  memory::dims strides_, dil_, pad_l_, pad_r_;
};

// A stage running `pd`, whose weights (or, `to_user`, weight gradient) have
// the primitive's format `prim_w`.
std::unique_ptr<WeightedOp::Stage> NewStage(const dnnl::engine& engine, const dnnl::primitive_attr& attr,
                                            const Layer& layer, int64_t batch, bool bias,
                                            const dnnl::primitive_desc& pd, const memory::desc& prim_w,
                                            bool to_user, bool runnable) {
  auto s = std::make_unique<WeightedOp::Stage>();
  if (runnable) s->prim = dnnl::primitive(pd);
  s->impl = pd.impl_info_str();
  s->batch = batch;
  s->scratch_bytes = static_cast<int64_t>(pd.scratchpad_desc().get_size());
  if (s->scratch_bytes > 0) s->scratch = Handle(pd.scratchpad_desc(), engine);
  s->user_w = Handle(layer.user_w, engine);
  s->reorder = prim_w != layer.user_w;
  if (s->reorder) {
    s->prim_w = Handle(prim_w, engine);
    s->prim_w_bytes = Align64(static_cast<int64_t>(prim_w.get_size()));
    const dnnl::reorder::primitive_desc rpd =
        to_user ? dnnl::reorder::primitive_desc(engine, prim_w, engine, layer.user_w, attr)
                : dnnl::reorder::primitive_desc(engine, layer.user_w, engine, prim_w, attr);
    if (runnable) s->reorder_prim = dnnl::reorder(rpd);
    s->reorder_scratch_bytes = static_cast<int64_t>(rpd.scratchpad_desc().get_size());
    if (s->reorder_scratch_bytes > 0) s->reorder_scratch = Handle(rpd.scratchpad_desc(), engine);
  }
  s->x = Handle(layer.x, engine);
  s->y = Handle(layer.y, engine);
  if (bias) s->bias = Handle(layer.bias, engine);
  return s;
}

// Runs the stage's weight reorder between `from` and `to` with its reorder
// scratchpad at `scratch`.
void RunReorder(const WeightedOp::Stage& s, const dnnl::stream& stream, const memory& from, const memory& to,
                char* scratch) {
  Args args;
  args.Add(DNNL_ARG_FROM, from);
  args.Add(DNNL_ARG_TO, to);
  if (s.reorder_scratch_bytes > 0) {
    Bind(s.reorder_scratch, scratch);
    args.Add(DNNL_ARG_SCRATCHPAD, s.reorder_scratch);
  }
  args.Run(s.reorder_prim, stream);
}

// The stage's weights in the primitive's layout: the user's `w` itself, or its
// reorder into `wbuf` (scratch at `region`).
const memory& PrimitiveWeights(const WeightedOp::Stage& s, const dnnl::stream& stream, const float* w, char* wbuf,
                               char* region) {
  Bind(s.user_w, w);
  if (!s.reorder) return s.user_w;
  Bind(s.prim_w, wbuf);
  RunReorder(s, stream, s.user_w, s.prim_w, region);
  return s.prim_w;
}

// Backward-data of stage s: dx (x-shaped) from dy, the user's weights w, the
// primitive's weights at `wbuf` and scratchpads at `region`.
void RunBackwardData(const WeightedOp::Stage& s, const dnnl::stream& stream, const float* dy, const float* w,
                     float* dx, char* wbuf, char* region) {
  const memory& weights = PrimitiveWeights(s, stream, w, wbuf, region);
  Bind(s.y, dy);
  Bind(s.x, dx);
  Args args;
  args.Add(DNNL_ARG_DIFF_DST, s.y);
  args.Add(DNNL_ARG_WEIGHTS, weights);
  args.Add(DNNL_ARG_DIFF_SRC, s.x);
  if (s.scratch_bytes > 0) {
    Bind(s.scratch, region);
    args.Add(DNNL_ARG_SCRATCHPAD, s.scratch);
  }
  args.Run(s.prim, stream);
}

}  // namespace

WeightedOp::WeightedOp() = default;
WeightedOp::~WeightedOp() = default;

void WeightedOp::CheckRunnable(const char* pass) const {
  if (runnable_) return;
  std::fprintf(stderr, "layer '%s': %s on an op created for its workspace sizes alone (planning)\n", name_.c_str(),
               pass);
  std::abort();
}

absl::StatusOr<std::unique_ptr<WeightedOp>> WeightedOp::Create(const dnnl::engine& engine, const planner::Node& n,
                                                               int64_t batch, bool runnable) {
  const bool conv = n.kind == planner::OpKind::kConv2d;
  if ((!conv && n.kind != planner::OpKind::kLinear) || n.input_dims.size() != 1 || batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer '", n.name, "': oneDNN ops are for conv2d and linear with one input, batch >= 1"));
  }
  std::unique_ptr<WeightedOp> op(new WeightedOp());
  op->name_ = n.name;
  op->runnable_ = runnable;
  op->bias_ = n.bias;
  op->batch_ = batch;
  op->dx_example_ = planner::NumElements(n.input_dims[0]);
  op->dy_example_ = planner::NumElements(n.out);
  // Accumulating backward-data computes `chunk` examples at a time into the
  // workspace and adds them to dx.
  op->chunk_ = std::clamp<int64_t>(kAccumulateChunkBytes / (op->dx_example_ * 4), 1, batch);
  if (n.bias) {
    const int64_t out = conv ? n.out_channels : n.out_features;
    op->zero_bias_.reset(new float[out]());
    op->unused_bias_grad_.reset(new float[out]());
  }
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  try {
    const Layer layer(n, batch);
    const Layer::Pds pds = layer.Create(engine, attr, /*data=*/true, /*weights=*/true);
    op->fwd_ = NewStage(engine, attr, layer, batch, n.bias, pds.fwd, pds.fwd.weights_desc(), false, runnable);
    op->bwd_data_ = NewStage(engine, attr, layer, batch, false, pds.data, pds.data.weights_desc(), false, runnable);
    op->bwd_weights_ = NewStage(engine, attr, layer, batch, n.bias, pds.weights, pds.weights.diff_weights_desc(),
                                true, runnable);
    for (const int64_t b : {op->chunk_, batch % op->chunk_}) {
      if (b == 0 || b == batch) continue;
      const Layer part(n, b);
      const Layer::Pds p = part.Create(engine, attr, /*data=*/true, /*weights=*/false);
      (b == op->chunk_ ? op->acc_chunk_ : op->acc_rest_) =
          NewStage(engine, attr, part, b, false, p.data, p.data.weights_desc(), false, runnable);
    }
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("layer '", n.name, "': oneDNN cannot create its primitives at batch ",
                                            batch, ": ", e.what()));
  }
  return op;
}

int64_t WeightedOp::forward_workspace_bytes() const { return fwd_->prim_w_bytes + fwd_->region_bytes(); }

WeightedOp::AccumulateLayout WeightedOp::accumulate_layout() const {
  AccumulateLayout l;
  int64_t region = 0;
  for (const Stage* s : {acc_chunk_ ? acc_chunk_.get() : bwd_data_.get(), acc_rest_.get()}) {
    if (s == nullptr) continue;
    l.temp = std::max(l.temp, s->prim_w_bytes);
    region = std::max(region, s->region_bytes());
  }
  l.region = l.temp + Align64(chunk_ * dx_example_ * 4);
  l.total = l.region + region;
  return l;
}

int64_t WeightedOp::backward_data_workspace_bytes(bool accumulate) const {
  if (!accumulate) return bwd_data_->prim_w_bytes + bwd_data_->region_bytes();
  return accumulate_layout().total;
}

int64_t WeightedOp::backward_weights_workspace_bytes() const {
  return bwd_weights_->prim_w_bytes + bwd_weights_->region_bytes();
}

void WeightedOp::Forward(const dnnl::stream& stream, const float* x, const float* w, const float* b, float* y,
                         Workspace ws) {
  CheckRunnable("forward");
  CheckWorkspace(name_, "forward", ws, forward_workspace_bytes());
  SLIM_CHECK(b == nullptr || bias_);
  Stage& s = *fwd_;
  char* base = static_cast<char*>(ws.data);
  char* region = base + s.prim_w_bytes;
  const memory& weights = PrimitiveWeights(s, stream, w, base, region);
  Bind(s.x, x);
  Bind(s.y, y);
  Args args;
  args.Add(DNNL_ARG_SRC, s.x);
  args.Add(DNNL_ARG_WEIGHTS, weights);
  if (bias_) {
    Bind(s.bias, b != nullptr ? b : zero_bias_.get());
    args.Add(DNNL_ARG_BIAS, s.bias);
  }
  args.Add(DNNL_ARG_DST, s.y);
  if (s.scratch_bytes > 0) {
    Bind(s.scratch, region);
    args.Add(DNNL_ARG_SCRATCHPAD, s.scratch);
  }
  args.Run(s.prim, stream);
}

void WeightedOp::BackwardData(const dnnl::stream& stream, const float* dy, const float* w, float* dx,
                              bool accumulate, Workspace ws, int threads) {
  CheckRunnable("backward-data");
  const int64_t need = backward_data_workspace_bytes(accumulate);
  CheckWorkspace(name_, "backward-data", ws, need);
  char* base = static_cast<char*>(ws.data);
  if (!accumulate) {
    RunBackwardData(*bwd_data_, stream, dy, w, dx, base, base + bwd_data_->prim_w_bytes);
    return;
  }
  // [w' | temp: chunk examples of dx | scratchpads]
  const AccumulateLayout l = accumulate_layout();
  float* temp = reinterpret_cast<float*>(base + l.temp);
  char* region = base + l.region;
  const Stage& main = acc_chunk_ ? *acc_chunk_ : *bwd_data_;
  int64_t first = 0;
  for (; first + chunk_ <= batch_; first += chunk_) {
    // The weights are reordered once per stage: later chunks reuse w'.
    if (first == 0) {
      RunBackwardData(main, stream, dy, w, temp, base, region);
    } else {
      Bind(main.y, dy + first * dy_example_);
      Bind(main.x, temp);
      Args args;
      args.Add(DNNL_ARG_DIFF_DST, main.y);
      args.Add(DNNL_ARG_WEIGHTS, main.reorder ? main.prim_w : main.user_w);
      args.Add(DNNL_ARG_DIFF_SRC, main.x);
      if (main.scratch_bytes > 0) args.Add(DNNL_ARG_SCRATCHPAD, main.scratch);
      args.Run(main.prim, stream);
    }
    Copy(chunk_ * dx_example_, temp, dx + first * dx_example_, /*accumulate=*/true, threads);
  }
  if (first < batch_) {
    RunBackwardData(*acc_rest_, stream, dy + first * dy_example_, w, temp, base, region);
    Copy((batch_ - first) * dx_example_, temp, dx + first * dx_example_, /*accumulate=*/true, threads);
  }
}

void WeightedOp::BackwardWeights(const dnnl::stream& stream, const float* x, const float* dy, float* dw,
                                 float* db, Workspace ws) {
  CheckRunnable("backward-weights");
  CheckWorkspace(name_, "backward-weights", ws, backward_weights_workspace_bytes());
  SLIM_CHECK(db == nullptr || bias_);
  Stage& s = *bwd_weights_;
  char* base = static_cast<char*>(ws.data);
  char* region = base + s.prim_w_bytes;
  Bind(s.user_w, dw);
  if (s.reorder) Bind(s.prim_w, base);
  Bind(s.x, x);
  Bind(s.y, dy);
  Args args;
  args.Add(DNNL_ARG_SRC, s.x);
  args.Add(DNNL_ARG_DIFF_DST, s.y);
  args.Add(DNNL_ARG_DIFF_WEIGHTS, s.reorder ? s.prim_w : s.user_w);
  if (bias_) {
    Bind(s.bias, db != nullptr ? db : unused_bias_grad_.get());
    args.Add(DNNL_ARG_DIFF_BIAS, s.bias);
  }
  if (s.scratch_bytes > 0) {
    Bind(s.scratch, region);
    args.Add(DNNL_ARG_SCRATCHPAD, s.scratch);
  }
  args.Run(s.prim, stream);
  if (s.reorder) RunReorder(s, stream, s.prim_w, s.user_w, region);
}

std::string WeightedOp::Describe() const {
  auto one = [](const char* what, const Stage& s) {
    return absl::StrCat(what, " ", s.impl, s.reorder ? " (weights reordered)" : "");
  };
  return absl::StrCat(one("fwd", *fwd_), "; ", one("bwd_data", *bwd_data_), "; ", one("bwd_weights", *bwd_weights_),
                      "; accumulating bwd_data in chunks of ", chunk_, " examples");
}

absl::StatusOr<WeightedOp*> WeightedOpCache::Get(const planner::Node& n, int64_t batch) {
  if (n.input_dims.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("layer '", n.name, "' must have one input"));
  }
  const planner::Dims& in = n.input_dims[0];
  auto dim = [](const planner::Dims& d, size_t i) { return i < d.size() ? d[i] : int64_t{-1}; };
  const Key key = {static_cast<int64_t>(n.kind), batch, dim(in, 0), dim(in, 1), dim(in, 2),
                   dim(n.out, 0), dim(n.out, 1), dim(n.out, 2), n.kernel_h, n.kernel_w, n.stride_h, n.stride_w,
                   n.pad_top, n.pad_left, n.pad_bottom, n.pad_right, n.dilation_h, n.dilation_w,
                   n.groups, n.bias ? 1 : 0};
  absl::MutexLock lock(&mu_);
  auto it = ops_.find(key);
  if (it != ops_.end()) return it->second.get();
  absl::StatusOr<std::unique_ptr<WeightedOp>> op = WeightedOp::Create(engine_, n, batch, runnable_);
  if (!op.ok()) return op.status();
  WeightedOp* raw = op->get();
  ops_.emplace(key, *std::move(op));
  return raw;
}

}  // namespace slimtrain::engine::cpu
