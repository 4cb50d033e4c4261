// See schedule.h.
//
// The builder walks the graph once forward and once backward, recording for
// each step the buffer ids it reads and writes. Buffers are single-assignment:
// a recomputed activation is a new buffer, so lifetimes follow from first and
// last touch alone (lifetimes.h).
#include "planner/schedule.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace slimtrain::planner {
namespace {

using v1::Buffer;
using v1::Step;

class Builder {
 public:
  Builder(const Graph& g, Strategy strategy, int64_t batch, const CostModel& cost,
          std::vector<int> checkpoints, const TensorBits& tensor_bits)
      : g_(g), cost_(cost), n_(g.size()), bits_(CodeBits(strategy)), mixed_(strategy == Strategy::kMixed),
        tensor_bits_(tensor_bits) {
    s_.strategy = strategy;
    s_.batch = batch;
    s_.element_bytes = cost.element_bytes();
    s_.checkpoints = std::move(checkpoints);
  }

  Schedule Build() {
    FindPatterns();
    ChooseCodings();
    AssignSegments();
    act_.assign(n_, -1);
    stats_.assign(n_, -1);
    indices_.assign(n_, -1);
    code_.assign(n_, -1);
    restored_.assign(n_, -1);
    tensor_code_.assign(n_, -1);
    decoded_.assign(n_, -1);
    grad_.assign(n_, -1);

    for (int v = 0; v < n_; ++v) Forward(v, Step::FORWARD);
    if (!s_.checkpoints.empty()) {
      s_.buffers[act_[0]].reason = "input batch: the first segment is recomputed from it";
      for (int c : s_.checkpoints) {
        s_.buffers[act_[c]].reason =
            absl::StrCat("checkpoint: output of ", Kind(c), " '", Name(c), "', a segment boundary");
      }
    }
    s_.backward_begin = static_cast<int>(s_.steps.size());
    const int last = static_cast<int>(s_.checkpoints.size());
    for (int seg = last; seg >= 0; --seg) {
      const int lo = seg == 0 ? 0 : s_.checkpoints[seg - 1];        // exclusive
      const int hi = seg == last ? n_ - 1 : s_.checkpoints[seg];     // inclusive
      if (seg < last) {
        // Recompute the segment up to (not including) its checkpoint, whose
        // output, statistics and indices were kept.
        for (int v = lo + 1; v < hi; ++v) Forward(v, Step::RECOMPUTE);
      }
      for (int v = hi; v > lo; --v) Backward(v);
    }
    ScheduleStep& opt = NewStep(Step::OPTIMIZER, -1);
    opt.flops = 4 * g_.parameter_count();
    return std::move(s_);
  }

 private:
  int64_t Batch() const { return s_.batch; }
  int64_t ActBytes(int v) const {
    return Batch() * NumElements(g_.node(v).out) * s_.element_bytes;
  }
  std::vector<int64_t> BatchedShape(const Dims& d) const {
    std::vector<int64_t> shape = {Batch()};
    shape.insert(shape.end(), d.begin(), d.end());
    return shape;
  }
  const char* Kind(int v) const { return OpKindName(g_.node(v).kind); }
  const std::string& Name(int v) const { return g_.node(v).name; }

  // A BN→ReLU: a batch_norm whose only consumer is a relu (approx-K, naive-K).
  void FindPatterns() {
    pattern_relu_.assign(n_, -1);
    pattern_bn_.assign(n_, -1);
    restore_ok_.assign(n_, false);
    if (bits_ == 0 && !mixed_) return;
    for (const Node& b : g_.nodes()) {
      // Over (C,L) the codes' kernels do not run yet: kept exact.
      if (b.kind != OpKind::kBatchNorm || b.consumers.size() != 1 || b.out.size() == 2) continue;
      if (BitsOf(b.id) == 0) continue;
      const int r = b.consumers[0];
      if (g_.node(r).kind != OpKind::kRelu) continue;
      pattern_relu_[b.id] = r;
      pattern_bn_[r] = b.id;
      // conv2d/linear consumers may use the restored output unless some
      // consumer (a batch_norm) needs it exact anyway.
      restore_ok_[r] = true;
      for (int c : g_.node(r).consumers) {
        if (g_.node(c).kind == OpKind::kBatchNorm) restore_ok_[r] = false;
      }
    }
  }

