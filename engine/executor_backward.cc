// The executor's backward half (executor.h): SAVE steps that code tensors
// for backward, the decoding of coded tensors by the first backward that
// reads them, and each op's backward kernels.
#include <memory>
#include <vector>

#include "base/status_macros.h"
#include "engine/executor.h"
#include "engine/shape_views.h"

namespace slimtrain::engine {

using planner::Node;
using planner::OpKind;
using planner::Role;
using planner::ScheduleStep;

quant::CodeSpec Executor::CodeSpecOf(int code) const {
  const planner::ScheduleBuffer& b = schedule_.buffers[code];
  quant::CodeSpec spec;
  spec.coding = b.coding;
  spec.bits = b.bits;
  spec.count = schedule_.batch * planner::NumElements(graph_.node(b.node).out);
  spec.channels = b.channels;
  spec.lo = b.lo;
  spec.hi = b.hi;
  return spec;
}

void Executor::Save(const ScheduleStep& step) {
  const planner::Operand* code = step.Find(Role::kCode);
  const planner::ScheduleBuffer& c = schedule_.buffers[code->buffer];
  if (c.coding != planner::Coding::kBnRelu) {
    backend_->EncodeSaved(CodeSpecOf(code->buffer), Ptr(step, Role::kInput), Ptr(step, Role::kStats),
                          Ptr(step, Role::kCode));
    return;
  }
  const Node& n = graph_.node(step.node);
  const NodeParams& p = params_.node(n.id);
  backend_->QuantizeBnRelu(n, schedule_.batch, c.bits, Ptr(step, Role::kInput), Ptr(step, Role::kOutput),
                           params_.At(p.gamma), params_.At(p.beta), Ptr(step, Role::kStats),
                           Ptr(step, Role::kCode));
}

void Executor::DecodeFirstReads(const ScheduleStep& step) {
  for (const planner::Operand& o : step.operands) {
    const int code = schedule_.buffers[o.buffer].decoded_from;
    if (!o.write || code < 0) continue;
    const int stats = schedule_.buffers[code].aux;
    backend_->DecodeSaved(CodeSpecOf(code), arena_.data() + offset_[code],
                          stats >= 0 ? arena_.data() + offset_[stats] : nullptr, arena_.data() + offset_[o.buffer]);
  }
}

void Executor::Backward(const ScheduleStep& step) {
  const Node& n = graph_.node(step.node);
  const int64_t batch = schedule_.batch;
  const NodeParams& p = params_.node(n.id);
  const void* dy = Ptr(step, Role::kOutputGrad);
  void* dx = Ptr(step, Role::kInputGrad, 0);
  const bool acc = Accumulates(step, 0);
  const Workspace ws = WorkspaceOf(step);
  // The BN→ReLU whose code this step reads (if any).
  const planner::Operand* code = step.Find(Role::kCode);
  const int code_bn = code != nullptr ? schedule_.buffers[code->buffer].node : -1;
  const void* code_ptr = code != nullptr ? arena_.data() + offset_[code->buffer] : nullptr;
  const int bits = code != nullptr ? schedule_.buffers[code->buffer].bits : 0;
  // Ops without parameters have nothing to do for the model input.
  const bool has_params = n.kind == OpKind::kConv2d || n.kind == OpKind::kLinear || n.kind == OpKind::kBatchNorm ||
                          ((n.kind == OpKind::kLayerNorm || n.kind == OpKind::kGroupNorm) && n.affine) ||
                          n.kind == OpKind::kPositionalEmbedding ||
                          n.kind == OpKind::kClassToken || n.kind == OpKind::kEmbedding;
  const bool multi_input = n.inputs.size() > 1;
  if (dx == nullptr && !has_params && !multi_input) return;
  DecodeFirstReads(step);
  if (IsViewOp(n)) {
    const int k = static_cast<int>(n.inputs.size());
    std::vector<const void*> inputs(k);
    std::vector<void*> grads(k);
    std::unique_ptr<bool[]> acc_i(new bool[k]);
    for (int i = 0; i < k; ++i) {
      inputs[i] = Ptr(step, Role::kInput, i);  // null where the backward does not read it
      grads[i] = Ptr(step, Role::kInputGrad, i);
      acc_i[i] = grads[i] != nullptr && Accumulates(step, i);
    }
    ViewOpBackward(*backend_, n, batch, inputs.data(), dy, grads.data(), acc_i.get(), params_.GradAt(p.weight));
    return;
  }
  switch (n.kind) {
    case OpKind::kInput:
      break;
    case OpKind::kConv2d:
    case OpKind::kLinear: {
      const planner::Operand* restored = step.Find(Role::kRestored);
      const void* x = Ptr(step, Role::kInput);
      if (restored != nullptr) {
        void* z = arena_.data() + offset_[restored->buffer];
        if (restored->write) {
          const NodeParams& q = params_.node(code_bn);
          backend_->RestoreRelu(graph_.node(code_bn), batch, bits, code_ptr, params_.At(q.gamma),
                                params_.At(q.beta), z);
        }
        x = z;
      }
      if (n.kind == OpKind::kConv2d) {
        if (dx != nullptr) backend_->Conv2dBackwardData(n, batch, dy, params_.At(p.weight), dx, acc, ws);
        backend_->Conv2dBackwardWeights(n, batch, x, dy, params_.GradAt(p.weight), params_.GradAt(p.bias), ws);
      } else {
        const planner::KernelView k = planner::KernelShape(n, batch);  // (L,D) tokens: N·L rows
        if (dx != nullptr) backend_->LinearBackwardData(k.node, k.rows, dy, params_.At(p.weight), dx, acc, ws);
        backend_->LinearBackwardWeights(k.node, k.rows, x, dy, params_.GradAt(p.weight), params_.GradAt(p.bias),
                                        ws);
      }
      break;
    }
    case OpKind::kBatchNorm:
      if (code != nullptr) {
        backend_->BatchNormBackwardFromCode(n, batch, bits, dy, code_ptr, params_.At(p.gamma), params_.At(p.beta),
                                            Ptr(step, Role::kStats), dx, acc, params_.GradAt(p.gamma),
                                            params_.GradAt(p.beta));
      } else {
        if (sync_batch_norm()) SyncBatchNormSums(n, batch, dy, Ptr(step, Role::kInput), Ptr(step, Role::kStats));
        backend_->BatchNormBackward(n, batch, dy, Ptr(step, Role::kInput), params_.At(p.gamma),
                                    Ptr(step, Role::kStats), dx, acc, params_.GradAt(p.gamma),
                                    params_.GradAt(p.beta));
        if (sync_batch_norm()) {
          SyncBatchNormCorrect(n, batch, Ptr(step, Role::kInput), params_.At(p.gamma), Ptr(step, Role::kStats), dx);
        }
      }
      break;
    case OpKind::kRelu: {
      const int64_t count = batch * planner::NumElements(n.out);
      if (code != nullptr) {
        const NodeParams& q = params_.node(code_bn);
        backend_->ReluBackwardFromCode(graph_.node(code_bn), batch, bits, dy, code_ptr, params_.At(q.gamma),
                                       params_.At(q.beta), dx, acc);
      } else {
        backend_->ReluBackward(count, Ptr(step, Role::kOutput), dy, dx, acc);
      }
      break;
    }
    case OpKind::kSigmoid:
      backend_->SigmoidBackward(batch * planner::NumElements(n.out), Ptr(step, Role::kOutput), dy, dx, acc);
      break;
    case OpKind::kTanh:
      backend_->TanhBackward(batch * planner::NumElements(n.out), Ptr(step, Role::kOutput), dy, dx, acc);
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
      backend_->PointwiseBackward(n, batch * planner::NumElements(n.out),
                                  Ptr(step, planner::BackwardReadsOutput(n) ? Role::kOutput : Role::kInput), dy, dx,
                                  acc);
      break;
    case OpKind::kSoftmax:
    case OpKind::kLogSoftmax:
      backend_->SoftmaxBackward(n, batch, Ptr(step, Role::kOutput), dy, dx, acc);
      break;
    case OpKind::kEmbedding:
      // A tied table: the linear's backward wrote its gradient already.
      backend_->EmbeddingBackward(n, batch, Ptr(step, Role::kInput), dy, params_.GradAt(p.weight),
                                  table_tied_[n.id]);
      break;
    case OpKind::kGroupNorm:
      backend_->GroupNormBackward(n, batch, dy, Ptr(step, Role::kInput), params_.At(p.gamma), Ptr(step, Role::kStats),
                                  dx, acc, params_.GradAt(p.gamma), params_.GradAt(p.beta));
      break;
    case OpKind::kAttention: {
      const bool accumulate[3] = {Accumulates(step, 0), Accumulates(step, 1), Accumulates(step, 2)};
      backend_->AttentionBackward(n, batch, Ptr(step, Role::kInput, 0), Ptr(step, Role::kInput, 1),
                                  Ptr(step, Role::kInput, 2), Ptr(step, Role::kOutput), Ptr(step, Role::kStats), dy,
                                  Ptr(step, Role::kInputGrad, 0), Ptr(step, Role::kInputGrad, 1),
                                  Ptr(step, Role::kInputGrad, 2), accumulate, ws);
      break;
    }
    case OpKind::kLayerNorm:
      backend_->LayerNormBackward(n, batch, dy, Ptr(step, Role::kInput), params_.At(p.gamma), Ptr(step, Role::kStats),
                                  dx, acc, params_.GradAt(p.gamma), params_.GradAt(p.beta));
      break;
    case OpKind::kScale:  // reads nothing: dy stands in for `saved`
      backend_->PointwiseBackward(n, batch * planner::NumElements(n.out), dy, dy, dx, acc);
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
    case OpKind::kAdd:
      for (int i = 0; i < static_cast<int>(n.inputs.size()); ++i) {
        void* di = Ptr(step, Role::kInputGrad, i);
        // In place (di is dy's storage): nothing to copy.
        if (di != nullptr && (di != dy || Accumulates(step, i))) {
          backend_->Copy(batch * planner::NumElements(n.out), dy, di, Accumulates(step, i));
        }
      }
      break;
    case OpKind::kConcat:
      for (int i = 0; i < static_cast<int>(n.inputs.size()); ++i) {
        void* di = Ptr(step, Role::kInputGrad, i);
        if (di != nullptr) backend_->ConcatBackward(n, batch, i, dy, di, Accumulates(step, i));
      }
      break;
    case OpKind::kMaxPool:
      backend_->MaxPoolBackward(n, batch, dy, static_cast<const int32_t*>(Ptr(step, Role::kIndices)), dx, acc, ws);
      break;
    case OpKind::kAvgPool:
      backend_->AvgPoolBackward(n, batch, dy, dx, acc, ws);
      break;
    case OpKind::kGlobalAvgPool:
      backend_->GlobalAvgPoolBackward(n, batch, dy, dx, acc);
      break;
    case OpKind::kAdaptiveAvgPool:
      backend_->AdaptiveAvgPoolBackward(n, batch, dy, dx, acc);
      break;
    case OpKind::kUpsample:
      backend_->UpsampleBackward(n, batch, dy, dx, acc);
      break;
    case OpKind::kFlatten:
      backend_->FlattenBackward(n, batch, dy, dx, acc);
      break;
    case OpKind::kDropout:
      backend_->DropoutBackward(n, batch, DropoutKey{options_.seed, steps_run_}, dy, dx, acc);
      break;
    case OpKind::kMseLoss:
      backend_->MseLossBackward(batch * planner::NumElements(n.input_dims[0]), Ptr(step, Role::kInput),
                                Ptr(step, Role::kTargets), dx, acc);
      break;
    case OpKind::kSoftmaxCrossEntropy: {
      const planner::KernelView k = planner::KernelShape(n, batch);  // (L, classes): N·L rows
      backend_->SoftmaxCrossEntropyBackward(k.node, k.rows, Ptr(step, Role::kProbs),
                                            static_cast<const int32_t*>(Ptr(step, Role::kLabels)), dx, acc);
      break;
    }
  }
}

}  // namespace slimtrain::engine
