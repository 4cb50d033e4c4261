// hosts.h — the hosts a server starts data-parallel jobs on, where a job's
// ranks go, and what mpirun says when one of them fails.
//
// A job of R processes (ranks) over N nodes runs R/N ranks on each of N
// distinct entries of the server's host list, all started together by mpirun
// (`--host a:2,b:2`), or not at all. The list comes from --hosts
// ("name[:slots],...") or --hostfile (OpenMPI's format: "name slots=N" per
// line, # comments); without either it is this host alone, with as many
// slots as it has cores. Every host needs the same binaries and the server's
// data folder at the same path (a shared file system): the ranks read the
// job's spec and plan there, and rank 0 writes its checkpoints there.
#ifndef SLIMTRAIN_SERVER_HOSTS_H_
#define SLIMTRAIN_SERVER_HOSTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slimtrain::server {

struct Host {
  std::string name;  // as mpirun's --host takes it
  int slots = 1;     // processes mpirun may start there at once
};

// "name[:slots],name[:slots],..." (slots default 1). INVALID_ARGUMENT
// naming the entry: an empty list or name, a name mpirun could not take
// (only letters, digits, '.', '-' and '_'), slots outside [1, 4096].
absl::StatusOr<std::vector<Host>> ParseHostList(absl::string_view list);
// OpenMPI's hostfile: one host per line, "name [slots=N]", '#' starts a
// comment. INVALID_ARGUMENT naming the line.
absl::StatusOr<std::vector<Host>> ParseHostFile(absl::string_view text);
// "a:2,b:1" (what --host takes, and how the server prints its list).
std::string HostListString(const std::vector<Host>& hosts);

// Whether `name` is this machine: localhost, a 127.x.x.x address, ::1, or
// its host name. Such entries share this machine's memory.
bool IsThisHost(const std::string& name);

// What each host of the list has in use: slots, and bytes of the plans of
// the ranks running there.
struct HostUse {
  int slots = 0;
  int64_t bytes = 0;
};

// Where a job of `nodes` x `per_node` ranks, each needing `bytes_per_rank`,
// fits now: `nodes` distinct hosts (indices into `hosts`, in list order),
// each with `per_node` free slots and memory for them, a host having
// `capacity_bytes` (every host is taken to have this machine's memory);
// hosts that are this machine share `this_machine_bytes` in use between
// them (the jobs of one process use it too). Empty when it does not fit.
std::vector<int> PlaceRanks(const std::vector<Host>& hosts, const std::vector<HostUse>& use, int nodes, int per_node,
                            int64_t bytes_per_rank, int64_t capacity_bytes, int64_t this_machine_bytes);

// Why a data-parallel job's mpirun failed, from its log (the ranks' stderr
// and mpirun's own reports): the rank mpirun names as the first to fail,
// with that rank's reason when it wrote one ("slimtrain_worker: rank R
// failed: REASON"), else how it ended ("killed by signal 9 (Killed)", "exit
// code 3"). Empty when the log names no failed rank.
std::string DescribeRankFailure(absl::string_view log);

// The line a worker rank writes to stderr when it fails (DescribeRankFailure
// reads it back); newlines in `reason` become spaces.
std::string RankFailureLine(int rank, absl::string_view reason);

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_HOSTS_H_