  // approx-K: the coding of every other tensor a backward reads (schedule.h).
  // Which backwards read what comes from the exact schedule.
  void ChooseCodings() {
    coding_.assign(n_, Coding::kExact);
    if ((bits_ == 0 && !mixed_) || QuantizesForward(s_.strategy)) return;
    const Schedule exact = Builder(g_, Strategy::kExact, Batch(), cost_, {}, {}).Build();
    std::vector<std::vector<int>> readers(n_);
    for (const ScheduleStep& step : exact.steps) {
      if (step.kind != Step::BACKWARD) continue;
      for (const Operand& o : step.operands) {
        const ScheduleBuffer& b = exact.buffers[o.buffer];
        if (!o.read || (o.role != Role::kInput && o.role != Role::kOutput) || b.kind != Buffer::ACTIVATION) continue;
        std::vector<int>& r = readers[b.node];
        if (std::find(r.begin(), r.end(), step.node) == r.end()) r.push_back(step.node);
      }
    }
    for (int u = 1; u < n_; ++u) {  // the model input stays exact
      std::vector<int> r;
      bool keep_exact = false;
      for (int c : readers[u]) {
        const OpKind k = g_.node(c).kind;
        keep_exact = keep_exact || k == OpKind::kEmbedding || k == OpKind::kMseLoss;
        // Readers the BN→ReLU code serves already.
        if (pattern_relu_[c] >= 0 && u == g_.node(c).inputs[0]) continue;  // the BN's input
        if (pattern_bn_[u] >= 0 && (c == u || (restore_ok_[u] && (k == OpKind::kConv2d || k == OpKind::kLinear)))) {
          continue;  // the relu's own backward, and the consumers restoring its output
        }
        r.push_back(c);
      }
      if (r.empty() || keep_exact || BitsOf(u) == 0) continue;
      coding_[u] = CodingOf(u, r);
    }
  }

  Coding CodingOf(int u, const std::vector<int>& readers) const {
    const Node& n = g_.node(u);
    switch (n.kind) {
      case OpKind::kRelu: return Coding::kRelu;
      case OpKind::kRelu6:
      case OpKind::kHardsigmoid: return Coding::kBounded;
      case OpKind::kClip:
        return std::isfinite(n.clip_min) && std::isfinite(n.clip_max) && n.clip_min < n.clip_max ? Coding::kBounded
                                                                                                : Coding::kGroup;
      case OpKind::kSigmoid:
      case OpKind::kTanh: return Coding::kRange;
      default: break;
    }
    if (readers.size() == 1) {
      const Node& b = g_.node(readers[0]);
      // Over (C,L) the statistics are not per element channel: kGroup.
      if (b.kind == OpKind::kBatchNorm && b.out.size() != 2) return Coding::kBnInput;
      if (b.kind == OpKind::kLayerNorm) return Coding::kLnInput;
    }
    return Coding::kGroup;
  }

  // Codes of a norm's input, written after the norm's forward with its
  // statistics.
  static bool CodedWithStats(Coding c) { return c == Coding::kBnInput || c == Coding::kLnInput; }

  // The known range of a kBounded or kRange code of node u's output.
  void CodeRange(int u, ScheduleBuffer& code) const {
    const Node& n = g_.node(u);
    switch (n.kind) {
      case OpKind::kRelu6:
      case OpKind::kClip:
        code.lo = n.clip_min;
        code.hi = n.clip_max;
        break;
      case OpKind::kHardsigmoid:
      case OpKind::kSigmoid:
        code.lo = 0;
        code.hi = 1;
        break;
      case OpKind::kTanh:
        code.lo = -1;
        code.hi = 1;
        break;
      default:
        break;
    }
  }

  void AssignSegments() {
    is_checkpoint_.assign(n_, false);
    for (int c : s_.checkpoints) is_checkpoint_[c] = true;
  }

