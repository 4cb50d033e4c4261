// plan_stop.h — when long planning must stop early: the caller's deadline, a
// cancellation, or a limit on the time the work itself may take.
//
// Planning a deep model with checkpoint_optimal, or searching the largest
// batch, can take minutes; a server must be able to end it. The planner calls
// Check() between probes and inside its dynamic programs, and returns the
// first non-OK status it gets.
//
//   PlanStop stop;
//   stop.deadline = absl::Now() + absl::Seconds(10);           // the client's
//   stop.cancelled = [&] { return context->IsCancelled(); };
//   stop.time_limit = absl::Now() + absl::Seconds(30);         // the server's
//   stop.time_limit_reason = "this server plans for at most 30 s (--max-plan-seconds)";
//   options.stop = &stop;   // PlanOptions, planner.h
#ifndef SLIMTRAIN_PLANNER_PLAN_STOP_H_
#define SLIMTRAIN_PLANNER_PLAN_STOP_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace slimtrain::planner {

struct PlanStop {
  // Past it: DEADLINE_EXCEEDED.
  absl::Time deadline = absl::InfiniteFuture();
  // True: CANCELLED. Called from the planning thread; may be empty.
  std::function<bool()> cancelled;
  // Past it: RESOURCE_EXHAUSTED with time_limit_reason.
  absl::Time time_limit = absl::InfiniteFuture();
  std::string time_limit_reason = "planning took longer than its time limit";

  // OK while planning may go on; otherwise why it must stop.
  absl::Status Check() const;
};

// `stop`'s Check(), or OK for nullptr (never stops).
inline absl::Status CheckStop(const PlanStop* stop) { return stop == nullptr ? absl::OkStatus() : stop->Check(); }

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_PLAN_STOP_H_
