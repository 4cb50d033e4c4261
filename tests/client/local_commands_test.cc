// The real `slimtrain` binary's local commands, as users run them: plan (table,
// JSON, SVG, max batch, auto), zoo (list, export, and planning the exported
// file), arena (CSV), and their errors and exit codes.
#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/cuda/gpu_info.h"
#include "engine/cuda/gpu_targets.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/arena_instances.h"
#include "tests/testing/subprocess.h"

namespace slimtrain {
namespace {

using ::slimtrain::test_util::CommandResult;
using ::slimtrain::test_util::RunCommand;
using ::slimtrain::test_util::RunCommandSplit;
using ::slimtrain::test_util::TempPath;

constexpr char kBinary[] = "client/slimtrain";

CommandResult Slimtrain(const std::string& args) { return RunCommand(std::string(kBinary) + " " + args); }

google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct s;
  const auto status = google::protobuf::util::JsonStringToMessage(text, &s);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << text;
  return s;
}

// One row of a solution CSV ("id,lower,upper,size,offset", as `slimtrain
// arena --output` and `slimtrain plan --arena-csv` write it).
struct SolutionRow {
  std::string id;
  int64_t lower = 0, upper = 0, size = 0, offset = 0;
};

// The rows of the solution CSV at `path`; a test failure and no rows when
// its header or a row is not that.
std::vector<SolutionRow> ReadSolutionCsv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line) || line != "id,lower,upper,size,offset") {
    ADD_FAILURE() << path << ": header '" << line << "'";
    return {};
  }
  std::vector<SolutionRow> rows;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    SolutionRow row;
    char comma = 0;
    std::getline(fields, row.id, ',');
    fields >> row.lower >> comma >> row.upper >> comma >> row.size >> comma >> row.offset;
    if (fields.fail() || row.id.empty()) {
      ADD_FAILURE() << path << ": row '" << line << "'";
      return {};
    }
    rows.push_back(row);
  }
  return rows;
}

// "rows J and I overlap" for the first two rows alive at a common step whose
// bytes overlap; empty when none do.
std::string OverlappingRows(const std::vector<SolutionRow>& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const SolutionRow &a = rows[i], &b = rows[j];
      const bool together = a.lower < b.upper && b.lower < a.upper;
      const bool apart = a.size == 0 || b.size == 0 || a.offset + a.size <= b.offset || b.offset + b.size <= a.offset;
      if (together && !apart) return "rows " + std::to_string(j) + " and " + std::to_string(i) + " overlap";
    }
  }
  return "";
}

