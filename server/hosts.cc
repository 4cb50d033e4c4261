// See hosts.h.
#include "server/hosts.h"

#include <unistd.h>

#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace slimtrain::server {
namespace {

constexpr int kMaxSlots = 4096;

absl::Status CheckHost(const Host& h, absl::string_view where) {
  if (h.name.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": no host name"));
  for (char c : h.name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: host name '%s' has '%c'; use letters, digits, '.', '-' and '_'", where, h.name, c));
    }
  }
  if (h.slots < 1 || h.slots > kMaxSlots) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %d slots for '%s', must be in [1, %d]", where, h.slots, h.name, kMaxSlots));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Host>> ParseHostList(absl::string_view list) {
  std::vector<Host> hosts;
  for (absl::string_view entry : absl::StrSplit(list, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    const std::string where = absl::StrCat("--hosts entry '", entry, "'");
    Host h;
    const size_t colon = entry.rfind(':');
    h.name = std::string(entry.substr(0, colon));
    if (colon != absl::string_view::npos && !absl::SimpleAtoi(entry.substr(colon + 1), &h.slots)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": slots '", entry.substr(colon + 1), "' is not a number"));
    }
    if (absl::Status s = CheckHost(h, where); !s.ok()) return s;
    hosts.push_back(h);
  }
  return hosts;
}

absl::StatusOr<std::vector<Host>> ParseHostFile(absl::string_view text) {
  std::vector<Host> hosts;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    const std::string where = absl::StrCat("hostfile line ", number);
    std::vector<absl::string_view> words = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    Host h;
    h.name = std::string(words[0]);
    for (size_t i = 1; i < words.size(); ++i) {
      absl::string_view value = words[i];
      if (!absl::ConsumePrefix(&value, "slots=") || !absl::SimpleAtoi(value, &h.slots)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": '", words[i], "' is not slots=N (the only setting this server reads)"));
      }
    }
    if (absl::Status s = CheckHost(h, where); !s.ok()) return s;
    hosts.push_back(h);
  }
  if (hosts.empty()) return absl::InvalidArgumentError("hostfile: no hosts in it");
  return hosts;
}

std::string HostListString(const std::vector<Host>& hosts) {
  return absl::StrJoin(hosts, ",", [](std::string* out, const Host& h) { absl::StrAppend(out, h.name, ":", h.slots); });
}

bool IsThisHost(const std::string& name) {
  if (name == "localhost" || name == "::1" || absl::StartsWith(name, "127.")) return true;
  char here[256] = {};
  return gethostname(here, sizeof(here) - 1) == 0 && name == here;
}

std::vector<int> PlaceRanks(const std::vector<Host>& hosts, const std::vector<HostUse>& use, int nodes, int per_node,
                            int64_t bytes_per_rank, int64_t capacity_bytes, int64_t this_machine_bytes) {
  std::vector<int> chosen;
  const int64_t need = bytes_per_rank * per_node;
  for (int i = 0; i < static_cast<int>(hosts.size()) && static_cast<int>(chosen.size()) < nodes; ++i) {
    if (hosts[i].slots - use[i].slots < per_node) continue;
    if (IsThisHost(hosts[i].name)) {
      if (this_machine_bytes + need > capacity_bytes) continue;
      this_machine_bytes += need;
    } else if (use[i].bytes + need > capacity_bytes) {
      continue;
    }
    chosen.push_back(i);
  }
  if (static_cast<int>(chosen.size()) < nodes) chosen.clear();
  return chosen;
}

std::string RankFailureLine(int rank, absl::string_view reason) {
  return absl::StrCat("slimtrain_worker: rank ", rank, " failed: ", absl::StrReplaceAll(reason, {{"\n", " "}}));
}

std::string DescribeRankFailure(absl::string_view log) {
  const std::string text(log);
  // OpenMPI 4's two reports of the first rank to fail: one killed by a
  // signal, or one that exited with a non-zero status.
  static const std::regex kSignal(
      R"(process rank (\d+) with PID \d+ on node (\S+) exited on signal (\d+) \(([^)]*)\))");
  static const std::regex kExit(R"(Process name: \[\[\d+,\d+\],(\d+)\]\s+Exit code:\s+(\d+))");
  std::smatch m;
  std::string rank, how;
  if (std::regex_search(text, m, kSignal)) {
    rank = m[1];
    how = absl::StrFormat("was killed by signal %s (%s) on %s", m[3].str(), m[4].str(), m[2].str());
  } else if (std::regex_search(text, m, kExit)) {
    rank = m[1];
    how = absl::StrCat("exited with code ", m[2].str());
  }
  // The rank's own reason, when it wrote one; without mpirun's report, the
  // first reason any rank wrote.
  const std::string prefix = "slimtrain_worker: rank ";
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, prefix)) continue;
    const size_t space = line.find(' ');
    if (space == absl::string_view::npos) continue;
    const std::string who(line.substr(0, space));
    absl::string_view reason = line.substr(space + 1);
    if (!absl::ConsumePrefix(&reason, "failed: ")) continue;
    if (rank.empty() || who == rank) return absl::StrCat("rank ", who, ": ", reason);
  }
  if (rank.empty()) return "";
  return absl::StrCat("rank ", rank, " ", how);
}

}  // namespace slimtrain::server
