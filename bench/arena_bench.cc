// arena_bench — how close PlanArena gets to the lower bound, and how fast.
//
// Generates random instances of three families and plans each three ways:
// the classic greedy (step 3 alone in size-desc order, TFLite Micro's planner),
// PlanArena's heuristics (search_seconds = 0), and PlanArena with the
// improvement search. Prints the distribution of arena / lower bound and the
// time per instance, then times the heuristics on six 15,000-buffer
// training-like sets (one model's plans).
//
//   bazel run -c opt //bench:arena_bench -- --instances=50 --search-seconds=1
//   bazel run -c opt //bench:arena_bench -- --instances=20 --family=rectangle --verbose
//   bazel run -c opt //bench:arena_bench -- --family=rectangle --dump=/tmp/cuts
//   bazel run -c opt //bench:arena_bench -- --exact-seconds=10 /tmp/cuts/*.csv
//
// Families:
//   rectangle  a time x memory rectangle (50-150 steps x 200-800 units) cut
//              (guillotine) into pieces: the optimum equals the lower bound,
//              and greedy orders miss it; about half the pieces live one step;
//   fine       the same on a 1024 x 1024 grid, like MiniMalloc's benchmarks
//              (classic greedy 1.1-1.5x the optimum, median ~1.25);
//   random     random lifetimes (mostly short, some long), sizes spread over
//              three decades: the lower bound is not always reachable;
//   training   a training step: per layer a LIFO saved buffer (forward to
//              backward), an activation, a gradient and two workspaces.
// --min-buffers/--max-buffers set the pieces per instance of the first three
// (default 100-500, issue 19's acceptance range), e.g. larger fine cuts:
//   arena_bench --family=fine --min-buffers=600 --max-buffers=1500 --verbose
// --dump DIR writes each generated instance as DIR/<family>-<seed>-<i>.csv
// (`slimtrain arena --input`'s format), so a hard one can be rerun alone.
// CSV files given as arguments are benched instead of the families, one line
// each (e.g. MiniMalloc's benchmarks, whose capacity is not read: the
// ratio is to the lower bound); --shuffle N takes each file's buffers in an
// order drawn from seed N, since the exact search's luck depends on the
// order: judge a change over several orders, not one.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/flags.h"
#include "planner/arena.h"
#include "planner/arena_csv.h"
#include "tests/testing/arena_instances.h"

namespace slimtrain {
namespace planner {
namespace {

using Requests = std::vector<ArenaRequest>;
constexpr int64_t kUnit = 256;  // bytes, the default alignment

// Buffers per instance of the rectangle, fine and random families
// (--min-buffers, --max-buffers; issue 19's acceptance range by default).
int64_t min_buffers = 100, max_buffers = 500;

using ::slimtrain::test_util::RandomIntervals;
using ::slimtrain::test_util::RectangleSlices;
using ::slimtrain::test_util::TrainingLike;
using ::slimtrain::test_util::Uniform;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

struct Run {
  double ratio;    // arena / lower bound
  double seconds;  // wall time of PlanArena
  bool proven = false;  // plan.proven_optimal
};

// Step 6's parallel searches (--threads).
int64_t exact_threads = 1;

// search_seconds: step 5's annealing; exact_seconds: step 6 whenever the
// arena is above the lower bound (0: neither gap rule nor search).
Run PlanOnce(const Requests& requests, double search_seconds, double exact_seconds = 0) {
  ArenaOptions options;
  options.search_seconds = search_seconds;
  options.exact_seconds = exact_seconds;
  options.exact_min_gap = 0;
  options.exact_max_nodes = 0;  // the time alone
  options.exact_threads = static_cast<int>(exact_threads);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ArenaPlan> plan = PlanArena(requests, options);
  const double seconds = Seconds(start);
  if (!plan.ok()) {
    std::fprintf(stderr, "PlanArena failed: %s\n", plan.status().ToString().c_str());
    std::exit(1);
  }
  const absl::Status verified = VerifyArena(requests, *plan, options.alignment);
  if (!verified.ok()) {
    std::fprintf(stderr, "VerifyArena failed: %s\n", verified.ToString().c_str());
    std::exit(1);
  }
  return {static_cast<double>(plan->arena_bytes) / static_cast<double>(plan->lower_bound_bytes),
          seconds, plan->proven_optimal};
}

// "min / median / p90 / max" of the ratios.
std::string Distribution(std::vector<Run> runs) {
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return a.ratio < b.ratio; });
  auto at = [&](double q) { return runs[static_cast<size_t>(q * (runs.size() - 1) + 0.5)].ratio; };
  return absl::StrFormat("%.3f %.3f %.3f %.3f", at(0), at(0.5), at(0.9), at(1));
}

double MedianSeconds(std::vector<Run> runs) {
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return a.seconds < b.seconds; });
  return runs[runs.size() / 2].seconds;
}

