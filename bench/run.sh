#!/usr/bin/env bash
# bench/run.sh: schoolnet benchmarks (see bench/README.md).
#
#   bench/run.sh            build build-bench (Release) if needed, then
#                           a. poll benchmark: schoolnet-agent vs snmpbulkwalk
#                           b. ingest benchmark: schoolnet-collector vs raw SQLite
#                           c. a summary table
#                           then TLS, connections, the monthly report and,
#                           as root, the link probes (probe_bench.py)
#
# Environment: BENCH_BUILD (default <repo>/build-bench), BENCH_RUNS (poll
# runs, default 10), BENCH_REPEAT (ingest rounds, default 3; the median run
# is reported), BENCH_KEEP=1 keeps the temp dir (logs, outputs and DBs).
# Traffic goes to 127.0.0.1 only (the link probes: inside two network
# namespaces of their own). Everything started here is stopped by PID.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BUILD=${BENCH_BUILD:-$REPO/build-bench}
RUNS=${BENCH_RUNS:-10}
REPEAT=${BENCH_REPEAT:-3}	# ingest rounds; figures are the median run
JOBS=$(nproc 2>/dev/null || echo 2)

# Ingest scenarios: "CONNECTIONS REPORTS_PER_CONNECTION" (same total).
SCENARIOS=("50 200" "500 20")
WINDOW=64			# unacked reports per connection (agent default)
LOADGEN_TIMEOUT=120		# seconds, per loadgen run

[[ $REPEAT =~ ^[1-9]$ ]] || { echo "bench: BENCH_REPEAT must be 1..9" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 100 ]] ||
    { echo "bench: BENCH_RUNS must be 1..100" >&2; exit 2; }

