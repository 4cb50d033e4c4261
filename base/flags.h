// flags.h — command-line flags of one program: every `slimtrain` subcommand,
// slimtrain_server, slimtrain_worker and the benchmarks.
//
// A program declares its flags with their help text and defaults, then parses
// its arguments; --help prints a usage page with an example.
//
//   FlagSet flags("slimtrain plan", "Memory plans of a model at a batch size.",
//                 "slimtrain plan --model zoo:resnet164 --batch 128");
//   int64_t batch = 0;
//   flags.Int("batch", &batch, "examples per step (required)");
//   absl::Status parsed = flags.Parse(args);
//   if (flags.help_requested()) { std::cout << flags.Usage(); return 0; }
//
// Names are registered with dashes ("data-dir"); underscores spell the same
// flag (--data_dir). Accepted: --name=value, --name value; for booleans
// --name, --name=true|false (also 1|0, yes|no), and --noname or --no-name
// for false. Help: --help or -h (and -help, --helpshort, which slimtrain_server
// took from Abseil). Errors name the flag and the value.
#ifndef SLIMTRAIN_BASE_FLAGS_H_
#define SLIMTRAIN_BASE_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace slimtrain::base {

class FlagSet {
 public:
  // `program` is the command as the user types it ("slimtrain plan",
  // "slimtrain_server"); usage and errors name it.
  FlagSet(std::string program, std::string summary, std::string example);

  // Registers a flag; its current value is the default shown in --help.
  // `value` must outlive the FlagSet; Parse writes it.
  void String(const std::string& name, std::string* value, const std::string& help);
  void Int(const std::string& name, int64_t* value, const std::string& help);
  // An int: a value outside int's range is an error, as for a non-integer.
  void Int(const std::string& name, int* value, const std::string& help);
  void Double(const std::string& name, double* value, const std::string& help);
  void Bool(const std::string& name, bool* value, const std::string& help);

  // Parses `args` (without the program and command names). Arguments not
  // starting with "--" are collected in positional(). INVALID_ARGUMENT for an
  // unknown flag, a missing value or a value of the wrong type.
  absl::Status Parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_; }
  // Whether --name (in any spelling) was given on the command line.
  bool WasSet(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  std::string Usage() const;

 private:
  enum class Type { kString, kInt64, kInt, kDouble, kBool };
  struct Flag {
    std::string name;
    Type type;
    void* value;
    std::string help;
    std::string default_text;
    bool set = false;
  };
  // The flag `name` spells (underscores for dashes), or null.
  const Flag* Find(const std::string& name) const;
  Flag* Find(const std::string& name);
  absl::Status Assign(Flag& flag, const std::string& text);

  std::string program_, summary_, example_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

}  // namespace slimtrain::base

#endif  // SLIMTRAIN_BASE_FLAGS_H_
