"""fuzz_test: one libFuzzer target that is also a regression test.

A fuzz target is a file defining
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
Built normally (g++), the target links //tests/fuzz:replay_main and runs as a
cc_test over every file of its seed corpus, `corpus/<corpus>/`: an input that
crashes it (or trips a check) fails the test. Built with
--define=fuzzing=libfuzzer (bench/fuzz.sh does, with clang-14 and
`--config=fuzz`), it links libFuzzer's own main instead and is the fuzzer.

  fuzz_test(
      name = "tokens_fuzzer",          # tokens_fuzzer.cc
      corpus = "tokens",               # corpus/tokens/*
      deps = ["//server:auth"],
  )
"""

def fuzz_test(name, corpus, deps = [], size = "small", tags = []):
    native.cc_test(
        name = name,
        size = size,
        srcs = [name + ".cc"],
        # The test replays the corpus; the fuzzer takes its own arguments.
        args = [native.package_name() + "/corpus/" + corpus],
        data = native.glob(["corpus/%s/**" % corpus]),
        linkopts = select({
            "//tools/build_defs:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        tags = tags,
        deps = deps + select({
            "//tools/build_defs:libfuzzer": [],
            "//conditions:default": ["//tests/fuzz:replay_main"],
        }),
    )
