// See executor.h: running the steps (Create and CreateFromPlan are in
// executor_create.cc, the backward steps in executor_backward.cc,
// data parallelism in executor_comm.cc).
#include "engine/executor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/shape_views.h"
#include "planner/planner.h"

namespace slimtrain::engine {

using planner::Node;
using planner::OpKind;
using planner::Role;
using planner::ScheduleStep;

namespace {

double ReadScalar(DType t, const void* p) {
  return t == DType::kF32 ? *static_cast<const float*>(p) : *static_cast<const double*>(p);
}

}  // namespace

Executor::Executor(const planner::Graph& graph, v1::MemoryPlan plan, planner::Schedule schedule, Backend* backend,
                   const ExecutorOptions& options, DeviceBuffer arena)
    : graph_(graph),
      plan_(std::move(plan)),
      schedule_(std::move(schedule)),
      backend_(backend),
      options_(options),
      arena_(std::move(arena)),
      params_(graph_, backend->dtype(), planner::OptimizerStateSlots(options.optimizer.kind).value()) {
  params_.Initialize(options.seed);
  offset_.resize(plan_.buffers_size());
  for (int i = 0; i < plan_.buffers_size(); ++i) offset_[i] = plan_.buffers(i).offset_bytes();
  blocks_ = planner::StorageBlocks(schedule_);
  blocks_starting_.resize(schedule_.steps.size());
  blocks_ending_.resize(schedule_.steps.size());
  for (int b = 0; b < static_cast<int>(blocks_.size()); ++b) {
    blocks_starting_[blocks_[b].first_step].push_back(b);
    blocks_ending_[blocks_[b].last_step].push_back(b);
  }
  table_tied_.assign(graph_.size(), false);
  for (const Node& n : graph_.nodes()) {
    if (n.tied_to >= 0) table_tied_[n.tied_to] = true;
  }
  buckets_after_step_.resize(schedule_.steps.size());
  for (int k = 0; k < static_cast<int>(schedule_.buckets.size()); ++k) {
    buckets_after_step_[schedule_.buckets[k].ready_step].push_back(k);
  }
}

void* Executor::Ptr(const ScheduleStep& step, Role role, int index) {
  const planner::Operand* o = step.Find(role, index);
  return o == nullptr ? nullptr : arena_.data() + offset_[o->buffer];
}

bool Executor::Accumulates(const ScheduleStep& step, int index) {
  const planner::Operand* o = step.Find(Role::kInputGrad, index);
  return o != nullptr && o->read;
}

Workspace Executor::WorkspaceOf(const ScheduleStep& step) {
  const planner::Operand* o = step.Find(Role::kWorkspace);
  if (o == nullptr) return {};
  return {arena_.data() + offset_[o->buffer], schedule_.buffers[o->buffer].size_bytes};
}

void Executor::Poison(int block) {
  // 0xFF bytes: a NaN in float and double, -1 in int32.
  int64_t offset = offset_[blocks_[block].buffers[0]];
  backend_->Fill(arena_.data() + offset, 0xFF, blocks_[block].size_bytes);
}

absl::StatusOr<StepResult> Executor::TrainStep(const float* images, const int32_t* labels, double learning_rate) {
  return Run(images, labels, Mode::kTrain, learning_rate);
}

absl::StatusOr<StepResult> Executor::TrainStep(const float* images, const float* targets, double learning_rate) {
  return RunWithTargets(images, targets, Mode::kTrain, learning_rate);
}

absl::StatusOr<StepResult> Executor::ForwardBackward(const float* images, const int32_t* labels) {
  return Run(images, labels, Mode::kForwardBackward, 0.0);
}

absl::StatusOr<StepResult> Executor::ForwardBackward(const float* images, const float* targets) {
  return RunWithTargets(images, targets, Mode::kForwardBackward, 0.0);
}

absl::StatusOr<StepResult> Executor::Evaluate(const float* images, const int32_t* labels, int64_t valid) {
  if (valid > schedule_.batch) {
    return absl::InvalidArgumentError(absl::StrFormat("valid %d > batch %d", valid, schedule_.batch));
  }
  valid_ = valid < 0 ? schedule_.batch : valid;
  absl::StatusOr<StepResult> r = Run(images, labels, Mode::kEvaluate, 0.0);
  valid_ = schedule_.batch;
  return r;
}

absl::StatusOr<StepResult> Executor::Evaluate(const float* images, const float* targets, int64_t valid) {
  if (valid > schedule_.batch) {
    return absl::InvalidArgumentError(absl::StrFormat("valid %d > batch %d", valid, schedule_.batch));
  }
  valid_ = valid < 0 ? schedule_.batch : valid;
  absl::StatusOr<StepResult> r = RunWithTargets(images, targets, Mode::kEvaluate, 0.0);
  valid_ = schedule_.batch;
  return r;
}

absl::Status Executor::Predict(const float* images, float* logits) {
  logits_out_ = logits;
  absl::StatusOr<StepResult> r;
  if (planner::TargetsPerExample(graph_) > 0) {
    const std::vector<float> targets(schedule_.batch * planner::TargetsPerExample(graph_), 0.0f);
    r = Evaluate(images, targets.data());
  } else {
    const std::vector<int32_t> labels(schedule_.batch * planner::LabelsPerExample(graph_), 0);
    r = Evaluate(images, labels.data());
  }
  logits_out_ = nullptr;
  return r.status();
}

absl::StatusOr<StepResult> Executor::RunWithTargets(const float* images, const float* targets, Mode mode,
                                                    double learning_rate) {
  const int64_t per_example = planner::TargetsPerExample(graph_);
  if (per_example == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "model '%s' ends in %s, which takes integer labels, not float targets", graph_.spec().name(),
        planner::OpKindName(graph_.node(graph_.loss()).kind)));
  }
  for (int64_t i = 0; i < schedule_.batch * per_example; ++i) {
    if (!std::isfinite(targets[i])) {
      return absl::InvalidArgumentError(absl::StrFormat("targets[%d][%d] is %g: targets must be finite",
                                                        i / per_example, i % per_example, targets[i]));
    }
  }
  targets_ = targets;
  absl::StatusOr<StepResult> r = Run(images, nullptr, mode, learning_rate);
  targets_ = nullptr;
  return r;
}

