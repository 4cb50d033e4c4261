// See arena_svg.h.
#include "render/arena_svg.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/units.h"
#include "render/markup.h"

namespace slimtrain::render {
namespace {

using base::FormatBytes;

constexpr v1::Buffer::Kind kLegendKinds[] = {
    v1::Buffer::ACTIVATION, v1::Buffer::CODE,      v1::Buffer::STATISTICS, v1::Buffer::INDICES,
    v1::Buffer::GRADIENT,   v1::Buffer::WORKSPACE, v1::Buffer::ALLREDUCE};

}  // namespace

const char* KindColor(v1::Buffer::Kind kind) {
  switch (kind) {
    case v1::Buffer::ACTIVATION: return "#4e79a7";
    case v1::Buffer::CODE: return "#59a14f";
    case v1::Buffer::STATISTICS: return "#edc948";
    case v1::Buffer::INDICES: return "#b07aa1";
    case v1::Buffer::GRADIENT: return "#e15759";
    case v1::Buffer::WORKSPACE: return "#9c755f";
    case v1::Buffer::ALLREDUCE: return "#bab0ac";
    default: return "#999999";
  }
}

const char* KindLabel(v1::Buffer::Kind kind) {
  switch (kind) {
    case v1::Buffer::ACTIVATION: return "activation";
    case v1::Buffer::CODE: return "K-bit code";
    case v1::Buffer::STATISTICS: return "statistics";
    case v1::Buffer::INDICES: return "argmax indices";
    case v1::Buffer::GRADIENT: return "gradient";
    case v1::Buffer::WORKSPACE: return "workspace";
    case v1::Buffer::ALLREDUCE: return "all-reduce";
    default: return "other";
  }
}

int PeakStep(const v1::MemoryPlan& plan, int64_t* live_bytes) {
  *live_bytes = 0;
  int steps = 0;
  for (const v1::Buffer& b : plan.buffers()) steps = std::max(steps, b.last_step() + 1);
  if (steps == 0) return -1;
  // Bytes alive per step by a difference array over the lifetimes.
  std::vector<int64_t> delta(steps + 1, 0);
  for (const v1::Buffer& b : plan.buffers()) {
    if (b.in_place_of() >= 0 || b.first_step() < 0 || b.last_step() < b.first_step()) continue;
    delta[b.first_step()] += b.size_bytes();
    delta[b.last_step() + 1] -= b.size_bytes();
  }
  int peak = 0;
  int64_t live = 0;
  for (int s = 0; s < steps; ++s) {
    live += delta[s];
    if (live > *live_bytes) {
      *live_bytes = live;
      peak = s;
    }
  }
  return peak;
}

std::string ArenaSvg(const v1::MemoryPlan& plan, const ArenaSvgOptions& options) {
  using G = ArenaSvgGeometry;
  int steps = 1;
  int backward_begin = -1;
  for (const v1::Step& s : plan.steps()) {
    steps = std::max(steps, s.index() + 1);
    if (backward_begin < 0 && (s.kind() == v1::Step::BACKWARD || s.kind() == v1::Step::RECOMPUTE)) {
      backward_begin = s.index();
    }
  }
  for (const v1::Buffer& b : plan.buffers()) steps = std::max(steps, b.last_step() + 1);
  const double arena = std::max<double>(1, static_cast<double>(plan.arena_bytes()));
  const double xs = G::kWidth / steps, ys = G::kHeight / arena;
  const std::string id =
      options.element_id.empty() ? "" : absl::StrCat(" id=\"", EscapeMarkup(options.element_id), "\"");
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\"%s width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\" data-arena=\"%d\" data-buffers=\"%d\" data-steps=\"%d\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      id, G::kLeft + G::kWidth + G::kLegend, G::kTop + G::kHeight + 60, G::kLeft + G::kWidth + G::kLegend,
      G::kTop + G::kHeight + 60, plan.arena_bytes(), plan.buffers_size(), steps);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.0f\" y=\"24\" font-size=\"15\">%s, %s, batch %d: arena %s "
                        "(lower bound %s), peak %s</text>\n",
                        G::kLeft, EscapeMarkup(plan.model()), EscapeMarkup(plan.strategy()), plan.batch_size(),
                        FormatBytes(plan.arena_bytes()), FormatBytes(plan.arena_lower_bound_bytes()),
                        FormatBytes(plan.peak_bytes()));
  for (const v1::Buffer& b : plan.buffers()) {
    const double x = G::kLeft + b.first_step() * xs;
    const double w = std::max(0.5, (b.last_step() - b.first_step() + 1) * xs);
    const double h = std::max(0.5, b.size_bytes() * ys);
    const double y = G::kTop + G::kHeight - (b.offset_bytes() * ys) - h;
    const std::string why = b.reason().empty() ? "" : absl::StrCat("\n", EscapeMarkup(b.reason()));
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
                          "fill-opacity=\"%s\" stroke=\"white\" stroke-width=\"0.2\" data-buffer=\"%s\" "
                          "data-kind=\"%s\" data-offset=\"%d\" data-size=\"%d\" data-first=\"%d\" "
                          "data-last=\"%d\"><title>%s: %s, %s, steps %d-%d, offset %d%s</title></rect>\n",
                          x, y, w, h, KindColor(b.kind()), b.saved() ? "1.0" : "0.55", EscapeMarkup(b.name()),
                          KindLabel(b.kind()), b.offset_bytes(), b.size_bytes(), b.first_step(), b.last_step(),
                          EscapeMarkup(b.name()), KindLabel(b.kind()), FormatBytes(b.size_bytes()), b.first_step(),
                          b.last_step(), b.offset_bytes(), why);
  }
  // Axes, the forward/backward boundary, the peak step and the lower bound.
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
                        "stroke=\"black\"/>\n",
                        G::kLeft, G::kTop, G::kWidth, G::kHeight);
  if (backward_begin >= 0) {
    const double x = G::kLeft + backward_begin * xs;
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.2f\" y1=\"%.0f\" x2=\"%.2f\" y2=\"%.0f\" stroke=\"black\" "
                          "stroke-dasharray=\"4 3\"/>\n<text x=\"%.2f\" y=\"%.0f\" text-anchor=\"middle\">"
                          "forward | backward</text>\n",
                          x, G::kTop, x, G::kTop + G::kHeight, x, G::kTop - 6);
  }
  int64_t peak_live = 0;
  const int peak_step = PeakStep(plan, &peak_live);
  if (peak_step >= 0) {
    const double x = G::kLeft + (peak_step + 0.5) * xs;
    absl::StrAppendFormat(&svg,
                          "<line class=\"peak\" data-step=\"%d\" x1=\"%.2f\" y1=\"%.0f\" x2=\"%.2f\" y2=\"%.0f\" "
                          "stroke=\"#ff7f0e\" stroke-width=\"1.5\"><title>peak: %s alive at step %d</title></line>\n"
                          "<text x=\"%.2f\" y=\"%.0f\" text-anchor=\"middle\" fill=\"#ff7f0e\">peak, step %d</text>\n",
                          peak_step, x, G::kTop, x, G::kTop + G::kHeight, FormatBytes(peak_live), peak_step, x,
                          G::kTop + G::kHeight + 32, peak_step);
  }
  const double lb_y = G::kTop + G::kHeight - plan.arena_lower_bound_bytes() * ys;
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%.0f\" y1=\"%.2f\" x2=\"%.0f\" y2=\"%.2f\" stroke=\"#d62728\" "
                        "stroke-dasharray=\"2 2\"/>\n",
                        G::kLeft, lb_y, G::kLeft + G::kWidth, lb_y);
  for (int i = 0; i <= 4; ++i) {
    const double y = G::kTop + G::kHeight - i * G::kHeight / 4;
    absl::StrAppendFormat(&svg, "<text x=\"%.0f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n", G::kLeft - 6, y + 4,
                          FormatBytes(static_cast<int64_t>(arena * i / 4)));
    const double x = G::kLeft + i * G::kWidth / 4;
    absl::StrAppendFormat(&svg, "<text x=\"%.2f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n", x,
                          G::kTop + G::kHeight + 18, steps * i / 4);
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n"
                        "<text transform=\"translate(18,%.0f) rotate(-90)\" text-anchor=\"middle\">arena "
                        "offset</text>\n",
                        G::kLeft + G::kWidth / 2, G::kTop + G::kHeight + 50, G::kTop + G::kHeight / 2);
  double ly = G::kTop + 10;
  for (const v1::Buffer::Kind kind : kLegendKinds) {
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"14\" fill=\"%s\"/>"
                          "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
                          G::kLeft + G::kWidth + 16, ly, KindColor(kind), G::kLeft + G::kWidth + 36, ly + 12,
                          KindLabel(kind));
    ly += 22;
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.0f\" y=\"%.0f\">solid: kept for backward</text>\n"
                        "<text x=\"%.0f\" y=\"%.0f\">faded: transient</text>\n"
                        "<text x=\"%.0f\" y=\"%.0f\" fill=\"#d62728\">dashed red: lower bound</text>\n"
                        "<text x=\"%.0f\" y=\"%.0f\" fill=\"#ff7f0e\">orange: peak step</text>\n",
                        G::kLeft + G::kWidth + 16, ly + 12, G::kLeft + G::kWidth + 16, ly + 30,
                        G::kLeft + G::kWidth + 16, ly + 48, G::kLeft + G::kWidth + 16, ly + 66);
  svg += "</svg>\n";
  return svg;
}

}  // namespace slimtrain::render