double MaxSeconds(const std::vector<Run>& runs) {
  double max = 0;
  for (const Run& r : runs) max = std::max(max, r.seconds);
  return max;
}

int Proven(const std::vector<Run>& runs) {
  int proven = 0;
  for (const Run& r : runs) proven += r.proven;
  return proven;
}

double MeanSeconds(const std::vector<Run>& runs) {
  double sum = 0;
  for (const Run& r : runs) sum += r.seconds;
  return sum / static_cast<double>(runs.size());
}

// Step 3 alone in size-desc order (larger first, then longer-lived first).
Run ClassicGreedy(const Requests& requests) {
  std::vector<int32_t> order(requests.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const ArenaRequest &x = requests[a], &y = requests[b];
    if (AlignUp(x.size, kUnit) != AlignUp(y.size, kUnit)) return x.size > y.size;
    return x.last - x.first > y.last - y.first;
  });
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ArenaPlan> plan =
      arena_internal::PlaceInOrder(requests, order, kUnit, arena_internal::Placer::kScan);
  const double seconds = Seconds(start);
  if (!plan.ok() || !VerifyArena(requests, *plan, kUnit).ok()) {
    std::fprintf(stderr, "classic greedy failed\n");
    std::exit(1);
  }
  return {static_cast<double>(plan->arena_bytes) / static_cast<double>(plan->lower_bound_bytes),
          seconds};
}

struct FamilyRuns {
  std::string name;
  size_t buffers = 0;  // mean per instance
  std::vector<Run> classic, heuristics, searched, exact;
};

// verbose: one line per instance with the exact search's result.
// The instance in `slimtrain arena --input`'s CSV format (ids b0, b1, ...).
std::string InstanceCsv(const Requests& requests) {
  std::string csv = "id,lower,upper,size\n";
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::StrAppendFormat(&csv, "b%zu,%d,%d,%d\n", i, requests[i].first, requests[i].last + 1,
                          requests[i].size);
  }
  return csv;
}

// dump: a folder to write each instance to as CSV (empty: none).
FamilyRuns BenchFamily(const std::string& name, int instances, double search_seconds,
                       double exact_seconds, bool verbose, const std::string& dump, int64_t seed,
                       std::mt19937_64& rng, Requests (*make)(std::mt19937_64&)) {
  FamilyRuns f;
  f.name = name;
  for (int i = 0; i < instances; ++i) {
    const Requests requests = make(rng);
    if (!dump.empty()) {
      const std::string path = absl::StrFormat("%s/%s-%d-%d.csv", dump, name, seed, i);
      if (absl::Status s = base::WriteFileAtomically(path, InstanceCsv(requests)); !s.ok()) {
        std::fprintf(stderr, "arena_bench: --dump: %s\n", std::string(s.message()).c_str());
        std::exit(1);
      }
    }
    f.buffers += requests.size();
    f.classic.push_back(ClassicGreedy(requests));
    f.heuristics.push_back(PlanOnce(requests, 0));
    if (search_seconds > 0) f.searched.push_back(PlanOnce(requests, search_seconds));
    f.exact.push_back(PlanOnce(requests, 0, exact_seconds));
    if (verbose) {
      std::printf("  %s %2d: %4zu buffers  heuristics %.4f  exact %.4f %-10s %7.3f s\n", name.c_str(), i,
                  requests.size(), f.heuristics.back().ratio, f.exact.back().ratio,
                  f.exact.back().proven ? "proven" : "not proven", f.exact.back().seconds);
    }
  }
  f.buffers /= instances;
  std::printf("%-9s %5zu  %-23s  %-23s %7.2f", name.c_str(), f.buffers, Distribution(f.classic).c_str(),
              Distribution(f.heuristics).c_str(), 1e3 * MeanSeconds(f.heuristics));
  if (search_seconds > 0) {
    std::printf("  %-23s %7.3f", Distribution(f.searched).c_str(), MeanSeconds(f.searched));
  }
  std::printf("\n");
  return f;
}