  int NewBuffer(std::string name, Buffer::Kind kind, int64_t bytes, int node,
                std::vector<int64_t> shape = {},
                Buffer::Representation repr = Buffer::FULL) {
    ScheduleBuffer b;
    b.name = std::move(name);
    b.kind = kind;
    b.size_bytes = bytes;
    b.node = node;
    b.shape = std::move(shape);
    b.representation = repr;
    s_.buffers.push_back(std::move(b));
    return static_cast<int>(s_.buffers.size()) - 1;
  }

  ScheduleStep& NewStep(Step::Kind kind, int node) {
    ScheduleStep step;
    step.kind = kind;
    step.node = node;
    s_.steps.push_back(std::move(step));
    return s_.steps.back();
  }

  static void Read(ScheduleStep& step, int buf, Role role, int index = 0) {
    step.operands.push_back({buf, role, index, /*read=*/true, /*write=*/false});
  }
  static void Write(ScheduleStep& step, int buf, Role role, int index = 0) {
    step.operands.push_back({buf, role, index, /*read=*/false, /*write=*/true});
  }

  // A read by a backward step: the buffer is kept for it, for `reason`.
  void Need(ScheduleStep& step, int buf, Role role, const std::string& reason, int index = 0) {
    Read(step, buf, role, index);
    std::string& r = s_.buffers[buf].reason;
    if (r.empty()) r = reason;
  }

  void Workspace(ScheduleStep& step, int v, Pass pass) {
    const KernelView k = KernelShape(g_.node(v), Batch());
    const int64_t ws = cost_.WorkspaceBytes(g_, k.node, k.rows, pass);
    if (ws <= 0) return;
    Write(step,
          NewBuffer(absl::StrCat(Name(v), pass == Pass::kForward ? ".fwd_workspace" : ".bwd_workspace"),
                    Buffer::WORKSPACE, ws, v),
          Role::kWorkspace);
  }

