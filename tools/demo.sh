#!/usr/bin/env bash
# tools/demo.sh — the main job: set up, build, start a slimtrain server on
# 127.0.0.1 with a fresh database and token, plan ResNet-164's memory under
# every strategy, train the Fashion-MNIST ResNet with approx4 through the
# server while watching it, take a screenshot of the dashboard's jobs page
# with headless Chromium (skipped, and said, without Chromium), download and
# score the weights, stop the server.
# Says what happens at each step; exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
fail() { printf '\ndemo: FAILED at: %s\n' "$*" >&2; exit 1; }

step "1. setup: installing missing Debian packages (tools/setup.sh)"
tools/setup.sh

step "2. build: everything, with Bazel (offline)"
log=$(mktemp)
work=$(mktemp -d "${TMPDIR:-/tmp}/slimtrain-demo.XXXXXX")
server_pid=""
cleanup() {
  rm -f "${log}"
  if [[ -n "${server_pid}" ]] && kill -0 "${server_pid}" 2>/dev/null; then kill "${server_pid}"; fi
}
trap cleanup EXIT
if ! bazel build //... --color=no --curses=no --noshow_progress >"${log}" 2>&1; then
  tail -n 30 "${log}"
  fail "the build (above)"
fi
grep -E '^INFO: Elapsed' "${log}" | head -n 1
echo "CUDA targets compiled: $(tools/cuda_status.sh)"
slimtrain=bazel-bin/client/slimtrain

step "3. GPUs: what this machine offers (engine/cuda:gpu_probe)"
bazel-bin/engine/cuda/gpu_probe

step "4. server: starting slimtrain_server on 127.0.0.1 with a fresh database and token in ${work}"
bazel-bin/server/slimtrain_server --listen 127.0.0.1:0 --port_file "${work}/port" --data_dir "${work}" \
  --http-listen 127.0.0.1:0 --http-port-file "${work}/http_port" 2>"${work}/server.log" &
server_pid=$!
for _ in $(seq 100); do [[ -s "${work}/port" && -s "${work}/http_port" ]] && break; sleep 0.1; done
[[ -s "${work}/port" && -s "${work}/http_port" ]] || { cat "${work}/server.log"; fail "starting the server"; }
cat "${work}/server.log"
export SLIMTRAIN_SERVER="127.0.0.1:$(cat "${work}/port")" SLIMTRAIN_TOKEN_FILE="${work}/tokens"
dashboard="http://127.0.0.1:$(cat "${work}/http_port")/"
echo "the client reaches it with SLIMTRAIN_SERVER=${SLIMTRAIN_SERVER} SLIMTRAIN_TOKEN_FILE=${SLIMTRAIN_TOKEN_FILE}"
echo "the dashboard: ${dashboard} (log in with the first token in ${SLIMTRAIN_TOKEN_FILE})"

step "5. plan: ResNet-164 (CIFAR, batch 128) under every strategy, computed by the server"
"${slimtrain}" plan --server "${SLIMTRAIN_SERVER}" --model zoo:resnet164 --batch 128 || fail "plan"

step "6. budget: which strategy fits ResNet-164 at batch 128 in 1 GiB (auto)"
"${slimtrain}" plan --server "${SLIMTRAIN_SERVER}" --model zoo:resnet164 --batch 128 --strategies auto \
  --budget 1GiB || fail "auto"

step "7. train: submitting the Fashion-MNIST ResNet with approx4 (1 epoch) and watching it to the end"
"${slimtrain}" submit --model zoo:fmnist_resnet --dataset fashion-mnist --strategy approx4 --epochs 1 \
  --batch 128 --lr 0.1 --nesterov --crop-padding 2 --flip --request-id demo-fmnist-approx4 --wait \
  || fail "the training job did not succeed"
job=$("${slimtrain}" list --limit 1 --format json | sed -n 's/.*"id": "\(job-[0-9]*\)".*/\1/p' | head -n 1)
state=$("${slimtrain}" status "${job}" --format json | sed -n 's/.*"state": "\([A-Z]*\)".*/\1/p')
echo "final state of ${job}: ${state}"
[[ "${state}" == "SUCCEEDED" ]] || fail "the job ended ${state}"

step "8. dashboard: the jobs page at ${dashboard}jobs, in headless Chromium"
if [[ -x /usr/bin/chromium ]]; then
  shot="${work}/dashboard-jobs.png"
  /usr/bin/python3 tests/testing/chromium.py screenshot "${dashboard}jobs" "${shot}" \
    --login-token-file "${SLIMTRAIN_TOKEN_FILE}" --wait-for "tr.job[data-job-id='${job}']" \
    || fail "the screenshot of ${dashboard}jobs"
  (cd tests/testing && /usr/bin/python3 png_check.py "${shot}") >/dev/null || fail "the screenshot is blank"
  echo "screenshot of the jobs page, listing ${job}: ${shot}"
else
  echo "no screenshot: /usr/bin/chromium is not installed (Debian's package 'chromium'); the dashboard is at ${dashboard}"
fi

step "9. download: the trained weights as safetensors (PyTorch state_dict names)"
weights="${work}/${job}.safetensors"
"${slimtrain}" download "${job}" --output "${weights}" || fail "download"
"${slimtrain}" eval --model zoo:fmnist_resnet --weights "${weights}" --dataset fashion-mnist || fail "eval"

step "10. stop: SIGTERM, the server shuts down gracefully"
kill -TERM "${server_pid}"
wait "${server_pid}" && status=0 || status=$?
server_pid=""
tail -n 2 "${work}/server.log"
[[ ${status} -eq 0 ]] || fail "the server exited with ${status}"

step "done: every step above ran; the job's files are in ${work}"
