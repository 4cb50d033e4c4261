// See dnnl_ops.h. Primitives run through oneDNN's C API with stack-allocated
// argument arrays and persistent memory handles, so a call allocates nothing
// on our side.
#include "engine/cpu/dnnl_ops.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/cpu/vector_kernels.h"
#include "planner/status_macros.h"

namespace slimtrain::engine::cpu {

using dnnl::memory;
using Tag = memory::format_tag;

// One primitive and, when its weights format is not the user's OIHW, the
// reorder between them, with persistent memory handles (data set per call).
struct WeightedOp::Stage {
  dnnl::primitive prim;
  std::string impl;
  int64_t scratch_bytes = 0;
  bool reorder = false;  // weights (or their gradient) pass through w'
  dnnl::primitive reorder_prim;
  int64_t reorder_scratch_bytes = 0;
  int64_t prim_w_bytes = 0;  // w' in the primitive's format (aligned; 0 without reorder)
  // Handles: x-shaped and y-shaped activations, user and primitive weights,
  // bias, scratchpads.
  memory x, y, user_w, prim_w, bias, scratch, reorder_scratch;

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

// Fills the stage's weight reorder (user <-> primitive format, `to_user` for
// gradients) and handles.
void InitStage(WeightedOp::Stage& s, const dnnl::engine& engine, const dnnl::primitive_attr& attr,
               const memory::desc& user_w, const memory::desc& prim_w, bool to_user, int64_t scratch_bytes,
               const char* impl) {
  s.impl = impl;
  s.scratch_bytes = scratch_bytes;
  s.user_w = Handle(user_w, engine);
  s.reorder = prim_w != user_w;
  if (s.reorder) {
    s.prim_w = Handle(prim_w, engine);
    s.prim_w_bytes = Align64(static_cast<int64_t>(prim_w.get_size()));
    const dnnl::reorder::primitive_desc rpd = to_user
                                                  ? dnnl::reorder::primitive_desc(engine, prim_w, engine, user_w, attr)
                                                  : dnnl::reorder::primitive_desc(engine, user_w, engine, prim_w, attr);
    s.reorder_prim = dnnl::reorder(rpd);
    s.reorder_scratch_bytes = static_cast<int64_t>(rpd.scratchpad_desc().get_size());
    if (s.reorder_scratch_bytes > 0) s.reorder_scratch = Handle(rpd.scratchpad_desc(), engine);
  }
}

void SetScratch(WeightedOp::Stage& s, const dnnl::engine& engine, const memory::desc& md) {
  if (s.scratch_bytes > 0) s.scratch = Handle(md, engine);
}

// Runs the weight reorder between `from` and `to` with the stage's
// reorder scratchpad at `scratch`.
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

}  // namespace

WeightedOp::WeightedOp() = default;
WeightedOp::~WeightedOp() = default;

absl::StatusOr<std::unique_ptr<WeightedOp>> WeightedOp::Create(const dnnl::engine& engine, const planner::Node& n,
                                                               int64_t batch) {
  const bool conv = n.kind == planner::OpKind::kConv2d;
  if (!conv && n.kind != planner::OpKind::kLinear) {
    return absl::InvalidArgumentError(absl::StrCat("layer '", n.name, "' is neither conv2d nor linear"));
  }
  const planner::Dims& in = n.input_dims[0];
  const bool image = in.size() == 3;
  std::unique_ptr<WeightedOp> op(new WeightedOp());
  op->name_ = n.name;
  op->bias_ = n.bias;
  const int64_t out_channels = conv ? n.out_channels : n.out_features;
  op->dx_count_ = batch * planner::NumElements(in);
  op->dx_bytes_ = Align64(op->dx_count_ * 4);
  if (n.bias) {
    op->zero_bias_.reset(new float[out_channels]());
    op->unused_bias_grad_.reset(new float[out_channels]());
  }
  const memory::data_type f32 = memory::data_type::f32;
  const memory::desc x_md = image ? memory::desc({batch, in[0], in[1], in[2]}, f32, Tag::nhwc)
                                  : memory::desc({batch, in[0]}, f32, Tag::nc);
  const memory::desc y_md = conv ? memory::desc({batch, n.out[0], n.out[1], n.out[2]}, f32, Tag::nhwc)
                                 : memory::desc({batch, n.out_features}, f32, Tag::nc);
  const memory::desc bias_md({out_channels}, f32, Tag::x);
  memory::dims w_dims;
  Tag w_tag;
  if (conv && n.groups > 1) {
    w_dims = {n.groups, n.out_channels / n.groups, in[0] / n.groups, n.kernel, n.kernel};
    w_tag = Tag::goihw;
  } else if (image) {
    w_dims = {out_channels, in[0], conv ? n.kernel : in[1], conv ? n.kernel : in[2]};
    w_tag = Tag::oihw;
  } else {
    w_dims = {out_channels, in[0]};
    w_tag = Tag::oi;
  }
  const memory::desc user_w(w_dims, f32, w_tag);
  const memory::desc any_w(w_dims, f32, Tag::any);

  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  op->fwd_ = std::make_unique<Stage>();
  op->bwd_data_ = std::make_unique<Stage>();
  op->bwd_weights_ = std::make_unique<Stage>();
  Stage& f = *op->fwd_;
  Stage& d = *op->bwd_data_;
  Stage& w = *op->bwd_weights_;
  try {
    if (conv) {
      const memory::dims strides = {n.stride, n.stride}, dil = {n.dilation - 1, n.dilation - 1};
      const memory::dims pad_l = {n.padding, n.padding};
      // Right padding as oneDNN defines it (may be negative when the last
      // window stops short of the input's end).
      const int64_t ext = n.dilation * (n.kernel - 1) + 1;
      const memory::dims pad_r = {(n.out[1] - 1) * n.stride + ext - in[1] - n.padding,
                                  (n.out[2] - 1) * n.stride + ext - in[2] - n.padding};
      const auto algo = dnnl::algorithm::convolution_direct;
      const auto prop = dnnl::prop_kind::forward_training;
      using Fwd = dnnl::convolution_forward;
      using BwdD = dnnl::convolution_backward_data;
      using BwdW = dnnl::convolution_backward_weights;
      const Fwd::primitive_desc fpd(
          n.bias ? Fwd::desc(prop, algo, x_md, any_w, bias_md, y_md, strides, dil, pad_l, pad_r)
                 : Fwd::desc(prop, algo, x_md, any_w, y_md, strides, dil, pad_l, pad_r),
          attr, engine);
      const BwdD::primitive_desc dpd(BwdD::desc(algo, x_md, any_w, y_md, strides, dil, pad_l, pad_r), attr, engine,
                                     fpd);
      const BwdW::primitive_desc wpd(
          n.bias ? BwdW::desc(algo, x_md, any_w, bias_md, y_md, strides, dil, pad_l, pad_r)
                 : BwdW::desc(algo, x_md, any_w, y_md, strides, dil, pad_l, pad_r),
          attr, engine, fpd);
      f.prim = Fwd(fpd);
      InitStage(f, engine, attr, user_w, fpd.weights_desc(), false, fpd.scratchpad_desc().get_size(),
                fpd.impl_info_str());
      SetScratch(f, engine, fpd.scratchpad_desc());
      d.prim = BwdD(dpd);
      InitStage(d, engine, attr, user_w, dpd.weights_desc(), false, dpd.scratchpad_desc().get_size(),
                dpd.impl_info_str());
      SetScratch(d, engine, dpd.scratchpad_desc());
      w.prim = BwdW(wpd);
      InitStage(w, engine, attr, user_w, wpd.diff_weights_desc(), true, wpd.scratchpad_desc().get_size(),
                wpd.impl_info_str());
      SetScratch(w, engine, wpd.scratchpad_desc());
    } else {
      using Fwd = dnnl::inner_product_forward;
      using BwdD = dnnl::inner_product_backward_data;
      using BwdW = dnnl::inner_product_backward_weights;
      const auto prop = dnnl::prop_kind::forward_training;
      const Fwd::primitive_desc fpd(
          n.bias ? Fwd::desc(prop, x_md, any_w, bias_md, y_md) : Fwd::desc(prop, x_md, any_w, y_md), attr, engine);
      const BwdD::primitive_desc dpd(BwdD::desc(x_md, any_w, y_md), attr, engine, fpd);
      const BwdW::primitive_desc wpd(n.bias ? BwdW::desc(x_md, any_w, bias_md, y_md) : BwdW::desc(x_md, any_w, y_md),
                                     attr, engine, fpd);
      f.prim = Fwd(fpd);
      InitStage(f, engine, attr, user_w, fpd.weights_desc(), false, fpd.scratchpad_desc().get_size(),
                fpd.impl_info_str());
      SetScratch(f, engine, fpd.scratchpad_desc());
      d.prim = BwdD(dpd);
      InitStage(d, engine, attr, user_w, dpd.weights_desc(), false, dpd.scratchpad_desc().get_size(),
                dpd.impl_info_str());
      SetScratch(d, engine, dpd.scratchpad_desc());
      w.prim = BwdW(wpd);
      InitStage(w, engine, attr, user_w, wpd.diff_weights_desc(), true, wpd.scratchpad_desc().get_size(),
                wpd.impl_info_str());
      SetScratch(w, engine, wpd.scratchpad_desc());
    }
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("layer '", n.name, "': oneDNN cannot create its primitives at batch ",
                                            batch, ": ", e.what()));
  }
  for (Stage* s : {&f, &d, &w}) {
    s->x = Handle(x_md, engine);
    s->y = Handle(y_md, engine);
    if (n.bias) s->bias = Handle(bias_md, engine);
  }
  return op;
}

