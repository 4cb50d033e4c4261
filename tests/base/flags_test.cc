// base::FlagSet (base/flags.h): the spellings every binary accepts (dashes or
// underscores, --name value or --name=value, Abseil's --noname for booleans),
// the errors naming the flag and the value, and the usage page.
#include "base/flags.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace slimtrain::base {
namespace {

// One of each kind of flag, with the defaults a program would give them.
struct Values {
  std::string data_dir;
  int64_t max_batch = int64_t{1} << 24;
  int cpu_jobs = 1;
  double seconds = 30;
  bool no_auth = false;
  bool reference = true;

  bool operator==(const Values& o) const {
    return data_dir == o.data_dir && max_batch == o.max_batch && cpu_jobs == o.cpu_jobs && seconds == o.seconds &&
           no_auth == o.no_auth && reference == o.reference;
  }
};

void PrintTo(const Values& v, std::ostream* os) {
  *os << absl::StrCat("{data_dir=", v.data_dir, " max_batch=", v.max_batch, " cpu_jobs=", v.cpu_jobs,
                      " seconds=", v.seconds, " no_auth=", v.no_auth, " reference=", v.reference, "}");
}

void Register(FlagSet& flags, Values* v) {
  flags.String("data-dir", &v->data_dir, "where the data goes");
  flags.Int("max-batch", &v->max_batch, "largest batch");
  flags.Int("cpu-jobs", &v->cpu_jobs, "jobs at once");
  flags.Double("seconds", &v->seconds, "time limit");
  flags.Bool("no-auth", &v->no_auth, "accept everyone");
  flags.Bool("reference", &v->reference, "also the reference");
}

struct Spelling {
  std::vector<std::string> args;
  Values want;
};

Values With(void (*change)(Values&)) {
  Values v;
  change(v);
  return v;
}

TEST(FlagSetTest, EverySpellingSetsItsFlag) {
  const std::vector<Spelling> cases = {
      {{}, Values()},
      {{"--data-dir", "a"}, With([](Values& v) { v.data_dir = "a"; })},
      {{"--data-dir=b"}, With([](Values& v) { v.data_dir = "b"; })},
      {{"--data_dir", "c"}, With([](Values& v) { v.data_dir = "c"; })},
      {{"--data_dir=d=e"}, With([](Values& v) { v.data_dir = "d=e"; })},
      {{"--max-batch=3000000000"}, With([](Values& v) { v.max_batch = 3000000000; })},
      {{"--max_batch", "-1"}, With([](Values& v) { v.max_batch = -1; })},
      {{"--cpu-jobs", "4"}, With([](Values& v) { v.cpu_jobs = 4; })},
      {{"--cpu_jobs=2147483647"}, With([](Values& v) { v.cpu_jobs = 2147483647; })},
      {{"--seconds=0.5"}, With([](Values& v) { v.seconds = 0.5; })},
      {{"--no-auth"}, With([](Values& v) { v.no_auth = true; })},
      {{"--no_auth=true"}, With([](Values& v) { v.no_auth = true; })},
      {{"--no-auth", "--no-auth=false"}, Values()},
      {{"--no-auth", "--nono-auth"}, Values()},  // Abseil's negation, as the server took it
      {{"--no-auth", "--nono_auth"}, Values()},
      {{"--reference=no"}, With([](Values& v) { v.reference = false; })},
      {{"--noreference"}, With([](Values& v) { v.reference = false; })},
      {{"--no-reference"}, With([](Values& v) { v.reference = false; })},
      {{"--no_reference"}, With([](Values& v) { v.reference = false; })},
      {{"--cpu-jobs=2", "--cpu_jobs=3"}, With([](Values& v) { v.cpu_jobs = 3; })},  // the last one counts
  };
  for (const Spelling& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    Values v;
    FlagSet flags("prog", "summary", "prog --data-dir x");
    Register(flags, &v);
    const absl::Status parsed = flags.Parse(c.args);
    ASSERT_TRUE(parsed.ok()) << parsed;
    EXPECT_EQ(v, c.want);
    EXPECT_FALSE(flags.help_requested());
    EXPECT_TRUE(flags.positional().empty());
  }
}

TEST(FlagSetTest, ErrorsNameTheFlagAndTheValue) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--colour"}, "unknown flag --colour for 'prog sub' (see prog sub --help)"},
      {{"--data-dir"}, "--data-dir needs a value"},
      {{"--cpu-jobs=x"}, "--cpu-jobs: 'x' is not an integer"},
      {{"--cpu_jobs", "3000000000"}, "--cpu-jobs: '3000000000' is not an integer from -2147483648 to 2147483647"},
      {{"--max-batch=1.5"}, "--max-batch: '1.5' is not an integer"},
      {{"--seconds=fast"}, "--seconds: 'fast' is not a number"},
      {{"--no-auth=maybe"}, "--no-auth: 'maybe' is not true or false"},
      {{"--noreference=true"}, "--noreference takes no value (it sets --reference to false)"},
      {{"--nodata-dir"}, "unknown flag --nodata-dir"},  // only booleans have a negation
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    Values v;
    FlagSet flags("prog sub", "summary", "prog sub");
    Register(flags, &v);
    const absl::Status s = flags.Parse(c.args);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), c.message)) << s.message();
  }
}

