#!/usr/bin/env bash
# Starts the real server on 127.0.0.1 and runs the Python client's tests and
# its example against it, with Debian's python3 and its grpcio/protobuf.
set -euo pipefail
dir="${TEST_TMPDIR}/python-client"
rm -rf "${dir}" && mkdir -p "${dir}"
server/slimtrain_server --listen 127.0.0.1:0 --port_file "${dir}/port" --data_dir "${dir}" --cpu_threads 1 \
  2>"${dir}/server.log" &
server=$!
trap 'kill ${server} 2>/dev/null; wait ${server} 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s "${dir}/port" ]] && break; sleep 0.1; done
[[ -s "${dir}/port" ]] || { echo "the server did not start:"; cat "${dir}/server.log"; exit 1; }
export SLIMTRAIN_SERVER="127.0.0.1:$(cat "${dir}/port")" SLIMTRAIN_TOKEN_FILE="${dir}/tokens"
export PYTHONPATH="client/python:client/python/gen"
/usr/bin/python3 tests/client/python_client_test.py -v
cd "${dir}" && PYTHONPATH="${TEST_SRCDIR}/${TEST_WORKSPACE}/client/python:${TEST_SRCDIR}/${TEST_WORKSPACE}/client/python/gen" \
  /usr/bin/python3 "${TEST_SRCDIR}/${TEST_WORKSPACE}/client/python/example.py"