absl::StatusOr<StepResult> Executor::Run(const float* images, const int32_t* labels, Mode mode,
                                         double learning_rate) {
  const int64_t classes = graph_.spec().num_classes();
  if (mode != Mode::kEvaluate) valid_ = schedule_.batch;
  if (planner::TargetsPerExample(graph_) > 0 && targets_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "model '%s' ends in mse_loss, which takes float targets (the overload with const float*), not labels",
        graph_.spec().name()));
  }
  const int64_t per_example = planner::LabelsPerExample(graph_);
  for (int64_t i = 0; i < schedule_.batch * per_example; ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      return absl::InvalidArgumentError(
          per_example == 1 ? absl::StrFormat("labels[%d] is %d, outside [0, %d)", i, labels[i], classes)
                           : absl::StrFormat("labels[%d][%d] is %d, outside [0, %d)", i / per_example,
                                             i % per_example, labels[i], classes));
    }
  }
  // Token ids of an embedding on the input: whole numbers in [0, V).
  for (int c : graph_.node(0).consumers) {
    const Node& e = graph_.node(c);
    if (e.kind != OpKind::kEmbedding) continue;
    const int64_t length = e.out[0];
    for (int64_t i = 0; i < schedule_.batch * length; ++i) {
      const float id = images[i];
      if (!(id >= 0 && id < static_cast<float>(e.vocabulary)) || id != std::floor(id)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "input[%d][%d] is %g: embedding '%s' needs token ids, whole numbers in [0, %d)", i / length, i % length,
            id, e.name, e.vocabulary));
      }
    }
  }
  StepResult result;
  const int end = mode == Mode::kEvaluate ? schedule_.backward_begin : static_cast<int>(schedule_.steps.size());
  for (int t = 0; t < end; ++t) {
    const ScheduleStep& step = schedule_.steps[t];
    // Data-parallel: every rank's gradients summed before the optimizer.
    if (step.kind == v1::Step::OPTIMIZER && mode != Mode::kEvaluate && data_parallel()) {
      SLIM_RETURN_IF_ERROR(backend_->ConsumeError());
      SLIM_RETURN_IF_ERROR(FinishGradients());
    }
    if (step.kind == v1::Step::OPTIMIZER && mode == Mode::kTrain) SLIM_RETURN_IF_ERROR(CheckGradientsFinite());
    if (options_.debug) {
      for (int b : blocks_starting_[t]) Poison(b);
    }
    if (options_.profile) {
      backend_->Synchronize();
      const auto start = std::chrono::steady_clock::now();
      RunStep(t, mode, images, labels, learning_rate, result);
      backend_->Synchronize();
      step_seconds_.resize(schedule_.steps.size());
      step_calls_.resize(schedule_.steps.size());
      step_seconds_[t] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      ++step_calls_[t];
    } else {
      RunStep(t, mode, images, labels, learning_rate, result);
    }
    if (options_.debug) {
      for (int b : blocks_ending_[t]) Poison(b);
    }
    if (!comm_error_.ok()) return std::exchange(comm_error_, absl::OkStatus());
    if (mode != Mode::kEvaluate && data_parallel()) StartReadyBuckets(t);
    if (step.kind == v1::Step::FORWARD && step.node == graph_.loss()) SLIM_RETURN_IF_ERROR(backend_->ConsumeError());
    if (step.kind == v1::Step::FORWARD && step.node == graph_.loss() && !std::isfinite(result.loss)) {
      return absl::FailedPreconditionError(
          absl::StrFormat("step %d: the loss is %g (diverged; try a smaller learning rate)", steps_run_ + 1,
                          result.loss));
    }
  }
  SLIM_RETURN_IF_ERROR(backend_->ConsumeError());
  if (mode == Mode::kTrain) ++steps_run_;
  return result;
}

