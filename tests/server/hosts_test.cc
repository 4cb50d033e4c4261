// The server's host list (--hosts, --hostfile), where a data-parallel job's
// ranks go, the mpirun command line, and the reason read back from mpirun's
// log (OpenMPI 4.1's reports, as mpirun printed them on this machine).
#include "server/hosts.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/worker_process.h"

namespace slimtrain::server {
namespace {

TEST(HostsTest, ParsesListsAndHostfiles) {
  absl::StatusOr<std::vector<Host>> hosts = ParseHostList("localhost:2, node-1.cluster,127.0.0.1:1");
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  ASSERT_EQ(hosts->size(), 3u);
  EXPECT_EQ((*hosts)[0].name, "localhost");
  EXPECT_EQ((*hosts)[0].slots, 2);
  EXPECT_EQ((*hosts)[1].name, "node-1.cluster");
  EXPECT_EQ((*hosts)[1].slots, 1);
  EXPECT_EQ(HostListString(*hosts), "localhost:2,node-1.cluster:1,127.0.0.1:1");

  hosts = ParseHostFile("# the cluster\nnode1 slots=4\n\n  node2   # one slot\nnode3 slots=2 \n");
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  EXPECT_EQ(HostListString(*hosts), "node1:4,node2:1,node3:2");
}

TEST(HostsTest, RefusesBadEntriesNamingThem) {
  struct Case {
    const char* list;
    const char* message;
  };
  for (const Case& c : {
           Case{"", "--hosts entry '': no host name"},
           Case{"a,,b", "--hosts entry '': no host name"},
           Case{"a:x", "--hosts entry 'a:x': slots 'x' is not a number"},
           Case{"a:0", "--hosts entry 'a:0': 0 slots for 'a', must be in [1, 4096]"},
           Case{"a:5000", "5000 slots for 'a'"},
           Case{"a;rm -rf", "host name 'a;rm -rf' has ';'"},
           Case{":2", "--hosts entry ':2': no host name"},
       }) {
    absl::StatusOr<std::vector<Host>> hosts = ParseHostList(c.list);
    ASSERT_FALSE(hosts.ok()) << c.list;
    EXPECT_EQ(hosts.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(hosts.status().message().find(c.message), std::string::npos) << hosts.status();
  }
  EXPECT_NE(ParseHostFile("a slots=2\nb max_slots=3\n").status().message().find(
                "hostfile line 2: 'max_slots=3' is not slots=N"),
            std::string::npos);
  EXPECT_NE(ParseHostFile("# nothing\n").status().message().find("no hosts"), std::string::npos);
  EXPECT_NE(ParseHostFile("a slots=-1").status().message().find("hostfile line 1: -1 slots"), std::string::npos);
}

TEST(HostsTest, PlacesEveryRankOrNone) {
  const std::vector<Host> hosts = {{"localhost", 2}, {"127.0.0.1", 1}, {"far", 2}};
  std::vector<HostUse> use(3);
  const int64_t gib = int64_t{1} << 30;
  // Two nodes of one rank: the first two entries.
  EXPECT_EQ(PlaceRanks(hosts, use, 2, 1, gib, 10 * gib, 0), (std::vector<int>{0, 1}));
  // Two ranks per node: only entries 0 and 2 have two slots.
  EXPECT_EQ(PlaceRanks(hosts, use, 2, 2, gib, 10 * gib, 0), (std::vector<int>{0, 2}));
  // Three nodes of two: not there, nothing placed.
  EXPECT_TRUE(PlaceRanks(hosts, use, 3, 2, gib, 10 * gib, 0).empty());
  // Slots in use.
  use[0].slots = 1;
  EXPECT_EQ(PlaceRanks(hosts, use, 2, 1, gib, 10 * gib, 0), (std::vector<int>{0, 1}));
  EXPECT_EQ(PlaceRanks(hosts, use, 1, 2, gib, 10 * gib, 0), (std::vector<int>{2}));
  use[0].slots = 0;
  // This machine's entries share its memory: 6 GiB in use, 2 x 3 GiB more
  // do not fit its 10, so the second rank goes to the other host.
  EXPECT_EQ(PlaceRanks(hosts, use, 2, 1, 3 * gib, 10 * gib, 6 * gib), (std::vector<int>{0, 2}));
  use[2].bytes = 8 * gib;
  EXPECT_TRUE(PlaceRanks(hosts, use, 2, 1, 3 * gib, 10 * gib, 6 * gib).empty());
}

TEST(HostsTest, KnowsThisMachine) {
  EXPECT_TRUE(IsThisHost("localhost"));
  EXPECT_TRUE(IsThisHost("127.0.0.1"));
  EXPECT_TRUE(IsThisHost("127.0.1.1"));
  EXPECT_FALSE(IsThisHost("node-that-is-not-here.example"));
}

TEST(HostsTest, MpirunCommandLine) {
  WorkerLaunch l;
  l.worker_path = "/opt/slimtrain/slimtrain_worker";
  l.job_dir = "/data/jobs/job-000001";
  l.data_root = "/data/sets";
  l.threads = 2;
  EXPECT_EQ(WorkerCommand(l), (std::vector<std::string>{"/opt/slimtrain/slimtrain_worker", "--job-dir",
                                                         "/data/jobs/job-000001", "--data-root", "/data/sets",
                                                         "--threads", "2"}));
  l.ranks = 4;
  l.hosts = {"a:2", "b:2"};
  l.mpirun_args = {"--mca", "btl", "self,tcp"};
  l.collective_timeout_seconds = 30;
  const std::vector<std::string> argv = WorkerCommand(l);
  ASSERT_GE(argv.size(), 8u);
  EXPECT_EQ(std::vector<std::string>(argv.begin(), argv.begin() + 7),
            (std::vector<std::string>{"mpirun", "-np", "4", "--host", "a:2,b:2", "--bind-to", "none"}));
  const std::vector<std::string> tail(argv.end() - 10, argv.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"self,tcp", "/opt/slimtrain/slimtrain_worker", "--job-dir",
                                            "/data/jobs/job-000001", "--data-root", "/data/sets", "--threads", "2",
                                            "--collective-timeout-seconds", "30"}))
      << "the mca settings, then the worker";
}

TEST(HostsTest, DescribesTheFirstRankToFail) {
  // A rank killed by a signal: mpirun's report, nothing from the rank.
  const std::string killed =
      "slimtrain_worker: rank 0 of 2 started on vm (pid 6555, 1 threads)\n"
      "--------------------------------------------------------------------------\n"
      "Primary job  terminated normally, but 1 process returned\n"
      "a non-zero exit code. Per user-direction, the job has been aborted.\n"
      "--------------------------------------------------------------------------\n"
      "--------------------------------------------------------------------------\n"
      "mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 (Killed).\n"
      "--------------------------------------------------------------------------\n";
  EXPECT_EQ(DescribeRankFailure(killed), "rank 1 was killed by signal 9 (Killed) on vm");
  // A rank that failed with a reason, then rank 0 failing in its wake: the
  // reason of the rank mpirun names first.
  const std::string failed = RankFailureLine(1, "dataset: cannot read\nimages") + "\n" +
                             RankFailureLine(0, "MPI all-reduce failed") +
                             "\n-----\nmpirun detected that one or more processes exited with non-zero status, thus "
                             "causing\nthe job to be terminated. The first process to do so was:\n\n"
                             "  Process name: [[15617,1],1]\n  Exit code:    1\n-----\n";
  EXPECT_EQ(DescribeRankFailure(failed), "rank 1: dataset: cannot read images");
  // Rank 0 first.
  const std::string first_zero = RankFailureLine(1, "collective failed") + "\n" +
                                 RankFailureLine(0, "loss is not finite at step 7") +
                                 "\n  Process name: [[15617,1],0]\n  Exit code:    1\n";
  EXPECT_EQ(DescribeRankFailure(first_zero), "rank 0: loss is not finite at step 7");
  // An exit without a line of its own.
  EXPECT_EQ(DescribeRankFailure("  Process name: [[9,1],3]\n  Exit code:    127\n"), "rank 3 exited with code 127");
  // No report from mpirun: the first line any rank wrote.
  EXPECT_EQ(DescribeRankFailure(RankFailureLine(2, "out of range")), "rank 2: out of range");
  EXPECT_EQ(DescribeRankFailure("nothing here\n"), "");
}

}  // namespace
}  // namespace slimtrain::server
