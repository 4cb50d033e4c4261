// flags.h — command-line flags for one `slimtrain` subcommand.
//
// Each subcommand declares its flags with their help text and defaults, then
// parses its own arguments; --help prints a usage page with an example.
//
//   FlagSet flags("plan", "Memory plans of a model at a batch size.",
//                 "slimtrain plan --model zoo:resnet164 --batch 128");
//   int64_t batch = 0;
//   flags.Int("batch", &batch, "examples per step (required)");
//   absl::Status parsed = flags.Parse(args);
//   if (flags.help_requested()) { std::cout << flags.Usage(); return 0; }
//
// Accepted: --name=value, --name value, and for booleans --name,
// --name=true|false. Errors name the flag and the value.
#ifndef SLIMTRAIN_CLIENT_FLAGS_H_
#define SLIMTRAIN_CLIENT_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace slimtrain::client {

class FlagSet {
 public:
  FlagSet(std::string command, std::string summary, std::string example);

  // Registers a flag; its current value is the default shown in --help.
  void String(const std::string& name, std::string* value, const std::string& help);
  void Int(const std::string& name, int64_t* value, const std::string& help);
  void Double(const std::string& name, double* value, const std::string& help);
  void Bool(const std::string& name, bool* value, const std::string& help);

  // Parses `args` (without the program and command names). Arguments not
  // starting with "--" are collected in positional(). INVALID_ARGUMENT for an
  // unknown flag, a missing value or a value of the wrong type.
  absl::Status Parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_; }
  // Whether --name was given on the command line.
  bool WasSet(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  std::string Usage() const;

 private:
  enum class Type { kString, kInt, kDouble, kBool };
  struct Flag {
    std::string name;
    Type type;
    void* value;
    std::string help;
    std::string default_text;
    bool set = false;
  };
  Flag* Find(const std::string& name);
  absl::Status Assign(Flag& flag, const std::string& text);

  std::string command_, summary_, example_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

}  // namespace slimtrain::client

#endif  // SLIMTRAIN_CLIENT_FLAGS_H_
