// plan_text.h — short texts about a memory plan that the CLI's plan table
// and the dashboard's plan explorer both show, so they say the same.
//
//   std::string cell = render::ArenaOptimality(plan);  // "yes", "+256 B"
//   std::string costs = render::Workspaces(plan);      // "oneDNN's workspaces"
#ifndef SLIMTRAIN_RENDER_PLAN_TEXT_H_
#define SLIMTRAIN_RENDER_PLAN_TEXT_H_

#include <string>

#include "proto/plan.pb.h"

namespace slimtrain::render {

// "yes" when no smaller arena exists for the plan's buffers
// (arena_proven_optimal), else how far above its lower bound the arena is
// ("+256 B", "+1.0 MiB").
std::string ArenaOptimality(const v1::MemoryPlan& plan);

// Whose workspaces the plan counts, from its cost_model: "oneDNN's
// workspaces", "cuDNN's workspaces at their bounds" (cudnn-bound), "cuDNN's
// workspaces" (the CUDA backend's own), "no workspaces counted" (default,
// reference), else "<name>'s workspaces"; empty when the plan does not say
// (a server older than the field).
std::string Workspaces(const v1::MemoryPlan& plan);

}  // namespace slimtrain::render

#endif  // SLIMTRAIN_RENDER_PLAN_TEXT_H_
