// What `slimtrain watch` and `status` print about memory (client/
// remote_render): training's own measured memory (the peak less what the
// process held before training, Metrics.other_bytes) next to the plan, and
// the rest named as code and data; metrics without other_bytes (an older
// worker's) show the peak alone.
#include <sstream>
#include <string>

#include "client/remote_render.h"
#include "gtest/gtest.h"
#include "proto/job.pb.h"

namespace slimtrain::client {
namespace {

constexpr int64_t kMiB = 1 << 20;

v1::Job JobWithMetrics(int64_t planned, int64_t measured, int64_t other) {
  v1::Job job;
  job.set_id("j1");
  job.mutable_plan()->set_batch_size(128);
  job.mutable_plan()->set_peak_bytes(planned);
  job.mutable_plan()->set_arena_bytes(planned - 2 * kMiB);
  job.mutable_progress()->set_total_steps(100);
  job.mutable_progress()->set_total_epochs(1);
  v1::Metrics* m = job.mutable_latest_metrics();
  m->set_step(10);
  m->set_loss(0.5);
  m->set_images_per_second(100);
  m->set_planned_peak_bytes(planned);
  m->set_measured_peak_bytes(measured);
  m->set_other_bytes(other);
  return job;
}

std::string ProgressLine(const v1::Job& job) {
  std::ostringstream out;
  ProgressPrinter printer(job, /*tty=*/false, out);
  v1::JobEvent e;
  *e.mutable_metrics() = job.latest_metrics();
  printer.Show(e);
  return out.str();
}

TEST(RemoteRenderTest, ProgressLineHoldsTrainingsMemoryAgainstThePlan) {
  const v1::Job job = JobWithMetrics(32 * kMiB, 115 * kMiB, 83 * kMiB);
  const std::string line = ProgressLine(job);
  EXPECT_NE(line.find("mem 32.0 MiB / plan 32.0 MiB (+83.0 MiB code, data)"), std::string::npos) << line;
}

TEST(RemoteRenderTest, StatusSaysWhatTheRestOfTheProcessHeld) {
  const std::string details = JobDetails(JobWithMetrics(32 * kMiB, 115 * kMiB, 83 * kMiB));
  EXPECT_NE(details.find("planned peak 32.0 MiB (arena 30.0 MiB), measured 32.0 MiB for training, 83.0 MiB more "
                         "before it (code, libraries, data; peak 115.0 MiB)"),
            std::string::npos)
      << details;
}

TEST(RemoteRenderTest, MetricsWithoutOtherBytesShowThePeakAlone) {
  const v1::Job job = JobWithMetrics(32 * kMiB, 115 * kMiB, 0);
  EXPECT_NE(ProgressLine(job).find("mem 115.0 MiB / plan 32.0 MiB |"), std::string::npos) << ProgressLine(job);
  EXPECT_NE(JobDetails(job).find("measured peak resident 115.0 MiB"), std::string::npos) << JobDetails(job);
}

}  // namespace
}  // namespace slimtrain::client
