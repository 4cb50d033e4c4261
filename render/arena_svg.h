// arena_svg.h — a memory plan's arena as a picture: one rectangle per buffer
// at its planned offset (y) over the steps it is alive (x), coloured by kind,
// the peak step marked, a tooltip per buffer with its name, size and reason.
//
//   std::string svg = ArenaSvg(plan);                 // `slimtrain plan --svg`
//   ArenaSvgOptions options;
//   options.element_id = "plan-svg";                  // inside a page
//   std::string inline_svg = ArenaSvg(plan, options);
//
// Each buffer's rectangle carries its plan numbers as attributes, so a
// script (or a test) reads the plan back from the picture: data-buffer
// (name), data-kind, data-offset and data-size (bytes), data-first and
// data-last (steps, inclusive). The plan must carry its buffers
// (include_buffers); without them the picture has axes and no rectangles.
#ifndef SLIMTRAIN_RENDER_ARENA_SVG_H_
#define SLIMTRAIN_RENDER_ARENA_SVG_H_

#include <string>

#include "proto/plan.pb.h"

namespace slimtrain::render {

struct ArenaSvgOptions {
  // The <svg> element's id attribute; empty: none.
  std::string element_id;
};

// The picture's geometry: a buffer's rectangle spans x in [kLeft + first ×
// step_width, kLeft + (last + 1) × step_width] and y from kTop + kHeight −
// (offset + size) × byte_height down to kTop + kHeight − offset × byte_height
// (rectangles are at least 0.5 wide and high).
struct ArenaSvgGeometry {
  static constexpr double kLeft = 90, kTop = 50, kWidth = 1000, kHeight = 560, kLegend = 190;
};

std::string ArenaSvg(const v1::MemoryPlan& plan, const ArenaSvgOptions& options = {});

// The step at which the most bytes are alive (the sum of the sizes of the
// buffers alive at it, in-place buffers counted once), and those bytes; -1
// and 0 for a plan without buffers.
int PeakStep(const v1::MemoryPlan& plan, int64_t* live_bytes);

// The kind's colour and its legend's words, e.g. "#59a14f", "K-bit code".
const char* KindColor(v1::Buffer::Kind kind);
const char* KindLabel(v1::Buffer::Kind kind);

}  // namespace slimtrain::render

#endif  // SLIMTRAIN_RENDER_ARENA_SVG_H_
