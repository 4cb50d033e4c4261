#!/usr/bin/env bash
# bench/dashboard_screenshots.sh [OUT]
#
# Screenshots of the dashboard for docs/USER_GUIDE.md: builds the server,
# starts it on 127.0.0.1 with a fresh database and admin token (CPU jobs,
# one thread each), submits a few jobs with the Python client and writes
# OUT/dashboard-{login,jobs,job,plan,devices}.png (default OUT: docs/images)
# with headless Chromium (tests/testing/chromium.py). About a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-docs/images}")"
[[ -x /usr/bin/chromium ]] || { echo "dashboard_screenshots: /usr/bin/chromium is missing (tools/setup.sh)" >&2; exit 1; }
bazel build --jobs=2 //server:slimtrain_server //server:slimtrain_worker //client/python:stubs \
  --color=no --curses=no --noshow_progress >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/slimtrain-screenshots.XXXXXX")
bazel-bin/server/slimtrain_server --listen 127.0.0.1:0 --port-file "${work}/port" \
  --http-listen 127.0.0.1:0 --http-port-file "${work}/http_port" --data-dir "${work}" --cpu-threads 1 \
  2>"${work}/server.log" &
server=$!
trap 'kill ${server} 2>/dev/null; wait ${server} 2>/dev/null; rm -rf "${work}"' EXIT
for _ in $(seq 100); do [[ -s "${work}/port" && -s "${work}/http_port" ]] && break; sleep 0.1; done
[[ -s "${work}/port" && -s "${work}/http_port" ]] || { cat "${work}/server.log" >&2; exit 1; }
mkdir -p "${out}"
SLIMTRAIN_SERVER="127.0.0.1:$(cat "${work}/port")" SLIMTRAIN_TOKEN_FILE="${work}/tokens" \
  DASHBOARD_URL="http://127.0.0.1:$(cat "${work}/http_port")" OUT="${out}" \
  PYTHONPATH="client/python:bazel-bin/client/python/gen:tests/testing" \
  /usr/bin/python3 bench/dashboard_screenshots.py
