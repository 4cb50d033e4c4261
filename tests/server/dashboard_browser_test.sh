#!/usr/bin/env bash
# Starts the real server on 127.0.0.1 (gRPC and the dashboard's HTTP) with a
# tokens file of three users, and runs dashboard_browser_test.py against it
# in Debian's headless Chromium. Screenshots go to TEST_UNDECLARED_OUTPUTS_DIR
# (bazel-testlogs/tests/server/dashboard_browser_test/test.outputs/).
set -euo pipefail
dir="${TEST_TMPDIR}/dashboard"
rm -rf "${dir}" && mkdir -p -m 0700 "${dir}"
token() { printf '%s-%s' "$1" "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"; }
export ADMIN_TOKEN="$(token admin)" ALICE_TOKEN="$(token alice)" BOB_TOKEN="$(token bob)"
(umask 077 && printf '%s admin admin\n%s alice user\n%s bob user\n' \
  "${ADMIN_TOKEN}" "${ALICE_TOKEN}" "${BOB_TOKEN}" >"${dir}/tokens")
server/slimtrain_server --listen 127.0.0.1:0 --port-file "${dir}/port" \
  --http-listen 127.0.0.1:0 --http-port-file "${dir}/http_port" \
  --data-dir "${dir}/data" --tokens "${dir}/tokens" --cpu-threads 1 \
  2>"${dir}/server.log" &
server=$!
trap 'kill ${server} 2>/dev/null; wait ${server} 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s "${dir}/port" && -s "${dir}/http_port" ]] && break; sleep 0.1; done
[[ -s "${dir}/port" && -s "${dir}/http_port" ]] || {
  echo "the server did not start (no --port-file or --http-port-file):"; cat "${dir}/server.log"; exit 1; }
grep -q "dashboard at http://127.0.0.1:$(cat "${dir}/http_port")/" "${dir}/server.log" || {
  echo "the server's log does not say 'dashboard at http://127.0.0.1:$(cat "${dir}/http_port")/':"
  cat "${dir}/server.log"; exit 1; }
export SLIMTRAIN_SERVER="127.0.0.1:$(cat "${dir}/port")"
export DASHBOARD_URL="http://127.0.0.1:$(cat "${dir}/http_port")"
export SCREENSHOT_DIR="${TEST_UNDECLARED_OUTPUTS_DIR:-${dir}/screenshots}"
export PYTHONPATH="client/python:client/python/gen:tests/testing"
if ! /usr/bin/python3 tests/server/dashboard_browser_test.py -v; then
  echo "--- the server's log (last 40 lines):"; tail -n 40 "${dir}/server.log"; exit 1
fi
