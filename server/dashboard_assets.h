// dashboard_assets.h — the dashboard's script and style sheet, compiled in
// from server/dashboard/ (the genrule //server:dashboard_assets_cc), so the
// server needs no files at run time and fetches nothing.
#ifndef SLIMTRAIN_SERVER_DASHBOARD_ASSETS_H_
#define SLIMTRAIN_SERVER_DASHBOARD_ASSETS_H_

namespace slimtrain::server {

extern const char kDashboardJs[];
extern const char kDashboardCss[];

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_DASHBOARD_ASSETS_H_
