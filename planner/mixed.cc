// See mixed.h.
#include "planner/mixed.h"

#include <cmath>
#include <queue>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "planner/coding.h"

namespace slimtrain::planner {

std::vector<MixedCandidate> MixedCandidates(const Graph& graph, const Schedule& approx) {
  std::vector<MixedCandidate> out;
  for (const ScheduleBuffer& b : approx.buffers) {
    if (b.kind != v1::Buffer::CODE) continue;
    MixedCandidate c;
    c.name = graph.node(b.node).name;
    c.elements = approx.batch * NumElements(graph.node(b.node).out);
    for (size_t i = 0; i < kMixedBits.size(); ++i) {
      c.code_bytes[i] = CodeBytes(b.coding, kMixedBits[i], c.elements, approx.element_bytes);
    }
    // A BN→ReLU's code stands for two exact tensors: its input and the
    // relu's output.
    c.exact_bytes = (b.coding == Coding::kBnRelu ? 2 : 1) * c.elements * approx.element_bytes;
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

// A candidate's options, cheapest first: kMixedBits, then exact.
struct Option {
  int bits = 0;
  int64_t bytes = 0;
  double error = 0;
};

std::vector<Option> OptionsOf(const MixedCandidate& c, const Sensitivity& sensitivity, int64_t total_elements) {
  std::vector<Option> o;
  auto it = sensitivity.find(c.name);
  for (size_t i = 0; i < kMixedBits.size(); ++i) {
    const double assumed = static_cast<double>(c.elements) / static_cast<double>(std::max<int64_t>(total_elements, 1)) *
                           std::pow(4.0, -kMixedBits[i]);
    o.push_back({kMixedBits[i], c.code_bytes[i], it != sensitivity.end() ? it->second.error[i] : assumed});
  }
  o.push_back({0, c.exact_bytes, 0.0});
  return o;
}

}  // namespace

TensorBits ChooseMixedBits(const std::vector<MixedCandidate>& candidates, const Sensitivity& sensitivity,
                           int64_t allowance_bytes, double* predicted_error) {
  int64_t used = 0;
  return ChooseMixedBits(
      candidates, sensitivity,
      [&](size_t, int64_t added) {
        if (used + added > allowance_bytes) return false;
        used += added;
        return true;
      },
      predicted_error);
}

Sensitivity CompleteSensitivity(const std::vector<MixedCandidate>& candidates, const Sensitivity& sensitivity) {
  int64_t total_elements = 0;
  for (const MixedCandidate& c : candidates) total_elements += c.elements;
  Sensitivity complete = sensitivity;
  for (const MixedCandidate& c : candidates) {
    const std::vector<Option> o = OptionsOf(c, sensitivity, total_elements);
    for (size_t i = 0; i < kMixedBits.size(); ++i) complete[c.name].error[i] = o[i].error;
  }
  return complete;
}

double UniformMixedError(const std::vector<MixedCandidate>& candidates, const Sensitivity& sensitivity, int bits) {
  int64_t total_elements = 0;
  for (const MixedCandidate& c : candidates) total_elements += c.elements;
  double error = 0;
  for (const MixedCandidate& c : candidates) {
    for (const Option& o : OptionsOf(c, sensitivity, total_elements)) {
      if (o.bits == bits) error += o.error;
    }
  }
  return error;
}

TensorBits ChooseMixedBits(const std::vector<MixedCandidate>& candidates, const Sensitivity& sensitivity,
                           const MixedAdmit& admit, double* predicted_error) {
  int64_t total_elements = 0;
  for (const MixedCandidate& c : candidates) total_elements += c.elements;
  std::vector<std::vector<Option>> options;
  std::vector<int> at(candidates.size(), 0);  // each candidate's current option
  options.reserve(candidates.size());
  for (const MixedCandidate& c : candidates) options.push_back(OptionsOf(c, sensitivity, total_elements));

  // The next point on candidate i's lower convex hull: the option after its
  // current one removing the most error per byte added (-1: none).
  auto next = [&](size_t i, double* ratio) {
    const Option& cur = options[i][at[i]];
    int best = -1;
    for (int j = at[i] + 1; j < static_cast<int>(options[i].size()); ++j) {
      const Option& o = options[i][j];
      if (o.error >= cur.error || o.bytes <= cur.bytes) continue;
      const double r = (cur.error - o.error) / static_cast<double>(o.bytes - cur.bytes);
      if (best < 0 || r > *ratio) {
        best = j;
        *ratio = r;
      }
    }
    return best;
  };
  // Most error removed per byte first; ties by candidate order.
  using Upgrade = std::tuple<double, int, size_t, int>;  // ratio, -index, index, option
  std::priority_queue<Upgrade> queue;
  auto push = [&](size_t i) {
    double ratio = 0;
    const int j = next(i, &ratio);
    if (j >= 0) queue.emplace(ratio, -static_cast<int>(i), i, j);
  };
  for (size_t i = 0; i < candidates.size(); ++i) push(i);
  while (!queue.empty()) {
    const auto [ratio, neg, i, j] = queue.top();
    queue.pop();
    const int64_t added = options[i][j].bytes - options[i][at[i]].bytes;
    if (!admit(i, added)) continue;  // this tensor stays where it is
    at[i] = j;
    push(i);
  }
  TensorBits bits;
  double error = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Option& o = options[i][at[i]];
    error += o.error;
    if (o.bits != 0) bits[candidates[i].name] = o.bits;
  }
  if (predicted_error != nullptr) *predicted_error = error;
  return bits;
}

absl::StatusOr<Sensitivity> SensitivityFromTable(const v1::SensitivityTable& table) {
  Sensitivity out;
  for (int i = 0; i < table.tensors_size(); ++i) {
    const v1::TensorSensitivity& t = table.tensors(i);
    if (t.tensor().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("sensitivity.tensors[", i, "].tensor: empty"));
    }
    TensorSensitivity s;
    s.error = {t.error2(), t.error4(), t.error8()};
    for (size_t k = 0; k < kMixedBits.size(); ++k) {
      if (!std::isfinite(s.error[k]) || s.error[k] < 0) {
        return absl::InvalidArgumentError(absl::StrCat("sensitivity.tensors[", i, "].error", kMixedBits[k],
                                                       ": must be finite and >= 0, got ", s.error[k]));
      }
    }
    if (!out.emplace(t.tensor(), s).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("sensitivity.tensors[", i, "].tensor: '", t.tensor(), "' is listed twice"));
    }
  }
  return out;
}

std::string DescribeMixedBits(const TensorBits& bits, size_t candidates) {
  std::map<int, size_t> count;
  for (const auto& [name, b] : bits) ++count[b];
  std::vector<std::string> parts;
  for (int b : kMixedBits) {
    if (count[b] > 0) parts.push_back(absl::StrCat(count[b], " at ", b, " bits"));
  }
  const size_t exact = candidates - bits.size();
  if (exact > 0) parts.push_back(absl::StrCat(exact, " exact"));
  return absl::StrCat(absl::StrJoin(parts, ", "), " (of ", candidates, " tensors)");
}

}  // namespace slimtrain::planner
