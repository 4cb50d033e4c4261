// See dashboard_pages.h.
#include "server/dashboard_pages.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/units.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/time_util.h"
#include "planner/zoo.h"
#include "render/markup.h"
#include "render/plan_text.h"

namespace slimtrain::server {
namespace {

using base::FormatBytes;
using render::EscapeMarkup;

std::string E(absl::string_view s) { return EscapeMarkup(s); }

bool Active(v1::Job::State s) { return s == v1::Job::PENDING || s == v1::Job::RUNNING; }

std::string StateName(v1::Job::State s) { return v1::Job::State_Name(s); }

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string CsrfField(const PageContext& c) {
  return absl::StrCat("<input type=\"hidden\" name=\"csrf\" value=\"", E(c.csrf), "\">");
}

std::string Layout(const PageContext* c, absl::string_view title, absl::string_view nav, absl::string_view body,
                   absl::string_view body_attributes = "") {
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
      c != nullptr ? absl::StrCat("<meta name=\"csrf-token\" content=\"", E(c->csrf), "\">\n") : "", "<title>",
      E(title),
      " · slimtrain</title>\n<link rel=\"stylesheet\" href=\"/static/dashboard.css\">\n"
      "<script src=\"/static/dashboard.js\" defer></script>\n</head>\n<body",
      body_attributes, ">\n<header>\n<a class=\"brand\" href=\"/jobs\">slimtrain</a>\n");
  if (c != nullptr) {
    for (const auto& [href, label] : {std::pair<const char*, const char*>{"/jobs", "Jobs"},
                                      {"/plan", "Plan explorer"},
                                      {"/devices", "Devices"}}) {
      absl::StrAppend(&html, "<a class=\"nav", nav == href ? " current" : "", "\" href=\"", href, "\">", label,
                      "</a>\n");
    }
    absl::StrAppend(&html, "<span class=\"who\" id=\"user\">", E(c->user), c->admin ? " (admin)" : "", "</span>\n");
    if (c->auth) {
      absl::StrAppend(&html, "<form class=\"inline\" method=\"post\" action=\"/logout\">", CsrfField(*c),
                      "<button id=\"logout\">Log out</button></form>\n");
    }
  }
  absl::StrAppend(&html, "</header>\n<main>\n", body, "</main>\n</body>\n</html>\n");
  return html;
}

std::string ModelLabel(const v1::Job& job) {
  const v1::ModelRef& m = job.spec().model();
  if (!job.plan().model().empty()) return job.plan().model();
  if (m.has_onnx()) return absl::StrCat("ONNX model, ", FormatBytes(m.onnx().size_bytes()));
  if (m.has_spec()) return m.spec().name().empty() ? "inline spec" : m.spec().name();
  return m.zoo();
}

std::string Progress(const v1::Job& job) {
  const v1::Progress& p = job.progress();
  if (p.total_steps() > 0) {
    return absl::StrFormat("%d / %d (%.0f%%)", p.step(), p.total_steps(), 100.0 * p.step() / p.total_steps());
  }
  return absl::StrFormat("step %d, epoch %d", p.step(), p.epoch() + 1);
}

// Training's own measured peak (the process's less what it held before).
std::string Measured(const v1::Job& job) {
  const v1::Metrics& m = job.latest_metrics();
  if (m.measured_peak_bytes() <= 0) return "–";
  return FormatBytes(std::max<int64_t>(0, m.measured_peak_bytes() - m.other_bytes()));
}

std::string JobButtons(const PageContext& c, const v1::Job& job, bool with_ids) {
  const std::string id = E(job.id());
  if (Active(job.state())) {
    return absl::StrCat("<form class=\"inline\" method=\"post\" action=\"/jobs/", id, "/cancel\"",
                        with_ids ? " id=\"cancel-form\"" : "", ">", CsrfField(c), "<button",
                        with_ids ? " id=\"cancel\"" : "", " class=\"cancel\">Cancel</button></form>");
  }
  return absl::StrCat("<form class=\"inline\" method=\"post\" action=\"/jobs/", id, "/delete\"",
                      with_ids ? " id=\"delete-form\"" : "", ">", CsrfField(c), "<button",
                      with_ids ? " id=\"delete\"" : "", " class=\"delete\">Delete</button></form>");
}

// An empty chart dashboard.js fills: a frame, axis labels, and polylines
// with data-count="0".
std::string Chart(absl::string_view id, absl::string_view title, bool with_eval) {
  std::string svg = absl::StrCat(
      "<figure class=\"chart\"><figcaption>", title, "</figcaption>\n<svg id=\"", id,
      "\" class=\"curve\" xmlns=\"http://www.w3.org/2000/svg\" width=\"460\" height=\"220\" "
      "viewBox=\"0 0 460 220\">\n<rect class=\"frame\" x=\"50\" y=\"10\" width=\"400\" height=\"180\" "
      "fill=\"none\" stroke=\"#888\"/>\n<text class=\"ymax\" x=\"46\" y=\"18\" text-anchor=\"end\" "
      "font-size=\"11\"></text>\n<text class=\"ymin\" x=\"46\" y=\"190\" text-anchor=\"end\" font-size=\"11\"></text>\n"
      "<text class=\"xmax\" x=\"450\" y=\"206\" text-anchor=\"end\" font-size=\"11\"></text>\n"
      "<text x=\"250\" y=\"216\" text-anchor=\"middle\" font-size=\"11\">step</text>\n"
      "<polyline class=\"train\" data-count=\"0\" points=\"\" fill=\"none\" stroke=\"#4e79a7\" "
      "stroke-width=\"1.5\"/>\n");
  if (with_eval) {
    // Evaluations are few: each is a dot too, so one alone shows.
    const std::string dot = absl::StrCat("url(#", id, "-dot)");
    absl::StrAppend(&svg, "<defs><marker id=\"", id,
                    "-dot\" viewBox=\"0 0 6 6\" refX=\"3\" refY=\"3\" markerWidth=\"6\" markerHeight=\"6\" "
                    "markerUnits=\"userSpaceOnUse\"><circle cx=\"3\" cy=\"3\" r=\"2.5\" fill=\"#e15759\"/>"
                    "</marker></defs>\n<polyline class=\"eval\" data-count=\"0\" points=\"\" fill=\"none\" "
                    "stroke=\"#e15759\" stroke-width=\"2\" marker-start=\"",
                    dot, "\" marker-mid=\"", dot, "\" marker-end=\"", dot,
                    "\"/>\n<text x=\"60\" y=\"28\" font-size=\"11\" fill=\"#4e79a7\">train</text>"
                    "<text x=\"100\" y=\"28\" font-size=\"11\" fill=\"#e15759\">test</text>\n");
  }
  svg += "</svg></figure>\n";
  return svg;
}

std::string Row(absl::string_view key, absl::string_view value) {
  return absl::StrCat("<tr><th>", key, "</th><td>", value, "</td></tr>\n");
}

}  // namespace

