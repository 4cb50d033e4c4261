// See npy.h.
#include "engine/npy.h"

#include <cstring>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace slimtrain::engine {
namespace {

// A strict reader of the header's dict literal.
class Header {
 public:
  Header(absl::string_view text, const std::string& name) : t_(text), name_(name) {}

  absl::Status Bad(const std::string& why) const {
    return absl::InvalidArgumentError(absl::StrFormat("%s: bad .npy header: %s at character %d of '%s'", name_, why,
                                                      pos_, absl::CHexEscape(t_.substr(0, 200))));
  }
  void Skip() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\n' || t_[pos_] == '\t')) ++pos_;
  }
  bool Eat(char c) {
    Skip();
    if (pos_ < t_.size() && t_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Peek(char c) {
    Skip();
    return pos_ < t_.size() && t_[pos_] == c;
  }
  absl::StatusOr<std::string> String() {
    Skip();
    if (pos_ >= t_.size() || (t_[pos_] != '\'' && t_[pos_] != '"')) return Bad("expected a quoted string");
    const char q = t_[pos_++];
    const size_t end = t_.find(q, pos_);
    if (end == absl::string_view::npos) return Bad("unterminated string");
    std::string s(t_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  absl::StatusOr<bool> Bool() {
    Skip();
    for (const auto& [word, value] : {std::pair<absl::string_view, bool>{"True", true}, {"False", false}}) {
      if (t_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    return Bad("expected True or False");
  }
  absl::StatusOr<std::vector<int64_t>> Tuple() {
    if (!Eat('(')) return Bad("expected a tuple");
    std::vector<int64_t> dims;
    while (!Eat(')')) {
      Skip();
      int64_t v = 0;
      size_t digits = 0;
      while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) return Bad("dimension too large");
        v = v * 10 + (t_[pos_++] - '0');
        ++digits;
      }
      if (digits == 0) return Bad("expected a non-negative dimension");
      dims.push_back(v);
      if (!Eat(',') && !Peek(')')) return Bad("expected ',' or ')'");
      if (dims.size() > 32) return Bad("more than 32 dimensions");
    }
    return dims;
  }
  bool AtEnd() {
    Skip();
    return pos_ == t_.size();
  }

 private:
  absl::string_view t_;
  const std::string& name_;
  size_t pos_ = 0;
};

}  // namespace

int64_t NpyArray::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string NpyArray::ShapeText() const {
  return shape.size() == 1 ? absl::StrCat("(", shape[0], ",)") : absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

namespace {

uint64_t RawBits(const NpyArray& a, int64_t i) {
  unsigned char b[8];
  std::memcpy(b, a.data.data() + i * a.item_bytes, a.item_bytes);
  uint64_t v = 0;
  for (int k = 0; k < a.item_bytes; ++k) {
    const int shift = 8 * (a.big_endian ? a.item_bytes - 1 - k : k);
    v |= static_cast<uint64_t>(b[k]) << shift;
  }
  return v;
}

}  // namespace

int64_t NpyArray::Int(int64_t i) const {
  const uint64_t v = RawBits(*this, i);
  if (kind != 'i' || item_bytes == 8) return static_cast<int64_t>(v);
  const uint64_t sign = uint64_t{1} << (8 * item_bytes - 1);
  return static_cast<int64_t>((v ^ sign) - sign);  // sign-extended
}

double NpyArray::Float(int64_t i) const {
  if (kind != 'f') return kind == 'u' ? static_cast<double>(RawBits(*this, i)) : static_cast<double>(Int(i));
  const uint64_t v = RawBits(*this, i);
  if (item_bytes == 4) {
    const uint32_t u = static_cast<uint32_t>(v);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  double d;
  std::memcpy(&d, &v, 8);
  return d;
}

absl::StatusOr<NpyArray> ParseNpy(absl::string_view bytes, const std::string& name) {
  static constexpr char kMagic[] = "\x93NUMPY";
  if (bytes.size() < 10 || bytes.substr(0, 6) != absl::string_view(kMagic, 6)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not a .npy file (no \\x93NUMPY magic at byte 0)"));
  }
  const int major = static_cast<uint8_t>(bytes[6]);
  if (major < 1 || major > 3) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: .npy format version %d.%d, expected 1.0, 2.0 or 3.0", name,
                                                      major, static_cast<uint8_t>(bytes[7])));
  }
  const size_t len_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + len_bytes) return absl::InvalidArgumentError(absl::StrCat(name, ": truncated .npy header"));
  uint64_t header_len = 0;
  for (size_t k = 0; k < len_bytes; ++k) header_len |= uint64_t{static_cast<uint8_t>(bytes[8 + k])} << (8 * k);
  const uint64_t start = 8 + len_bytes;
  if (header_len > bytes.size() - start) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the .npy header says %d bytes but the file has %d after byte %d", name, header_len,
        bytes.size() - start, start));
  }
  Header h(bytes.substr(start, header_len), name);
  if (!h.Eat('{')) return h.Bad("expected '{'");
  NpyArray a;
  bool seen_descr = false, seen_order = false, seen_shape = false, fortran = false;
  while (!h.Eat('}')) {
    absl::StatusOr<std::string> key = h.String();
    if (!key.ok()) return key.status();
    if (!h.Eat(':')) return h.Bad("expected ':'");
    if (*key == "descr" && !seen_descr) {
      if (h.Peek('[')) return h.Bad("a structured dtype (descr is a list); save plain arrays");
      absl::StatusOr<std::string> d = h.String();
      if (!d.ok()) return d.status();
      a.descr = *d;
      seen_descr = true;
    } else if (*key == "fortran_order" && !seen_order) {
      absl::StatusOr<bool> f = h.Bool();
      if (!f.ok()) return f.status();
      fortran = *f;
      seen_order = true;
    } else if (*key == "shape" && !seen_shape) {
      absl::StatusOr<std::vector<int64_t>> s = h.Tuple();
      if (!s.ok()) return s.status();
      a.shape = *s;
      seen_shape = true;
    } else {
      return h.Bad(absl::StrCat("unexpected or repeated key '", *key, "'"));
    }
    if (!h.Eat(',') && !h.Peek('}')) return h.Bad("expected ',' or '}'");
  }
  if (!h.AtEnd()) return h.Bad("text after '}'");
  if (!seen_descr || !seen_order || !seen_shape) return h.Bad("descr, fortran_order and shape are all needed");
  if (fortran) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": fortran_order is True; save a C-ordered array (np.ascontiguousarray(a)) instead"));
  }
  // The dtype: byte order, kind, item size.
  const std::string& d = a.descr;
  const bool ok_form = d.size() == 3 && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=') &&
                       (d[2] == '1' || d[2] == '2' || d[2] == '4' || d[2] == '8');
  a.kind = ok_form ? d[1] : 0;
  a.item_bytes = ok_form ? d[2] - '0' : 0;
  a.big_endian = ok_form && d[0] == '>';
  const bool supported = (a.kind == 'b' && a.item_bytes == 1) || a.kind == 'i' || a.kind == 'u' ||
                         (a.kind == 'f' && (a.item_bytes == 4 || a.item_bytes == 8));
  if (!ok_form || !supported) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: dtype '%s' is not read: use bool, (u)int8/16/32/64, float32 or float64", name, absl::CHexEscape(d)));
  }
  // The payload: exactly the shape's bytes.
  const uint64_t payload = bytes.size() - start - header_len;
  uint64_t count = 1;
  for (int64_t dim : a.shape) {
    if (dim != 0 && count > payload / static_cast<uint64_t>(dim)) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: shape %s needs more than the %d bytes the file holds",
                                                        name, a.ShapeText(), payload));
    }
    count *= static_cast<uint64_t>(dim);
  }
  if (count * a.item_bytes != payload) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: shape %s of '%s' needs %d bytes of data but the file holds %d after its header (%s)", name, a.ShapeText(),
        d, count * a.item_bytes, payload, count * a.item_bytes > payload ? "truncated" : "extra bytes"));
  }
  a.data = bytes.substr(start + header_len);
  return a;
}

}  // namespace slimtrain::engine
