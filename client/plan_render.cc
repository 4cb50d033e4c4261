// See plan_render.h.
#include "client/plan_render.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/json_text.h"
#include "base/units.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "planner/plan_blocks.h"
#include "render/arena_svg.h"
#include "render/plan_text.h"

namespace slimtrain::client {
namespace {

using base::FormatBytes;
using base::FormatFlops;

std::string Cell(const std::string& text, int width) { return absl::StrFormat("%*s", width, text); }

// Arenas more than this fraction above their lower bound get a line saying
// why they are not proven optimal: the planner's exact search runs only
// above it (planner/arena.h, exact_min_gap), so below it the answer is
// always that it did not need to.
constexpr double kExplainedGap = 0.005;

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
  const std::string workspaces = render::Workspaces(first);
  std::string out = absl::StrFormat(
      "model %s, batch %d, device %s%s, optimizer %s: %d parameters; parameters + gradients + "
      "optimizer state %s (outside the arena)\n",
      first.model(), first.batch_size(), first.device(), workspaces.empty() ? "" : absl::StrCat(" (", workspaces, ")"),
      first.optimizer(), first.parameter_count(),
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
                  Cell("lower bound", 12), Cell("optimal", 11), Cell("peak", 12), Cell("vs exact", 9),
                  Cell("recompute", 14));
  if (data_parallel) absl::StrAppend(&out, Cell("sent/step", 12));
  if (options.max_batch) absl::StrAppend(&out, Cell("max batch", 10));
  if (budget) absl::StrAppend(&out, Cell("fits", 6));
  absl::StrAppend(&out, "\n");
  for (const v1::MemoryPlan& p : plans) {
    const std::string ratio =
        exact_peak > 0 ? absl::StrFormat("%.2fx", static_cast<double>(p.peak_bytes()) / exact_peak) : "-";
    absl::StrAppend(&out, absl::StrFormat("%-19s", p.strategy()), Cell(FormatBytes(p.saved_activation_bytes()), 12),
                    Cell(FormatBytes(p.arena_bytes()), 12), Cell(FormatBytes(p.arena_lower_bound_bytes()), 12),
                    Cell(render::ArenaOptimality(p), 11), Cell(FormatBytes(p.peak_bytes()), 12), Cell(ratio, 9),
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
  // Why an arena well above its bound is not proven optimal, in the
  // search's words ("stopped at its limit without a proof", "off", "not run:
  // 6012 buffers take space, ..."); closer ones show their gap in the column.
  bool explained = false, searchable = false;
  for (const v1::MemoryPlan& p : plans) {
    const double above = static_cast<double>(p.arena_bytes() - p.arena_lower_bound_bytes());
    if (p.arena_proven_optimal() || above <= kExplainedGap * static_cast<double>(p.arena_lower_bound_bytes())) {
      continue;
    }
    absl::StrAppend(&out, explained ? "" : "\n", p.strategy(), ": arena not proven optimal: exact search ",
                    p.arena_exact_search(), "\n");
    explained = true;
    // `slimtrain arena` has the planner's limit on buffers too.
    searchable = searchable || !absl::StartsWith(p.arena_exact_search(), "not run: ");
  }
  if (searchable) {
    absl::StrAppend(&out, "(--arena-csv FILE writes an arena's buffers with the plan's offsets; `slimtrain arena "
                          "--input FILE --alignment ",
                    first.alignment_bytes(), " --search-seconds 60` searches on from them)\n");
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

std::string ArenaCsvOfPlan(const v1::MemoryPlan& plan) {
  std::string out = "id,lower,upper,size,offset\n";
  for (const planner::PlanBlock& block : planner::PlanBlocks(plan)) {
    absl::StrAppend(&out, block.id, ",", block.request.first, ",", int64_t{block.request.last} + 1, ",",
                    block.request.size, ",", block.offset_bytes, "\n");
  }
  return out;
}

namespace {

// `path` for one of the plans: as given for one, "x.<strategy>.ext" (or
// "x.<strategy>" without an extension) for several.
std::string PathForPlan(const std::string& path, const v1::MemoryPlan& plan, bool several) {
  if (!several) return path;
  const size_t dot = path.rfind('.');
  const size_t slash = path.rfind('/');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  return has_ext ? absl::StrCat(path.substr(0, dot), ".", plan.strategy(), path.substr(dot))
                 : absl::StrCat(path, ".", plan.strategy());
}

}  // namespace

absl::Status PrintPlans(const v1::PlanMemoryResponse& response, const RenderOptions& options, std::ostream& out,
                        std::ostream& err) {
  if (options.format == "json") {
    absl::StatusOr<std::string> json = PlansJson(response, options);
    if (!json.ok()) return json.status();
    out << *json << "\n";
  } else {
    out << PlansTable(response, options);
  }
  const bool several = response.plans_size() > 1;
  for (const v1::MemoryPlan& plan : response.plans()) {
    if (!options.svg.empty()) {
      const std::string path = PathForPlan(options.svg, plan, several);
      if (absl::Status s = base::WriteFileAtomically(path, render::ArenaSvg(plan)); !s.ok()) return s;
      err << "wrote " << path << " (" << plan.buffers_size() << " buffers)\n";
    }
    if (!options.arena_csv.empty()) {
      const std::string path = PathForPlan(options.arena_csv, plan, several);
      if (absl::Status s = base::WriteFileAtomically(path, ArenaCsvOfPlan(plan)); !s.ok()) return s;
      err << "wrote " << path << " (the arena's blocks of " << plan.strategy() << ", for slimtrain arena)\n";
    }
  }
  return absl::OkStatus();
}

}  // namespace slimtrain::client
