// See onnx_values.h.
#include "planner/onnx_values.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace slimtrain::planner::onnx_values {
namespace {

absl::Status NodeError(const onnx::NodeProto& n, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrFormat("node '%s' (%s): %s", n.name(), n.op_type(), message));
}

// Elements of `dims`; INT64_MAX for a negative dimension or an overflow
// (so "over kMaxFoldedElements" catches both).
int64_t Count(const std::vector<int64_t>& dims) {
  int64_t c = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(c, d, &c)) return INT64_MAX;
  }
  return c;
}

// The integer elements of a constant that must not be symbolic (axes,
// starts, a shape to fill); none if one is.
std::optional<std::vector<int64_t>> Ints(const ConstTensor* t) {
  if (t == nullptr || t->symbolic()) return std::nullopt;
  std::vector<int64_t> out;
  for (double d : t->v) out.push_back(SafeInt(d));
  return out;
}

// Axis `a` of a rank-`rank` tensor, negative counting from the end.
std::optional<int64_t> NormAxis(int64_t a, int64_t rank) {
  if (a < 0) a += rank;
  if (a < 0 || a >= rank) return std::nullopt;
  return a;
}

// Row-major strides.
std::vector<int64_t> Strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

// numpy broadcasting of `shapes`; none when they do not broadcast.
std::optional<std::vector<int64_t>> BroadcastShape(const std::vector<const std::vector<int64_t>*>& shapes) {
  size_t rank = 0;
  for (const auto* s : shapes) rank = std::max(rank, s->size());
  std::vector<int64_t> out(rank, 1);
  for (const auto* s : shapes) {
    for (size_t i = 0; i < s->size(); ++i) {
      const int64_t d = (*s)[i];
      int64_t& o = out[rank - s->size() + i];
      if (d == o || d == 1) continue;
      if (o != 1) return std::nullopt;
      o = d;
    }
  }
  return out;
}

// The element of `t` that output element `flat` (of `out` dims) reads under
// broadcasting.
int64_t BroadcastIndex(const ConstTensor& t, const std::vector<int64_t>& out, int64_t flat) {
  const std::vector<int64_t> ts = Strides(t.dims);
  int64_t index = 0;
  for (int i = static_cast<int>(out.size()) - 1; i >= 0; --i) {
    const int64_t coord = flat % out[i];
    flat /= out[i];
    const int ti = i - static_cast<int>(out.size() - t.dims.size());
    if (ti >= 0 && t.dims[ti] != 1) index += coord * ts[ti];
  }
  return index;
}

// The broadcast shape of `in`, when it is small enough to fold.
std::optional<std::vector<int64_t>> FoldedShape(const std::vector<const ConstTensor*>& in) {
  std::vector<const std::vector<int64_t>*> shapes;
  for (const ConstTensor* t : in) shapes.push_back(&t->dims);
  std::optional<std::vector<int64_t>> dims = BroadcastShape(shapes);
  if (!dims || Count(*dims) > kMaxFoldedElements) return std::nullopt;
  return dims;
}

// Element-wise over broadcast inputs; f returns none when it cannot decide
// (symbolic operands it does not know how to combine).
std::optional<ConstTensor> Elementwise(const std::vector<const ConstTensor*>& in,
                                       const std::function<std::optional<SymInt>(const std::vector<SymInt>&,
                                                                                  const std::vector<double>&)>& f) {
  const std::optional<std::vector<int64_t>> dims = FoldedShape(in);
  if (!dims) return std::nullopt;
  ConstTensor out;
  out.dims = *dims;
  const int64_t count = Count(*dims);
  bool any_symbolic = false;
  std::vector<int> powers;
  for (int64_t e = 0; e < count; ++e) {
    std::vector<SymInt> args;
    std::vector<double> raw;
    for (const ConstTensor* t : in) {
      const int64_t i = BroadcastIndex(*t, *dims, e);
      args.push_back(t->at(i));
      raw.push_back(t->v[i]);
    }
    std::optional<SymInt> r = f(args, raw);
    if (!r) return std::nullopt;
    out.v.push_back(static_cast<double>(r->k));
    powers.push_back(r->n);
    any_symbolic |= r->n != 0;
  }
  if (any_symbolic) out.n = std::move(powers);
  return out;
}