const google::protobuf::Struct& Plan(const google::protobuf::Struct& root, int i) {
  return root.fields().at("plans").list_value().values(i).struct_value();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(PlanCommandTest, JsonHasTheDocumentedFieldsPerStrategy) {
  const CommandResult r = RunCommandSplit(std::string(kBinary) +
                                          " plan --model zoo:resnet20 --batch 16 --strategies exact,approx4 "
                                          "--format json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const google::protobuf::Struct root = ParseJson(r.stdout_only);
  ASSERT_EQ(root.fields().at("plans").list_value().values_size(), 2);
  const auto& exact = Plan(root, 0).fields();
  EXPECT_EQ(exact.at("strategy").string_value(), "exact");
  EXPECT_EQ(Plan(root, 1).fields().at("strategy").string_value(), "approx4");
  for (const char* field : {"batch_size", "parameter_bytes", "gradient_bytes", "optimizer_state_bytes",
                            "saved_activation_bytes", "arena_bytes", "arena_lower_bound_bytes", "peak_bytes",
                            "forward_flops", "recompute_flops"}) {
    EXPECT_TRUE(exact.count(field)) << field << "\n" << r.stdout_only;
  }
  EXPECT_EQ(exact.at("batch_size").string_value(), "16");  // int64 as a string
  EXPECT_FALSE(exact.count("max_batch_size"));
  EXPECT_FALSE(exact.count("buffers"));
  const int64_t peak = std::stoll(exact.at("peak_bytes").string_value());
  const int64_t sum = std::stoll(exact.at("parameter_bytes").string_value()) +
                      std::stoll(exact.at("gradient_bytes").string_value()) +
                      std::stoll(exact.at("optimizer_state_bytes").string_value()) +
                      std::stoll(exact.at("arena_bytes").string_value());
  EXPECT_EQ(peak, sum);
}

TEST(PlanCommandTest, MaxBatchAndBuffersAddTheirFields) {
  const CommandResult r = RunCommandSplit(std::string(kBinary) +
                                          " plan --model zoo:fmnist_resnet --batch 32 --strategies approx4 "
                                          "--budget 512MiB --max-batch --buffers --format json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const google::protobuf::Struct root = ParseJson(r.stdout_only);
  const auto& plan = Plan(root, 0).fields();
  ASSERT_TRUE(plan.count("max_batch_size"));
  EXPECT_GT(std::stoll(plan.at("max_batch_size").string_value()), 32);
  ASSERT_TRUE(plan.count("buffers"));
  const auto& first = plan.at("buffers").list_value().values(0).struct_value().fields();
  for (const char* field : {"name", "kind", "size_bytes", "offset_bytes", "first_step", "last_step"}) {
    EXPECT_TRUE(first.count(field)) << field;
  }
}

TEST(PlanCommandTest, TableShowsEveryStrategyWithItsRatioToExact) {
  const CommandResult r = Slimtrain("plan --model zoo:resnet56 --batch 64");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* s : {"exact", "approx8", "approx4", "approx2", "naive8", "naive4", "checkpoint",
                        "checkpoint_optimal", "vs exact", "1.00x", "lower bound"}) {
    EXPECT_NE(r.output.find(s), std::string::npos) << s << "\n" << r.output;
  }
}

// The arena's optimality: a column says "yes" where no smaller arena exists
// and how far above the bound it is where not; a line says why the exact
// search did not prove it (here: it was turned off); JSON has the fields.
TEST(PlanCommandTest, SaysWhetherTheArenaIsProvenOptimalAndWhyNot) {
  const CommandResult off = Slimtrain(
      "plan --model zoo:densenet_bc_100 --batch 128 --strategies approx8,approx2 --arena-exact-seconds 0");
  ASSERT_EQ(off.exit_code, 0) << off.output;
  EXPECT_NE(off.output.find("lower bound    optimal"), std::string::npos) << off.output;
  EXPECT_NE(off.output.find("approx8: arena not proven optimal: exact search off"), std::string::npos) << off.output;
  // The CPU's plans align as oneDNN's kernels do (64 bytes).
  EXPECT_NE(off.output.find("(--arena-csv FILE writes an arena's buffers with the plan's offsets; `slimtrain arena "
                            "--input FILE --alignment 64 --search-seconds 60` searches on from them)"),
            std::string::npos)
      << off.output;
  const CommandResult on =
      RunCommandSplit(std::string(kBinary) + " plan --model zoo:densenet_bc_100 --batch 128 --strategies approx8 "
                                             "--format json");
  ASSERT_EQ(on.exit_code, 0) << on.output;
  const google::protobuf::Struct root = ParseJson(on.stdout_only);
  const auto& plan = Plan(root, 0).fields();
  EXPECT_EQ(plan.at("arena_method").string_value(), "exact");
  EXPECT_TRUE(plan.at("arena_proven_optimal").bool_value());
  EXPECT_EQ(plan.at("arena_exact_search").string_value(), "proved it optimal");
  EXPECT_EQ(plan.at("arena_bytes").string_value(), plan.at("arena_lower_bound_bytes").string_value());
}

// A plan counts the workspaces of what will run it, as the server's do: the
// CPU's oneDNN kernels (64-byte aligned) or, for a GPU profile, cuDNN's
// workspaces at their bounds (at least 64 MiB for a conv), and says which.
TEST(PlanCommandTest, CountsTheWorkspacesOfTheDeviceItPlansFor) {
  std::map<std::string, google::protobuf::Struct> plans;
  for (const char* device : {"cpu", "h200"}) {
    const CommandResult r = RunCommandSplit(std::string(kBinary) + " plan --model zoo:resnet20 --batch 8 "
                                            "--strategies exact --format json --device " + device);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    plans[device] = Plan(ParseJson(r.stdout_only), 0);
  }
  const auto& cpu = plans["cpu"].fields();
  const auto& gpu = plans["h200"].fields();
  EXPECT_EQ(cpu.at("cost_model").string_value(), "onednn");
  EXPECT_EQ(cpu.at("alignment_bytes").string_value(), "64");
  EXPECT_EQ(gpu.at("cost_model").string_value(), "cudnn-bound");
  EXPECT_EQ(gpu.at("alignment_bytes").string_value(), "256");
  const int64_t cpu_arena = std::stoll(cpu.at("arena_bytes").string_value());
  const int64_t gpu_arena = std::stoll(gpu.at("arena_bytes").string_value());
  EXPECT_LT(cpu_arena, int64_t{64} << 20);
  EXPECT_GE(gpu_arena, int64_t{64} << 20);
  const CommandResult table = Slimtrain("plan --model zoo:resnet20 --batch 8 --strategies exact --device h200");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("device h200 (cuDNN's workspaces at their bounds), optimizer sgd"), std::string::npos)
      << table.output;
}

// --device cuda:N without --server plans for this machine's GPU N as a server
// plans for its own: its memory less what a running CUDA backend takes there,
// cuDNN's workspaces at their bounds. Without a GPU (this machine, CI) the
// error says why and what to do instead; a GPU past the last is unknown.
TEST(PlanCommandTest, PlansForThisMachinesGpuOrSaysThereIsNone) {
  const std::string plan = std::string(kBinary) + " plan --model zoo:resnet20 --batch 8 --strategies exact --device ";
  const CommandResult r = RunCommandSplit(plan + "cuda:0 --format json");
  absl::StatusOr<std::vector<engine::UsableGpu>> gpus = engine::ProbeUsableGpus(0);
  if (!gpus.ok()) {
    EXPECT_EQ(r.exit_code, 2) << r.output;
    const std::string why = absl::StrCat("--device cuda:0: cannot plan for this machine's GPU 0 (",
                                         gpus.status().message(), "); add --server to plan for a server's GPU, "
                                         "or plan for a GPU profile (h200, ");
    EXPECT_NE(r.output.find(why), std::string::npos) << r.output;
    return;
  }
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const google::protobuf::Struct response = ParseJson(r.stdout_only);
  const auto& exact = Plan(response, 0).fields();
  EXPECT_EQ(exact.at("device").string_value(), "cuda:0");
  EXPECT_EQ(exact.at("cost_model").string_value(), "cudnn-bound");
  EXPECT_EQ(exact.at("alignment_bytes").string_value(), "256");
  // The budget: GPU 0's memory less the backend's take, which another
  // process measures again (and other processes' use may move a little).
  const int64_t budget = std::stoll(response.fields().at("budget_bytes").string_value());
  const engine::UsableGpu& gpu = gpus->front();
  EXPECT_LT(budget, gpu.total_bytes);
  EXPECT_NEAR(static_cast<double>(budget), static_cast<double>(gpu.total_bytes - gpu.overhead_bytes),
              0.05 * static_cast<double>(gpu.total_bytes));
  // A GPU past the last is named with the GPUs there are.
  const absl::StatusOr<std::vector<engine::cuda::GpuInfo>> all = engine::cuda::ListGpus();
  ASSERT_TRUE(all.ok()) << all.status();
  const int past_last = all->back().index + 1;
  const CommandResult unknown =
      Slimtrain(absl::StrCat("plan --model zoo:resnet20 --batch 8 --device cuda:", past_last));
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find(absl::StrCat("--device cuda:", past_last, ": no GPU ", past_last,
                                             "; this machine has cuda:0 (", all->front().name, ")")),
            std::string::npos)
      << unknown.output;
}

