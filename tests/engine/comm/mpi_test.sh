#!/bin/bash
# comm_check on two ranks under OpenMPI's mpirun, inside Bazel's test
# sandbox: every collective exact on both ranks; then the timeout case, where
# rank 0's all-reduce must end in DEADLINE_EXCEEDED within its 2 s timeout
# while rank 1 sleeps, and the whole job within a bound instead of hanging.
#
# How mpirun runs here (tried as root under Bazel 4.2.3 with the
# processwrapper sandbox of .bazelrc, and with linux-sandbox without network):
#   --allow-run-as-root   mpirun refuses to start as root without it (tests run
#                         as root on the project's machines); no effect otherwise.
#   --oversubscribe       two ranks even where OpenMPI counts one slot (core).
#   --mca btl self,vader  one node: shared memory only, no TCP transport probing
#                         the sandbox's network interfaces (there may be only
#                         loopback).
#   --mca btl_vader_single_copy_mechanism none
#                         copies through the shared segment instead of
#                         process_vm_readv, which containers' seccomp profiles
#                         (Docker's default) forbid.
#   TMPDIR=$TEST_TMPDIR   OpenMPI's session directory: writable in every
#                         sandbox, one per test.
# mpirun's own connections use TCP on 127.0.0.1, which every sandbox has.
set -u
check="$1"
export TMPDIR="${TEST_TMPDIR:-/tmp}"
MPIRUN=(mpirun -np 2 --oversubscribe --allow-run-as-root
  --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
fail=0
command -v mpirun >/dev/null || { echo "FAIL: no mpirun on PATH: install openmpi-bin (tools/setup.sh)"; exit 1; }

# Runs "$@" under mpirun with a hard bound; sets out, rc and seconds.
run() {
  local bound=$1
  shift
  local start
  start=$(date +%s%N)
  out=$(timeout -k 5 "${bound}" "${MPIRUN[@]}" "$@" 2>&1)
  rc=$?
  seconds=$((($(date +%s%N) - start) / 1000000000))
  echo "${out}"
  echo "(mpirun exit status ${rc}, ${seconds} s)"
}

expect() {  # expect WHAT PATTERN: PATTERN (grep -E) is in $out
  if ! grep -qE -- "$2" <<<"${out}"; then
    echo "FAIL: $1: no line matches /$2/"
    fail=1
  fi
}

echo "== every collective, 2 ranks"
run 120 "${check}"
[[ ${rc} -eq 0 ]] || { echo "FAIL: mpirun exited ${rc}"; fail=1; }
expect "rank 0 passed" "^comm_check rank 0 of 2: PASS$"
expect "rank 1 passed" "^comm_check rank 1 of 2: PASS$"
expect "30 MB all-reduce" "rank 1 of 2: float32 all-reduce of 7500000: exact"

echo
echo "== timeout: rank 1 sleeps past rank 0's 2 s deadline"
run 60 "${check}" --case=timeout --timeout-ms=2000
# mpirun reports rank 0's exit without MPI_Finalize (by design after a
# timeout) and ends rank 1; its exit status is not the verdict, rank 0's
# lines are.
[[ ${rc} -ne 124 && ${rc} -ne 137 ]] || { echo "FAIL: the job hung until killed at 60 s"; fail=1; }
expect "DEADLINE_EXCEEDED naming the operation and the rank" \
  "rank 0 of 2: all-reduce returned after 2\.[0-9]*s: DEADLINE_EXCEEDED: MPI all-reduce \(sum\) of 1000 float32 \(collective #1\) on rank 0 of 2 did not complete within 2s"
expect "later collectives refused" "rank 0 of 2: the next collective: FAILED_PRECONDITION: MPI barrier on rank 0: the communicator is unusable"
expect "rank 0's checks held" "^comm_check rank 0 of 2: PASS$"
if [[ ${seconds} -gt 20 ]]; then
  echo "FAIL: the timeout case took ${seconds} s; bound 20 s (2 s timeout plus start and teardown)"
  fail=1
fi

[[ ${fail} -eq 0 ]] && echo "PASS"
exit ${fail}
