// replay_main.cc — the main of a fuzz target built as a test (fuzz.bzl's
// fuzz_test without libFuzzer): runs LLVMFuzzerTestOneInput once over every
// file of the corpus folders (and files) named on the command line, so inputs
// that once crashed stay fixed.
//
//   bazel-bin/tests/fuzz/model_fuzzer tests/fuzz/corpus/model   # the test
//   bazel-bin/tests/fuzz/model_fuzzer tests/fuzz/pending/model/crash-1f2e...
//
// A crash or a failed FUZZ_CHECK ends the process (the test fails), after the
// line naming the input. Exit code 1 when an argument cannot be read or names
// no file at all (a corpus that went missing must not pass as empty).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// The files under `arg` (itself when it is a file), sorted; false when it
// cannot be read.
bool CollectInputs(const std::string& arg, std::vector<fs::path>* files) {
  std::error_code error;
  if (fs::is_regular_file(arg, error)) {
    files->push_back(arg);
    return true;
  }
  if (!fs::is_directory(arg, error)) return false;
  std::vector<fs::path> found;
  for (fs::recursive_directory_iterator it(arg, error), end; !error && it != end; it.increment(error)) {
    if (it->is_regular_file(error)) found.push_back(it->path());
  }
  if (error) return false;
  std::sort(found.begin(), found.end());
  files->insert(files->end(), found.begin(), found.end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    if (!CollectInputs(argv[i], &files)) {
      std::fprintf(stderr, "replay: cannot read '%s'\n", argv[i]);
      return 1;
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "replay: no input files under the arguments given\n");
    return 1;
  }
  for (const fs::path& path : files) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "replay: cannot read '%s'\n", path.c_str());
      return 1;
    }
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(), bytes.size());
    // An exactly sized copy, so a read past the end is past the allocation.
    std::vector<uint8_t> data(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(data.data(), data.size());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("replayed %zu inputs in %.2f s without a crash\n", files.size(), seconds);
  return 0;
}