// --arena-exact-seconds: 0 turns the arena's exact search off; outside [0, 60]
// is refused, naming the flag.
TEST(PlanCommandTest, ArenaExactSecondsIsCheckedAndZeroPlans) {
  const CommandResult off = Slimtrain("plan --model zoo:resnet20 --batch 8 --strategies exact --arena-exact-seconds 0");
  EXPECT_EQ(off.exit_code, 0) << off.output;
  const CommandResult bad = Slimtrain("plan --model zoo:resnet20 --batch 8 --arena-exact-seconds 61");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--arena-exact-seconds: 61, must be in [0, 60]"), std::string::npos) << bad.output;
}

// --ranks plans each rank of a data-parallel job: its gradient buckets are
// ALLREDUCE buffers in its arena, and it shows the bytes sent per step.
TEST(PlanCommandTest, RanksPlanTheBucketsAndShowTheCommunicationPerStep) {
  const CommandResult table =
      Slimtrain("plan --model zoo:resnet20 --batch 8 --strategies exact,checkpoint --ranks 4 --bucket-mib 1");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  for (const char* s : {"data-parallel: 4 ranks, batch 8 each; gradients (1.0 MiB per step per rank) summed in 2 "
                        "buckets of about 1.0 MiB while backward runs",
                        "sent/step", "1.6 MiB", "ring all-reduce"}) {
    EXPECT_NE(table.output.find(s), std::string::npos) << s << "\n" << table.output;
  }
  const CommandResult r = RunCommandSplit(std::string(kBinary) +
                                          " plan --model zoo:resnet20 --batch 8 --strategies exact --ranks 2 "
                                          "--bucket-mib 1 --no-overlap --sync-bn --buffers --format json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const google::protobuf::Struct root = ParseJson(r.stdout_only);
  const auto& plan = Plan(root, 0).fields();
  EXPECT_EQ(plan.at("ranks").number_value(), 2);
  EXPECT_EQ(plan.at("bucket_bytes").string_value(), "1048576");
  EXPECT_FALSE(plan.at("overlap_communication").bool_value());
  EXPECT_TRUE(plan.at("sync_batch_norm").bool_value());
  const int64_t gradients = std::stoll(plan.at("gradient_bytes").string_value());
  EXPECT_EQ(std::stoll(plan.at("allreduce_gradient_bytes_per_step").string_value()), gradients);
  const int64_t sync = std::stoll(plan.at("sync_batch_norm_bytes_per_step").string_value());
  EXPECT_GT(sync, 0);
  EXPECT_EQ(std::stoll(plan.at("sent_bytes_per_step").string_value()), gradients + sync);  // 2 ranks: all once
  int allreduce = 0;
  for (const auto& b : plan.at("buffers").list_value().values()) {
    allreduce += b.struct_value().fields().at("kind").string_value() == "ALLREDUCE";
  }
  EXPECT_EQ(allreduce, plan.at("allreduce_buckets").number_value());
  EXPECT_GT(allreduce, 0);
}

TEST(PlanCommandTest, AutoChoosesForTheBudgetAndSaysWhy) {
  const CommandResult r = Slimtrain("plan --model zoo:resnet164 --batch 128 --strategies auto --budget 1GiB");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("auto: approx8 (exact needs"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("approx8 fits in"), std::string::npos) << r.output;
}

TEST(PlanCommandTest, SvgDrawsTheArenaWithALegend) {
  const std::string svg = TempPath("arena.svg");
  const CommandResult r =
      Slimtrain("plan --model zoo:resnet20 --batch 8 --strategies approx4 --svg " + svg);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string contents = ReadAll(svg);
  EXPECT_EQ(contents.rfind("<svg", 0), 0u);
  EXPECT_NE(contents.find("K-bit code"), std::string::npos);
  EXPECT_NE(contents.find("gradient"), std::string::npos);
  EXPECT_NE(contents.find("forward | backward"), std::string::npos);
  EXPECT_NE(contents.find("</svg>"), std::string::npos);
}

// --arena-csv writes what each plan's arena packs, as `slimtrain arena`
// reads it: one row per block of memory (a buffer and those reusing it in
// place, which would otherwise overlap it at the step one hands over to the
// other), at the plan's offsets: no two rows alive together overlap, the
// largest end is the plan's arena, and `slimtrain arena` finds the plan's
// lower bound in it.
TEST(PlanCommandTest, ArenaCsvWritesTheArenasBlocksForTheArenaCommand) {
  const std::string base = TempPath("plan_arena.csv");
  const CommandResult r = RunCommandSplit(std::string(kBinary) +
                                          " plan --model zoo:resnet20 --batch 8 --strategies exact,approx4"
                                          " --format json --arena-csv " + base);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const google::protobuf::Struct parsed = ParseJson(r.stdout_only);
  const auto& plans = parsed.fields().at("plans").list_value().values();
  ASSERT_EQ(plans.size(), 2);
  for (const auto& value : plans) {
    const auto& plan = value.struct_value().fields();
    const std::string strategy = plan.at("strategy").string_value();
    const std::string path = TempPath("plan_arena." + strategy + ".csv");
    EXPECT_NE(r.output.find("wrote " + path), std::string::npos) << r.output;
    const std::vector<SolutionRow> rows = ReadSolutionCsv(path);
    ASSERT_GT(rows.size(), 10u) << strategy;
    EXPECT_EQ(OverlappingRows(rows), "") << strategy;
    const int64_t unit = std::stoll(plan.at("alignment_bytes").string_value());
    ASSERT_GT(unit, 0) << strategy;
    int64_t end = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(rows[i].offset % unit, 0) << strategy << " row " << i;
      end = std::max(end, rows[i].offset + (rows[i].size + unit - 1) / unit * unit);
    }
    EXPECT_EQ(end, std::stoll(plan.at("arena_bytes").string_value())) << strategy;
    const CommandResult arena =
        RunCommandSplit(std::string(kBinary) + " arena --input " + path + " --alignment " + std::to_string(unit) +
                        " --quiet --format json");
    ASSERT_EQ(arena.exit_code, 0) << arena.output;
    const google::protobuf::Struct packed = ParseJson(arena.stdout_only);
    EXPECT_EQ(packed.fields().at("arena_lower_bound_bytes").number_value(),
              std::stod(plan.at("arena_lower_bound_bytes").string_value()))
        << strategy;
  }
  // `slimtrain arena` starts from the file's offsets: never above the plan's
  // arena; --ignore-offsets plans without them; offsets that overlap are
  // refused, naming the file.
  const std::string exact_csv = TempPath("plan_arena.exact.csv");
  const std::string aligned =
      " --alignment " + plans[0].struct_value().fields().at("alignment_bytes").string_value();
  const CommandResult from_plan =
      Slimtrain("arena --input " + exact_csv + aligned + " --search-seconds 0 --quiet");
  ASSERT_EQ(from_plan.exit_code, 0) << from_plan.output;
  const auto& exact_plan = plans[0].struct_value().fields();
  ASSERT_EQ(exact_plan.at("strategy").string_value(), "exact");
  const std::string plan_arena = exact_plan.at("arena_bytes").string_value();
  EXPECT_NE(from_plan.output.find("start        " + plan_arena + " bytes (the input's offsets)"), std::string::npos)
      << from_plan.output;
  const CommandResult from_plan_json = RunCommandSplit(std::string(kBinary) + " arena --input " + exact_csv +
                                                       aligned + " --search-seconds 0 --format json");
  ASSERT_EQ(from_plan_json.exit_code, 0) << from_plan_json.output;
  const google::protobuf::Struct from_plan_parsed = ParseJson(from_plan_json.stdout_only);
  EXPECT_LE(from_plan_parsed.fields().at("arena_bytes").number_value(), std::stod(plan_arena));
  EXPECT_EQ(from_plan_parsed.fields().at("start_bytes").number_value(), std::stod(plan_arena));
  const CommandResult scratch =
      Slimtrain("arena --input " + exact_csv + aligned + " --search-seconds 0 --ignore-offsets --quiet");
  ASSERT_EQ(scratch.exit_code, 0) << scratch.output;
  EXPECT_EQ(scratch.output.find("start "), std::string::npos) << scratch.output;
  const std::string overlapping = TempPath("overlapping.csv");
  std::ofstream(overlapping) << "id,lower,upper,size,offset\na,0,2,100,0\nb,1,3,50,64\n";
  const CommandResult refused = Slimtrain("arena --input " + overlapping);
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find(overlapping + ": the offset column is not a valid placement (buffers numbered from 0 "
                                "in file order): buffers 0 and 1 overlap"),
            std::string::npos)
      << refused.output;
  EXPECT_EQ(Slimtrain("arena --input " + overlapping + " --ignore-offsets").exit_code, 0);

  const CommandResult bad = Slimtrain("plan --model zoo:resnet20 --batch 8 --arena-csv /no/such/dir/a.csv");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--arena-csv: '/no/such/dir' is not a directory"), std::string::npos) << bad.output;
}