int64_t WeightedOp::forward_workspace_bytes() const { return fwd_->prim_w_bytes + fwd_->region_bytes(); }

int64_t WeightedOp::backward_data_workspace_bytes(bool accumulate) const {
  return bwd_data_->prim_w_bytes + (accumulate ? dx_bytes_ : 0) + bwd_data_->region_bytes();
}

int64_t WeightedOp::backward_weights_workspace_bytes() const {
  return bwd_weights_->prim_w_bytes + bwd_weights_->region_bytes();
}

void WeightedOp::Forward(const dnnl::stream& stream, const float* x, const float* w, const float* b, float* y,
                         Workspace ws) {
  CheckWorkspace(name_, "forward", ws, forward_workspace_bytes());
  SLIM_CHECK(b == nullptr || bias_);
  Stage& s = *fwd_;
  char* base = static_cast<char*>(ws.data);
  char* region = base + s.prim_w_bytes;
  Bind(s.user_w, w);
  if (s.reorder) {
    Bind(s.prim_w, base);
    RunReorder(s, stream, s.user_w, s.prim_w, region);
  }
  Bind(s.x, x);
  Bind(s.y, y);
  Args args;
  args.Add(DNNL_ARG_SRC, s.x);
  args.Add(DNNL_ARG_WEIGHTS, s.reorder ? s.prim_w : s.user_w);
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
  CheckWorkspace(name_, "backward-data", ws, backward_data_workspace_bytes(accumulate));
  Stage& s = *bwd_data_;
  char* base = static_cast<char*>(ws.data);
  float* temp = accumulate ? reinterpret_cast<float*>(base + s.prim_w_bytes) : nullptr;
  char* region = base + s.prim_w_bytes + (accumulate ? dx_bytes_ : 0);
  Bind(s.user_w, w);
  if (s.reorder) {
    Bind(s.prim_w, base);
    RunReorder(s, stream, s.user_w, s.prim_w, region);
  }
  Bind(s.y, dy);
  Bind(s.x, accumulate ? temp : dx);
  Args args;
  args.Add(DNNL_ARG_DIFF_DST, s.y);
  args.Add(DNNL_ARG_WEIGHTS, s.reorder ? s.prim_w : s.user_w);
  args.Add(DNNL_ARG_DIFF_SRC, s.x);
  if (s.scratch_bytes > 0) {
    Bind(s.scratch, region);
    args.Add(DNNL_ARG_SCRATCHPAD, s.scratch);
  }
  args.Run(s.prim, stream);
  if (accumulate) Copy(dx_count_, temp, dx, /*accumulate=*/true, threads);
}

