// See plan_render.h.
#include "client/plan_render.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "base/file_util.h"
#include "base/json_text.h"
#include "base/units.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace slimtrain::client {
namespace {

using base::FormatBytes;
using base::FormatFlops;

std::string Cell(const std::string& text, int width) { return absl::StrFormat("%*s", width, text); }

}  // namespace

std::string PlansTable(const v1::PlanMemoryResponse& response, const RenderOptions& options) {
  const auto& plans = response.plans();
  if (plans.empty()) return "no plans\n";
  const v1::MemoryPlan& first = plans[0];
  int64_t exact_peak = 0;
  bool budget = false;
  for (const v1::MemoryPlan& p : plans) {
    if (p.strategy() == "exact") exact_peak = p.peak_bytes();
    budget = budget || p.budget_bytes() > 0;
  }
  std::string out = absl::StrFormat(
      "model %s, batch %d, device %s, optimizer %s: %d parameters; parameters + gradients + "
      "optimizer state %s (outside the arena)\n",
      first.model(), first.batch_size(), first.device(), first.optimizer(), first.parameter_count(),
      FormatBytes(first.parameter_bytes() + first.gradient_bytes() + first.optimizer_state_bytes()));
  if (budget) absl::StrAppend(&out, "budget ", FormatBytes(first.budget_bytes()), "\n");
  // Data-parallel: every plan is one rank's, with the same ranks and buckets.
  const bool data_parallel = first.ranks() > 1;
  if (data_parallel) {
    absl::StrAppend(
        &out,
        absl::StrFormat("data-parallel: %d ranks, batch %d each; gradients (%s per step per rank) summed in %d "
                        "%s of about %s %s, ALLREDUCE buffers in the arena%s\n",
                        first.ranks(), first.batch_size(), FormatBytes(first.allreduce_gradient_bytes_per_step()),
                        first.allreduce_buckets(), first.allreduce_buckets() == 1 ? "bucket" : "buckets",
                        FormatBytes(first.bucket_bytes()),
                        first.overlap_communication() ? "while backward runs" : "after backward",
                        first.sync_batch_norm() ? "; sync batch norm's sums too" : ""));
  }
  absl::StrAppend(&out, "\n", absl::StrFormat("%-19s", "strategy"), Cell("saved act.", 12), Cell("arena", 12),
                  Cell("lower bound", 12), Cell("peak", 12), Cell("vs exact", 9), Cell("recompute", 14));
  if (data_parallel) absl::StrAppend(&out, Cell("sent/step", 12));
  if (options.max_batch) absl::StrAppend(&out, Cell("max batch", 10));
  if (budget) absl::StrAppend(&out, Cell("fits", 6));
  absl::StrAppend(&out, "\n");
  for (const v1::MemoryPlan& p : plans) {
    const std::string ratio =
        exact_peak > 0 ? absl::StrFormat("%.2fx", static_cast<double>(p.peak_bytes()) / exact_peak) : "-";
    absl::StrAppend(&out, absl::StrFormat("%-19s", p.strategy()), Cell(FormatBytes(p.saved_activation_bytes()), 12),
                    Cell(FormatBytes(p.arena_bytes()), 12), Cell(FormatBytes(p.arena_lower_bound_bytes()), 12),
                    Cell(FormatBytes(p.peak_bytes()), 12), Cell(ratio, 9),
                    Cell(p.recompute_flops() > 0 ? FormatFlops(p.recompute_flops()) : "0", 14));
    if (data_parallel) absl::StrAppend(&out, Cell(FormatBytes(p.sent_bytes_per_step()), 12));
    if (options.max_batch) absl::StrAppend(&out, Cell(absl::StrCat(p.max_batch_size()), 10));
    if (budget) absl::StrAppend(&out, Cell(p.fits() ? "yes" : "no", 6));
    absl::StrAppend(&out, "\n");
  }
  if (data_parallel) {
    absl::StrAppend(&out, "\nsent/step: what each rank sends per step in a ring all-reduce of its gradients",
                    first.sync_batch_norm() ? " and sync batch norm's sums (those of recomputed batch norms too)" : "",
                    ", 2(ranks-1)/ranks of them\n");
  }
  for (const v1::MemoryPlan& p : plans) {
    if (!p.choice().empty()) absl::StrAppend(&out, "\n", p.strategy(), ": ", p.choice(), "\n");
  }
  if (!response.choice_reason().empty()) {
    absl::StrAppend(&out, "\nauto: ",
                    response.chosen_strategy().empty() ? "nothing fits" : response.chosen_strategy(), " (",
                    response.choice_reason(), ")\n");
  }
  return out;
}