T_START=$(date +%s)
say() { printf '[%3ds] %s\n' $(($(date +%s) - T_START)) "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }

WORK=""
COLLECTOR_PID=""

stop_collector() {
	# SIGTERM our collector by PID; SIGKILL after 20 s. Sets COLLECTOR_RC.
	local pid=$COLLECTOR_PID i
	COLLECTOR_RC=0
	[[ -n $pid ]] || return 0
	COLLECTOR_PID=""
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "collector (pid $pid) ignored SIGTERM for 20 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || COLLECTOR_RC=$?
}

cleanup() {
	local rc=$?
	stop_collector || true
	if [[ -n $WORK && -d $WORK ]]; then
		if [[ ${BENCH_KEEP:-0} == 1 ]]; then
			echo "bench: keeping $WORK (BENCH_KEEP=1)" >&2
		else
			rm -rf -- "$WORK"
		fi
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build -----------------------------------------------------------------

say "build: $BUILD (Release)"
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
	cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
	    -DSCHOOLNET_TESTS=OFF >"$BUILD.cmake.log" 2>&1 ||
	    { cat "$BUILD.cmake.log" >&2; die "cmake configure"; }
	rm -f "$BUILD.cmake.log"
fi
cmake --build "$BUILD" -j"$JOBS" --target schoolnet-agent \
    schoolnet-collector schoolnet-loadgen >/dev/null ||
    die "build (run: cmake --build $BUILD)"
AGENT=$BUILD/agent/schoolnet-agent
COLLECTOR=$BUILD/collector/schoolnet-collector
LOADGEN=$BUILD/bench/schoolnet-loadgen
for b in "$AGENT" "$COLLECTOR" "$LOADGEN"; do
	[[ -x $b ]] || die "not built: $b"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/schoolnet-bench.XXXXXX")

kv() { # kv KEY LINE: the value of KEY=VALUE in LINE
	local k=$1 line=$2 w
	for w in $line; do
		[[ $w == "$k="* ]] && { echo "${w#*=}"; return 0; }
	done
	echo "?"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }

# --- a. poll benchmark -----------------------------------------------------

say "poll benchmark: 1 school, 48-port switch on snmpsimd, $RUNS runs each"
if ! timeout 240 python3 "$HERE/poll_bench.py" --build "$BUILD" --runs "$RUNS" \
    2>&1 | tee "$WORK/poll.out" | sed 's/^/    /'; then
	die "poll benchmark (output above)"
fi
POLL=$(grep '^POLLRESULT ' "$WORK/poll.out" | tail -1)
[[ -n $POLL ]] || die "poll benchmark printed no POLLRESULT"

# --- b. ingest benchmark ---------------------------------------------------

free_tcp_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

listening() { # listening PORT: something LISTENs on 127.0.0.1:PORT
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' /proc/net/tcp
}

db_rows() { # db_rows DB TABLE
	python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM " + sys.argv[2]).fetchone()[0])' "$1" "$2"
}

db_bytes() { # total size of DB and its -wal/-shm
	du -cb -- "$1"* 2>/dev/null | awk 'END { print $1 }'
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

declare -A R	# R[KEY_REP_METRIC] per run, R[KEY_METRIC] of the median run

run_collector() { # KEY REP N M
	local key=$1 rep=$2 n=$3 m=$4 dir port conf hwm cpu rc i line rows
	dir=$WORK/$key-$rep
	mkdir -p "$dir"
	port=$(free_tcp_port)
	conf=$dir/collector.conf
	printf '[collector]\nlisten = 127.0.0.1:%s\ndatabase = %s/collector.db\ntls = off\n' \
	    "$port" "$dir" >"$conf"
	"$COLLECTOR" -c "$conf" -n >/dev/null || die "collector config $conf"
	"$COLLECTOR" -c "$conf" serve >"$dir/collector.log" 2>&1 &
	COLLECTOR_PID=$!
	for ((i = 0; i < 100; i++)); do
		listening "$port" && break
		kill -0 "$COLLECTOR_PID" 2>/dev/null ||
		    { tail -20 "$dir/collector.log" >&2; die "collector exited at start"; }
		sleep 0.1
	done
	listening "$port" || die "collector not listening on 127.0.0.1:$port after 10 s"
	set +e
	timeout $((LOADGEN_TIMEOUT + 30)) "$LOADGEN" -n "$n" -m "$m" -w "$WINDOW" \
	    -t "$LOADGEN_TIMEOUT" "127.0.0.1:$port" >"$dir/loadgen.out" 2>"$dir/loadgen.err"
	rc=$?
	set -e
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$COLLECTOR_PID/status" 2>/dev/null || echo 0)
	# utime + stime of all its threads (fields 14, 15 of /proc/PID/stat)
	cpu=$(sed 's/^.*) //' "/proc/$COLLECTOR_PID/stat" 2>/dev/null |
	    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }')
	if [[ $rc -ne 0 ]]; then
		sed 's/^/    /' "$dir/loadgen.out" >&2
		sed 's/^/    loadgen: /' "$dir/loadgen.err" | tail -20 >&2
		echo "    --- collector (pid $COLLECTOR_PID) log, last 30 lines:" >&2
		tail -30 "$dir/collector.log" | sed 's/^/    /' >&2
		die "loadgen exited $rc against the collector"
	fi
	stop_collector
	[[ $COLLECTOR_RC -eq 0 ]] || {
		tail -20 "$dir/collector.log" >&2
		die "collector exited $COLLECTOR_RC on SIGTERM"
	}
	if grep -q ': warn: \|: error: ' "$dir/collector.log"; then
		say "collector logged warnings/errors:"
		grep ': warn: \|: error: ' "$dir/collector.log" | head -10 | sed 's/^/    /'
	fi
	line=$(grep '^RESULT ' "$dir/loadgen.out")
	rows=$(db_rows "$dir/collector.db" port_rates)
	[[ $rows -eq $((n * m * 52)) ]] ||
	    die "collector DB holds $rows port_rates rows, want $((n * m * 52))"
	R[${key}_${rep}_sps]=$(kv samples_per_s "$line")
	R[${key}_${rep}_rps]=$(kv reports_per_s "$line")
	R[${key}_${rep}_sec]=$(kv seconds "$line")
	R[${key}_${rep}_lat]=$(sed -n 's/^ACK latency: *p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms.*/\1 \/ \2/p' "$dir/loadgen.out")
	R[${key}_${rep}_rss]=$((hwm / 1024))
	R[${key}_${rep}_cpu]=$cpu
	R[${key}_${rep}_lgcpu]=$(kv cpu_s "$line")
	R[${key}_${rep}_db]=$(db_bytes "$dir/collector.db")
	say "  collector ${n}x${m} #$rep: ${R[${key}_${rep}_sps]} samples/s, ${R[${key}_${rep}_sec]} s, CPU $cpu s, peak RSS ${R[${key}_${rep}_rss]} MiB, ACK p50/p99 ${R[${key}_${rep}_lat]} ms, DB $(mib "${R[${key}_${rep}_db]}") MiB ($rows rows checked)"
	[[ ${BENCH_KEEP:-0} == 1 ]] || rm -f "$dir"/collector.db*
}

run_raw() { # KEY REP N M RUN [PRAGMA]
	local key=$1 rep=$2 n=$3 m=$4 run=$5 pragma=${6:-} dir line rows
	local -a extra=()
	dir=$WORK/$key-$rep
	mkdir -p "$dir"
	[[ -n $pragma ]] && extra=(--pragma "$pragma")
	timeout $((LOADGEN_TIMEOUT + 30)) "$LOADGEN" -n "$n" -m "$m" -w "$run" \
	    -t "$LOADGEN_TIMEOUT" "${extra[@]}" --raw-sqlite "$dir/raw.db" \
	    >"$dir/loadgen.out" 2>"$dir/loadgen.err" ||
	    { cat "$dir/loadgen.out" "$dir/loadgen.err" >&2; die "loadgen --raw-sqlite"; }
	line=$(grep '^RESULT ' "$dir/loadgen.out")
	rows=$(db_rows "$dir/raw.db" port_rates)
	[[ $rows -eq $((n * m * 52)) ]] || die "raw DB holds $rows port_rates rows"
	R[${key}_${rep}_sps]=$(kv samples_per_s "$line")
	R[${key}_${rep}_rps]=$(kv reports_per_s "$line")
	R[${key}_${rep}_sec]=$(kv seconds "$line")
	R[${key}_${rep}_cpu]=$(kv cpu_s "$line")
	R[${key}_${rep}_rss]=$(($(kv rss_kb "$line") / 1024))
	R[${key}_${rep}_db]=$(db_bytes "$dir/raw.db")
	R[${key}_${rep}_lat]=""
	say "  raw ${n}x${m}, runs of $run${pragma:+, $pragma} #$rep: ${R[${key}_${rep}_sps]} samples/s, ${R[${key}_${rep}_sec]} s, CPU ${R[${key}_${rep}_cpu]} s ($rows rows checked)"
	[[ ${BENCH_KEEP:-0} == 1 ]] || rm -f "$dir"/raw.db*
}

median_run() { # KEY: copy the metrics of the run with the median samples/s
	local key=$1 rep mid met
	mid=$(for ((rep = 1; rep <= REPEAT; rep++)); do
		echo "${R[${key}_${rep}_sps]} $rep"
	done | sort -n | awk -v n="$REPEAT" 'NR == int((n + 1) / 2) { print $2 }')
	for met in sps rps sec cpu rss db lat lgcpu; do
		R[${key}_${met}]=${R[${key}_${mid}_${met}]:-}
	done
	R[${key}_range]=$(for ((rep = 1; rep <= REPEAT; rep++)); do
		echo "${R[${key}_${rep}_sps]}"
	done | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%d-%d", lo / 1000, hi / 1000 }')
}

read -r N1 M1 <<<"${SCENARIOS[0]}"
say "ingest benchmark: ${#SCENARIOS[@]} shapes against the collector (fresh DB each run) and raw SQLite, $REPEAT rounds, interleaved"
for ((rep = 1; rep <= REPEAT; rep++)); do
	say "round $rep/$REPEAT"
	for sc in "${SCENARIOS[@]}"; do
		read -r n m <<<"$sc"
		run_collector "c$n" "$rep" "$n" "$m"
	done
	for sc in "${SCENARIOS[@]}"; do
		read -r n m <<<"$sc"
		run_raw "r$n" "$rep" "$n" "$m" "$WINDOW"
	done
	# Context: a real county's steady state is one report per agent per
	# minute, i.e. round-robin over agents.
	run_raw rr "$rep" "$N1" "$M1" 1
	run_raw rrcache "$rep" "$N1" "$M1" 1 "PRAGMA cache_size = -65536"
done
for sc in "${SCENARIOS[@]}"; do
	read -r n m <<<"$sc"
	median_run "c$n"
	median_run "r$n"
done
median_run rr
median_run rrcache

# --- c. summary ------------------------------------------------------------

say "done in $(($(date +%s) - T_START)) s"
echo
echo "== schoolnet benchmark summary ($(nproc) cores, $(uname -r)) =="
echo
echo "Poll: one 48-port switch (52 interfaces) on snmpsimd, max-repetitions $(kv max_rep "$POLL"), median of $(kv runs "$POLL")"
printf '  %-44s %10s %6s\n' "" "ms/poll" "PDUs"
printf '  %-44s %10s %6s\n' "schoolnet-agent poll (in-process time)" "$(kv agent_ms "$POLL")" "$(kv agent_pdus "$POLL")"
printf '  %-44s %10s %6s\n' "schoolnet-agent poll (whole process)" "$(kv agent_wall_ms "$POLL")" "$(kv agent_pdus "$POLL")"
if [[ $(kv agent_ms_uncapped "$POLL") != "?" ]]; then
	printf '  %-44s %10s %6s\n' "  same, snmpsimd --max-varbinds=$(kv uncapped_max_varbinds "$POLL")" \
	    "$(kv agent_ms_uncapped "$POLL")" "$(kv agent_pdus_uncapped "$POLL")"
fi
printf '  %-44s %10s %6s\n' "snmpbulkwalk x17 + snmpget (18 processes)" "$(kv tools_ms "$POLL")" "$(kv tools_pdus "$POLL")"
printf '  %-44s %10s %6s\n' "ratio tools/agent (in-process; PDUs)" "$(kv time_ratio "$POLL")x" "$(kv pdu_ratio "$POLL")x"
printf '  %-44s %10s %6s\n' "ratio tools/agent (whole process)" "$(kv time_ratio_wall "$POLL")x" ""
echo
echo "Ingest: 52 interface samples per report, window $WINDOW, WAL + synchronous=FULL; median of $REPEAT runs"
row() { printf '  %-31s %9s %9s %9s %7s %6s %7s %15s %6s\n' "$@"; }
row "" "samples/s" "(range k)" "reports/s" "seconds" "CPU s" "RSS MiB" "ACK p50/p99 ms" "DB MiB"
line_for() { # KEY LABEL
	row "$2" "${R[${1}_sps]}" "${R[${1}_range]}" "${R[${1}_rps]}" "${R[${1}_sec]}" \
	    "${R[${1}_cpu]}" "${R[${1}_rss]}" "${R[${1}_lat]}" "$(mib "${R[${1}_db]}")"
}
for sc in "${SCENARIOS[@]}"; do
	read -r n m <<<"$sc"
	line_for "c$n" "collector ${n}x${m}"
done
for sc in "${SCENARIOS[@]}"; do
	read -r n m <<<"$sc"
	line_for "r$n" "raw SQLite ${n}x${m}"
done
line_for rr "raw ${N1}x${M1} round-robin"
line_for rrcache "  same, cache_size 64 MiB"
echo
printf '  %-31s %9s %20s\n' "ratio collector/raw" "samples/s" "CPU s (same work)"
for sc in "${SCENARIOS[@]}"; do
	read -r n m <<<"$sc"
	printf '  %-31s %9s %20s\n' "  ${n}x${m}" "$(ratio "${R[c${n}_sps]}" "${R[r${n}_sps]}")" \
	    "$(ratio "${R[c${n}_cpu]}" "${R[r${n}_cpu]}")"
done
lg=""
for sc in "${SCENARIOS[@]}"; do
	read -r n m <<<"$sc"
	lg+="${lg:+, }${R[c${n}_lgcpu]} s (${n}x${m})"
done
echo "  Collector CPU counts both of its threads; the loadgen client shared the"
echo "  same $(nproc) cores and used $lg of CPU."
echo
echo "  DESIGN.md scale: a county (300 schools x 50 ports / min) is 250 samples/s;"
echo "  a province (~20k schools) ~17k samples/s."

echo
say "TLS: ingest with TLS 1.3 (per-agent keys) against plaintext"
"$REPO/bench/tls_bench.sh" "$BUILD" 3

echo
say "memory: the collector holding 2000 agent connections"
python3 "$REPO/bench/conns_bench.py" "$BUILD" 2000

echo
say "monthly report: a synthetic county month (300 schools x 40 classrooms), every format"
python3 "$REPO/bench/report_bench.py" --build "$BUILD" --county-only

echo
if [[ $(id -u) -eq 0 ]] && command -v iperf3 >/dev/null; then
	say "link probes: the agent's throughput test against iperf3 at 80/500/1000 Mbit, its CPU and RSS at 1 Gbit (network namespaces)"
	python3 "$REPO/bench/probe_bench.py" --build "$BUILD" --runs 1
else
	say "link probes: skipped (bench/probe_bench.py needs root for its network namespaces, and iperf3)"
fi
