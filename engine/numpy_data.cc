// See numpy_data.h.
#include "engine/numpy_data.h"

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "engine/npy.h"
#include "engine/zip_reader.h"

namespace slimtrain::engine {
namespace {

absl::Status Bad(const std::string& name, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", why));
}

std::string Shape(const planner::Dims& dims) {
  return absl::StrCat("(N, ", absl::StrJoin(dims, ", "), ")");
}

}  // namespace

absl::StatusOr<Dataset> DatasetFromNpy(absl::string_view x_bytes, const std::string& x_name,
                                       absl::string_view y_bytes, const std::string& y_name,
                                       const NumpyTarget& target) {
  SLIM_ASSIGN_OR_RETURN(const NpyArray x, ParseNpy(x_bytes, x_name));
  SLIM_ASSIGN_OR_RETURN(const NpyArray y, ParseNpy(y_bytes, y_name));
  const planner::Dims& input = target.input;
  // x's dtype and layout.
  const bool pixels = x.kind == 'u' && x.item_bytes == 1;
  if (!pixels && x.kind != 'f') {
    return Bad(x_name, absl::StrFormat("x has dtype '%s'; expected uint8 (pixels, value / 255), float32 or float64 "
                                       "(values as they are)",
                                       x.descr));
  }
  if (x.shape.empty()) return Bad(x_name, "x is a scalar; expected one example per row, shape " + Shape(input));
  const int64_t n = x.shape[0];
  const std::vector<int64_t> rest(x.shape.begin() + 1, x.shape.end());
  enum { kExact, kChannelsLast } layout = kExact;
  if (rest == input) {
    layout = kExact;
  } else if (input.size() == 3 && input[0] == 1 && rest == planner::Dims{input[1], input[2]}) {
    layout = kExact;  // (N,H,W) for one channel: the same bytes
  } else if (input.size() == 3 && input[0] > 1 && rest == planner::Dims{input[1], input[2], input[0]}) {
    layout = kChannelsLast;
  } else {
    return Bad(x_name, absl::StrFormat(
                           "x has shape %s but the model takes %s: expected %s%s", x.ShapeText(),
                           planner::DimsString(input), Shape(input),
                           input.size() == 3 ? absl::StrCat(", or channels last (N, ", input[1], ", ", input[2], ", ",
                                                            input[0], ")", input[0] == 1 ? ", or (N, H, W)" : "")
                                             : std::string()));
  }
  // y: labels or targets, N of them.
  const bool regression = target.targets_per_example > 0;
  if (y.shape.empty() || y.shape[0] != n) {
    return Bad(y_name, absl::StrFormat("y has shape %s but x has %d examples: expected (%d,)%s", y.ShapeText(), n, n,
                                       regression ? absl::StrFormat(" or (%d, %d)", n, target.targets_per_example)
                                                  : std::string()));
  }
  const int64_t per_example = y.elements() / std::max<int64_t>(n, 1);
  if (regression) {
    if (y.kind != 'f') {
      return Bad(y_name, absl::StrFormat("y has dtype '%s' but the model ends in mse_loss (a regression): expected "
                                         "float32 or float64 targets",
                                         y.descr));
    }
    if (y.shape.size() > 2 || (n > 0 && per_example != target.targets_per_example)) {
      return Bad(y_name, absl::StrFormat("y has shape %s but the model's mse_loss takes %d targets per example: "
                                         "expected (%d, %d)%s",
                                         y.ShapeText(), target.targets_per_example, n, target.targets_per_example,
                                         target.targets_per_example == 1 ? absl::StrFormat(" or (%d,)", n) : ""));
    }
  } else {
    if (y.kind != 'i' && y.kind != 'u') {
      return Bad(y_name, absl::StrFormat("y has dtype '%s': expected integer class labels (int64, int32, uint8, ...)%s",
                                         y.descr, y.kind == 'f' ? " (float targets need a model ending in mse_loss)" : ""));
    }
    if (y.shape.size() != 1) return Bad(y_name, absl::StrFormat("y has shape %s: expected (%d,)", y.ShapeText(), n));
  }
  // The decoded size, before allocating it.
  const int64_t elements = planner::NumElements(input);
  const int64_t bytes_per_example = elements * (pixels ? 1 : 4) + 4 * (regression ? per_example : 1);
  if (n > kMaxDatasetBytes / std::max<int64_t>(bytes_per_example, 1)) {
    return Bad(x_name, absl::StrFormat("%d examples of %s take more than the limit of %d bytes", n,
                                       planner::DimsString(input), kMaxDatasetBytes));
  }
  Dataset d;
  d.size = n;
  d.image = input;
  d.classes = target.classes;
  // Element e of example i in the model's (C,H,W) order reads x at `at`.
  const int64_t c = input[0], hw = elements / c;
  auto at = [&](int64_t i, int64_t e) {
    return layout == kExact ? i * elements + e : i * elements + (e % hw) * c + e / hw;
  };
  if (pixels) {
    d.pixels.resize(n * elements);
    const auto* raw = reinterpret_cast<const uint8_t*>(x.data.data());
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t e = 0; e < elements; ++e) d.pixels[i * elements + e] = raw[at(i, e)];
    }
  } else {
    d.values.resize(n * elements);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t e = 0; e < elements; ++e) {
        const double v = x.Float(at(i, e));
        if (!std::isfinite(v) || std::fabs(v) > 3.4e38) {
          return Bad(x_name, absl::StrFormat("x[%d] element %d is %g: every value must be a finite float32", i, e, v));
        }
        d.values[i * elements + e] = static_cast<float>(v);
      }
    }
  }
  if (regression) {
    d.labels_per_example = 0;
    d.targets_per_example = per_example;
    d.targets.resize(n * per_example);
    for (int64_t k = 0; k < n * per_example; ++k) {
      const double v = y.Float(k);
      if (!std::isfinite(v) || std::fabs(v) > 3.4e38) {
        return Bad(y_name, absl::StrFormat("y element %d is %g: every target must be a finite float32", k, v));
      }
      d.targets[k] = static_cast<float>(v);
    }
  } else {
    d.labels.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t label = y.Int(i);
      const bool huge_unsigned = y.kind == 'u' && y.item_bytes == 8 && label < 0;
      if (huge_unsigned || label < 0 || label >= target.classes) {
        return Bad(y_name, absl::StrFormat("y[%d] = %s is outside [0, %d) (the model's classes)", i,
                                           huge_unsigned ? absl::StrCat(static_cast<uint64_t>(label))
                                                         : absl::StrCat(label),
                                           target.classes));
      }
      d.labels[i] = static_cast<int32_t>(label);
    }
    d.class_names = NumberedClasses(target.classes);
  }
  return d;
}