// The exact search's table: ratio, how many proven optimal, time per instance.
void PrintExact(const std::vector<FamilyRuns>& families, double exact_seconds) {
  std::printf("\nexact search (step 6, at most %.1f s per instance, from the heuristics' plan):\n",
              exact_seconds);
  std::printf("%-9s %5s  %-23s  %-23s %9s %9s %9s\n", "family", "n", "classic greedy (size)",
              "exact: arena / lower b.", "proven", "median s", "max s");
  for (const FamilyRuns& f : families) {
    std::printf("%-9s %5zu  %-23s  %-23s %5d/%-3zu %9.3f %9.3f\n", f.name.c_str(), f.buffers,
                Distribution(f.classic).c_str(), Distribution(f.exact).c_str(), Proven(f.exact),
                f.exact.size(), MedianSeconds(f.exact), MaxSeconds(f.exact));
  }
}

// One line per CSV file: buffers, the classic greedy's, the heuristics' and
// the exact search's arena / lower bound, proven or not, and the time.
// `shuffle` > 0: each file's buffers in an order drawn from that seed (the
// search's luck depends on the order, docs/results.md "Eleventh session").
int BenchFiles(const std::vector<std::string>& paths, double exact_seconds, int64_t shuffle) {
  std::printf("%-40s %6s %9s %10s %9s %-10s %9s\n", "file", "n", "classic", "heuristics", "exact", "", "s");
  std::vector<Run> runs;
  int proven = 0, above = 0;
  double worst = 1;
  for (const std::string& path : paths) {
    absl::StatusOr<std::string> text = base::ReadFile(path);
    absl::StatusOr<ArenaCsv> csv = text.ok() ? ParseArenaCsv(*text, path) : text.status();
    if (!csv.ok()) {
      std::fprintf(stderr, "arena_bench: %s\n", std::string(csv.status().message()).c_str());
      return 2;
    }
    if (shuffle > 0) {
      std::mt19937_64 order(static_cast<uint64_t>(shuffle));
      std::shuffle(csv->requests.begin(), csv->requests.end(), order);
    }
    const Run classic = ClassicGreedy(csv->requests), heuristics = PlanOnce(csv->requests, 0),
              exact = PlanOnce(csv->requests, 0, exact_seconds);
    runs.push_back(exact);
    proven += exact.proven;
    above += exact.ratio > 1.01;
    worst = std::max(worst, exact.ratio);
    std::printf("%-40s %6zu %9.4f %10.4f %9.4f %-10s %9.3f\n", path.substr(path.find_last_of('/') + 1).c_str(),
                csv->requests.size(), classic.ratio, heuristics.ratio, exact.ratio,
                exact.proven ? "proven" : "not proven", exact.seconds);
  }
  std::printf("proven optimal: %d/%zu (at most %.1f s each, %lld threads); median %.3f s; worst ratio %.4f; "
              "%d above 1.01\n",
              proven, paths.size(), exact_seconds, static_cast<long long>(exact_threads), MedianSeconds(runs), worst,
              above);
  return 0;
}

void BenchLargeTraining(std::mt19937_64& rng, int32_t layers) {
  std::vector<Requests> sets;
  for (int i = 0; i < 6; ++i) sets.push_back(TrainingLike(rng, layers));
  std::printf("\ntraining-like sets of %zu buffers (%d LIFO saved), heuristics only:\n",
              sets[0].size(), layers);
  double total = 0;
  for (size_t i = 0; i < sets.size(); ++i) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<ArenaPlan> plan = PlanArena(sets[i]);
    const double seconds = Seconds(start);
    total += seconds;
    if (!plan.ok() || !VerifyArena(sets[i], *plan, 256).ok()) {
      std::fprintf(stderr, "large training set %zu: planning or verification failed\n", i);
      std::exit(1);
    }
    std::printf("  set %zu: %7.1f ms  arena/lower bound %.5f  (%s, %.1f MiB)\n", i, 1e3 * seconds,
                static_cast<double>(plan->arena_bytes) / static_cast<double>(plan->lower_bound_bytes),
                plan->method.c_str(), static_cast<double>(plan->arena_bytes) / (1 << 20));
  }
  std::printf("  all 6 sets: %.1f ms\n", 1e3 * total);
}

}  // namespace
}  // namespace planner
}  // namespace slimtrain

