// See lr_schedule.h.
#include "engine/lr_schedule.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace slimtrain::engine {

absl::Status ValidateSchedule(const v1::LearningRateSchedule& s) {
  const std::string& kind = s.kind();
  if (!kind.empty() && kind != "constant" && kind != "step" && kind != "cosine") {
    return absl::InvalidArgumentError(
        absl::StrCat("learning_rate_schedule.kind: unknown '", kind, "'; known: constant, step, cosine"));
  }
  if (s.warmup_steps() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("learning_rate_schedule.warmup_steps must be >= 0, got ", s.warmup_steps()));
  }
  if (kind == "step" && s.gamma() != 0 && !(s.gamma() > 0 && s.gamma() <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("learning_rate_schedule.gamma must be in (0, 1], got ", s.gamma()));
  }
  if (s.min_learning_rate() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("learning_rate_schedule.min_learning_rate must be >= 0, got ", s.min_learning_rate()));
  }
  for (int i = 1; i < s.milestone_epochs_size(); ++i) {
    if (s.milestone_epochs(i) <= s.milestone_epochs(i - 1)) {
      return absl::InvalidArgumentError(absl::StrCat("learning_rate_schedule.milestone_epochs must ascend, got ",
                                                     s.milestone_epochs(i - 1), " then ", s.milestone_epochs(i)));
    }
  }
  return absl::OkStatus();
}

double LearningRate(const v1::LearningRateSchedule& s, double base, int64_t step, int64_t total_steps,
                    int64_t steps_per_epoch) {
  double lr = base;
  if (s.kind() == "step") {
    const double gamma = s.gamma() == 0 ? 0.1 : s.gamma();
    const int64_t epoch = steps_per_epoch > 0 ? step / steps_per_epoch : 0;
    for (int64_t m : s.milestone_epochs()) {
      if (epoch >= m) lr *= gamma;
    }
  } else if (s.kind() == "cosine" && total_steps > 0) {
    const double progress = std::min(1.0, static_cast<double>(step) / static_cast<double>(total_steps));
    lr = s.min_learning_rate() + (base - s.min_learning_rate()) * (1.0 + std::cos(M_PI * progress)) / 2.0;
  }
  if (step < s.warmup_steps()) lr *= static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps());
  return lr;
}

}  // namespace slimtrain::engine
