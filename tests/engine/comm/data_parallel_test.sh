#!/bin/bash
# data_parallel_check on two ranks under mpirun (the flags for root and
# Bazel's sandbox are mpi_test.sh's, which explains them), bounded in time.
set -u
export TMPDIR="${TEST_TMPDIR:-/tmp}"
command -v mpirun >/dev/null || { echo "FAIL: no mpirun on PATH: install openmpi-bin (tools/setup.sh)"; exit 1; }
out=$(timeout -k 5 240 mpirun -np 2 --oversubscribe --allow-run-as-root --mca btl self,vader \
  --mca btl_vader_single_copy_mechanism none "$1" 2>&1)
rc=$?
echo "${out}"
echo "(mpirun exit status ${rc})"
passes=$(grep -c "rank [01]: PASS$" <<<"${out}")
if [[ ${rc} -ne 0 || ${passes} -ne 2 ]]; then
  echo "FAIL: both ranks must print PASS and mpirun exit 0"
  exit 1
fi
echo "PASS"
