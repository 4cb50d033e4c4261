// See plan_stop.h.
#include "planner/plan_stop.h"

#include "absl/time/clock.h"

namespace slimtrain::planner {

absl::Status PlanStop::Check() const {
  if (cancelled && cancelled()) return absl::CancelledError("planning cancelled: the caller went away");
  const absl::Time now = absl::Now();
  if (now > deadline) return absl::DeadlineExceededError("planning passed the caller's deadline");
  if (now > time_limit) return absl::ResourceExhaustedError(time_limit_reason);
  return absl::OkStatus();
}

}  // namespace slimtrain::planner