std::vector<ProfileEntry> Executor::profile() const {
  std::map<std::string, ProfileEntry> by;
  for (size_t t = 0; t < step_seconds_.size(); ++t) {
    const ScheduleStep& step = schedule_.steps[t];
    const std::string what = absl::StrCat(v1::Step::Kind_Name(step.kind), " ",
                                          step.node >= 0 ? planner::OpKindName(graph_.node(step.node).kind) : "");
    ProfileEntry& e = by[what];
    e.what = what;
    e.seconds += step_seconds_[t];
    e.calls += step_calls_[t];
  }
  std::vector<ProfileEntry> out;
  for (auto& [k, e] : by) out.push_back(e);
  std::sort(out.begin(), out.end(), [](const ProfileEntry& a, const ProfileEntry& b) { return a.seconds > b.seconds; });
  return out;
}

std::string FormatProfile(const std::vector<ProfileEntry>& entries, int rows) {
  double total = 0;
  size_t width = 5;  // "total"
  for (const ProfileEntry& e : entries) {
    total += e.seconds;
    width = std::max(width, e.what.size());
  }
  const int w = static_cast<int>(width);
  std::string out = absl::StrFormat("%-*s %11s %7s %8s %12s\n", w, "step", "ms", "share", "calls", "ms per call");
  std::vector<ProfileEntry> sorted = entries;
  std::sort(sorted.begin(), sorted.end(),
            [](const ProfileEntry& a, const ProfileEntry& b) { return a.seconds > b.seconds; });
  auto row = [&](const ProfileEntry& e) {
    absl::StrAppendFormat(&out, "%-*s %11.2f %6.1f%% %8d %12.3f\n", w, e.what, 1e3 * e.seconds,
                          total > 0 ? 100 * e.seconds / total : 0.0, e.calls,
                          e.calls > 0 ? 1e3 * e.seconds / static_cast<double>(e.calls) : 0.0);
  };
  ProfileEntry rest{"(the rest)", 0, 0};
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (static_cast<int>(i) < rows) {
      row(sorted[i]);
    } else {
      rest.seconds += sorted[i].seconds;
      rest.calls += sorted[i].calls;
    }
  }
  if (rest.calls > 0) row(rest);
  absl::StrAppendFormat(&out, "%-*s %11.2f\n", w, "total", 1e3 * total);
  return out;
}

