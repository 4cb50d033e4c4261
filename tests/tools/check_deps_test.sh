#!/usr/bin/env bash
# tools/check_deps.py names the package a system file needs when setup lacks it,
# and accepts it when setup lists it (or a package that depends on it).
set -uo pipefail
check="tools/check_deps.py"
fake="${TEST_TMPDIR}/setup.sh"
fail() { echo "FAIL: $*"; exit 1; }

printf '#!/bin/bash\n[ "$1" = --list ] && echo g++\n' > "${fake}"
out=$(/usr/bin/python3 "${check}" --setup "${fake}" --file /usr/include/sqlite3.h 2>&1)
[[ $? -ne 0 ]] || fail "a header of an unlisted package passed: ${out}"
[[ "${out}" == *"libsqlite3-dev"* ]] || fail "the missing package is not named: ${out}"

printf '#!/bin/bash\n[ "$1" = --list ] && echo libsqlite3-dev\n' > "${fake}"
out=$(/usr/bin/python3 "${check}" --setup "${fake}" --file /usr/include/sqlite3.h 2>&1) \
  || fail "a header of a listed package failed: ${out}"

# libsqlite3-0 (the runtime library) comes with libsqlite3-dev.
lib=$(ls /usr/lib/x86_64-linux-gnu/libsqlite3.so.0* | head -n 1)
out=$(/usr/bin/python3 "${check}" --setup "${fake}" --file "${lib}" 2>&1) \
  || fail "a dependency of a listed package failed: ${out}"

# The real setup script covers the libraries this project links.
out=$(/usr/bin/python3 "${check}" --file /usr/include/dnnl.h /usr/include/grpcpp/grpcpp.h 2>&1) \
  || fail "tools/setup.sh lacks a package: ${out}"
echo "PASS"