TEST(ZooCommandTest, ListsModelsAndAnExportedFilePlansLikeTheZooModel) {
  const CommandResult list = Slimtrain("zoo list");
  ASSERT_EQ(list.exit_code, 0) << list.output;
  for (const char* m : {"resnet164", "resnet1001", "fmnist_resnet", "vgg16_bn", "densenet_bc_100", "25557032"}) {
    EXPECT_NE(list.output.find(m), std::string::npos) << m;
  }
  for (const char* format : {"text", "json"}) {
    const std::string file = TempPath(std::string("resnet20.") + format);
    ASSERT_EQ(Slimtrain(std::string("zoo export resnet20 --format ") + format + " --output " + file).exit_code, 0);
    const std::string args = " --batch 8 --strategies exact,checkpoint_optimal --format json";
    const CommandResult from_zoo = RunCommandSplit(std::string(kBinary) + " plan --model zoo:resnet20" + args);
    const CommandResult from_file = RunCommandSplit(std::string(kBinary) + " plan --model-file " + file + args);
    ASSERT_EQ(from_file.exit_code, 0) << from_file.output;
    EXPECT_EQ(from_zoo.stdout_only, from_file.stdout_only) << format;
  }
}

// Writes buffers as `slimtrain arena --input` reads them (MiniMalloc's
// header; ids 0, 1, ...) to a temporary file; returns its path.
std::string WriteCutCsv(const std::vector<planner::ArenaRequest>& cut, const std::string& name) {
  const std::string csv = TempPath(name);
  std::ofstream out(csv);
  out << "buffer,start,end,size\n";
  for (size_t i = 0; i < cut.size(); ++i) {
    out << i << "," << cut[i].first << "," << cut[i].last + 1 << "," << cut[i].size << "\n";
  }
  return csv;
}