absl::Status Executor::CheckGradientsFinite() {
  // One pass in kernel memory; the host scan below only names the culprit.
  if (backend_->AllFinite(params_.trainable_count(), params_.kernel_grads())) return absl::OkStatus();
  for (const NamedTensor& t : params_.tensors()) {
    if (!t.trainable) continue;
    int64_t count = 1;
    for (int64_t d : t.shape) count *= d;
    for (int64_t i = 0; i < count; ++i) {
      const double g = params_.GetGrad(t.offset + i);
      if (!std::isfinite(g)) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "step %d: the gradient of layer '%s' (%s, element %d) is %g", steps_run_ + 1,
            t.name.substr(0, t.name.rfind('.')), t.name, i, g));
      }
    }
  }
  return absl::OkStatus();
}

void Executor::RunStep(int t, Mode mode, const float* images, const int32_t* labels, double learning_rate,
                       StepResult& result) {
  const ScheduleStep& step = schedule_.steps[t];
  switch (step.kind) {
    case v1::Step::FORWARD:
      Forward(step, /*recompute=*/false, mode, images, labels, result);
      break;
    case v1::Step::RECOMPUTE:
      Forward(step, /*recompute=*/true, mode, images, labels, result);
      break;
    case v1::Step::SAVE:
      if (mode != Mode::kEvaluate) Save(step);
      break;
    case v1::Step::BACKWARD:
      Backward(step);
      break;
    case v1::Step::OPTIMIZER:
      if (mode == Mode::kTrain) Update(learning_rate);
      break;
    default:
      break;
  }
}

void Executor::Update(double lr) {
  const OptimizerConfig& o = options_.optimizer;
  const int64_t n = params_.trainable_count();
  if (o.kind == "adam") {
    backend_->AdamUpdate(n, lr, o.beta1, o.beta2, o.epsilon, o.weight_decay, steps_run_ + 1, params_.kernel_data(),
                         params_.kernel_grads(), params_.kernel_state(0), params_.kernel_state(1));
  } else if (o.kind == "rmsprop") {
    backend_->RmspropUpdate(n, lr, o.alpha, o.epsilon, o.weight_decay, o.momentum, params_.kernel_data(),
                            params_.kernel_grads(), params_.kernel_state(0), params_.kernel_state(1));
  } else {
    backend_->SgdUpdate(n, lr, o.momentum, o.weight_decay, o.nesterov, params_.kernel_data(),
                        params_.kernel_grads(), params_.kernel_state(0));
  }
}