namespace {

// JSON per the proto3 mapping (proto field names, 64-bit integers as strings,
// enums by name), every field in declaration order, defaults included, except
// the fields named in `skip`. Keys come out in a stable order, unlike a
// google.protobuf.Struct's.
void AppendJson(const google::protobuf::Message& m, const std::set<std::string>& skip, int indent,
                std::string& out);

void AppendValue(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f, int index,
                 int indent, std::string& out) {
  using FD = google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32:
      absl::StrAppend(&out, rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      break;
    case FD::CPPTYPE_UINT32:
      absl::StrAppend(&out, rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      break;
    case FD::CPPTYPE_INT64:
      absl::StrAppend(&out, "\"", rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f), "\"");
      break;
    case FD::CPPTYPE_UINT64:
      absl::StrAppend(&out, "\"", rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f), "\"");
      break;
    case FD::CPPTYPE_DOUBLE:
      absl::StrAppend(&out, rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
      break;
    case FD::CPPTYPE_FLOAT:
      absl::StrAppend(&out, rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
      break;
    case FD::CPPTYPE_BOOL:
      absl::StrAppend(&out, (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false");
      break;
    case FD::CPPTYPE_ENUM:
      absl::StrAppend(&out, "\"", (rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name(), "\"");
      break;
    case FD::CPPTYPE_STRING:
      base::AppendJsonQuoted(rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f), &out);
      break;
    case FD::CPPTYPE_MESSAGE:
      AppendJson(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), {}, indent, out);
      break;
  }
}

void AppendJson(const google::protobuf::Message& m, const std::set<std::string>& skip, int indent,
                std::string& out) {
  const google::protobuf::Descriptor* d = m.GetDescriptor();
  const std::string pad(indent + 2, ' ');
  out += "{";
  bool first = true;
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    if (skip.count(f->name())) continue;
    absl::StrAppend(&out, first ? "\n" : ",\n", pad, "\"", f->name(), "\": ");
    first = false;
    if (!f->is_repeated()) {
      AppendValue(m, f, 0, indent + 2, out);
      continue;
    }
    const int n = m.GetReflection()->FieldSize(m, f);
    out += "[";
    for (int k = 0; k < n; ++k) {
      absl::StrAppend(&out, k == 0 ? "" : ", ");
      AppendValue(m, f, k, indent + 2, out);
    }
    out += "]";
  }
  absl::StrAppend(&out, first ? "" : "\n", first ? "" : std::string(indent, ' '), "}");
}

}  // namespace

absl::StatusOr<std::string> PlansJson(const v1::PlanMemoryResponse& response, const RenderOptions& options) {
  std::set<std::string> skip;
  if (!options.max_batch) skip.insert("max_batch_size");
  if (!options.buffers) skip.insert({"buffers", "steps"});
  std::string out = "{\n  \"plans\": [";
  for (int i = 0; i < response.plans_size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "\n    " : ",\n    ");
    AppendJson(response.plans(i), skip, 4, out);
  }
  absl::StrAppend(&out, "\n  ],\n  \"budget_bytes\": \"", response.budget_bytes(), "\"");
  if (!response.choice_reason().empty()) {
    absl::StrAppend(&out, ",\n  \"chosen_strategy\": ", base::JsonQuote(response.chosen_strategy()),
                    ",\n  \"choice_reason\": ", base::JsonQuote(response.choice_reason()));
  }
  out += "\n}";
  return out;
}