// Float element-wise (no symbols): f on doubles.
std::optional<ConstTensor> FloatElementwise(const std::vector<const ConstTensor*>& in,
                                            const std::function<double(const std::vector<double>&)>& f) {
  for (const ConstTensor* t : in) {
    if (t->symbolic()) return std::nullopt;
  }
  const std::optional<std::vector<int64_t>> dims = FoldedShape(in);
  if (!dims) return std::nullopt;
  ConstTensor out;
  out.dims = *dims;
  out.is_float = true;
  for (int64_t e = 0; e < Count(*dims); ++e) {
    std::vector<double> args;
    for (const ConstTensor* t : in) args.push_back(t->v[BroadcastIndex(*t, *dims, e)]);
    out.v.push_back(f(args));
  }
  return out;
}

ConstTensor Scalar1D(std::vector<SymInt> values) {
  ConstTensor t;
  t.dims = {static_cast<int64_t>(values.size())};
  bool sym = false;
  for (const SymInt& s : values) sym |= s.n != 0 && s.k != 0;
  for (const SymInt& s : values) {
    t.v.push_back(static_cast<double>(s.k));
    if (sym) t.n.push_back(s.n);
  }
  return t;
}

// Gathers along `axis` of `data` at `indices` (any shape); none when out
// of range.
std::optional<ConstTensor> GatherConst(const ConstTensor& data, const ConstTensor& indices, int64_t axis) {
  const int64_t rank = static_cast<int64_t>(data.dims.size());
  if (axis < 0 || axis >= rank || indices.symbolic()) return std::nullopt;
  const int64_t outer = Count(std::vector<int64_t>(data.dims.begin(), data.dims.begin() + axis));
  const int64_t inner = Count(std::vector<int64_t>(data.dims.begin() + axis + 1, data.dims.end()));
  const int64_t size = data.dims[axis];
  ConstTensor out;
  out.is_float = data.is_float;
  out.dims.assign(data.dims.begin(), data.dims.begin() + axis);
  out.dims.insert(out.dims.end(), indices.dims.begin(), indices.dims.end());
  out.dims.insert(out.dims.end(), data.dims.begin() + axis + 1, data.dims.end());
  if (Count(out.dims) > kMaxFoldedElements) return std::nullopt;
  for (int64_t o = 0; o < outer; ++o) {
    for (double di : indices.v) {
      int64_t idx = SafeInt(di);
      if (idx < 0) idx += size;
      if (idx < 0 || idx >= size) return std::nullopt;
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t src = (o * size + idx) * inner + i;
        out.v.push_back(data.v[src]);
        if (!data.n.empty()) out.n.push_back(data.n[src]);
      }
    }
  }
  return out;
}

}  // namespace

const onnx::AttributeProto* Attr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

int64_t IntAttr(const onnx::NodeProto& n, const char* name, int64_t fallback) {
  const onnx::AttributeProto* a = Attr(n, name);
  return a != nullptr ? a->i() : fallback;
}

std::string SymString(const SymInt& s) {
  if (s.n == 0 || s.k == 0) return absl::StrCat(s.k);
  return s.k == 1 ? "N" : absl::StrCat(s.k, "N");
}

std::string SymDimsString(const SymDims& d) {
  std::vector<std::string> parts;
  for (const SymInt& s : d) parts.push_back(SymString(s));
  return absl::StrCat("(", absl::StrJoin(parts, ","), ")");
}

std::optional<SymInt> Product(const SymDims& d) {
  SymInt p{1, 0};
  for (const SymInt& s : d) {
    if (__builtin_mul_overflow(p.k, s.k, &p.k)) return std::nullopt;
    p.n += s.n;
  }
  if (p.n > 1) return std::nullopt;
  return p;
}

int64_t SafeInt(double d) {
  constexpr double kLimit = 4611686018427387904.0;  // 2^62
  if (std::isnan(d)) return 0;
  if (d >= kLimit) return int64_t{1} << 62;
  if (d <= -kLimit) return -(int64_t{1} << 62);
  return static_cast<int64_t>(d);
}

std::optional<SymInt> Divide(const SymInt& a, const SymInt& b) {
  if (b.k == 0 || b.n > a.n || a.k % b.k != 0) return std::nullopt;
  return SymInt{a.k / b.k, a.n - b.n};
}