std::string Age(absl::Time t, absl::Time now) {
  const double s = std::max(0.0, absl::ToDoubleSeconds(now - t));
  if (s < 60) return absl::StrFormat("%.0f s", s);
  if (s < 3600) return absl::StrFormat("%.0f min", s / 60);
  if (s < 86400) return absl::StrFormat("%.1f h", s / 3600);
  return absl::StrFormat("%.1f d", s / 86400);
}

std::string LoginPage(absl::string_view error, absl::string_view next) {
  std::string body =
      "<h1>Log in</h1>\n<p>Paste a token from the server's tokens file (the line's first field; "
      "<code>slimtrain_server</code> prints where it created the admin's).</p>\n";
  if (!error.empty()) absl::StrAppend(&body, "<p class=\"error\" id=\"login-error\">", E(error), "</p>\n");
  absl::StrAppend(&body,
                  "<form id=\"login-form\" method=\"post\" action=\"/login\">\n"
                  "<input type=\"hidden\" name=\"next\" value=\"",
                  E(next),
                  "\">\n<label>Token <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" "
                  "required autofocus></label>\n<button id=\"login-submit\">Log in</button>\n</form>\n");
  return Layout(nullptr, "Log in", "", body);
}

std::string JobsPage(const PageContext& c, const std::vector<v1::Job>& jobs, absl::string_view state,
                     absl::string_view next_page) {
  std::string body = absl::StrCat("<h1>Jobs</h1>\n<p class=\"filters\">Show: <a class=\"state-filter",
                                  state.empty() ? " current" : "", "\" href=\"/jobs\">all</a>");
  for (int s = v1::Job::PENDING; s <= v1::Job::CANCELLED; ++s) {
    const std::string name = StateName(static_cast<v1::Job::State>(s));
    absl::StrAppend(&body, " <a class=\"state-filter", name == state ? " current" : "", "\" href=\"/jobs?state=",
                    name, "\">", absl::AsciiStrToLower(name), "</a>");
  }
  absl::StrAppend(&body, "</p>\n");
  if (jobs.empty()) {
    absl::StrAppend(&body, "<p id=\"no-jobs\">No jobs", state.empty() ? "" : " in this state",
                    c.admin ? "" : " of yours",
                    ". Submit one with <code>slimtrain submit</code> (see <code>slimtrain submit "
                    "--help</code>).</p>\n");
  }
  absl::StrAppend(&body,
                  "<table id=\"jobs\">\n<thead><tr><th>Job</th><th>Name</th><th>Owner</th><th>Model</th>"
                  "<th>Strategy</th><th>Device</th><th>State</th><th>Progress</th><th>Planned peak</th>"
                  "<th>Measured</th><th>Age</th><th></th></tr></thead>\n<tbody>\n");
  for (const v1::Job& job : jobs) {
    const std::string id = E(job.id());
    absl::StrAppend(&body, "<tr class=\"job\" data-job-id=\"", id, "\"><td><a href=\"/jobs/", id, "\">", id,
                    "</a></td><td class=\"name\">", E(job.spec().display_name()), "</td><td class=\"owner\">",
                    E(job.owner()), "</td><td>", E(ModelLabel(job)), "</td><td>", E(job.plan().strategy()),
                    "</td><td>", E(job.device()), "</td><td class=\"state state-",
                    absl::AsciiStrToLower(StateName(job.state())), "\">", StateName(job.state()), "</td><td>",
                    Progress(job), "</td><td>", FormatBytes(job.plan().peak_bytes()), "</td><td>", Measured(job),
                    "</td><td>", Age(TimeOf(job.create_time()), c.now), "</td><td>", JobButtons(c, job, false),
                    "</td></tr>\n");
  }
  absl::StrAppend(&body, "</tbody>\n</table>\n");
  if (!next_page.empty()) {
    const std::string filter = state.empty() ? "" : absl::StrCat("state=", state, "&amp;");
    absl::StrAppend(&body, "<p><a id=\"next-page\" href=\"/jobs?", filter, "page=", E(next_page),
                    "\">Older jobs</a></p>\n");
  }
  return Layout(&c, "Jobs", "/jobs", body);
}

