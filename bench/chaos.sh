#!/usr/bin/env bash
# bench/chaos.sh — the chaos test's long run: the real server killed with
# SIGKILL CYCLES times while two clients submit, cancel, delete, get, list and
# watch jobs, then its database and job folders checked against what the
# clients were told (tests/server/chaos_test.cc runs the same with 40 cycles).
#
#   bench/chaos.sh [CYCLES] [SEED]     # default 200 cycles (about 4 minutes), a new seed
#
# Prints a line per cycle, then a summary: the run's numbers and each kind of
# problem found with how often (numbers folded to N). Every problem line
# names the seed; `bench/chaos.sh CYCLES SEED` replays its choices. A failed
# run's server log and database are in
# bazel-testlogs/tests/server/chaos_test/test.outputs/outputs.zip.
# Exits non-zero when the test failed.
set -uo pipefail
cd "$(dirname "$0")/.."

cycles="${1:-200}"
seed="${2:-$(date +%s)}"
if ! [[ "${cycles}" =~ ^[0-9]+$ && "${seed}" =~ ^[0-9]+$ ]]; then
  echo "usage: bench/chaos.sh [CYCLES] [SEED]" >&2
  exit 2
fi

echo "chaos bench: ${cycles} cycles, seed ${seed}"
start=$(date +%s)
bazel test //tests/server:chaos_test \
  --test_env=SLIMTRAIN_CHAOS_CYCLES="${cycles}" --test_env=SLIMTRAIN_CHAOS_SEED="${seed}" \
  --test_timeout=$((cycles * 10 + 600)) --cache_test_results=no --test_output=streamed \
  --color=no --curses=no --noshow_progress 2>&1 | grep --line-buffered -E '^chaos: cycle'
rc=${PIPESTATUS[0]}
seconds=$(( $(date +%s) - start ))

log=bazel-testlogs/tests/server/chaos_test/test.log
echo
echo "chaos bench: ${cycles} cycles, seed ${seed}, ${seconds} s in all (build included), bazel exit ${rc}"
if [[ ! -f "${log}" ]]; then
  echo "chaos bench: no test log (the build failed?)"
  exit 1
fi
grep '^chaos: summary' "${log}" | sed 's/^chaos: summary: /chaos bench: /'
prefix="chaos: problem (seed ${seed}): "
problems=$(grep -c "^${prefix}" "${log}")
echo "chaos bench: ${problems} problems, by kind (numbers folded to N):"
grep "^${prefix}" "${log}" | cut -c$(( ${#prefix} + 1 ))- | sed -e 's/[0-9][0-9]*/N/g' | sort | uniq -c | sort -rn |
  cut -c1-300
exit "${rc}"
