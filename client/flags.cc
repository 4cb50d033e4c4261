// See flags.h.
#include "client/flags.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace slimtrain::client {

FlagSet::FlagSet(std::string command, std::string summary, std::string example)
    : command_(std::move(command)), summary_(std::move(summary)), example_(std::move(example)) {}

void FlagSet::String(const std::string& name, std::string* value, const std::string& help) {
  flags_.push_back({name, Type::kString, value, help, *value});
}
void FlagSet::Int(const std::string& name, int64_t* value, const std::string& help) {
  flags_.push_back({name, Type::kInt, value, help, absl::StrCat(*value)});
}
void FlagSet::Double(const std::string& name, double* value, const std::string& help) {
  flags_.push_back({name, Type::kDouble, value, help, absl::StrCat(*value)});
}
void FlagSet::Bool(const std::string& name, bool* value, const std::string& help) {
  flags_.push_back({name, Type::kBool, value, help, *value ? "true" : "false"});
}

FlagSet::Flag* FlagSet::Find(const std::string& name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool FlagSet::WasSet(const std::string& name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return f.set;
  }
  return false;
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
    case Type::kInt:
      if (!absl::SimpleAtoi(text, static_cast<int64_t*>(flag.value))) return bad("an integer");
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
    if (arg == "--help" || arg == "-h") {
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
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unknown flag --%s for 'slimtrain %s' (see slimtrain %s --help)", name, command_, command_));
    }
    if (eq != std::string::npos) {
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
  std::string out = absl::StrFormat("usage: slimtrain %s [flags]\n\n%s\n\nflags:\n", command_, summary_);
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

}  // namespace slimtrain::client