  // FORWARD or RECOMPUTE of node v.
  void Forward(int v, Step::Kind kind) {
    const Node& node = g_.node(v);
    const bool recompute = kind == Step::RECOMPUTE;
    const int64_t flops = node.forward_flops * Batch();
    ScheduleStep& step = NewStep(kind, v);
    step.flops = flops;
    (recompute ? s_.recompute_flops : s_.forward_flops) += flops;
    for (size_t i = 0; i < node.inputs.size(); ++i) Read(step, act_[node.inputs[i]], Role::kInput, static_cast<int>(i));
    if (QuantizesForward(s_.strategy) && pattern_bn_[v] >= 0) {
      // naive-K: the relu outputs the values restored from the code.
      Read(step, code_[pattern_bn_[v]], Role::kCode);
      Read(step, stats_[pattern_bn_[v]], Role::kStats);
    }
    const std::string suffix = recompute ? ".out.recomputed" : ".out";
    act_[v] = NewBuffer(Name(v) + suffix, Buffer::ACTIVATION,
                        IsLoss(node.kind) ? s_.element_bytes : ActBytes(v), v,
                        BatchedShape(node.out));
    Write(step, act_[v], Role::kOutput);
    switch (node.kind) {
      case OpKind::kInput:
        if (TargetsPerExample(g_) > 0) {  // a regression: float targets of the loss input's shape
          targets_ = NewBuffer("targets", Buffer::ACTIVATION, Batch() * TargetsPerExample(g_) * s_.element_bytes, v,
                               {Batch(), TargetsPerExample(g_)});
          Write(step, targets_, Role::kTargets);
          break;
        }
        labels_ = LabelsPerExample(g_) == 1
                      ? NewBuffer("labels", Buffer::ACTIVATION, Batch() * 4, v, {Batch()})
                      : NewBuffer("labels", Buffer::ACTIVATION, Batch() * LabelsPerExample(g_) * 4, v,
                                  {Batch(), LabelsPerExample(g_)});
        Write(step, labels_, Role::kLabels);
        break;
      case OpKind::kBatchNorm:
        stats_[v] = NewBuffer(Name(v) + (recompute ? ".stats.recomputed" : ".stats"), Buffer::STATISTICS,
                              2 * node.out[0] * s_.element_bytes, v, {2, node.out[0]}, Buffer::PER_CHANNEL);
        Write(step, stats_[v], Role::kStats);
        break;
      case OpKind::kAttention:
        stats_[v] = NewBuffer(Name(v) + (recompute ? ".lse.recomputed" : ".lse"), Buffer::STATISTICS,
                              Batch() * node.heads * node.out[0] * s_.element_bytes, v,
                              {Batch(), node.heads, node.out[0]}, Buffer::PER_ROW);
        Write(step, stats_[v], Role::kStats);
        break;
      case OpKind::kLayerNorm:
        stats_[v] = NewBuffer(Name(v) + (recompute ? ".stats.recomputed" : ".stats"), Buffer::STATISTICS,
                              2 * Batch() * node.norm_rows * s_.element_bytes, v, {Batch() * node.norm_rows, 2},
                              Buffer::PER_ROW);
        Write(step, stats_[v], Role::kStats);
        break;
      case OpKind::kGroupNorm:
        stats_[v] = NewBuffer(Name(v) + (recompute ? ".stats.recomputed" : ".stats"), Buffer::STATISTICS,
                              2 * Batch() * node.groups_norm * s_.element_bytes, v, {Batch() * node.groups_norm, 2},
                              Buffer::PER_ROW);
        Write(step, stats_[v], Role::kStats);
        break;
      case OpKind::kMaxPool:
        indices_[v] = NewBuffer(Name(v) + (recompute ? ".argmax.recomputed" : ".argmax"), Buffer::INDICES,
                                Batch() * NumElements(node.out) * 4, v, BatchedShape(node.out),
                                Buffer::ARGMAX);
        Write(step, indices_[v], Role::kIndices);
        break;
      case OpKind::kSoftmaxCrossEntropy:
        probs_ = NewBuffer(Name(v) + ".probs", Buffer::ACTIVATION, ActBytes(node.inputs[0]), v,
                           BatchedShape(node.input_dims[0]));
        Read(step, labels_, Role::kLabels);
        Write(step, probs_, Role::kProbs);
        break;
      case OpKind::kMseLoss:
        Read(step, targets_, Role::kTargets);
        break;
      default:
        break;
    }
    Workspace(step, v, Pass::kForward);
    if (pattern_relu_[v] >= 0) Save(v);
    if (recompute) return;
    if (coding_[v] != Coding::kExact && !CodedWithStats(coding_[v])) SaveCode(v, v);
    if (!node.inputs.empty()) {
      const Coding c = coding_[node.inputs[0]];
      if ((c == Coding::kBnInput && node.kind == OpKind::kBatchNorm) ||
          (c == Coding::kLnInput && node.kind == OpKind::kLayerNorm)) {
        SaveCode(node.inputs[0], v);
      }
    }
  }

  // SAVE: the K-bit code of a BN→ReLU's pre-ReLU output. Reads the BN's input
  // too: channels whose γ is 0 code x̂, which their output no longer holds.
  void Save(int b) {
    const Node& node = g_.node(b);
    const int64_t elements = Batch() * NumElements(node.out);
    ScheduleStep& step = NewStep(Step::SAVE, b);
    step.flops = 4 * elements;
    s_.backward_flops += step.flops;
    Read(step, act_[node.inputs[0]], Role::kInput);
    Read(step, act_[b], Role::kOutput);
    Read(step, stats_[b], Role::kStats);
    const int bits = BitsOf(b);
    const int64_t bytes = bits == kPassThroughBits ? elements * s_.element_bytes : (elements * bits + 7) / 8;
    code_[b] = NewBuffer(Name(b) + ".code", Buffer::CODE, bytes, b, BatchedShape(node.out), Representation(bits));
    s_.buffers[code_[b]].coding = Coding::kBnRelu;
    s_.buffers[code_[b]].bits = bits;
    s_.buffers[code_[b]].code_of = act_[b];
    s_.buffers[code_[b]].aux = stats_[b];
    Write(step, code_[b], Role::kCode);
  }