std::string ArenaSvg(const v1::MemoryPlan& plan) {
  constexpr double kLeft = 90, kTop = 50, kWidth = 1000, kHeight = 560, kLegend = 190;
  int steps = 1;
  int backward_begin = -1;
  for (const v1::Step& s : plan.steps()) {
    steps = std::max(steps, s.index() + 1);
    if (backward_begin < 0 && (s.kind() == v1::Step::BACKWARD || s.kind() == v1::Step::RECOMPUTE)) {
      backward_begin = s.index();
    }
  }
  const double arena = std::max<double>(1, static_cast<double>(plan.arena_bytes()));
  const double xs = kWidth / steps, ys = kHeight / arena;
  static const std::map<int, std::pair<const char*, const char*>> kKinds = {
      {v1::Buffer::ACTIVATION, {"#4e79a7", "activation"}}, {v1::Buffer::CODE, {"#59a14f", "K-bit code"}},
      {v1::Buffer::STATISTICS, {"#edc948", "statistics"}}, {v1::Buffer::INDICES, {"#b07aa1", "argmax indices"}},
      {v1::Buffer::GRADIENT, {"#e15759", "gradient"}},     {v1::Buffer::WORKSPACE, {"#9c755f", "workspace"}},
      {v1::Buffer::ALLREDUCE, {"#bab0ac", "all-reduce"}}};
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kLeft + kWidth + kLegend, kTop + kHeight + 60);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.0f\" y=\"24\" font-size=\"15\">%s, %s, batch %d: arena %s "
                        "(lower bound %s), peak %s</text>\n",
                        kLeft, plan.model(), plan.strategy(), plan.batch_size(), FormatBytes(plan.arena_bytes()),
                        FormatBytes(plan.arena_lower_bound_bytes()), FormatBytes(plan.peak_bytes()));
  for (const v1::Buffer& b : plan.buffers()) {
    const auto it = kKinds.find(b.kind());
    const char* color = it == kKinds.end() ? "#999999" : it->second.first;
    const double x = kLeft + b.first_step() * xs;
    const double w = std::max(0.5, (b.last_step() - b.first_step() + 1) * xs);
    const double h = std::max(0.5, b.size_bytes() * ys);
    const double y = kTop + kHeight - (b.offset_bytes() * ys) - h;
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
                          "fill-opacity=\"%s\" stroke=\"white\" stroke-width=\"0.2\"><title>%s, %s, steps "
                          "%d-%d, offset %d</title></rect>\n",
                          x, y, w, h, color, b.saved() ? "1.0" : "0.55",
                          absl::StrReplaceAll(b.name(), {{"&", "&amp;"}, {"<", "&lt;"}, {"\"", "&quot;"}}),
                          FormatBytes(b.size_bytes()), b.first_step(), b.last_step(), b.offset_bytes());
  }
  // Axes, the forward/backward boundary, and the lower bound.
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
                        "stroke=\"black\"/>\n",
                        kLeft, kTop, kWidth, kHeight);
  if (backward_begin >= 0) {
    const double x = kLeft + backward_begin * xs;
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.2f\" y1=\"%.0f\" x2=\"%.2f\" y2=\"%.0f\" stroke=\"black\" "
                          "stroke-dasharray=\"4 3\"/>\n<text x=\"%.2f\" y=\"%.0f\" text-anchor=\"middle\">"
                          "forward | backward</text>\n",
                          x, kTop, x, kTop + kHeight, x, kTop - 6);
  }
  const double lb_y = kTop + kHeight - plan.arena_lower_bound_bytes() * ys;
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%.0f\" y1=\"%.2f\" x2=\"%.0f\" y2=\"%.2f\" stroke=\"#d62728\" "
                        "stroke-dasharray=\"2 2\"/>\n",
                        kLeft, lb_y, kLeft + kWidth, lb_y);
  for (int i = 0; i <= 4; ++i) {
    const double y = kTop + kHeight - i * kHeight / 4;
    absl::StrAppendFormat(&svg, "<text x=\"%.0f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n", kLeft - 6, y + 4,
                          FormatBytes(static_cast<int64_t>(arena * i / 4)));
    const double x = kLeft + i * kWidth / 4;
    absl::StrAppendFormat(&svg, "<text x=\"%.2f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n", x,
                          kTop + kHeight + 18, steps * i / 4);
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n"
                        "<text transform=\"translate(18,%.0f) rotate(-90)\" text-anchor=\"middle\">arena "
                        "offset</text>\n",
                        kLeft + kWidth / 2, kTop + kHeight + 40, kTop + kHeight / 2);
  double ly = kTop + 10;
  for (const auto& [kind, style] : kKinds) {
    (void)kind;
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"14\" fill=\"%s\"/>"
                          "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
                          kLeft + kWidth + 16, ly, style.first, kLeft + kWidth + 36, ly + 12, style.second);
    ly += 22;
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.0f\" y=\"%.0f\">solid: kept for backward</text>\n"
                        "<text x=\"%.0f\" y=\"%.0f\">faded: transient</text>\n"
                        "<text x=\"%.0f\" y=\"%.0f\" fill=\"#d62728\">dashed red: lower bound</text>\n",
                        kLeft + kWidth + 16, ly + 12, kLeft + kWidth + 16, ly + 30, kLeft + kWidth + 16, ly + 48);
  svg += "</svg>\n";
  return svg;
}

}  // namespace slimtrain::client

namespace slimtrain::client {

absl::Status PrintPlans(const v1::PlanMemoryResponse& response, const RenderOptions& options, std::ostream& out,
                        std::ostream& err) {
  if (options.format == "json") {
    absl::StatusOr<std::string> json = PlansJson(response, options);
    if (!json.ok()) return json.status();
    out << *json << "\n";
  } else {
    out << PlansTable(response, options);
  }
  if (options.svg.empty()) return absl::OkStatus();
  const bool several = response.plans_size() > 1;
  for (const v1::MemoryPlan& plan : response.plans()) {
    std::string path = options.svg;
    if (several) {
      const size_t dot = path.rfind('.');
      const size_t slash = path.rfind('/');
      const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
      path = has_ext ? absl::StrCat(path.substr(0, dot), ".", plan.strategy(), path.substr(dot))
                     : absl::StrCat(path, ".", plan.strategy());
    }
    if (absl::Status s = base::WriteFileAtomically(path, ArenaSvg(plan)); !s.ok()) return s;
    err << "wrote " << path << " (" << plan.buffers_size() << " buffers)\n";
  }
  return absl::OkStatus();
}

}  // namespace slimtrain::client
