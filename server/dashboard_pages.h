// dashboard_pages.h — the dashboard's pages as HTML (server-rendered, SVG
// pictures inline; dashboard.js keeps a job's page live).
//
// Pure functions of what the JobManager answered: the routes (dashboard.cc)
// authenticate, authorize through the JobManager and call these. Every
// string a user wrote is escaped (render/markup.h).
#ifndef SLIMTRAIN_SERVER_DASHBOARD_PAGES_H_
#define SLIMTRAIN_SERVER_DASHBOARD_PAGES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/job.pb.h"
#include "proto/service.pb.h"
#include "server/job_manager.h"

namespace slimtrain::server {

// Who is looking, and what every page's header and forms need.
struct PageContext {
  std::string user;
  bool admin = false;
  std::string csrf;   // the session's CSRF token, put in every form
  bool auth = true;   // false under --no-auth: no log-out button
  absl::Time now;
};

std::string LoginPage(absl::string_view error, absl::string_view next);

// `state`: the filter shown ("" for all); `next_page`: the page token of the
// next page ("" on the last).
std::string JobsPage(const PageContext& c, const std::vector<v1::Job>& jobs, absl::string_view state,
                     absl::string_view next_page);

// `plan_svg`: the admitted plan's picture ("" with `plan_note` saying why
// there is none).
std::string JobPage(const PageContext& c, const v1::Job& job, const std::string& plan_svg,
                    absl::string_view plan_note);

// The plan explorer's form values.
struct PlanForm {
  std::string model = "resnet56";  // a zoo name; ignored when `uploaded`
  std::string uploaded;            // the uploaded or pasted model's label, "" for a zoo model
  int64_t batch = 128;
  double budget_mib = 0;           // 0: the device's memory
  std::string device = "cpu";
  std::string optimizer = "sgd";
  std::string show;                // the strategy drawn; "": auto's choice or the first that fits
};

// `response` null: the form alone; `error`: why planning failed; `svg`: the
// picture of the plan `shown`.
std::string PlanPage(const PageContext& c, const PlanForm& form, const std::vector<std::string>& devices,
                     const v1::PlanMemoryResponse* response, absl::string_view error, const std::string& svg,
                     absl::string_view shown);

std::string DevicesPage(const PageContext& c, const std::vector<JobManager::DeviceUse>& devices);

// An error page (`c` null: the visitor is not logged in).
std::string ErrorPage(const PageContext* c, int status, absl::string_view message);

// "3 min", "2 h", "5 d": how long ago `t` was.
std::string Age(absl::Time t, absl::Time now);

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_DASHBOARD_PAGES_H_