  // SAVE: the code of node u's output, after node `after`'s forward (u, or
  // for kBnInput the batch_norm whose statistics it is coded with).
  void SaveCode(int u, int after) {
    const Node& node = g_.node(u);
    const int64_t elements = Batch() * NumElements(node.out);
    const Coding coding = coding_[u];
    ScheduleStep& step = NewStep(Step::SAVE, after);
    step.flops = 4 * elements;
    s_.backward_flops += step.flops;
    Read(step, act_[u], Role::kInput);
    if (CodedWithStats(coding)) Read(step, stats_[after], Role::kStats);
    const int bits = BitsOf(u);
    const int code = NewBuffer(Name(u) + ".code", Buffer::CODE, CodeBytes(coding, bits, elements, s_.element_bytes),
                               u, BatchedShape(node.out), Representation(bits));
    ScheduleBuffer& b = s_.buffers[code];
    b.coding = coding;
    b.bits = bits;
    b.code_of = act_[u];
    if (coding == Coding::kBnInput) {
      b.aux = stats_[after];
      b.channels = g_.node(after).out[0];
    } else if (coding == Coding::kLnInput) {
      b.aux = stats_[after];
      b.channels = g_.node(after).norm_row_size;
    }
    CodeRange(u, b);
    b.reason = CodeReason(u, after, b);
    tensor_code_[u] = code;
    Write(step, code, Role::kCode);
  }

  std::string CodeReason(int u, int after, const ScheduleBuffer& b) const {
    const std::string what = CodedWithStats(coding_[u])
                                 ? absl::StrCat("input of ", Kind(after), " '", Name(after), "'")
                                 : absl::StrCat("output of ", Kind(u), " '", Name(u), "'");
    std::string how;
    switch (coding_[u]) {
      case Coding::kRelu: how = "exact mask, values on (0, max] per 256"; break;
      case Coding::kBounded: how = absl::StrFormat("on [%g, %g], exact mask", b.lo, b.hi); break;
      case Coding::kRange: how = absl::StrFormat("on its range [%g, %g]", b.lo, b.hi); break;
      case Coding::kBnInput:
        how = b.bits == 2 ? "x̂ of the batch statistics on the Lloyd-Max grid of N(0, 1)"
                          : "x̂ on the batch statistics' ±3σ grid";
        break;
      case Coding::kLnInput:
        how = b.bits == 2 ? "x̂ of its row statistics on the Lloyd-Max grid of N(0, 1)"
                          : "x̂ on its row statistics' ±3σ grid";
        break;
      default: how = "min to max per 256 values"; break;
    }
    return absl::StrCat(what, ", read by backward: ", CodeName(b.bits), ", ", how);
  }

  std::string PatternName(int b) const {
    return absl::StrFormat("BN→ReLU '%s'→'%s'", Name(b), Name(pattern_relu_[b]));
  }

  static std::string CodeName(int bits) {
    return bits == kPassThroughBits ? "pass-through code (exact value)" : absl::StrCat(bits, "-bit code");
  }

  static Buffer::Representation Representation(int bits) {
    return bits == kPassThroughBits ? Buffer::FULL
           : bits == 8              ? Buffer::CODE8
           : bits == 4              ? Buffer::CODE4
                                    : Buffer::CODE2;
  }

  // The bits of node u's code (a BN→ReLU's: its batch_norm's); 0: exact.
  int BitsOf(int u) const {
    if (!mixed_) return bits_;
    if (Recomputed(u)) return 0;
    auto it = tensor_bits_.find(Name(u));
    return it == tensor_bits_.end() ? 0 : it->second;
  }

  // mixed: whether node u is in a recomputed segment or is a checkpoint
  // (its tensors are exact: recomputed, or kept as the checkpoint).
  bool Recomputed(int u) const { return !s_.checkpoints.empty() && u <= s_.checkpoints.back(); }

  // Why a tensor kept exact is not coded (approx-K, naive-K, mixed).
  std::string ExactNote(int u) const {
    if (mixed_ && Recomputed(u)) return ": recomputed in its segment, exact";
    if (mixed_ && BitsOf(u) == 0) return ": kept exact, the mixed plan's choice for its budget";
    if (bits_ == 0 && !mixed_) return "";
    if (QuantizesForward(s_.strategy)) return ": naive-K codes BN→ReLUs only, kept exact";
    return absl::StrCat(": ", Kind(u), " '", Name(u), "' feeds an embedding or mse_loss, kept exact");
  }

