#!/usr/bin/env bash
# bench/fuzz.sh [--targets a,b] [--keep-new-inputs] [--out DIR] [SECONDS] — runs
# every fuzz target of tests/fuzz (libFuzzer, with AddressSanitizer and
# UndefinedBehaviorSanitizer) for SECONDS each (default 60), one after
# another, and prints one table: target, seconds, executions, exec/s, corpus
# files (seeds -> after), new inputs, crashes. Exits 1 when any target
# crashed (or failed to run), 2 on a usage error.
#
# 1. tools/setup.sh --fuzz (clang-14, libclang-rt-14-dev, libFuzzer, libomp).
# 2. Builds //tests/fuzz with clang-14 and --config=fuzz (.bazelrc) under its
#    own output base, ~/.cache/slimtrain/bazel-fuzz, so the g++ build's cache
#    and bazel-bin stay as they are. Offline, like the main build.
# 3. Each target runs on a copy of its seed corpus in OUT/<target>/corpus
#    (default OUT: /tmp/slimtrain-fuzz); new inputs land there, not in the
#    tree. Crash inputs are kept in OUT/<target>/ (crash-*, leak-*, timeout-*,
#    oom-*) with the fuzzer's log in OUT/<target>/fuzz.log; reproduce one with
#    the replay test's binary: bazel-bin/tests/fuzz/<target> OUT/<target>/crash-...
#    With --keep-new-inputs, the new inputs that add coverage are merged into
#    tests/fuzz/corpus/<target>/ afterwards (libFuzzer -merge=1).
#
# Per input a target caps its work (tests/fuzz/fuzz_util.h): models over 64
# layers are not planned, batches are 1..4.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
}

ALL_TARGETS=(model_fuzzer jobspec_fuzzer arena_csv_fuzzer safetensors_fuzzer checkpoint_fuzzer tokens_fuzzer numpy_fuzzer image_fuzzer)
targets=("${ALL_TARGETS[@]}")
seconds=60
keep=0
out=/tmp/slimtrain-fuzz
while [[ $# -gt 0 ]]; do
  case "$1" in
    --help | -h) usage; exit 0 ;;
    --targets)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      IFS=, read -r -a targets <<<"$2"
      shift 2
      ;;
    --keep-new-inputs) keep=1; shift ;;
    --out)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      out="$2"
      shift 2
      ;;
    -*) echo "fuzz: unknown flag '$1'" >&2; usage >&2; exit 2 ;;
    *)
      [[ "$1" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: SECONDS must be a positive integer, got '$1'" >&2; exit 2; }
      seconds="$1"
      shift
      ;;
  esac
done
for t in "${targets[@]}"; do
  if [[ ! " ${ALL_TARGETS[*]} " =~ " ${t} " ]]; then
    echo "fuzz: unknown target '${t}'; known: ${ALL_TARGETS[*]}" >&2
    exit 2
  fi
done

tools/setup.sh --fuzz

# A Bazel server of its own (own output base); it exits after 10 idle minutes.
bazel_fuzz=(bazel "--output_base=${HOME}/.cache/slimtrain/bazel-fuzz" --max_idle_secs=600)
labels=()
for t in "${targets[@]}"; do labels+=("//tests/fuzz:${t}"); done
echo "fuzz: building ${#targets[@]} target(s) with clang-14 -fsanitize=fuzzer,address,undefined"
# --symlink_prefix=/: no bazel-* links, so ./bazel-bin stays the g++ build's.
mkdir -p "${out}"
build_rc=0
"${bazel_fuzz[@]}" build --config=fuzz --symlink_prefix=/ --color=no --curses=no --noshow_progress \
  "${labels[@]}" >"${out}/build.log" 2>&1 || build_rc=$?
# gold's warning about an ASan symbol is harmless; show the rest.
grep -vE "ld.gold: warning: Cannot export local symbol|^INFO: From Linking" "${out}/build.log" || true
if [[ ${build_rc} -ne 0 ]]; then
  echo "fuzz: the build failed (bazel exited ${build_rc}); see ${out}/build.log" >&2
  exit 1
fi
bin=$("${bazel_fuzz[@]}" info --config=fuzz bazel-bin 2>/dev/null)

# A UBSan report names the whole stack, not only the line.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
rows=()
failed=0
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/${t%_fuzzer}
  work=${out}/${t}
  rm -rf "${work}"
  mkdir -p "${work}/corpus"
  cp "${corpus}"/* "${work}/corpus/"
  seeds=$(find "${work}/corpus" -type f | wc -l)
  echo "fuzz: ${t}: ${seconds} s on ${seeds} seeds (${work})"
  start=$(date +%s%N)
  rc=0
  # -timeout: one input running this long is a finding; -rss_limit_mb too.
  "${bin}/tests/fuzz/${t}" "${work}/corpus" -max_total_time="${seconds}" -print_final_stats=1 \
    -timeout=20 -rss_limit_mb=4096 -artifact_prefix="${work}/" >"${work}/fuzz.log" 2>&1 || rc=$?
  wall=$(( ($(date +%s%N) - start) / 1000000000 ))
  execs=$(grep -m1 '^stat::number_of_executed_units:' "${work}/fuzz.log" | awk '{print $2}')
  rate=$(grep -m1 '^stat::average_exec_per_sec:' "${work}/fuzz.log" | awk '{print $2}')
  added=$(grep -m1 '^stat::new_units_added:' "${work}/fuzz.log" | awk '{print $2}')
  after=$(find "${work}/corpus" -type f | wc -l)
  crashes=$(find "${work}" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | wc -l)
  if [[ ${rc} -ne 0 || ${crashes} -gt 0 ]]; then
    failed=1
    [[ ${crashes} -gt 0 ]] || crashes="exit ${rc}"
    echo "fuzz: ${t} FAILED; see ${work}/fuzz.log"
    grep -m3 -E '^==[0-9]+==ERROR|runtime error|FUZZ_CHECK|deadly signal|Test unit written' "${work}/fuzz.log" || true
  fi
  if [[ ${keep} -eq 1 ]]; then
    before_tree=$(find "${corpus}" -type f | wc -l)
    "${bin}/tests/fuzz/${t}" -merge=1 "${corpus}" "${work}/corpus" >"${work}/merge.log" 2>&1 || true
    echo "fuzz: ${t}: merged $(( $(find "${corpus}" -type f | wc -l) - before_tree )) input(s) into ${corpus}"
  fi
  rows+=("$(printf '%-20s %8s %12s %8s %15s %6s %8s' "${t}" "${wall}" "${execs:-?}" "${rate:-?}" \
    "${seeds} -> ${after}" "${added:-?}" "${crashes}")")
done

echo
printf '%-20s %8s %12s %8s %15s %6s %8s\n' target seconds executions exec/s "corpus files" new crashes
for r in "${rows[@]}"; do echo "${r}"; done
echo "(crash inputs and logs: ${out}/<target>/)"
exit "${failed}"