TEST(ArenaCommandTest, PlansACsvAndPrintsEveryOffsetAsJson) {
  const std::string csv = TempPath("buffers.csv");
  std::ofstream(csv) << "id,lower,upper,size\na,0,2,100\nb,1,3,50\nc,2,4,100\n";
  const CommandResult table = Slimtrain("arena --input " + csv);
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("lower bound  150 bytes"), std::string::npos) << table.output;
  const CommandResult json = RunCommandSplit(std::string(kBinary) + " arena --input " + csv + " --format json");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const google::protobuf::Struct parsed = ParseJson(json.stdout_only);
  const auto& root = parsed.fields();
  EXPECT_EQ(root.at("arena_lower_bound_bytes").number_value(), 150);
  EXPECT_EQ(root.at("arena_bytes").number_value(), 150);
  EXPECT_TRUE(root.at("proven_optimal").bool_value());  // at the lower bound
  // a and c never overlap in time ([0,2) and [2,4)), so they can share bytes.
  const auto& offsets = root.at("offsets").struct_value().fields();
  EXPECT_EQ(offsets.at("a").number_value(), offsets.at("c").number_value());
}

// A rectangle cut the heuristics do not pack at its height: by default the
// exact search packs it there and says the arena is proven optimal;
// --search-seconds 0 leaves the heuristics' arena, not proven.
TEST(ArenaCommandTest, ExactSearchIsOnByDefaultAndSaysProven) {
  std::mt19937_64 rng(5);
  const int64_t height = 300;
  const std::vector<planner::ArenaRequest> cut = test_util::RectangleSlices(rng, 120, 40, height, 1024);
  const std::string csv = WriteCutCsv(cut, "cut.csv");
  const CommandResult heuristics = Slimtrain("arena --input " + csv + " --search-seconds 0");
  ASSERT_EQ(heuristics.exit_code, 0) << heuristics.output;
  ASSERT_NE(heuristics.output.find("not proven"), std::string::npos) << "pick a cut the heuristics miss";
  const CommandResult exact = Slimtrain("arena --input " + csv);
  ASSERT_EQ(exact.exit_code, 0) << exact.output;
  EXPECT_NE(exact.output.find("arena        " + std::to_string(height * 1024) + " bytes"), std::string::npos)
      << exact.output;
  EXPECT_NE(exact.output.find("optimal      proven"), std::string::npos) << exact.output;
  EXPECT_NE(exact.output.find("method       exact"), std::string::npos) << exact.output;
  EXPECT_NE(exact.output.find("search       proved it optimal"), std::string::npos) << exact.output;
  EXPECT_NE(exact.output.find("nodes        "), std::string::npos) << exact.output;
  EXPECT_EQ(heuristics.output.find("nodes"), std::string::npos) << "no search, no nodes: " << heuristics.output;
}

// A long search reports its progress on stderr once a second (the best
// arena so far against the bound, the proven floor); --quiet does not;
// stdout keeps the table alone either way. (RunCommandSplit: output is
// stderr.)
TEST(ArenaCommandTest, ReportsProgressOnStderrUnlessQuiet) {
  std::mt19937_64 rng(5);
  const std::vector<planner::ArenaRequest> cut = test_util::RectangleSlices(rng, 1500, 300, 3000, 256);
  const std::string csv = WriteCutCsv(cut, "big_cut.csv");
  const CommandResult loud =
      RunCommandSplit(std::string(kBinary) + " arena --input " + csv + " --search-seconds 2.5 --threads 2");
  ASSERT_EQ(loud.exit_code, 0) << loud.output;
  ASSERT_NE(loud.stdout_only.find("not proven"), std::string::npos) << "pick a cut the search cannot finish";
  EXPECT_NE(loud.output.find("slimtrain arena:    1 s  best "), std::string::npos) << loud.output;
  EXPECT_NE(loud.output.find("proven: none below " + std::to_string(3000 * 256) + " bytes"), std::string::npos)
      << loud.output;
  EXPECT_EQ(loud.stdout_only.find("slimtrain arena:"), std::string::npos) << loud.stdout_only;
  const CommandResult quiet = RunCommandSplit(std::string(kBinary) + " arena --input " + csv +
                                              " --search-seconds 1.5 --threads 2 --quiet");
  ASSERT_EQ(quiet.exit_code, 0) << quiet.output;
  EXPECT_EQ(quiet.output.find("slimtrain arena:"), std::string::npos) << quiet.output;
  EXPECT_NE(quiet.stdout_only.find("optimal      not proven"), std::string::npos) << quiet.stdout_only;
}

