#!/bin/bash
# The server binary references no oneDNN symbol and needs no oneDNN library:
# the CPU's cost model is planned in slimtrain_worker --plan. The worker, for
# contrast, must reference it (else this test could not fail).
set -u
server="$1"
worker="$(dirname "$1")/slimtrain_worker"
fail=0
if nm -D --undefined-only "${server}" | grep -q ' dnnl_'; then
  echo "FAIL: ${server} references oneDNN:"; nm -D --undefined-only "${server}" | grep ' dnnl_' | head -5; fail=1
fi
if readelf -d "${server}" | grep -q 'libdnnl'; then
  echo "FAIL: ${server} needs libdnnl:"; readelf -d "${server}" | grep libdnnl; fail=1
fi
if ! nm -D --undefined-only "${worker}" | grep -q ' dnnl_'; then
  echo "FAIL: ${worker} references no oneDNN symbol: the check above proves nothing"; fail=1
fi
[[ ${fail} -eq 0 ]] && echo "PASS: the server links no oneDNN; the worker does"
exit ${fail}