  // A backward's read of node u's output as `role`: the exact tensor, or
  // (coded) its decoded copy, which the first such read writes.
  void NeedAct(ScheduleStep& step, int u, Role role, const std::string& reason, int index = 0) {
    if (coding_[u] == Coding::kExact) {
      Need(step, act_[u], role, reason, index);
      return;
    }
    if (decoded_[u] >= 0) {
      Read(step, decoded_[u], role, index);
      return;
    }
    // A norm input's code is decoded by the norm's backward, which reads
    // the statistics it needs.
    SLIM_CHECK(!CodedWithStats(coding_[u]) || s_.buffers[tensor_code_[u]].aux == stats_[step.node]);
    decoded_[u] = NewBuffer(Name(u) + ".decoded", Buffer::ACTIVATION, ActBytes(u), u, BatchedShape(g_.node(u).out));
    s_.buffers[decoded_[u]].decoded_from = tensor_code_[u];
    Write(step, decoded_[u], role, index);
    Read(step, tensor_code_[u], Role::kDecode, index);
  }

  // The tensor node `c`'s backward reads as its input u. A restored relu
  // output is written by the first backward that needs it (reading the code)
  // and read by the others.
  void NeedInput(ScheduleStep& step, int c, int u) {
    if (pattern_bn_[u] >= 0 && restore_ok_[u]) {
      if (restored_[u] < 0) {
        restored_[u] = NewBuffer(Name(u) + ".restored", Buffer::ACTIVATION, ActBytes(u), u,
                                 BatchedShape(g_.node(u).out));
        Write(step, restored_[u], Role::kRestored);
        Read(step, code_[pattern_bn_[u]], Role::kCode);
        Read(step, stats_[pattern_bn_[u]], Role::kStats);
      } else {
        Read(step, restored_[u], Role::kRestored);
      }
      return;
    }
    NeedAct(step, u, Role::kInput,
            u == 0 ? "input batch, read by the first layer's weight gradient"
                   : absl::StrCat("input of ", Kind(c), " '", Name(c), "' backward", ExactNote(u)));
  }