// --capacity asks MiniMalloc's question: a cut the heuristics miss fits in
// its height (the search finds a placement within it) and not in a byte
// less (the lower bound is above that); --output writes the plan as
// MiniMalloc's solution CSV: every buffer with an offset, none overlapping
// another alive with it, all within the capacity.
TEST(ArenaCommandTest, CapacityAnswersWhetherItFitsAndOutputWritesTheOffsets) {
  std::mt19937_64 rng(5);
  const int64_t height = 300, unit = 1024;
  const std::vector<planner::ArenaRequest> cut = test_util::RectangleSlices(rng, 120, 40, height, unit);
  const std::string csv = WriteCutCsv(cut, "cut_for_capacity.csv"), solution = TempPath("solution.csv");
  const std::string capacity = std::to_string(height * unit);
  const CommandResult fits =
      Slimtrain("arena --input " + csv + " --capacity " + capacity + " --quiet --output " + solution);
  ASSERT_EQ(fits.exit_code, 0) << fits.output;
  EXPECT_NE(fits.output.find("capacity     " + capacity + " bytes\nfits         yes"), std::string::npos)
      << fits.output;
  EXPECT_NE(fits.output.find("search       found a placement within the capacity"), std::string::npos)
      << fits.output;
  const std::vector<SolutionRow> rows = ReadSolutionCsv(solution);
  ASSERT_EQ(rows.size(), cut.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].id, std::to_string(i)) << "buffers in input order";
    EXPECT_LE(rows[i].offset + rows[i].size, height * unit) << "buffer " << i;
  }
  EXPECT_EQ(OverlappingRows(rows), "");
  const CommandResult too_small =
      Slimtrain("arena --input " + csv + " --capacity " + std::to_string(height * unit - 1) + " --quiet");
  EXPECT_EQ(too_small.exit_code, 3) << "exit status 3: does not fit\n" << too_small.output;
  EXPECT_NE(too_small.output.find("fits         no"), std::string::npos) << too_small.output;
  EXPECT_NE(too_small.output.find("search       not needed: the lower bound is above the capacity"),
            std::string::npos)
      << too_small.output;
  const CommandResult json = RunCommandSplit(std::string(kBinary) + " arena --input " + csv + " --capacity " +
                                             std::to_string(height * unit - 1) + " --quiet --format json");
  EXPECT_EQ(json.exit_code, 3) << "the same exit status with --format json\n" << json.output;
  EXPECT_NE(json.stdout_only.find("\"fits\": \"no\""), std::string::npos) << json.stdout_only;
}

// --max-nodes ends the search by its node count: with one thread the same
// JSON (arena, every offset, the nodes) on every run, the nodes within the
// cap but for the few a search takes to notice it.
TEST(ArenaCommandTest, MaxNodesEndsTheSearchTheSameWayEachRun) {
  std::mt19937_64 rng(19);
  const int64_t height = 3000, unit = 256;
  const std::vector<planner::ArenaRequest> cut = test_util::RectangleSlices(rng, 1500, 300, height, unit);
  const std::string csv = WriteCutCsv(cut, "cut_capped.csv");
  const std::string command = std::string(kBinary) + " arena --input " + csv +
                              " --alignment 256 --threads 1 --max-nodes 3000 --search-seconds 30 --format json";
  const CommandResult first = RunCommandSplit(command);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const CommandResult second = RunCommandSplit(command);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(first.stdout_only, second.stdout_only);
  const google::protobuf::Struct parsed = ParseJson(first.stdout_only);
  const auto& root = parsed.fields();
  EXPECT_EQ(root.at("exact_search").string_value(), "stopped at its limit without a proof");
  EXPECT_GE(root.at("exact_nodes").number_value(), 3000);
  EXPECT_LE(root.at("exact_nodes").number_value(), 3100);
}

// A capacity the search cannot decide in its time: `fits unknown`, exit
// status 4 (neither "fits", 0, nor "does not fit", 3).
TEST(ArenaCommandTest, CapacityUndecidedInTimeExitsFour) {
  std::mt19937_64 rng(19);
  const int64_t height = 3000, unit = 256;
  const std::vector<planner::ArenaRequest> cut = test_util::RectangleSlices(rng, 1500, 300, height, unit);
  const std::string csv = WriteCutCsv(cut, "cut_undecided.csv");
  const CommandResult undecided = Slimtrain("arena --input " + csv + " --alignment 256 --capacity " +
                                            std::to_string(height * unit) + " --search-seconds 0.3 --quiet");
  EXPECT_EQ(undecided.exit_code, 4) << undecided.output;
  EXPECT_NE(undecided.output.find("fits         unknown"), std::string::npos) << undecided.output;
  EXPECT_NE(undecided.output.find("search       stopped at its limit without an answer"), std::string::npos)
      << undecided.output;
}