bool ConstTensor::symbolic() const {
  return std::any_of(n.begin(), n.end(), [](int p) { return p != 0; });
}

absl::StatusOr<ConstTensor> FromProto(const onnx::TensorProto& t) {
  ConstTensor c;
  c.dims.assign(t.dims().begin(), t.dims().end());
  for (int64_t d : c.dims) {
    if (d < 0 || d > kMaxFoldedElements * 64) {
      return absl::InvalidArgumentError(absl::StrFormat("tensor '%s' has a dimension of %d", t.name(), d));
    }
  }
  const std::string& raw = t.raw_data();
  auto read = [&](auto sample) {
    using T = decltype(sample);
    for (size_t i = 0; i + sizeof(T) <= raw.size(); i += sizeof(T)) {
      T x;
      std::memcpy(&x, raw.data() + i, sizeof(T));
      c.v.push_back(static_cast<double>(x));
    }
  };
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      c.is_float = true;
      if (!raw.empty()) read(0.0f);
      else c.v.assign(t.float_data().begin(), t.float_data().end());
      break;
    case onnx::TensorProto::DOUBLE:
      c.is_float = true;
      if (!raw.empty()) read(0.0);
      else c.v.assign(t.double_data().begin(), t.double_data().end());
      break;
    case onnx::TensorProto::INT64:
      if (!raw.empty()) read(int64_t{0});
      else for (int64_t x : t.int64_data()) c.v.push_back(static_cast<double>(x));
      break;
    case onnx::TensorProto::INT32:
      if (!raw.empty()) read(int32_t{0});
      else for (int32_t x : t.int32_data()) c.v.push_back(x);
      break;
    case onnx::TensorProto::BOOL:
      if (!raw.empty()) read(uint8_t{0});
      else for (int32_t x : t.int32_data()) c.v.push_back(x != 0 ? 1 : 0);
      break;
    default:
      return absl::InvalidArgumentError(absl::StrFormat(
          "tensor '%s' has data type %d; constants must be float, double, int32, int64 or bool", t.name(),
          t.data_type()));
  }
  if (static_cast<int64_t>(c.v.size()) != Count(c.dims)) {
    return absl::InvalidArgumentError(absl::StrFormat("tensor '%s' has %d values for shape [%s]", t.name(),
                                                      c.v.size(), absl::StrJoin(c.dims, ", ")));
  }
  return c;
}

