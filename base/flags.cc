// See flags.h.
#include "base/flags.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace slimtrain::base {
namespace {

// A flag name with underscores as dashes: --data_dir is --data-dir.
std::string Dashed(const std::string& name) { return absl::StrReplaceAll(name, {{"_", "-"}}); }

}  // namespace

FlagSet::FlagSet(std::string program, std::string summary, std::string example)
    : program_(std::move(program)), summary_(std::move(summary)), example_(std::move(example)) {}

void FlagSet::String(const std::string& name, std::string* value, const std::string& help) {
  flags_.push_back({name, Type::kString, value, help, *value});
}
void FlagSet::Int(const std::string& name, int64_t* value, const std::string& help) {
  flags_.push_back({name, Type::kInt64, value, help, absl::StrCat(*value)});
}
void FlagSet::Int(const std::string& name, int* value, const std::string& help) {
  flags_.push_back({name, Type::kInt, value, help, absl::StrCat(*value)});
}
void FlagSet::Double(const std::string& name, double* value, const std::string& help) {
  flags_.push_back({name, Type::kDouble, value, help, absl::StrCat(*value)});
}
void FlagSet::Bool(const std::string& name, bool* value, const std::string& help) {
  flags_.push_back({name, Type::kBool, value, help, *value ? "true" : "false"});
}

const FlagSet::Flag* FlagSet::Find(const std::string& name) const {
  const std::string dashed = Dashed(name);
  for (const Flag& f : flags_) {
    if (Dashed(f.name) == dashed) return &f;
  }
  return nullptr;
}

FlagSet::Flag* FlagSet::Find(const std::string& name) {
  return const_cast<Flag*>(static_cast<const FlagSet*>(this)->Find(name));
}

bool FlagSet::WasSet(const std::string& name) const {
  const Flag* flag = Find(name);
  return flag != nullptr && flag->set;
}

absl::Status FlagSet::Assign(Flag& flag, const std::string& text) {
  auto bad = [&](const char* what) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--%s: '%s' is not %s", flag.name, text, what));
  };
  switch (flag.type) {
    case Type::kString:
      *static_cast<std::string*>(flag.value) = text;
      break;
    case Type::kInt64:
      if (!absl::SimpleAtoi(text, static_cast<int64_t*>(flag.value))) return bad("an integer");
      break;
    case Type::kInt:
      if (int64_t wide = 0; !absl::SimpleAtoi(text, static_cast<int*>(flag.value))) {
        return bad(absl::SimpleAtoi(text, &wide) ? "an integer from -2147483648 to 2147483647" : "an integer");
      }
      break;
    case Type::kDouble:
      if (!absl::SimpleAtod(text, static_cast<double*>(flag.value))) return bad("a number");
      break;
    case Type::kBool:
      if (!absl::SimpleAtob(text, static_cast<bool*>(flag.value))) return bad("true or false");
      break;
  }
  flag.set = true;
  return absl::OkStatus();
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h" || arg == "-help" || arg == "--helpshort") {
      help_ = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      positional_.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    Flag* flag = Find(name);
    // --noname, --no-name: a boolean flag set to false.
    Flag* negated = nullptr;
    if (flag == nullptr && name.rfind("no", 0) == 0) {
      negated = Find(name.substr(name.size() > 2 && (name[2] == '-' || name[2] == '_') ? 3 : 2));
      if (negated != nullptr && negated->type != Type::kBool) negated = nullptr;
    }
    if (flag == nullptr && negated == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat("unknown flag --%s for '%s' (see %s --help)", name,
                                                        program_, program_));
    }
    if (negated != nullptr) {
      if (eq != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrFormat("--%s takes no value (it sets --%s to false)", name, negated->name));
      }
      *static_cast<bool*>(negated->value) = false;
      negated->set = true;
    } else if (eq != std::string::npos) {
      if (auto s = Assign(*flag, arg.substr(eq + 1)); !s.ok()) return s;
    } else if (flag->type == Type::kBool) {
      *static_cast<bool*>(flag->value) = true;
      flag->set = true;
    } else if (i + 1 < args.size()) {
      if (auto s = Assign(*flag, args[++i]); !s.ok()) return s;
    } else {
      return absl::InvalidArgumentError(absl::StrFormat("--%s needs a value", name));
    }
  }
  return absl::OkStatus();
}

std::string FlagSet::Usage() const {
  std::string out = absl::StrFormat("usage: %s [flags]\n\n%s\n\nflags:\n", program_, summary_);
  for (const Flag& f : flags_) {
    std::string head = absl::StrCat("  --", f.name);
    if (f.type != Type::kBool) absl::StrAppend(&head, " ", f.type == Type::kString ? "TEXT" : "N");
    // A help text's further lines start under its first.
    absl::StrAppendFormat(&out, "%-28s %s", head, absl::StrReplaceAll(f.help, {{"\n", "\n" + std::string(29, ' ')}}));
    if (!f.default_text.empty() && f.default_text != "0" && f.default_text != "false") {
      absl::StrAppend(&out, " (default: ", f.default_text, ")");
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "  --help                       this page\n\nexample:\n  ", example_, "\n");
  return out;
}

}  // namespace slimtrain::base
