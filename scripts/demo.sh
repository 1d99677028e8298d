#!/usr/bin/env bash
# demo.sh: build schoolnet and run a simulated 12-school county on loopback.
#
#   scripts/demo.sh           build, start everything, print a summary, keep
#                             running (a status line per poll) until Ctrl-C
#   scripts/demo.sh --once    the same, but exit after the summary (CI)
#
# Other options go to tests/sim/demo.py (--schools N, --seed N,
# --poll-interval S, --dir DIR).  Env: SCHOOLNET_BUILD (build dir, default
# build), SCHOOLNET_DEMO_DIR (keep the county there), SCHOOLNET_KEEP=1.
set -euo pipefail

cd "$(dirname "$0")/.."
build=${SCHOOLNET_BUILD:-build}

scripts/deps.sh

if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build" -j2

export SCHOOLNET_BUILD="$build"
exec python3 tests/sim/demo.py "$@"