absl::StatusOr<Dataset> LoadNumpy(const std::string& dir, NumpyLayout layout, Split split, const NumpyTarget& target,
                                  const DataFiles& files) {
  const std::string prefix = dir + (split == Split::kTrain ? "/train" : "/test");
  absl::StatusOr<Dataset> d;
  if (layout == NumpyLayout::kNpy) {
    SLIM_ASSIGN_OR_RETURN(const std::string x, files.Read(prefix + "_x.npy"));
    SLIM_ASSIGN_OR_RETURN(const std::string y, files.Read(prefix + "_y.npy"));
    d = DatasetFromNpy(x, files.Display(prefix + "_x.npy"), y, files.Display(prefix + "_y.npy"), target);
    if (d.ok()) d->name = "npy";
  } else {
    const std::string path = prefix + ".npz";
    SLIM_ASSIGN_OR_RETURN(const std::string zip, files.Read(path));
    const std::string name = files.Display(path);
    SLIM_ASSIGN_OR_RETURN(auto entries, ReadZipEntries(zip, name, {"x.npy", "y.npy"}, kMaxDatasetBytes));
    d = DatasetFromNpy(entries["x.npy"], name + " x", entries["y.npy"], name + " y", target);
    if (d.ok()) d->name = "npz";
  }
  return d;
}

}  // namespace slimtrain::engine
