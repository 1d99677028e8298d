#!/usr/bin/env bash
# tls_bench.sh: collector ingest with TLS 1.3 (per-agent PSK) against
# plaintext, same load, interleaved rounds; prints samples/s and the ratio.
#   bench/tls_bench.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
rounds=${2:-3}
conns=50
reports=200
collector=$build/collector/schoolnet-collector
loadgen=$build/bench/schoolnet-loadgen
[ -x "$collector" ] && [ -x "$loadgen" ] || { echo "tls_bench: build $build first" >&2; exit 1; }

dir=$(mktemp -d /tmp/schoolnet-tlsbench-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One key per simulated school b0001.., as `enroll` makes them.
keys=$dir/keys.txt
printf '[collector]\ndatabase = %s/keys.db\n' "$dir" >"$dir/keys.conf"
for i in $(seq 1 $conns); do
	"$collector" -c "$dir/keys.conf" enroll --school "$(printf 'b%04d' "$i")" |
	    awk -F' = ' '/^psk_identity/{id=$2} /^psk_key/{print id, $2}' >>"$keys"
done
echo "tls_bench: $conns agents x $reports reports x 52 interfaces, $rounds rounds"

run() { # mode round -> samples/s
	local mode=$1 port db conf extra=()
	port=$(free_port)
	db=$dir/$mode-$2.db
	cp "$dir/keys.db" "$db"
	conf=$dir/$mode.conf
	printf '[collector]\nlisten = 127.0.0.1:%s\ndatabase = %s\ntls = %s\n' \
	    "$port" "$db" "$mode" >"$conf"
	"$collector" -c "$conf" >"$dir/$mode-$2.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 50); do
		python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
		sleep 0.1
	done
	[ "$mode" = psk ] && extra=(--psk-file "$keys")
	"$loadgen" -n $conns -m $reports -t 120 "${extra[@]}" "127.0.0.1:$port" |
	    sed -n 's/^RESULT .*samples_per_s=\([0-9]*\).*/\1/p'
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

declare -a off psk
for r in $(seq 1 "$rounds"); do
	off+=("$(run off "$r")")
	psk+=("$(run psk "$r")")
	echo "  round $r: plaintext ${off[-1]} samples/s, TLS 1.3 PSK ${psk[-1]} samples/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_off=$(median "${off[@]}")
m_psk=$(median "${psk[@]}")
python3 -c "import sys; o, t = map(float, sys.argv[1:]); print('TLSRESULT plaintext=%d tls=%d ratio_tls_over_plain=%.2f' % (o, t, t / o))" "$m_off" "$m_psk"
