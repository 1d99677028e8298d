#!/usr/bin/env bash
# test.sh: install what is missing, build normally and with ASan+UBSan, and
# run every unit and integration test through ctest: all of them in the
# release build, all but the network-lab ones (label `lab`) in the ASan build.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
status=0
for variant in release asan; do
  dir=build-test-$variant
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
  [ "$variant" = asan ] && flags=(-DCMAKE_BUILD_TYPE=Debug -DSCHOOLNET_SANITIZE=ON)
  echo "=== $variant build ($dir)"
  cmake -S . -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs"
  echo "=== $variant tests"
  # The network-lab tests (ctest label `lab`, tests/integration/netlab.cmake:
  # namespaces, tc, iperf3 at up to 1 Gbit/s) run in the release build only:
  # they measure rates and RTTs, which ASan distorts, and running them twice
  # would take the whole command past its 15-minute budget on 2 cores.
  only=()
  [ "$variant" = asan ] && only=(-LE lab)
  if ! (cd "$dir" && ctest --output-on-failure --timeout 300 -j"$jobs" "${only[@]}"); then
    status=1
  fi
done
echo "=== fuzz (${SCHOOLNET_FUZZ_SECONDS:-20} s per target)"
scripts/fuzz.sh "${SCHOOLNET_FUZZ_SECONDS:-20}" || status=1
exit $status
