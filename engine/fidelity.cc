// See fidelity.h.
#include "engine/fidelity.h"

#include <algorithm>
#include <map>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/batches.h"
#include "engine/checkpoint.h"
#include "engine/executor.h"

namespace slimtrain::engine {
namespace {

// The weight tensors of conv2d and linear layers.
std::vector<const NamedTensor*> WeightTensors(const planner::Graph& graph, const ParameterRegion& params) {
  std::vector<const NamedTensor*> out;
  for (const NamedTensor& t : params.tensors()) {
    const std::string layer = t.name.substr(0, t.name.rfind('.'));
    const int id = graph.Find(layer);
    if (id < 0 || t.name.compare(t.name.size() - 7, 7, ".weight") != 0) continue;
    const planner::OpKind kind = graph.node(id).kind;
    if (kind == planner::OpKind::kConv2d || kind == planner::OpKind::kLinear) out.push_back(&t);
  }
  return out;
}

int64_t Count(const NamedTensor& t) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  return n;
}

double Norm(const std::vector<double>& a, const std::vector<double>& b, const NamedTensor& t) {
  double s = 0;
  for (int64_t i = 0; i < Count(t); ++i) {
    const double d = a[t.offset + i] - (b.empty() ? 0.0 : b[t.offset + i]);
    s += d * d;
  }
  return std::sqrt(s);
}

// ‖a − b‖ over every tensor of `ts` (b empty: ‖a‖).
double Norm(const std::vector<double>& a, const std::vector<double>& b, const std::vector<const NamedTensor*>& ts) {
  double s = 0;
  for (const NamedTensor* t : ts) s += std::pow(Norm(a, b, *t), 2);
  return std::sqrt(s);
}

std::string CodeText(const planner::ScheduleBuffer& code) {
  return absl::StrCat(planner::CodingName(code.coding), " ",
                      code.bits == planner::kPassThroughBits ? std::string("pass-through")
                                                             : absl::StrCat(code.bits, "-bit"));
}

}  // namespace