void WeightedOp::BackwardWeights(const dnnl::stream& stream, const float* x, const float* dy, float* dw,
                                 float* db, Workspace ws) {
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
  return absl::StrCat(one("fwd", *fwd_), "; ", one("bwd_data", *bwd_data_), "; ", one("bwd_weights", *bwd_weights_));
}

absl::StatusOr<WeightedOp*> WeightedOpCache::Get(const planner::Node& n, int64_t batch) {
  if (n.input_dims.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("layer '", n.name, "' must have one input"));
  }
  const planner::Dims& in = n.input_dims[0];
  auto dim = [](const planner::Dims& d, size_t i) { return i < d.size() ? d[i] : int64_t{-1}; };
  const Key key = {static_cast<int64_t>(n.kind), batch, dim(in, 0), dim(in, 1), dim(in, 2),
                   dim(n.out, 0), dim(n.out, 1), dim(n.out, 2), n.kernel, n.stride, n.padding, n.dilation,
                   n.groups, n.bias ? 1 : 0};
  absl::MutexLock lock(&mu_);
  auto it = ops_.find(key);
  if (it != ops_.end()) return it->second.get();
  absl::StatusOr<std::unique_ptr<WeightedOp>> op = WeightedOp::Create(engine_, n, batch);
  if (!op.ok()) return op.status();
  WeightedOp* raw = op->get();
  ops_.emplace(key, *std::move(op));
  return raw;
}

}  // namespace slimtrain::engine::cpu