void Executor::Forward(const ScheduleStep& step, bool recompute, Mode mode, const float* images,
                       const int32_t* labels, StepResult& result) {
  const Node& n = graph_.node(step.node);
  const int64_t batch = schedule_.batch;
  const NodeParams& p = params_.node(n.id);
  const int64_t count = batch * planner::NumElements(n.out);
  void* y = Ptr(step, Role::kOutput);
  const void* x = Ptr(step, Role::kInput, 0);
  const Workspace ws = WorkspaceOf(step);
  const bool eval = mode == Mode::kEvaluate;
  if (IsViewOp(n)) {
    std::vector<const void*> inputs(n.inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) inputs[i] = Ptr(step, Role::kInput, static_cast<int>(i));
    ViewOpForward(*backend_, n, batch, inputs.data(), y, params_.At(params_.node(n.id).weight));
    return;
  }
  switch (n.kind) {
    case OpKind::kInput: {
      // (N,C,H,W) floats from the caller -> the arena's (N,H,W,C), through
      // a host staging buffer when the arena is device memory; inputs that
      // are not images keep their order.
      const int64_t c = n.out.size() == 3 ? n.out[0] : 1, hw = count / batch / c;
      const int64_t bytes = count * backend_->element_bytes();
      const bool direct = backend_->host_addressable();
      if (!direct) staging_.resize(bytes);
      void* dst_base = direct ? y : staging_.data();
      for (int64_t i = 0; i < batch; ++i) {
        for (int64_t ch = 0; ch < c; ++ch) {
          for (int64_t s = 0; s < hw; ++s) {
            const float v = images[(i * c + ch) * hw + s];
            const int64_t dst = (i * hw + s) * c + ch;
            if (backend_->dtype() == DType::kF32) {
              static_cast<float*>(dst_base)[dst] = v;
            } else {
              static_cast<double*>(dst_base)[dst] = v;
            }
          }
        }
      }
      if (!direct) backend_->CopyToDevice(y, staging_.data(), bytes);
      if (const int64_t per_example = planner::TargetsPerExample(graph_); per_example > 0) {
        // Float targets, in the element type.
        const int64_t t_count = batch * per_example, t_bytes = t_count * backend_->element_bytes();
        std::vector<uint8_t> host(t_bytes);
        for (int64_t i = 0; i < t_count; ++i) {
          if (backend_->dtype() == DType::kF32) {
            reinterpret_cast<float*>(host.data())[i] = targets_[i];
          } else {
            reinterpret_cast<double*>(host.data())[i] = targets_[i];
          }
        }
        backend_->CopyToDevice(Ptr(step, Role::kTargets), host.data(), t_bytes);
      } else {
        backend_->CopyToDevice(Ptr(step, Role::kLabels), labels,
                               batch * planner::LabelsPerExample(graph_) * sizeof(int32_t));
      }
      break;
    }
    case OpKind::kConv2d:
      backend_->Conv2dForward(n, batch, x, params_.At(p.weight), params_.At(p.bias), y, ws);
      break;
    case OpKind::kLinear: {
      const planner::KernelView k = planner::KernelShape(n, batch);  // (L,D) tokens: N·L rows
      backend_->LinearForward(k.node, k.rows, x, params_.At(p.weight), params_.At(p.bias), y, ws);
      break;
    }
    case OpKind::kBatchNorm: {
      const BatchNormMode bn_mode = eval        ? BatchNormMode::kInference
                                    : recompute ? BatchNormMode::kTrainNoUpdate
                                                : BatchNormMode::kTrain;
      if (sync_batch_norm() && bn_mode != BatchNormMode::kInference) {
        SyncBatchNormForward(n, batch, bn_mode, x, params_.At(p.gamma), params_.At(p.beta),
                             params_.At(p.running_mean), params_.At(p.running_var), y, Ptr(step, Role::kStats));
        break;
      }
      backend_->BatchNormForward(n, batch, bn_mode, x, params_.At(p.gamma), params_.At(p.beta),
                                 params_.At(p.running_mean), params_.At(p.running_var), y,
                                 Ptr(step, Role::kStats));
      break;
    }
    case OpKind::kRelu: {
      const planner::Operand* code = step.Find(Role::kCode);
      if (code != nullptr && !eval) {
        // naive-K: the forward itself continues with the restored values.
        const int bn = schedule_.buffers[code->buffer].node;
        const NodeParams& q = params_.node(bn);
        backend_->RestoreRelu(graph_.node(bn), batch, planner::CodeBits(schedule_.strategy),
                              arena_.data() + offset_[code->buffer], params_.At(q.gamma), params_.At(q.beta), y);
      } else {
        backend_->ReluForward(count, x, y);
      }
      break;
    }
    case OpKind::kSigmoid:
      backend_->SigmoidForward(count, x, y);
      break;
    case OpKind::kTanh:
      backend_->TanhForward(count, x, y);
      break;
    case OpKind::kRelu6:
    case OpKind::kClip:
    case OpKind::kLeakyRelu:
    case OpKind::kElu:
    case OpKind::kGelu:
    case OpKind::kSilu:
    case OpKind::kHardswish:
    case OpKind::kHardsigmoid:
    case OpKind::kSoftplus:
      backend_->PointwiseForward(n, count, x, y);
      break;
    case OpKind::kSoftmax:
    case OpKind::kLogSoftmax:
      backend_->SoftmaxForward(n, batch, x, y);
      break;
    case OpKind::kScale:
      backend_->PointwiseForward(n, count, x, y);
      break;
    case OpKind::kLayerNorm:
      backend_->LayerNormForward(n, batch, x, params_.At(p.gamma), params_.At(p.beta), y, Ptr(step, Role::kStats));
      break;
    case OpKind::kEmbedding:
      backend_->EmbeddingForward(n, batch, x, params_.At(p.weight), y);
      break;
    case OpKind::kGroupNorm:
      backend_->GroupNormForward(n, batch, x, params_.At(p.gamma), params_.At(p.beta), y, Ptr(step, Role::kStats));
      break;
    case OpKind::kAttention:
      backend_->AttentionForward(n, batch, x, Ptr(step, Role::kInput, 1), Ptr(step, Role::kInput, 2), y,
                                 Ptr(step, Role::kStats), ws);
      break;
    case OpKind::kReduceMean:
    case OpKind::kReduceSum:
    case OpKind::kMul:
    case OpKind::kSub:
    case OpKind::kDiv:
    case OpKind::kReshape:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kTranspose:
    case OpKind::kSlice:
    case OpKind::kMatMul:
    case OpKind::kClassToken:
    case OpKind::kPositionalEmbedding:
      SLIM_CHECK(false && "handled above");
      break;
    case OpKind::kAdd: {
      const void* inputs[16];
      const int k = static_cast<int>(n.inputs.size());
      std::vector<const void*> many;  // more than 16 inputs: rare
      const void** in = k <= 16 ? inputs : (many.resize(k), many.data());
      for (int i = 0; i < k; ++i) in[i] = Ptr(step, Role::kInput, i);
      backend_->AddForward(count, absl::MakeConstSpan(in, k), y);
      break;
    }
    case OpKind::kConcat: {
      const int k = static_cast<int>(n.inputs.size());
      std::vector<const void*> in(k);
      for (int i = 0; i < k; ++i) in[i] = Ptr(step, Role::kInput, i);
      backend_->ConcatForward(n, batch, in, y);
      break;
    }
    case OpKind::kMaxPool:
      backend_->MaxPoolForward(n, batch, x, y, static_cast<int32_t*>(Ptr(step, Role::kIndices)), ws);
      break;
    case OpKind::kAvgPool:
      backend_->AvgPoolForward(n, batch, x, y, ws);
      break;
    case OpKind::kGlobalAvgPool:
      backend_->GlobalAvgPoolForward(n, batch, x, y);
      break;
    case OpKind::kAdaptiveAvgPool:
      backend_->AdaptiveAvgPoolForward(n, batch, x, y);
      break;
    case OpKind::kUpsample:
      backend_->UpsampleForward(n, batch, x, y);
      break;
    case OpKind::kFlatten:
      backend_->FlattenForward(n, batch, x, y);
      break;
    case OpKind::kDropout:
      if (eval) {
        backend_->Copy(count, x, y, /*accumulate=*/false);
      } else {
        backend_->DropoutForward(n, batch, DropoutKey{options_.seed, steps_run_}, x, y);
      }
      break;
    case OpKind::kMseLoss:
      MseForward(step, eval, result);
      break;
    case OpKind::kSoftmaxCrossEntropy: {
      void* probs = Ptr(step, Role::kProbs);
      const int32_t* lab = static_cast<const int32_t*>(Ptr(step, Role::kLabels));
      // Over (L, classes): N·L rows, one label each.
      const planner::KernelView k = planner::KernelShape(n, batch);
      const int64_t rows = k.rows, per_example = rows / batch;
      backend_->SoftmaxCrossEntropyForward(k.node, rows, x, lab, probs, y);
      // Read the results now (in debug mode the buffers are poisoned after
      // their last step), into host memory: the arena may be a device's.
      const int64_t classes = k.node.input_dims[0][0];
      const int64_t elem = backend_->element_bytes();
      host_probs_.resize(rows * classes * elem);
      backend_->CopyToHost(host_probs_.data(), probs, rows * classes * elem);
      auto prob = [&](int64_t i, int64_t c) {
        return ReadScalar(backend_->dtype(), host_probs_.data() + (i * classes + c) * elem);
      };
      if (logits_out_ != nullptr) {
        std::vector<uint8_t> logits(rows * classes * elem);
        backend_->CopyToHost(logits.data(), x, rows * classes * elem);
        for (int64_t i = 0; i < rows * classes; ++i) {
          logits_out_[i] = static_cast<float>(ReadScalar(backend_->dtype(), logits.data() + i * elem));
        }
      }
      uint8_t loss[8];
      backend_->CopyToHost(loss, y, elem);
      result.loss = ReadScalar(backend_->dtype(), loss);
      result.correct = 0;
      double eval_loss = 0;
      const int64_t valid_rows = valid_ * per_example;
      for (int64_t i = 0; i < valid_rows; ++i) {
        int64_t best = 0;
        for (int64_t c = 1; c < classes; ++c) {
          if (prob(i, c) > prob(i, best)) best = c;
        }
        if (best == labels[i]) ++result.correct;
        eval_loss -= std::log(std::max(prob(i, labels[i]), 1e-300));
      }
      if (eval) result.loss = valid_rows > 0 ? eval_loss / valid_rows : 0.0;
      break;
    }
  }
}