std::string JobPage(const PageContext& c, const v1::Job& job, const std::string& plan_svg,
                    absl::string_view plan_note) {
  const std::string id = E(job.id());
  std::string body = absl::StrCat("<h1><span id=\"job-id\">", id, "</span> <span id=\"job-name\">",
                                  E(job.spec().display_name()), "</span></h1>\n<p>State <strong id=\"job-state\">",
                                  StateName(job.state()), "</strong> · <span id=\"job-progress\">", Progress(job),
                                  "</span> ", JobButtons(c, job, true));
  if (job.state() == v1::Job::SUCCEEDED || (job.state() == v1::Job::RUNNING && job.checkpoint_step() > 0)) {
    absl::StrAppend(&body, " <a id=\"weights\" href=\"/jobs/", id, "/weights\">Download weights</a>",
                    job.state() == v1::Job::RUNNING ? " (latest checkpoint)" : "");
  }
  absl::StrAppend(&body, "</p>\n");
  if (!job.failure_reason().empty()) {
    absl::StrAppend(&body, "<p class=\"error\" id=\"failure\">", E(job.failure_reason()), "</p>\n");
  }
  std::string summary = absl::StrCat(
      Row("Owner", E(job.owner())), Row("Model", E(ModelLabel(job))),
      Row("Strategy", E(job.plan().strategy())), Row("Batch", absl::StrCat(job.spec().batch_size())),
      Row("Device", E(job.device())),
      Row("Planned peak", absl::StrCat(FormatBytes(job.plan().peak_bytes()), " (arena ",
                                       FormatBytes(job.plan().arena_bytes()), ")")),
      Row("Measured peak", absl::StrCat("<span id=\"job-measured\">", Measured(job), "</span>")),
      Row("Created", absl::StrCat(Age(TimeOf(job.create_time()), c.now), " ago")));
  if (job.restarts() > 0) absl::StrAppend(&summary, Row("Restarts", absl::StrCat(job.restarts())));
  if (job.ranks() > 1) absl::StrAppend(&summary, Row("Processes", absl::StrCat(job.ranks())));
  absl::StrAppend(&body, "<table class=\"summary\">\n", summary, "</table>\n<section id=\"curves\">\n",
                  Chart("curve-loss", "Loss", true), Chart("curve-accuracy", "Accuracy", true),
                  Chart("curve-lr", "Learning rate", false), "</section>\n");
  absl::StrAppend(&body, "<h2>Memory plan</h2>\n<div id=\"plan\">");
  if (plan_svg.empty()) {
    absl::StrAppend(&body, "<p id=\"plan-note\">", E(plan_note), "</p>");
  } else {
    absl::StrAppend(&body,
                    "<p>The arena over one training step: each rectangle is a buffer at its planned offset while "
                    "it is alive; hover for its name, size and why it is kept so. <a href=\"/jobs/",
                    id, "/plan.svg\">Open the picture alone</a>.</p>\n", plan_svg);
  }
  absl::StrAppend(&body, "</div>\n<h2>Events</h2>\n<p class=\"hint\">State changes, log lines and evaluations; "
                         "every step's metrics are in the curves.</p>\n<table id=\"events\">\n<thead><tr><th>#</th>"
                         "<th>Time</th><th>Event</th></tr></thead>\n<tbody></tbody>\n</table>\n");
  std::string spec_text;
  v1::JobSpec spec = job.spec();
  if (spec.model().has_onnx()) spec.mutable_model()->mutable_onnx()->clear_model();
  google::protobuf::TextFormat::PrintToString(spec, &spec_text);
  absl::StrAppend(&body, "<h2>Spec</h2>\n<pre id=\"spec\">", E(spec_text), "</pre>\n");
  return Layout(&c, job.id(), "/jobs", body,
                absl::StrCat(" data-job-id=\"", id, "\" data-job-state=\"", StateName(job.state()), "\""));
}