absl::StatusOr<std::optional<std::vector<ConstTensor>>> FoldNode(
    const onnx::NodeProto& n, const std::vector<const ConstTensor*>& in,
    const std::vector<std::optional<SymDims>>& activation_dims) {
  using Result = std::optional<std::vector<ConstTensor>>;
  const std::string& op = n.op_type();
  auto one = [](std::optional<ConstTensor> t) -> Result {
    if (!t) return std::nullopt;
    return std::vector<ConstTensor>{std::move(*t)};
  };
  auto input = [&](int i) -> const ConstTensor* { return i < static_cast<int>(in.size()) ? in[i] : nullptr; };
  if (op == "Shape") {
    if (activation_dims.empty() || !activation_dims[0]) {
      if (input(0) == nullptr) return Result();
      std::vector<SymInt> d;
      for (int64_t x : input(0)->dims) d.push_back({x, 0});
      const int64_t rank = static_cast<int64_t>(d.size());
      int64_t start = IntAttr(n, "start", 0), end = IntAttr(n, "end", rank);
      start = std::clamp(start < 0 ? start + rank : start, int64_t{0}, rank);
      end = std::clamp(end < 0 ? end + rank : end, int64_t{0}, rank);
      return one(Scalar1D(std::vector<SymInt>(d.begin() + start, d.begin() + std::max(start, end))));
    }
    const SymDims& d = *activation_dims[0];
    const int64_t rank = static_cast<int64_t>(d.size());
    int64_t start = IntAttr(n, "start", 0), end = IntAttr(n, "end", rank);
    start = std::clamp(start < 0 ? start + rank : start, int64_t{0}, rank);
    end = std::clamp(end < 0 ? end + rank : end, int64_t{0}, rank);
    return one(Scalar1D(SymDims(d.begin() + start, d.begin() + std::max(start, end))));
  }
  for (int i = 0; i < n.input_size(); ++i) {
    if (!n.input(i).empty() && input(i) == nullptr) return Result();
  }
  if (op == "Identity") return one(*input(0));
  if (op == "Cast") {
    ConstTensor t = *input(0);
    const int64_t to = IntAttr(n, "to", 0);
    if (to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE) {
      if (t.symbolic()) return Result();
      t.is_float = true;
    } else if (to == onnx::TensorProto::BOOL) {
      if (t.symbolic()) return Result();
      for (double& x : t.v) x = x != 0 ? 1 : 0;
      t.is_float = false;
    } else {
      for (double& x : t.v) x = std::trunc(x);
      t.is_float = false;
    }
    return one(t);
  }
  if (op == "Gather") {
    const ConstTensor& data = *input(0);
    std::optional<int64_t> axis = NormAxis(IntAttr(n, "axis", 0), static_cast<int64_t>(data.dims.size()));
    if (!axis) return NodeError(n, "axis out of range");
    return one(GatherConst(data, *input(1), *axis));
  }
  if (op == "Unsqueeze" || op == "Squeeze") {
    ConstTensor t = *input(0);
    std::vector<int64_t> axes;
    if (const onnx::AttributeProto* a = Attr(n, "axes"); a != nullptr) {
      axes.assign(a->ints().begin(), a->ints().end());
    } else if (n.input_size() >= 2 && !n.input(1).empty()) {
      std::optional<std::vector<int64_t>> v = Ints(input(1));
      if (!v) return Result();
      axes = *v;
    }
    if (op == "Unsqueeze") {
      const int64_t rank = static_cast<int64_t>(t.dims.size() + axes.size());
      std::vector<int64_t> norm;
      for (int64_t a : axes) {
        std::optional<int64_t> x = NormAxis(a, rank);
        if (!x) return NodeError(n, absl::StrCat("axis ", a, " out of range"));
        norm.push_back(*x);
      }
      std::sort(norm.begin(), norm.end());
      for (int64_t a : norm) t.dims.insert(t.dims.begin() + a, 1);
    } else {
      const int64_t rank = static_cast<int64_t>(t.dims.size());
      std::vector<int64_t> keep;
      for (int64_t i = 0; i < rank; ++i) {
        bool drop = axes.empty() ? t.dims[i] == 1 : false;
        for (int64_t a : axes) drop |= NormAxis(a, rank) == i;
        if (!drop) keep.push_back(t.dims[i]);
      }
      t.dims = keep;
    }
    return one(t);
  }
  if (op == "Concat") {
    const int64_t rank = static_cast<int64_t>(input(0)->dims.size());
    std::optional<int64_t> axis = NormAxis(IntAttr(n, "axis", 0), rank);
    if (!axis) return NodeError(n, "axis out of range");
    ConstTensor out;
    out.dims = input(0)->dims;
    out.dims[*axis] = 0;
    bool sym = false;
    for (const ConstTensor* t : in) {
      if (t->dims.size() != static_cast<size_t>(rank)) return NodeError(n, "inputs of different ranks");
      out.dims[*axis] += t->dims[*axis];
      sym |= t->symbolic();
      out.is_float |= t->is_float;
    }
    const int64_t outer = Count(std::vector<int64_t>(out.dims.begin(), out.dims.begin() + *axis));
    for (int64_t o = 0; o < outer; ++o) {
      for (const ConstTensor* t : in) {
        const int64_t chunk = Count(std::vector<int64_t>(t->dims.begin() + *axis, t->dims.end()));
        for (int64_t i = 0; i < chunk; ++i) {
          out.v.push_back(t->v[o * chunk + i]);
          if (sym) out.n.push_back(t->n.empty() ? 0 : t->n[o * chunk + i]);
        }
      }
    }
    return one(out);
  }
  if (op == "Slice") {
    const ConstTensor& data = *input(0);
    std::optional<std::vector<int64_t>> starts = Ints(input(1)), ends = Ints(input(2));
    if (!starts || !ends) return Result();
    const int64_t rank = static_cast<int64_t>(data.dims.size());
    std::vector<int64_t> axes, steps(starts->size(), 1);
    if (input(3) != nullptr) {
      std::optional<std::vector<int64_t>> a = Ints(input(3));
      if (!a) return Result();
      axes = *a;
    } else {
      for (size_t i = 0; i < starts->size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (input(4) != nullptr) {
      std::optional<std::vector<int64_t>> s = Ints(input(4));
      if (!s) return Result();
      steps = *s;
    }
    if (axes.size() != starts->size() || ends->size() != starts->size() || steps.size() != starts->size()) {
      return NodeError(n, "starts, ends, axes and steps differ in length");
    }
    std::vector<int64_t> begin(rank, 0), step(rank, 1), count = data.dims;
    for (size_t i = 0; i < axes.size(); ++i) {
      std::optional<int64_t> a = NormAxis(axes[i], rank);
      if (!a || steps[i] <= 0) return Result();  // negative steps: not folded
      const int64_t d = data.dims[*a];
      int64_t s = (*starts)[i], e = (*ends)[i];
      s = std::clamp(s < 0 ? s + d : s, int64_t{0}, d);
      e = std::clamp(e < 0 ? e + d : e, int64_t{0}, d);
      begin[*a] = s;
      step[*a] = steps[i];
      count[*a] = e > s ? (e - s + steps[i] - 1) / steps[i] : 0;
    }
    ConstTensor out;
    out.dims = count;
    out.is_float = data.is_float;
    const std::vector<int64_t> st = Strides(data.dims);
    for (int64_t e = 0; e < Count(count); ++e) {
      int64_t rest = e, src = 0;
      for (int64_t i = rank - 1; i >= 0; --i) {
        const int64_t c = rest % count[i];
        rest /= count[i];
        src += (begin[i] + c * step[i]) * st[i];
      }
      out.v.push_back(data.v[src]);
      if (!data.n.empty()) out.n.push_back(data.n[src]);
    }
    return one(out);
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    const bool floats = input(0)->is_float || input(1)->is_float;
    if (floats) {
      return one(FloatElementwise({input(0), input(1)}, [&](const std::vector<double>& a) {
        return op == "Add" ? a[0] + a[1] : op == "Sub" ? a[0] - a[1] : op == "Mul" ? a[0] * a[1] : a[0] / a[1];
      }));
    }
    return one(Elementwise({input(0), input(1)},
                           [&](const std::vector<SymInt>& a, const std::vector<double>&) -> std::optional<SymInt> {
                             const SymInt x = a[0], y = a[1];
                             int64_t k = 0;
                             if (op == "Mul") {
                               if (x.n + y.n > 1 || __builtin_mul_overflow(x.k, y.k, &k)) return std::nullopt;
                               return SymInt{k, x.n + y.n};
                             }
                             if (op == "Div") {
                               if (y.n == 0 && y.k != 0 && x.n == 0) return SymInt{x.k / y.k, 0};
                               return Divide(x, y);
                             }
                             if (x.n != y.n && x.k != 0 && y.k != 0) return std::nullopt;
                             const bool overflow = op == "Add" ? __builtin_add_overflow(x.k, y.k, &k)
                                                               : __builtin_sub_overflow(x.k, y.k, &k);
                             if (overflow) return std::nullopt;
                             return SymInt{k, std::max(x.n, y.n)};
                           }));
  }
  if (op == "Equal" || op == "Less" || op == "Greater") {
    return one(Elementwise({input(0), input(1)},
                           [&](const std::vector<SymInt>& a, const std::vector<double>& raw) -> std::optional<SymInt> {
                             double x = raw[0], y = raw[1];
                             if (a[0].n != a[1].n) {
                               // k·N (k > 0, N >= 1) against a number <= 0:
                               // only decidable for Equal.
                               const SymInt& s = a[0].n != 0 ? a[0] : a[1];
                               const double c = a[0].n != 0 ? raw[1] : raw[0];
                               if (op != "Equal" || s.k <= 0 || c > 0) return std::nullopt;
                               return SymInt{0, 0};
                             }
                             const bool r = op == "Equal" ? x == y : op == "Less" ? x < y : x > y;
                             return SymInt{r ? 1 : 0, 0};
                           }));
  }
  if (op == "Not") {
    ConstTensor t = *input(0);
    for (double& x : t.v) x = x != 0 ? 0 : 1;
    return one(t);
  }
  if (op == "Where") {
    const bool floats = input(1)->is_float || input(2)->is_float;
    std::optional<ConstTensor> t = Elementwise(
        {input(0), input(1), input(2)},
        [](const std::vector<SymInt>& a, const std::vector<double>& raw) -> std::optional<SymInt> {
          if (a[0].n != 0) return std::nullopt;
          return raw[0] != 0 ? a[1] : a[2];
        });
    if (floats) {
      t = FloatElementwise({input(0), input(1), input(2)},
                           [](const std::vector<double>& a) { return a[0] != 0 ? a[1] : a[2]; });
    }
    return one(t);
  }
  if (op == "ConstantOfShape") {
    std::optional<std::vector<int64_t>> shape = Ints(input(0));
    if (!shape || std::any_of(shape->begin(), shape->end(), [](int64_t d) { return d < 0; }) ||
        Count(*shape) > kMaxFoldedElements) {
      return Result();
    }
    ConstTensor t;
    t.dims = *shape;
    double value = 0;
    if (const onnx::AttributeProto* a = Attr(n, "value"); a != nullptr && a->has_t()) {
      SLIM_ASSIGN_OR_RETURN(ConstTensor vt, FromProto(a->t()));
      if (vt.v.size() != 1) return NodeError(n, "value must hold one element");
      value = vt.v[0];
      t.is_float = vt.is_float;
    } else {
      t.is_float = true;
    }
    t.v.assign(Count(*shape), value);
    return one(t);
  }
  if (op == "Range") {
    for (int i = 0; i < 3; ++i) {
      if (input(i)->symbolic() || input(i)->v.size() != 1) return Result();
    }
    const double start = input(0)->v[0], limit = input(1)->v[0], delta = input(2)->v[0];
    if (delta == 0) return NodeError(n, "delta is 0");
    const double steps = std::ceil((limit - start) / delta);
    if (!(steps <= static_cast<double>(kMaxFoldedElements))) return Result();
    const int64_t count = std::max<int64_t>(0, SafeInt(steps));
    ConstTensor t;
    t.dims = {count};
    t.is_float = input(0)->is_float;
    for (int64_t i = 0; i < count; ++i) t.v.push_back(start + i * delta);
    return one(t);
  }
  if (op == "Reshape") {
    std::optional<std::vector<int64_t>> shape = Ints(input(1));
    if (!shape) return Result();
    ConstTensor t = *input(0);
    int64_t known = 1, infer = -1;
    std::vector<int64_t> dims = *shape;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] == 0 && IntAttr(n, "allowzero", 0) == 0 && i < t.dims.size()) dims[i] = t.dims[i];
      if (dims[i] == -1 && infer < 0) {
        infer = static_cast<int64_t>(i);
      } else if (dims[i] < 0 || __builtin_mul_overflow(known, dims[i], &known)) {
        return NodeError(n, "a negative or overflowing shape");
      }
    }
    if (infer >= 0) dims[infer] = known > 0 ? t.size() / known : 0;
    if (Count(dims) != t.size()) return NodeError(n, "the shape does not match the element count");
    t.dims = dims;
    return one(t);
  }
  if (op == "Expand") {
    std::optional<std::vector<int64_t>> shape = Ints(input(1));
    if (!shape) return Result();
    ConstTensor target;
    target.dims = *shape;
    std::vector<const std::vector<int64_t>*> shapes = {&input(0)->dims, &target.dims};
    std::optional<std::vector<int64_t>> dims = BroadcastShape(shapes);
    if (!dims || Count(*dims) > kMaxFoldedElements) return Result();
    ConstTensor t;
    t.dims = *dims;
    t.is_float = input(0)->is_float;
    for (int64_t e = 0; e < Count(*dims); ++e) {
      const int64_t i = BroadcastIndex(*input(0), *dims, e);
      t.v.push_back(input(0)->v[i]);
      if (!input(0)->n.empty()) t.n.push_back(input(0)->n[i]);
    }
    return one(t);
  }
  if (op == "Neg" || op == "Sqrt") {
    return one(FloatElementwise({input(0)}, [&](const std::vector<double>& a) {
      return op == "Neg" ? -a[0] : std::sqrt(a[0]);
    }));
  }
  return Result();
}

}  // namespace slimtrain::planner::onnx_values