void Executor::MseForward(const ScheduleStep& step, bool eval, StepResult& result) {
  const Node& n = graph_.node(step.node);
  const int64_t per_example = planner::NumElements(n.input_dims[0]), count = schedule_.batch * per_example;
  const void* x = Ptr(step, Role::kInput, 0);
  const void* t = Ptr(step, Role::kTargets);
  backend_->MseLossForward(count, x, t, Ptr(step, Role::kOutput));
  const int64_t elem = backend_->element_bytes();
  uint8_t loss[8];
  backend_->CopyToHost(loss, Ptr(step, Role::kOutput), elem);
  result.loss = ReadScalar(backend_->dtype(), loss);
  result.correct = 0;
  if (!eval && logits_out_ == nullptr) return;
  // Predictions and the valid examples' loss, on the host (the arena may be
  // a device's).
  std::vector<uint8_t> xs(count * elem), ts(count * elem);
  backend_->CopyToHost(xs.data(), x, count * elem);
  backend_->CopyToHost(ts.data(), t, count * elem);
  if (logits_out_ != nullptr) {
    for (int64_t i = 0; i < count; ++i) logits_out_[i] = static_cast<float>(ReadScalar(backend_->dtype(), &xs[i * elem]));
  }
  if (eval) {
    double sum = 0;
    const int64_t valid = valid_ * per_example;
    for (int64_t i = 0; i < valid; ++i) {
      const double d = ReadScalar(backend_->dtype(), &xs[i * elem]) - ReadScalar(backend_->dtype(), &ts[i * elem]);
      sum += d * d;
    }
    result.loss = valid > 0 ? sum / static_cast<double>(valid) : 0.0;
  }
}

}  // namespace slimtrain::engine