std::string PlanPage(const PageContext& c, const PlanForm& form, const std::vector<std::string>& devices,
                     const v1::PlanMemoryResponse* response, absl::string_view error, const std::string& svg,
                     absl::string_view shown) {
  std::string body =
      "<h1>Plan explorer</h1>\n<p>The peak memory of a model at a batch size under every strategy, the largest "
      "batch each fits in the budget, and the arena of one plan, as the server's PlanMemory computes them.</p>\n";
  std::string zoo_options;
  for (const planner::ZooEntry& e : planner::ZooModels()) {
    absl::StrAppend(&zoo_options, "<option value=\"", E(e.name), "\"",
                    form.uploaded.empty() && e.name == form.model ? " selected" : "", ">", E(e.name), " — ",
                    E(e.description), "</option>");
  }
  std::string device_options;
  for (const std::string& d : devices) {
    absl::StrAppend(&device_options, "<option", d == form.device ? " selected" : "", ">", E(d), "</option>");
  }
  std::string optimizer_options;
  for (const char* o : {"sgd", "adam", "rmsprop"}) {
    absl::StrAppend(&optimizer_options, "<option", o == form.optimizer ? " selected" : "", ">", o, "</option>");
  }
  const std::string common = absl::StrCat(
      "<label>Batch <input id=\"batch\" name=\"batch\" type=\"number\" min=\"1\" value=\"", form.batch,
      "\"></label>\n<label>Budget, MiB <input id=\"budget\" name=\"budget\" type=\"number\" min=\"0\" step=\"any\" "
      "value=\"",
      absl::StrFormat("%g", form.budget_mib), "\" title=\"0: the device's memory\"></label>\n",
      "<label>Device <select id=\"device\" name=\"device\">", device_options,
      "</select></label>\n<label>Optimizer <select id=\"optimizer\" name=\"optimizer\">", optimizer_options,
      "</select></label>\n");
  absl::StrAppend(&body, "<form id=\"plan-form\" method=\"get\" action=\"/plan\">\n<label>Zoo model <select "
                         "id=\"model\" name=\"model\">",
                  zoo_options, "</select></label>\n", common, "<button id=\"plan-submit\">Plan</button>\n</form>\n");
  absl::StrAppend(&body,
                  "<details", form.uploaded.empty() ? "" : " open",
                  "><summary>Your own model: an ONNX file, or a ModelSpec (JSON or text format)</summary>\n"
                  "<form id=\"plan-upload\" method=\"post\" action=\"/plan\" enctype=\"multipart/form-data\">\n",
                  CsrfField(c),
                  "\n<label>File <input id=\"file\" name=\"file\" type=\"file\"></label>\n<label>or paste a "
                  "ModelSpec <textarea id=\"spec\" name=\"spec\" rows=\"6\" cols=\"80\"></textarea></label>\n",
                  common, "<button id=\"plan-upload-submit\">Plan</button>\n</form>\n</details>\n");
  if (!error.empty()) absl::StrAppend(&body, "<p class=\"error\" id=\"plan-error\">", E(error), "</p>\n");
  if (response != nullptr) {
    const std::string model_name =
        response->plans().empty() ? "" : response->plans(0).model();
    absl::StrAppend(&body, "<h2>", E(model_name.empty() ? form.uploaded : model_name), ", batch ", form.batch,
                    ": budget ", FormatBytes(response->budget_bytes()), "</h2>\n");
    const std::string workspaces = response->plans().empty() ? "" : render::Workspaces(response->plans(0));
    if (!workspaces.empty()) {
      absl::StrAppend(&body, "<p id=\"workspaces\">Counted with ", E(workspaces), " on ", E(form.device),
                      ".</p>\n");
    }
    if (!response->choice_reason().empty()) {
      absl::StrAppend(&body, "<p id=\"choice\">auto: <strong>", E(response->chosen_strategy()), "</strong> — ",
                      E(response->choice_reason()), "</p>\n");
    }
    int64_t exact = 0;
    for (const v1::MemoryPlan& p : response->plans()) {
      if (p.strategy() == "exact") exact = p.peak_bytes();
    }
    absl::StrAppend(&body,
                    "<table id=\"strategies\">\n<thead><tr><th>Strategy</th><th>Peak</th><th>vs exact</th>"
                    "<th>Saved for backward</th><th>Arena</th><th>Arena optimal</th><th>Recomputed</th><th>Fits the budget</th>"
                    "<th>Largest batch that fits</th><th></th></tr></thead>\n<tbody>\n");
    for (const v1::MemoryPlan& p : response->plans()) {
      const std::string name = E(p.strategy());
      const std::string link =
          form.uploaded.empty()
              ? absl::StrCat("<a href=\"/plan?model=", E(form.model), "&amp;batch=", form.batch, "&amp;budget=",
                             absl::StrFormat("%g", form.budget_mib), "&amp;device=", E(form.device),
                             "&amp;optimizer=", E(form.optimizer), "&amp;show=", name, "\">picture</a>")
              : "";
      absl::StrAppend(
          &body, "<tr data-strategy=\"", name, "\"", p.strategy() == shown ? " class=\"shown\"" : "", "><td>", name,
          "</td><td>", FormatBytes(p.peak_bytes()), "</td><td>",
          exact > 0 ? absl::StrFormat("%.2f×", static_cast<double>(p.peak_bytes()) / exact) : "–", "</td><td>",
          FormatBytes(p.saved_activation_bytes()), "</td><td>", FormatBytes(p.arena_bytes()),
          // Whether the arena is optimal; the title says what the exact search did.
          "</td><td class=\"arena-optimal\" title=\"exact search: ", E(p.arena_exact_search()), "\">",
          render::ArenaOptimality(p),
          "</td><td>", base::FormatFlops(p.recompute_flops()), "</td><td class=\"fits\">", p.fits() ? "yes" : "no",
          "</td><td class=\"max-batch\">", p.max_batch_size() > 0 ? absl::StrCat(p.max_batch_size()) : "none",
          "</td><td>", p.strategy() == shown ? "drawn below" : link, "</td></tr>\n");
    }
    absl::StrAppend(&body, "</tbody>\n</table>\n");
    if (!svg.empty()) absl::StrAppend(&body, "<h2>Arena of ", E(shown), "</h2>\n<div id=\"plan\">", svg, "</div>\n");
  }
  return Layout(&c, "Plan explorer", "/plan", body);
}