absl::StatusOr<FidelityReport> MeasureFidelity(const planner::Graph& graph, planner::Strategy strategy,
                                               const Dataset& data, const FidelityOptions& options,
                                               Backend* backend) {
  SLIM_RETURN_IF_ERROR(CheckDatasetFits(graph, data));
  if (planner::CodeBits(strategy) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("strategy: fidelity compares an approx-K or naive-K strategy "
                                                   "with exact, not '", planner::StrategyName(strategy), "'"));
  }
  if (options.other_batches < 2) {
    return absl::InvalidArgumentError(absl::StrCat("other batches must be >= 2, got ", options.other_batches));
  }
  if (data.size < options.batch * (options.other_batches + 1)) {
    return absl::InvalidArgumentError(absl::StrFormat("the dataset's %d examples are fewer than %d batches of %d",
                                                      data.size, options.other_batches + 1, options.batch));
  }
  ExecutorOptions exec_options;
  exec_options.seed = options.seed;
  SLIM_ASSIGN_OR_RETURN(auto exact, Executor::Create(graph, planner::Strategy::kExact, options.batch, backend,
                                                     exec_options));
  SLIM_ASSIGN_OR_RETURN(auto approx, Executor::Create(graph, strategy, options.batch, backend, exec_options));
  if (options.weights != nullptr) {
    SLIM_RETURN_IF_ERROR(ImportWeights(*options.weights, exact->params(), "weights"));
  }
  // The same weights in both.
  std::memcpy(approx->params().data(), exact->params().data(), exact->params().bytes());

  BatchOptions batch_options;
  batch_options.normalize = options.normalize;
  batch_options.shuffle = true;
  BatchIterator batches(data, options.batch, batch_options, options.seed);
  std::vector<float> images(options.batch * data.example_elements());
  std::vector<int32_t> labels(options.batch * data.labels_per_example);
  std::vector<float> targets(options.batch * data.targets_per_example);
  auto forward_backward = [&](Executor& e) {
    return targets.empty() ? e.ForwardBackward(images.data(), labels.data())
                           : e.ForwardBackward(images.data(), targets.data());
  };

  // Batch b: exact and approx-K gradients on the same weights.
  batches.Next(images.data(), labels.data(), targets.data());
  SLIM_RETURN_IF_ERROR(forward_backward(*exact).status());
  const std::vector<double> g = exact->params().Gradients();
  SLIM_RETURN_IF_ERROR(forward_backward(*approx).status());
  const std::vector<double> gk = approx->params().Gradients();
  // Each coded tensor alone (approx-K), on batch b too.
  const std::vector<const NamedTensor*> weights = WeightTensors(graph, exact->params());
  std::vector<TensorFidelity> tensors;
  const bool per_tensor = options.per_tensor && !planner::QuantizesForward(strategy);
  for (const planner::ScheduleBuffer& code : approx->schedule().buffers) {
    if (!per_tensor || code.kind != v1::Buffer::CODE) continue;
    TensorFidelity t;
    t.tensor = graph.node(code.node).name;
    t.coding = CodeText(code);
    const planner::TensorBits alone = {{t.tensor, code.bits}};
    ExecutorOptions one_options = exec_options;
    one_options.tensor_bits = &alone;
    SLIM_ASSIGN_OR_RETURN(auto one,
                          Executor::Create(graph, planner::Strategy::kMixed, options.batch, backend, one_options));
    std::memcpy(one->params().data(), exact->params().data(), exact->params().bytes());
    SLIM_RETURN_IF_ERROR(forward_backward(*one).status());
    t.approx_error = Norm(one->params().Gradients(), g, weights) / std::max(Norm(g, {}, weights), 1e-300);
    tensors.push_back(t);
  }
  // SGD's noise over other batches.
  std::vector<std::vector<double>> others;
  std::vector<double> mean(g.size(), 0.0);
  for (int64_t k = 0; k < options.other_batches; ++k) {
    batches.Next(images.data(), labels.data(), targets.data());
    SLIM_RETURN_IF_ERROR(forward_backward(*exact).status());
    others.push_back(exact->params().Gradients());
    for (size_t i = 0; i < mean.size(); ++i) mean[i] += others.back()[i] / options.other_batches;
  }

  // The input each weighted layer's backward read, as approx-K kept it.
  std::map<std::string, std::string> inputs;
  const planner::Schedule& schedule = approx->schedule();
  std::map<int, int> bn_relu_code;  // batch_norm id -> its BN→ReLU code
  for (int id = 0; id < static_cast<int>(schedule.buffers.size()); ++id) {
    const planner::ScheduleBuffer& b = schedule.buffers[id];
    if (b.kind == v1::Buffer::CODE && b.coding == planner::Coding::kBnRelu) bn_relu_code[b.node] = id;
  }
  for (const planner::ScheduleStep& step : schedule.steps) {
    if (step.kind != v1::Step::BACKWARD) continue;
    const planner::Operand* in = step.Find(planner::Role::kRestored);
    if (in == nullptr) in = step.Find(planner::Role::kInput);
    if (in == nullptr) continue;
    const planner::ScheduleBuffer& b = schedule.buffers[in->buffer];
    int code = b.decoded_from;
    // A relu output restored from its BN→ReLU's code.
    if (in->role == planner::Role::kRestored) code = bn_relu_code.at(graph.node(b.node).inputs[0]);
    inputs[graph.node(step.node).name] = code < 0 ? "exact" : CodeText(schedule.buffers[code]);
  }

  FidelityReport report;
  report.model = graph.spec().name();
  report.strategy = planner::StrategyName(strategy);
  report.batch = options.batch;
  report.other_batches = options.other_batches;
  std::vector<double> ratios;
  for (const NamedTensor* t : weights) {
    LayerFidelity l;
    l.tensor = t->name;
    l.layer = t->name.substr(0, t->name.rfind('.'));
    auto input = inputs.find(l.layer);
    l.input = input == inputs.end() ? "exact" : input->second;
    l.approx_error = Norm(gk, g, *t) / std::max(Norm(g, {}, *t), 1e-300);
    double noise = 0;
    for (const std::vector<double>& o : others) noise += Norm(o, mean, *t);
    l.sgd_noise = noise / options.other_batches / std::max(Norm(mean, {}, *t), 1e-300);
    if (l.approx_error > 0) ratios.push_back(l.sgd_noise / l.approx_error);  // 0: an exact layer
    report.layers.push_back(l);
  }
  std::sort(ratios.begin(), ratios.end());
  if (!ratios.empty()) report.median_ratio = ratios[ratios.size() / 2];

  report.tensors = std::move(tensors);
  report.model_error = Norm(gk, g, weights) / std::max(Norm(g, {}, weights), 1e-300);
  double noise = 0;
  for (const std::vector<double>& o : others) noise += Norm(o, mean, weights);
  report.model_sgd_noise = noise / options.other_batches / std::max(Norm(mean, {}, weights), 1e-300);
  return report;
}