// The exact search runs on at most planner::kMaxExactBuffers buffers: a
// larger input gets the heuristics' plan at once, and a note on stderr says
// why the search time went unused.
TEST(ArenaCommandTest, SaysWhenTheInputIsTooLargeForTheExactSearch) {
  std::mt19937_64 rng(7);
  const std::vector<planner::ArenaRequest> cut =
      test_util::RectangleSlices(rng, static_cast<int>(planner::kMaxExactBuffers) + 1, 200, 400, 256);
  ASSERT_GT(cut.size(), planner::kMaxExactBuffers);
  const std::string csv = WriteCutCsv(cut, "too_big_cut.csv");
  const CommandResult result = RunCommandSplit(std::string(kBinary) + " arena --input " + csv + " --search-seconds 30");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_NE(result.stdout_only.find("optimal      not proven"), std::string::npos)
      << "pick a cut the heuristics miss: " << result.stdout_only;
  EXPECT_NE(result.output.find("slimtrain arena: no exact search: it runs on at most 5000 buffers that take "
                               "space, and " + csv + " has " + std::to_string(cut.size())),
            std::string::npos)
      << result.output;
  EXPECT_EQ(result.stdout_only.find("method       exact"), std::string::npos) << result.stdout_only;
  EXPECT_NE(result.stdout_only.find("search       not run: " + std::to_string(cut.size()) +
                                    " buffers take space, more than 5000"),
            std::string::npos)
      << result.stdout_only;
  // 30 s were allowed; the heuristics alone take a fraction of that.
  const size_t time_at = result.stdout_only.find("time         ");
  ASSERT_NE(time_at, std::string::npos) << result.stdout_only;
  EXPECT_LT(std::stod(result.stdout_only.substr(time_at + 13)), 15.0) << result.stdout_only;
  const CommandResult heuristics = RunCommandSplit(std::string(kBinary) + " arena --input " + csv + " --search-seconds 0");
  ASSERT_EQ(heuristics.exit_code, 0) << heuristics.output;
  EXPECT_EQ(heuristics.output.find("no exact search"), std::string::npos) << "--search-seconds 0 asked for none";
}

struct UsageError {
  const char* name;
  const char* args;
  int exit_code;
  const char* message;
};

class CommandErrorTest : public testing::TestWithParam<UsageError> {};

TEST_P(CommandErrorTest, SaysWhatIsWrongWithTheRightExitCode) {
  const CommandResult r = Slimtrain(GetParam().args);
  EXPECT_EQ(r.exit_code, GetParam().exit_code) << r.output;
  EXPECT_NE(r.output.find(GetParam().message), std::string::npos) << r.output;
}

INSTANTIATE_TEST_SUITE_P(
    Errors, CommandErrorTest,
    testing::Values(
        UsageError{"UnknownCommand", "fly", 2, "unknown command 'fly'"},
        UsageError{"UnknownFlag", "plan --model zoo:resnet20 --batch 8 --colour red", 2,
                   "unknown flag --colour for 'slimtrain plan'"},
        UsageError{"MissingBatch", "plan --model zoo:resnet20", 2, "--batch is required"},
        UsageError{"BatchNotANumber", "plan --model zoo:resnet20 --batch many", 2,
                   "--batch: 'many' is not an integer"},
        UsageError{"UnknownStrategy", "plan --model zoo:resnet20 --batch 8 --strategies exact,fast", 2,
                   "strategies[1]: unknown strategy 'fast'"},
        UsageError{"BadBudget", "plan --model zoo:resnet20 --batch 8 --budget lots", 2,
                   "--budget: 'lots' is not a size"},
        UsageError{"UnknownZooModel", "plan --model zoo:resnet7 --batch 8", 2, "unknown zoo model 'resnet7'"},
        UsageError{"BothModelFlags", "plan --model zoo:resnet20 --model-file x.pbtxt --batch 8", 2,
                   "exactly one of --model"},
        UsageError{"MissingModelFile", "plan --model-file /nonexistent/model.pbtxt --batch 8", 1,
                   "/nonexistent/model.pbtxt"},
        UsageError{"UnknownDevice", "plan --model zoo:resnet20 --batch 8 --device tpu", 2,
                   "device: unknown device 'tpu'"},
        UsageError{"NoRanks", "plan --model zoo:resnet20 --batch 8 --ranks 0", 2,
                   "--ranks: 0, must be in [1, 65536]"},
        UsageError{"HugeBuckets", "plan --model zoo:resnet20 --batch 8 --ranks 2 --bucket-mib 5000", 2,
                   "--bucket-mib: 5000, must be in [1, 4096]"},
        UsageError{"PlanNegativeThreads", "plan --model zoo:resnet20 --batch 8 --threads -1", 2,
                   "--threads: -1, must be in [0, 4096]"},
        UsageError{"PlanThreadsWithServer", "plan --model zoo:resnet20 --batch 8 --threads 2 --server 127.0.0.1:1",
                   2, "--threads: the server plans its CPU jobs with its own threads (its --cpu_threads)"},
        UsageError{"PlanGpuNotANumber", "plan --model zoo:resnet20 --batch 8 --device cuda:first", 2,
                   "--device cuda:first: not a GPU number (cuda:0, cuda:1, ...)"},
        UsageError{"PlanGpuNumberWithASign", "plan --model zoo:resnet20 --batch 8 --device cuda:+1", 2,
                   "--device cuda:+1: not a GPU number (cuda:0, cuda:1, ...)"},
        UsageError{"PlanThreadsForALocalGpuBeforeAnyProbe",
                   "plan --model zoo:resnet20 --batch 8 --threads 2 --device cuda:0", 2,
                   "--threads: is for CPU plans; --device cuda:0 plans count cuDNN's workspaces at their bounds"},
        UsageError{"PlanThreadsForAGpu", "plan --model zoo:resnet20 --batch 8 --threads 2 --device t4", 2,
                   "--threads: is for CPU plans; --device t4 plans count cuDNN's workspaces at their bounds"},
        UsageError{"ZooExportUnknown", "zoo export resnet7", 1, "unknown zoo model 'resnet7'"},
        UsageError{"ArenaNoInput", "arena", 2, "--input FILE.csv is required"},
        UsageError{"ArenaNoThreads", "arena --input x.csv --threads 0", 2, "--threads: 0 is not in [1, 64]"},
        UsageError{"ArenaNegativeMaxNodes", "arena --input x.csv --max-nodes -1", 2, "--max-nodes: -1 is not >= 0"},
        UsageError{"ArenaBadCapacity", "arena --input x.csv --capacity abc", 2, "--capacity: 'abc' is not a size"},
        UsageError{"ArenaZeroCapacity", "arena --input x.csv --capacity 0", 2, "--capacity: 0 bytes"},
        UsageError{"ArenaZeroAlignment", "arena --input x.csv --alignment 0", 2, "--alignment: 0 is not >= 1 byte"},
        UsageError{"ArenaOutputNowhere", "arena --input x.csv --output /nonexistent/dir/o.csv", 2,
                   "--output: '/nonexistent/dir' is not a directory"}),
    [](const testing::TestParamInfo<UsageError>& info) { return info.param.name; });

