#!/bin/sh
# Dashboard benchmark (figures only, never a verdict): tests/bench/dashboard.sh BUILD_DIR
# 200,000 states (BENCH_DASH_AGENTS=10000 agents x 20 checks) seeded by SQL, then the
# overview's requests over HTTPS and, with chromium + chromedriver, the first page load
# in the browser. See tests/bench/dashboard.py.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
exec timeout 900 python3 "$HERE/dashboard.py" --build "${1:-build}"
