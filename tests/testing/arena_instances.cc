// See arena_instances.h.
#include "tests/testing/arena_instances.h"

#include <algorithm>
#include <cmath>

namespace slimtrain::test_util {

using planner::ArenaRequest;

int64_t Uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
}

std::vector<ArenaRequest> RectangleSlices(std::mt19937_64& rng, int pieces, int32_t steps, int64_t height,
                                          int64_t unit) {
  struct Piece {
    int32_t first, last;  // steps, inclusive
    int64_t low, high;    // units, [low, high)
  };
  std::vector<Piece> all = {{0, steps - 1, 0, height}};
  for (int tries = 0; static_cast<int>(all.size()) < pieces && tries < 100 * pieces; ++tries) {
    Piece& p = all[rng() % all.size()];
    const bool can_time = p.last > p.first, can_memory = p.high - p.low > 1;
    if (!can_time && !can_memory) continue;
    Piece other = p;
    if (can_time && (!can_memory || rng() % 2 == 0)) {
      const int32_t cut = static_cast<int32_t>(Uniform(rng, p.first, p.last - 1));
      other.first = cut + 1;
      p.last = cut;
    } else {
      const int64_t cut = Uniform(rng, p.low + 1, p.high - 1);
      other.low = cut;
      p.high = cut;
    }
    all.push_back(other);
  }
  std::vector<ArenaRequest> out;
  for (const Piece& p : all) out.push_back({(p.high - p.low) * unit, p.first, p.last});
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

std::vector<ArenaRequest> RandomIntervals(std::mt19937_64& rng, int n, int32_t steps, Sizes sizes) {
  std::vector<ArenaRequest> out;
  std::uniform_real_distribution<double> log_size(std::log(256.0), std::log(1048576.0));
  for (int i = 0; i < n; ++i) {
    const int kind = static_cast<int>(rng() % 20);
    const int32_t max_length = kind < 14 ? 4 : kind < 19 ? std::max(steps / 10, 1) : std::max(steps / 2, 1);
    const int32_t length = static_cast<int32_t>(Uniform(rng, 1, max_length));
    const int32_t first = static_cast<int32_t>(Uniform(rng, 0, steps - 1));
    int64_t size = 0;
    if (sizes == Sizes::kLogUniform) {
      size = static_cast<int64_t>(std::exp(log_size(rng)));
    } else if (rng() % 10 != 0) {
      size = Uniform(rng, 1, int64_t{1} << Uniform(rng, 0, 16));
    }
    out.push_back({size, first, first + length - 1});
  }
  return out;
}

std::vector<ArenaRequest> FullSteps(std::mt19937_64& rng, int32_t max_steps, int max_buffers) {
  const int32_t steps = static_cast<int32_t>(Uniform(rng, 6, max_steps));
  const int n = static_cast<int>(Uniform(rng, 8, max_buffers));
  std::vector<ArenaRequest> r;
  std::vector<int64_t> load(steps, 0);
  for (int k = 0; k < n; ++k) {
    const int32_t first = static_cast<int32_t>(Uniform(rng, 0, steps - 1));
    const int32_t longest = Uniform(rng, 0, 3) == 0 ? steps / 2 : 3;
    const int32_t last = std::min(steps - 1, first + static_cast<int32_t>(Uniform(rng, 0, longest)));
    const int64_t size = Uniform(rng, 1, 3) == 1 ? Uniform(rng, 1, 12) : Uniform(rng, 1, 4);
    r.push_back({size, first, last});
    for (int32_t t = first; t <= last; ++t) load[t] += size;
  }
  const int64_t fullest = *std::max_element(load.begin(), load.end());
  for (int32_t t = 0; t < steps; ++t) {
    if (load[t] < fullest) r.push_back({fullest - load[t], t, t});
  }
  return r;
}

// {size, first, last} each.
std::vector<std::vector<ArenaRequest>> GapInstances() {
  return {
      {{2, 1, 3}, {1, 0, 2}, {1, 2, 4}, {4, 4, 4}, {3, 0, 0}, {2, 1, 1}, {2, 3, 3}, {1, 0, 0}, {1, 2, 2}},
      {{4, 1, 4}, {1, 0, 3}, {2, 2, 4}, {4, 0, 1}, {1, 1, 2}, {3, 0, 0}, {3, 3, 3}, {2, 0, 0}, {2, 4, 4},
       {2, 4, 4}, {1, 2, 2}, {1, 2, 2}},
      {{4, 0, 2}, {1, 2, 4}, {1, 1, 3}, {1, 2, 4}, {3, 4, 4}, {3, 4, 4}, {3, 1, 1}, {3, 3, 3}, {2, 0, 0},
       {2, 0, 0}, {2, 3, 3}, {1, 2, 2}},
      {{4, 0, 3}, {1, 1, 4}, {2, 0, 2}, {4, 2, 3}, {3, 3, 4}, {3, 0, 1}, {3, 0, 0}, {3, 4, 4}, {3, 4, 4},
       {2, 1, 1}, {2, 4, 4}, {1, 2, 2}},
      {{3, 0, 2}, {3, 2, 4}, {2, 1, 3}, {4, 3, 4}, {2, 0, 1}, {2, 0, 1}, {3, 0, 0}, {3, 2, 2}, {3, 4, 4},
       {2, 1, 1}, {1, 0, 0}, {1, 3, 3}, {1, 3, 3}, {1, 4, 4}},
      {{3, 2, 4}, {2, 1, 3}, {2, 0, 2}, {2, 0, 1}, {4, 4, 4}, {3, 0, 0}, {3, 3, 3}, {2, 1, 1}, {1, 0, 0},
       {1, 2, 2}, {1, 4, 4}},
      {{3, 0, 2}, {2, 1, 3}, {1, 2, 4}, {2, 3, 4}, {3, 4, 4}, {3, 0, 0}, {2, 1, 1}, {2, 3, 3}, {1, 4, 4},
       {1, 0, 0}, {1, 2, 2}},
  };
}

std::vector<ArenaRequest> TrainingLike(std::mt19937_64& rng, int32_t layers) {
  std::vector<ArenaRequest> out;
  const int32_t last_step = 2 * layers - 1;
  for (int32_t i = 0; i < layers; ++i) {
    const int64_t base = (int64_t{8} << 20) >> (4 * static_cast<int64_t>(i) / layers);
    const bool block_first = i % 3 == 0, block_last = i % 3 == 2;
    const int64_t in = block_first ? base : base / 4, output = block_last ? base : base / 4;
    const int32_t back = last_step - i;
    out.push_back({in / 4, i, back});                                              // saved codes
    out.push_back({output, i, std::min(i + (block_last ? 3 : 1), layers)});        // output
    out.push_back({in * Uniform(rng, 0, 50) / 100, i, i});                         // workspace
    out.push_back({in, back, std::min(back + (block_first ? 3 : 1), last_step)});  // gradient
    out.push_back({in * Uniform(rng, 0, 50) / 100, back, back});                   // workspace
  }
  return out;
}

}  // namespace slimtrain::test_util
