// See lr_schedule.h.
#include "engine/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace slimtrain::engine {

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
