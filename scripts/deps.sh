#!/usr/bin/env bash
# deps.sh: install the Debian 12 packages schoolnet needs to build, test and
# run its demo, if any is missing. Safe to run again; changes nothing when
# everything is there.
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
  clang libclang-rt-14-dev openssl iproute2
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
