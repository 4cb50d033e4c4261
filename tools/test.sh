#!/usr/bin/env bash
# tools/test.sh — set up what is missing, build everything, run every test.
#
# Ends with one line "N passed, M failed[, K skipped]" counting test cases
# (GoogleTest cases, and one per non-GoogleTest test target); exits non-zero
# when anything failed. Extra arguments go to `bazel test`
# (e.g. tools/test.sh --test_filter=ArenaTest.*).
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh || { echo "0 passed, 1 failed (setup)"; exit 1; }

echo "test: building and testing //... with Bazel"
bazel test //... --color=no --curses=no --noshow_progress "$@"
bazel_rc=$?
echo "test: CUDA targets compiled: $(tools/cuda_status.sh)"

mapfile -t targets < <(bazel query --noshow_progress 'tests(//...)' 2>/dev/null)

echo "test: checking that every system file the build uses comes from tools/setup.sh"
deps_failed=0
/usr/bin/python3 tools/check_deps.py || deps_failed=1

summary=$(/usr/bin/python3 tools/test_summary.py "${targets[@]}")
summary_rc=$?
echo "${summary}" | sed '$d'
last=$(echo "${summary}" | tail -n 1)
if [[ ${deps_failed} -eq 1 ]]; then
  echo "FAILED  tools/check_deps.py (a system package is missing from tools/setup.sh)"
  # One more failed case: the dependency check.
  last=$(echo "${last}" | awk -F', ' '{ split($2, f, " "); $2 = (f[1] + 1) " failed"; print }' OFS=', ')
fi
if [[ ${bazel_rc} -ne 0 && ${bazel_rc} -ne 3 && ${summary_rc} -eq 0 ]]; then
  # Bazel failed for a reason no test result shows (a build error outside tests).
  echo "FAILED  bazel test exited with ${bazel_rc}"
  last=$(echo "${last}" | awk -F', ' '{ split($2, f, " "); $2 = (f[1] + 1) " failed"; print }' OFS=', ')
fi
echo "${last}"
[[ ${bazel_rc} -eq 0 && ${summary_rc} -eq 0 && ${deps_failed} -eq 0 ]]
