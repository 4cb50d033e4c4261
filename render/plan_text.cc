// plan_text.cc — the texts of plan_text.h.
#include "render/plan_text.h"

#include "absl/strings/str_cat.h"
#include "base/units.h"

namespace slimtrain::render {

std::string ArenaOptimality(const v1::MemoryPlan& plan) {
  if (plan.arena_proven_optimal()) return "yes";
  return absl::StrCat("+", base::FormatBytes(plan.arena_bytes() - plan.arena_lower_bound_bytes()));
}

std::string Workspaces(const v1::MemoryPlan& plan) {
  const std::string& name = plan.cost_model();
  if (name.empty()) return "";
  if (name == "onednn") return "oneDNN's workspaces";
  if (name == "cudnn-bound") return "cuDNN's workspaces at their bounds";
  if (name == "cudnn") return "cuDNN's workspaces";
  if (name == "default" || name == "reference") return "no workspaces counted";
  return absl::StrCat(name, "'s workspaces");
}

}  // namespace slimtrain::render
