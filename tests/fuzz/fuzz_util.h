// fuzz_util.h — what the fuzz targets share: a check that crashes, scratch
// files for APIs that only read paths, the caps on work per input, and the
// small fixed model the checkpoint target restores into.
//
//   FUZZ_CHECK(back.ok(), "a decoded file must decode again: " << back.status());
//   const std::string path = fuzz::WriteScratchFile("tokens", input);
//
// A fuzz target returns normally for every input its code rejects with a
// status; a crash, a sanitizer report or a failed FUZZ_CHECK is a finding
// (libFuzzer saves the input; the replay test fails).
#ifndef SLIMTRAIN_TESTS_FUZZ_FUZZ_UTIL_H_
#define SLIMTRAIN_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/string_view.h"
#include "planner/graph.h"

namespace slimtrain::fuzz {

// Caps on the work one input may cause, so executions per second stay in the
// hundreds or more: models with more layers than this are parsed and built but
// not planned, and plans use batches 1..kMaxBatch only.
inline constexpr int kMaxPlannedLayers = 64;
inline constexpr int64_t kMaxBatch = 4;
// Arena CSVs with more buffers than this are parsed but not planned.
inline constexpr size_t kMaxArenaBuffers = 512;

// Aborts with `message` (streamed) when `condition` is false: a property the
// code documents does not hold. Aborting is the point: libFuzzer keeps the
// input, and the replay test fails naming it.
#define FUZZ_CHECK(condition, message)                                        \
  do {                                                                        \
    if (!(condition)) {                                                       \
      std::cerr << __FILE__ << ":" << __LINE__ << ": FUZZ_CHECK(" #condition \
                << ") failed: " << message << std::endl;                      \
      std::abort();                                                           \
    }                                                                         \
  } while (false)

// Writes `bytes` to this process's scratch file `name` (in $TEST_TMPDIR, else
// /dev/shm, else /tmp; the process id keeps parallel fuzzers apart) and
// returns its path; the file is removed when the process exits normally.
// Aborts when the file cannot be written: no input can cause that.
std::string WriteScratchFile(absl::string_view name, absl::string_view bytes);

// The model checkpoint_fuzzer restores into and make_corpus writes its seed
// checkpoint for: conv, batch norm, ReLU, pooling and a linear layer on
// 1x4x4 inputs, 2 classes (a few hundred parameters). Built once.
const planner::Graph& CheckpointGraph();

}  // namespace slimtrain::fuzz

#endif  // SLIMTRAIN_TESTS_FUZZ_FUZZ_UTIL_H_
