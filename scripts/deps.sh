#!/usr/bin/env bash
# deps.sh: install the Debian 12 packages schoolnet needs to build, test and
# run its demo, if any is missing, and the browser test's npm packages
# (tests/browser). Safe to run again; changes nothing when everything is
# there.
set -euo pipefail

packages=(
  # build
  gcc make cmake pkg-config
  libsnmp-dev libuv1-dev libcurl4-openssl-dev libsqlite3-dev
  libjansson-dev libinih-dev libcriterion-dev libcsv-dev libssl-dev libsystemd-dev
  libmicrohttpd-dev
  # tests and demo: real SNMP agents, tools, python for the harness
  snmpsim snmpd snmp sqlite3 python3 procps
  # alert receivers in tests: a real SMTP server
  python3-aiosmtpd
  # the monthly report in a real browser: render, screenshot, print to PDF
  chromium fonts-noto-cjk python3-pil
  # /metrics checked by Prometheus' own parser (promtool)
  prometheus
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer; openssl for test certs
  clang libclang-rt-14-dev openssl
)

# The network lab's packages (namespaces, tc, iperf3, the recording-host
# stand-ins): their own list, which tests/sim/netlab.py documents.
netlab_list="$(cd "$(dirname "$0")/.." && pwd)/tests/sim/netlab-packages.txt"
while read -r p _; do
  case "$p" in ''|'#'*) continue ;; esac
  packages+=("$p")
done < "$netlab_list"

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
# The dashboard's browser test runs on Node.js. A node already on the PATH
# (e.g. NodeSource's, which has its own npm) is kept: Debian's npm beside it
# would clash.
command -v node >/dev/null || missing+=(nodejs npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# tests/browser: playwright-core, pinned in package-lock.json. It drives
# Debian's chromium and never downloads a browser of its own.
browser="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
if [ ! -d "$browser/node_modules" ] || [ "$browser/package-lock.json" -nt "$browser/node_modules" ]; then
  command -v npm >/dev/null || { echo "deps: npm is missing (node is $(command -v node)): cannot install $browser's packages" >&2; exit 1; }
  echo "deps: npm ci in $browser"
  (cd "$browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  touch "$browser/node_modules"
fi