std::string DevicesPage(const PageContext& c, const std::vector<JobManager::DeviceUse>& devices) {
  static const char* const kColors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  std::string body =
      "<h1>Devices</h1>\n<p>Each device of the server's pool with the planned peaks of the jobs running on it, "
      "stacked (a GPU's jobs each with the memory its worker takes before its plan), against its capacity; the "
      "thin bar below is what the jobs measured.</p>\n";
  for (const JobManager::DeviceUse& d : devices) {
    int64_t planned = 0, measured = 0;
    for (const auto& j : d.jobs) {
      planned += j.planned_bytes + d.overhead_bytes;
      measured += j.measured_bytes;
    }
    const double scale = 800.0 / std::max<double>({1.0, static_cast<double>(d.capacity_bytes),
                                                    static_cast<double>(planned)});
    absl::StrAppend(&body, "<section class=\"device\" data-device=\"", E(d.device), "\">\n<h2>", E(d.device),
                    "</h2>\n<p>", E(d.description), ": ", FormatBytes(planned), " planned of ",
                    FormatBytes(d.capacity_bytes), ", ", d.jobs.size(), d.jobs.size() == 1 ? " job" : " jobs",
                    "</p>\n<svg class=\"device-bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" "
                    "height=\"64\" viewBox=\"0 0 820 64\">\n<rect x=\"10\" y=\"8\" width=\"",
                    absl::StrFormat("%.1f", d.capacity_bytes * scale),
                    "\" height=\"30\" fill=\"#eee\" stroke=\"#888\"/>\n");
    double x = 10;
    std::string rows;
    for (size_t i = 0; i < d.jobs.size(); ++i) {
      const auto& j = d.jobs[i];
      const bool visible = c.admin || j.owner == c.user;
      const std::string label = visible ? absl::StrCat(j.id, " ", j.name) : "another user's job";
      // At least 4 px, so a small job on a large device can still be seen
      // (and hovered); the table below has its numbers.
      const double w = std::max(4.0, (j.planned_bytes + d.overhead_bytes) * scale);
      absl::StrAppend(&body, "<rect data-job-id=\"", visible ? E(j.id) : "", "\" x=\"", absl::StrFormat("%.1f", x),
                      "\" y=\"8\" width=\"", absl::StrFormat("%.1f", std::max(0.5, w)), "\" height=\"30\" fill=\"",
                      kColors[i % 10], "\" stroke=\"white\"><title>", E(label), ": planned ",
                      FormatBytes(j.planned_bytes), ", measured ", FormatBytes(j.measured_bytes), "</title></rect>\n");
      x += w;
      absl::StrAppend(&rows, "<tr><td>",
                      visible ? absl::StrCat("<a href=\"/jobs/", E(j.id), "\">", E(j.id), "</a>") : "–", "</td><td>",
                      visible ? E(j.name) : "another user's job", "</td><td>", FormatBytes(j.planned_bytes),
                      "</td><td>", j.measured_bytes > 0 ? FormatBytes(j.measured_bytes) : "–", "</td><td>",
                      absl::StrFormat("%.1f", j.images_per_second), "</td><td>", j.step, "</td></tr>\n");
    }
    absl::StrAppend(&body, "<rect class=\"measured\" x=\"10\" y=\"44\" width=\"",
                    absl::StrFormat("%.1f", measured > 0 ? std::max(4.0, measured * scale) : 0.0),
                    "\" height=\"10\" fill=\"#333\"><title>measured ", FormatBytes(measured),
                    "</title></rect>\n<text x=\"", absl::StrFormat("%.1f", std::min(700.0, x + 8)),
                    "\" y=\"28\" font-size=\"12\">",
                    absl::StrFormat("%.2f%%", d.capacity_bytes > 0 ? 100.0 * planned / d.capacity_bytes : 0.0),
                    " planned</text>\n</svg>\n");
    if (!d.jobs.empty()) {
      absl::StrAppend(&body,
                      "<table class=\"device-jobs\"><thead><tr><th>Job</th><th>Name</th><th>Planned</th>"
                      "<th>Measured</th><th>Examples/s</th><th>Step</th></tr></thead>\n<tbody>\n",
                      rows, "</tbody></table>\n");
    }
    absl::StrAppend(&body, "</section>\n");
  }
  return Layout(&c, "Devices", "/devices", body);
}

std::string ErrorPage(const PageContext* c, int status, absl::string_view message) {
  return Layout(c, absl::StrCat("Error ", status), "",
                absl::StrCat("<h1>Error ", status, "</h1>\n<p class=\"error\" id=\"error\">", E(message),
                             "</p>\n<p><a href=\"/jobs\">Jobs</a></p>\n"));
}

}  // namespace slimtrain::server