std::string FidelitySvg(const FidelityReport& r) {
  constexpr double kLeft = 70, kTop = 40, kWidth = 900, kHeight = 360;
  double lo = 1e9, hi = 1e-12;
  for (const LayerFidelity& l : r.layers) {
    for (double v : {l.approx_error, l.sgd_noise}) {  // zeros (exact layers) sit at the bottom
      if (v > 0) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  const double llo = std::floor(std::log10(lo)), lhi = std::ceil(std::log10(hi));
  const int n = std::max<int>(1, static_cast<int>(r.layers.size()));
  auto x = [&](int i) { return kLeft + (n == 1 ? kWidth / 2 : kWidth * i / (n - 1)); };
  auto y = [&](double v) { return kTop + kHeight * (lhi - std::log10(std::max(v, 1e-300))) / std::max(lhi - llo, 1.0); };
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%.0f\" y=\"22\" font-size=\"15\">%s, %s, batch %d: weight-gradient error vs SGD noise per layer "
      "(median ratio %.1fx)</text>\n",
      kLeft + kWidth + 40, kTop + kHeight + 70, kLeft, r.model, r.strategy, r.batch, r.median_ratio);
  for (double e = llo; e <= lhi; e += 1) {
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%.0f\" "
                          "y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n",
                          kLeft, y(std::pow(10, e)), kLeft + kWidth, y(std::pow(10, e)), kLeft - 6,
                          y(std::pow(10, e)) + 4, static_cast<int>(e));
  }
  for (const auto& [field, color, label] :
       {std::tuple<int, const char*, const char*>{0, "#d62728", "approx error ‖g_K−g‖/‖g‖"},
        std::tuple<int, const char*, const char*>{1, "#1f77b4", "SGD noise ‖g(b′)−ḡ‖/‖ḡ‖"}}) {
    std::string points;
    for (int i = 0; i < static_cast<int>(r.layers.size()); ++i) {
      const double v = field == 0 ? r.layers[i].approx_error : r.layers[i].sgd_noise;
      if (v <= 0) {  // an exact layer: no point on a log scale
        absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\" fill=\"%s\">exact</text>\n",
                              x(i), kTop + kHeight - 4, color);
        continue;
      }
      absl::StrAppendFormat(&points, "%.1f,%.1f ", x(i), y(v));
      absl::StrAppendFormat(&svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>%s: %.3g</title></circle>\n",
                            x(i), y(v), color, r.layers[i].layer, v);
    }
    absl::StrAppendFormat(&svg, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\"/>\n", points, color);
    const double ly = kTop + kHeight + 45 + 16 * field;
    absl::StrAppendFormat(&svg, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"4\" fill=\"%s\"/>"
                                "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
                          kLeft, ly - 4, color, kLeft + 18, ly, label);
  }
  absl::StrAppendFormat(&svg, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">layer (graph order, input to "
                              "output)</text>\n</svg>\n",
                        kLeft + kWidth / 2, kTop + kHeight + 22);
  return svg;
}

}  // namespace slimtrain::engine
