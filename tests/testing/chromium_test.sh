#!/usr/bin/env bash
# chromium.py and png_check.py alone, with Debian's python3 and Chromium.
set -euo pipefail
PYTHONPATH="tests/testing" /usr/bin/python3 tests/testing/chromium_test.py -v
