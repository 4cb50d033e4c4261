// jobspec_fuzzer — a JobSpec as it reaches ValidateJobSpec: the binary proto
// bytes a SubmitJob request carries (and a worker reads from its job file),
// the protobuf text format and JSON that `slimtrain submit --job-file` reads.
// Every form the input parses as is validated; the inline model (or zoo name)
// goes through Graph::Build inside ValidateJobSpec. The check is "no crash"
// (and no sanitizer report): ValidateJobSpec's answers are tested in
// tests/engine.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "engine/job_spec.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "proto/job.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slimtrain;  // NOLINT: a fuzz target's one function
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  v1::JobSpec spec;
  if (spec.ParseFromString(bytes)) engine::ValidateJobSpec(spec).IgnoreError();
  // As `submit --job-file` reads it: JSON when it starts with '{', else text.
  spec.Clear();
  const absl::string_view body = absl::StripLeadingAsciiWhitespace(bytes);
  const bool parsed = !body.empty() && body.front() == '{'
                          ? google::protobuf::util::JsonStringToMessage(bytes, &spec).ok()
                          : google::protobuf::TextFormat::ParseFromString(bytes, &spec);
  if (parsed) engine::ValidateJobSpec(spec).IgnoreError();
  return 0;
}