// The commands `slimtrain --help` lists: the first word of each indented line
// under its "commands:" and "remote commands ...:" headings, each once.
std::vector<std::string> ListedCommands(const std::string& help) {
  std::vector<std::string> commands;
  std::istringstream lines(help);
  bool in_list = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("commands:", 0) == 0 || line.rfind("remote commands", 0) == 0) {
      in_list = true;
    } else if (line.rfind("  ", 0) != 0) {
      in_list = false;
    } else if (in_list) {
      std::istringstream words(line);
      std::string command;
      words >> command;
      if (std::find(commands.begin(), commands.end(), command) == commands.end()) commands.push_back(command);
    }
  }
  return commands;
}

TEST(HelpTest, ListedCommandsAreParsedFromTheHelpPage) {
  EXPECT_EQ(ListedCommands("usage: x\n\ncommands:\n  plan     p\n  zoo  z\n\nremote commands (a server):\n"
                           "  submit   s\n  plan --server ...  p\n\nexample:\n  slimtrain plan\n"),
            (std::vector<std::string>{"plan", "zoo", "submit"}));
}

// Every command `slimtrain --help` lists has a page of its own: exit 0, its
// usage line, flags beyond --help, and an example of that command.
TEST(HelpTest, EveryListedCommandHasHelpWithFlagsAndAnExample) {
  const CommandResult top = RunCommandSplit(std::string(kBinary) + " --help");
  ASSERT_EQ(top.exit_code, 0) << top.output;
  EXPECT_EQ(top.stdout_only.rfind("usage: slimtrain COMMAND", 0), 0u) << top.stdout_only;
  const std::vector<std::string> commands = ListedCommands(top.stdout_only);
  // Local and remote commands both: the parse found the two lists.
  ASSERT_NE(std::find(commands.begin(), commands.end(), "plan"), commands.end()) << top.stdout_only;
  ASSERT_NE(std::find(commands.begin(), commands.end(), "submit"), commands.end()) << top.stdout_only;
  for (const std::string& command : commands) {
    SCOPED_TRACE("slimtrain " + command + " --help");
    const CommandResult r = RunCommandSplit(std::string(kBinary) + " " + command + " --help");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const std::string& page = r.stdout_only;
    EXPECT_EQ(page.rfind("usage: slimtrain " + command + " [flags]\n", 0), 0u) << page;
    const size_t flags = page.find("\nflags:\n");
    EXPECT_NE(flags, std::string::npos) << page;
    if (flags == std::string::npos) continue;  // the other commands are still checked
    int listed_flags = 0;
    std::istringstream lines(page.substr(flags + 8));
    for (std::string line; std::getline(lines, line) && !line.empty();) {
      if (line.rfind("  --", 0) == 0 && line.rfind("  --help ", 0) != 0) ++listed_flags;
    }
    EXPECT_GT(listed_flags, 0) << page;
    EXPECT_NE(page.find("  --help "), std::string::npos) << page;
    EXPECT_NE(page.find("example:\n  slimtrain " + command), std::string::npos) << page;
  }
}

}  // namespace
}  // namespace slimtrain