TEST(FlagSetTest, HelpPositionalArgumentsAndWasSet) {
  for (const char* help : {"--help", "-h", "-help", "--helpshort"}) {
    Values v;
    FlagSet flags("prog", "summary", "prog");
    Register(flags, &v);
    ASSERT_TRUE(flags.Parse({"--cpu-jobs=2", help}).ok()) << help;
    EXPECT_TRUE(flags.help_requested()) << help;
  }
  Values v;
  FlagSet flags("prog", "summary", "prog");
  Register(flags, &v);
  ASSERT_TRUE(flags.Parse({"job-1", "--cpu_jobs", "2", "-"}).ok());
  EXPECT_FALSE(flags.help_requested());
  EXPECT_EQ(flags.positional(), (std::vector<std::string>{"job-1", "-"}));
  EXPECT_TRUE(flags.WasSet("cpu-jobs"));
  EXPECT_TRUE(flags.WasSet("cpu_jobs"));
  EXPECT_FALSE(flags.WasSet("max-batch"));
  EXPECT_FALSE(flags.WasSet("no-such-flag"));
}

// The page every binary prints for --help, exactly as the client has always
// printed it: one line per flag in the order registered, its default unless
// empty, 0 or false; further lines of a help text under its first.
TEST(FlagSetTest, UsageListsEveryFlagWithItsDefaultAndTheExample) {
  std::string model = "zoo:resnet56", empty;
  int64_t batch = 0;
  int jobs = 1;
  double lr = 0.1;
  bool wait = false;
  FlagSet flags("slimtrain_server", "Runs jobs.\nTwo lines.", "slimtrain_server --jobs 2\n  slimtrain_server");
  flags.String("model", &model, "zoo model");
  flags.String("data-dir", &empty, "where the data goes\nsecond line");
  flags.Int("batch", &batch, "examples per step");
  flags.Int("jobs", &jobs, "jobs at once");
  flags.Double("lr", &lr, "learning rate");
  flags.Bool("wait", &wait, "follow it");
  EXPECT_EQ(flags.Usage(),
            "usage: slimtrain_server [flags]\n"
            "\n"
            "Runs jobs.\n"
            "Two lines.\n"
            "\n"
            "flags:\n"
            "  --model TEXT               zoo model (default: zoo:resnet56)\n"
            "  --data-dir TEXT            where the data goes\n"
            "                             second line\n"
            "  --batch N                  examples per step\n"
            "  --jobs N                   jobs at once (default: 1)\n"
            "  --lr N                     learning rate (default: 0.1)\n"
            "  --wait                     follow it\n"
            "  --help                       this page\n"
            "\n"
            "example:\n"
            "  slimtrain_server --jobs 2\n"
            "  slimtrain_server\n");
}

}  // namespace
}  // namespace slimtrain::base