  void Backward(int v) {
    const Node& node = g_.node(v);
    ScheduleStep& step = NewStep(Step::BACKWARD, v);
    step.flops = node.backward_flops * Batch();
    s_.backward_flops += step.flops;
    if (node.kind == OpKind::kSoftmaxCrossEntropy) {
      Need(step, probs_, Role::kProbs, "softmax probabilities, read by the loss backward");
      Need(step, labels_, Role::kLabels, "labels of the batch, read by the loss backward");
    } else if (node.kind == OpKind::kMseLoss) {
      NeedAct(step, node.inputs[0], Role::kInput, absl::StrCat("input of mse_loss '", Name(v), "', read by its backward"));
      Need(step, targets_, Role::kTargets, "targets of the batch, read by the loss backward");
    } else {
      Read(step, grad_[v], Role::kOutputGrad);
    }
    const int b = pattern_bn_[v];  // v is the relu of a BN→ReLU
    switch (node.kind) {
      case OpKind::kConv2d:
      case OpKind::kLinear:
        NeedInput(step, v, node.inputs[0]);
        break;
      case OpKind::kBatchNorm:
        if (pattern_relu_[v] >= 0) {
          Need(step, code_[v], Role::kCode, absl::StrCat(PatternName(v), ": ", CodeName(BitsOf(v))));
          Need(step, stats_[v], Role::kStats, absl::StrCat(PatternName(v), ": per-channel mean and std"));
        } else {
          NeedAct(step, node.inputs[0], Role::kInput,
                  absl::StrCat("input of batch_norm '", Name(v), "' backward", ExactNote(node.inputs[0])));
          Need(step, stats_[v], Role::kStats,
               absl::StrCat("per-channel mean and std of batch_norm '", Name(v), "'"));
        }
        break;
      case OpKind::kRelu:
        if (b >= 0) {
          Need(step, code_[b], Role::kCode, absl::StrCat(PatternName(b), ": ", CodeName(BitsOf(b))));
        } else {
          NeedAct(step, v, Role::kOutput,
                  absl::StrCat("output of relu '", Name(v), "', read by its backward", ExactNote(v)));
        }
        break;
      case OpKind::kSigmoid:
      case OpKind::kTanh:
      case OpKind::kRelu6:
      case OpKind::kClip:
      case OpKind::kLeakyRelu:
      case OpKind::kElu:
      case OpKind::kGelu:
      case OpKind::kSilu:
      case OpKind::kHardswish:
      case OpKind::kHardsigmoid:
      case OpKind::kSoftplus:
      case OpKind::kSoftmax:
      case OpKind::kLogSoftmax:
        if (BackwardReadsOutput(node)) {
          NeedAct(step, v, Role::kOutput,
                  absl::StrCat("output of ", Kind(v), " '", Name(v), "', read by its backward", ExactNote(v)));
        } else {
          const int u = node.inputs[0];
          NeedAct(step, u, Role::kInput,
                  absl::StrCat("input of ", Kind(v), " '", Name(v), "', read by its backward", ExactNote(u)));
        }
        break;
      case OpKind::kMaxPool:
        Need(step, indices_[v], Role::kIndices, absl::StrCat("argmax indices of max_pool '", Name(v), "'"));
        break;
      case OpKind::kEmbedding:
        NeedAct(step, node.inputs[0], Role::kInput, absl::StrCat("token ids, read by embedding '", Name(v), "' backward"));
        break;
      case OpKind::kAttention:
        for (int i = 0; i < 3; ++i) {
          NeedAct(step, node.inputs[i], Role::kInput,
                  absl::StrCat(i == 0 ? "q" : i == 1 ? "k" : "v", " of attention '", Name(v), "', read by its backward",
                               ExactNote(node.inputs[i])),
                  i);
        }
        NeedAct(step, v, Role::kOutput,
                absl::StrCat("output of attention '", Name(v), "', read by its backward", ExactNote(v)));
        Need(step, stats_[v], Role::kStats,
             absl::StrCat("log-sum-exp per head and query of attention '", Name(v),
                          "' (the probabilities are recomputed)"));
        break;
      case OpKind::kLayerNorm:
      case OpKind::kGroupNorm:
        NeedAct(step, node.inputs[0], Role::kInput,
                absl::StrCat("input of ", Kind(v), " '", Name(v), "' backward", ExactNote(node.inputs[0])));
        Need(step, stats_[v], Role::kStats,
             absl::StrCat("per-", node.kind == OpKind::kLayerNorm ? "row" : "group", " mean and 1/std of ", Kind(v),
                          " '", Name(v), "'"));
        break;
      case OpKind::kMul:
      case OpKind::kMatMul:
      case OpKind::kDiv: {
        // mul, matmul: each input's gradient reads the other input; div:
        // a's reads b, b's reads a and b. No gradient flows to the model
        // input.
        const int a = node.inputs[0], b = node.inputs[1];
        const bool div = node.kind == OpKind::kDiv;
        const bool keep_a = b != 0, keep_b = a != 0 || (div && b != 0);
        for (int i : {0, 1}) {
          if (!(i == 0 ? keep_a : keep_b)) continue;
          const int u = node.inputs[i];
          NeedAct(step, u, Role::kInput,
                  absl::StrCat(i == 0 ? "first" : "second", " input of ", Kind(v), " '", Name(v),
                               "', read by its backward", ExactNote(u)),
                  i);
        }
        break;
      }
      default:
        break;
    }
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int u = node.inputs[i];
      if (u == 0) continue;  // no gradient for the model input
      const bool accumulate = grad_[u] >= 0;
      SLIM_CHECK(accumulate == InputGradAccumulates(g_, node, static_cast<int>(i)));
      if (!accumulate) {
        grad_[u] = NewBuffer(Name(u) + ".grad", Buffer::GRADIENT, ActBytes(u), u, BatchedShape(g_.node(u).out));
      }
      step.operands.push_back({grad_[u], Role::kInputGrad, static_cast<int>(i), accumulate, /*write=*/true});
    }
    Workspace(step, v, Pass::kBackward);
  }