int main(int argc, char** argv) {
  using namespace slimtrain::planner;
  int instances = 50, training_layers = 3000;
  double search_seconds = 0.0, exact_seconds = 10.0;
  int64_t seed = 1, shuffle = 0;
  std::string only, dump;
  bool verbose = false;
  slimtrain::base::FlagSet flags("arena_bench",
                                 "How close PlanArena gets to the lower bound, and how fast, on generated instances\n"
                                 "(bench/arena_bench.cc).",
                                 "bazel run -c opt //bench:arena_bench -- --instances=50 --search-seconds=1");
  flags.Int("instances", &instances, "instances per family");
  flags.Double("search-seconds", &search_seconds, "annealing budget per instance (step 5), seconds; 0: skip");
  flags.Double("exact-seconds", &exact_seconds, "exact search budget per instance (step 6), seconds");
  flags.Int("seed", &seed, "seed of the instance generators");
  flags.String("family", &only, "rectangle, fine, random or training: that family alone (empty: all)");
  flags.Bool("verbose", &verbose, "one line per instance with the exact search's result");
  flags.String("dump", &dump, "write each generated instance to this folder as CSV");
  flags.Int("training-layers", &training_layers, "layers of the large training-like set (5 buffers each)");
  flags.Int("min-buffers", &min_buffers, "fewest buffers (pieces) of a rectangle, fine or random instance");
  flags.Int("max-buffers", &max_buffers, "most buffers (pieces) of a rectangle, fine or random instance");
  flags.Int("shuffle", &shuffle, "with CSV files: their buffers in an order drawn from this seed (0: as in the file)");
  exact_threads = DefaultExactThreads();
  flags.Int("threads", &exact_threads, "step 6's parallel searches (by default the cores, 4 to 8)");
  if (absl::Status s = flags.Parse(std::vector<std::string>(argv + 1, argv + argc)); !s.ok()) {
    std::fprintf(stderr, "arena_bench: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  if (exact_threads < 1 || exact_threads > kMaxExactThreads) {
    std::fprintf(stderr, "arena_bench: --threads %lld is not in [1, %d]\n", static_cast<long long>(exact_threads),
                 kMaxExactThreads);
    return 2;
  }
  if (min_buffers < 1 || max_buffers < min_buffers || max_buffers > 1000000) {
    std::fprintf(stderr, "arena_bench: --min-buffers %lld and --max-buffers %lld are not 1 <= min <= max <= 1000000\n",
                 static_cast<long long>(min_buffers), static_cast<long long>(max_buffers));
    return 2;
  }
  if (shuffle < 0) {
    std::fprintf(stderr, "arena_bench: --shuffle %lld is not >= 0\n", static_cast<long long>(shuffle));
    return 2;
  }
  if (!flags.positional().empty()) return BenchFiles(flags.positional(), exact_seconds, shuffle);
  std::mt19937_64 rng(static_cast<uint64_t>(seed));

  if (instances < 1) {
    std::fprintf(stderr, "--instances must be >= 1\n");
    return 2;
  }
  std::printf("arena / lower bound over %d instances per family: min median p90 max\n"
              "(n: mean buffers; ms, s: mean PlanArena time per instance; the search stops\n"
              "early at the lower bound, else runs search_seconds=%.2f)\n\n",
              instances, search_seconds);
  std::printf("%-9s %5s  %-23s  %-23s %7s  %-23s %7s\n", "family", "n", "classic greedy (size)",
              "heuristics", "ms", search_seconds > 0 ? "heuristics + search" : "", search_seconds > 0 ? "s" : "");
  // Each family draws from its own generator (seed, family), so one family run
  // alone gets the same instances as in a run of all.
  struct Family {
    const char* name;
    Requests (*make)(std::mt19937_64&);
  };
  const Family all[] = {
      {"rectangle",
       [](std::mt19937_64& r) {
         return RectangleSlices(r, static_cast<int>(Uniform(r, min_buffers, max_buffers)),
                                static_cast<int32_t>(Uniform(r, 50, 150)), Uniform(r, 200, 800));
       }},
      {"fine",
       [](std::mt19937_64& r) {
         return RectangleSlices(r, static_cast<int>(Uniform(r, min_buffers, max_buffers)), 1024, 1024);
       }},
      {"random",
       [](std::mt19937_64& r) {
         return RandomIntervals(r, static_cast<int>(Uniform(r, min_buffers, max_buffers)),
                                static_cast<int32_t>(Uniform(r, 50, 400)));
       }},
      {"training", [](std::mt19937_64& r) { return TrainingLike(r, static_cast<int32_t>(Uniform(r, 20, 100))); }},
  };
  std::vector<FamilyRuns> families;
  for (size_t k = 0; k < std::size(all); ++k) {
    if (!only.empty() && only != all[k].name) continue;
    std::mt19937_64 family_rng(static_cast<uint64_t>(seed) * 1000 + k);
    families.push_back(BenchFamily(all[k].name, instances, search_seconds, exact_seconds, verbose, dump, seed,
                                   family_rng, all[k].make));
  }
  if (families.empty()) {
    std::fprintf(stderr, "arena_bench: --family '%s' is not rectangle, fine, random or training\n", only.c_str());
    return 2;
  }
  PrintExact(families, exact_seconds);
  if (only.empty()) BenchLargeTraining(rng, training_layers);
  return 0;
}