  const Graph& g_;
  const CostModel& cost_;
  const int n_;
  const int bits_;     // approx-K, naive-K: every code's
  const bool mixed_;   // mixed: each tensor's bits from tensor_bits_
  const TensorBits& tensor_bits_;
  Schedule s_;
  std::vector<int> pattern_relu_, pattern_bn_;
  std::vector<bool> restore_ok_, is_checkpoint_;
  // Current buffer of each node's output, statistics, indices, code, restored
  // output and gradient (-1: none yet).
  std::vector<int> act_, stats_, indices_, code_, restored_, grad_;
  // approx-K: each node output's coding, code and decoded copy (-1: none).
  std::vector<Coding> coding_;
  std::vector<int> tensor_code_, decoded_;
  int labels_ = -1, probs_ = -1, targets_ = -1;
};

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kInput: return "input";
    case Role::kOutput: return "output";
    case Role::kStats: return "stats";
    case Role::kIndices: return "indices";
    case Role::kLabels: return "labels";
    case Role::kTargets: return "targets";
    case Role::kProbs: return "probs";
    case Role::kCode: return "code";
    case Role::kRestored: return "restored";
    case Role::kDecode: return "decode";
    case Role::kOutputGrad: return "output_grad";
    case Role::kInputGrad: return "input_grad";
    case Role::kWorkspace: return "workspace";
    case Role::kAllReduce: return "allreduce";
  }
  return "unknown";
}

std::vector<int> ScheduleStep::reads() const {
  std::vector<int> ids;
  for (const Operand& o : operands) {
    if (o.read) ids.push_back(o.buffer);
  }
  return ids;
}

std::vector<int> ScheduleStep::writes() const {
  std::vector<int> ids;
  for (const Operand& o : operands) {
    if (o.write) ids.push_back(o.buffer);
  }
  return ids;
}

const Operand* ScheduleStep::Find(Role role, int index) const {
  for (const Operand& o : operands) {
    if (o.role == role && o.index == index) return &o;
  }
  return nullptr;
}

bool InputGradAccumulates(const Graph& graph, const Node& node, int index) {
  const int u = node.inputs[index];
  // An input read twice by this node (add(x, x)) accumulates its second term.
  for (int j = 0; j < index; ++j) {
    if (node.inputs[j] == u) return true;
  }
  for (int c : graph.node(u).consumers) {
    if (c > node.id) return true;
  }
  return false;
}

std::vector<int> CutPoints(const Graph& graph) {
  // An edge u->w crosses the gap after position p when u <= p < w; p is a cut
  // when every crossing edge starts at p. Sweep p, tracking the furthest
  // consumer of any node before p.
  std::vector<int> cuts;
  int reach_before = 0;  // max consumer id over nodes < p
  for (int p = 0; p < graph.loss(); ++p) {
    const Node& node = graph.node(p);
    if (p > 0 && reach_before <= p) cuts.push_back(p);
    for (int c : node.consumers) reach_before = std::max(reach_before, c);
  }
  return cuts;
}

absl::StatusOr<Schedule> BuildSchedule(const Graph& graph, Strategy strategy, int64_t batch,
                                       const CostModel& cost, const std::vector<int>& checkpoints,
                                       const TensorBits& tensor_bits) {
  if (batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be >= 1, got ", batch));
  }
  std::vector<int> ckpts;
  if (IsCheckpointing(strategy) || strategy == Strategy::kMixed) {
    ckpts = checkpoints;
    std::sort(ckpts.begin(), ckpts.end());
    ckpts.erase(std::unique(ckpts.begin(), ckpts.end()), ckpts.end());
    const std::vector<int> cuts = CutPoints(graph);
    for (int c : ckpts) {
      if (!std::binary_search(cuts.begin(), cuts.end(), c)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "checkpoint '%s' is not a cut point of the graph",
            c >= 0 && c < graph.size() ? graph.node(c).name : std::to_string(c)));
      }
    }
  }
  if (strategy == Strategy::kMixed) {
    for (const auto& [name, bits] : tensor_bits) {
      if (bits != 0 && bits != 2 && bits != 4 && bits != 8 && bits != kPassThroughBits) {
        return absl::InvalidArgumentError(
            absl::StrFormat("mixed: tensor '%s' has %d bits; bits are 0 (exact), 2, 4 or 8", name, bits));
      }
    }
  }
  return Builder(graph, strategy, batch, cost, std::move(ckpts), tensor_bits).Build();
}

}  // namespace slimtrain::planner
