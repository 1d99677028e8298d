#!/usr/bin/env bash
# fuzz.sh: build the libFuzzer targets (fuzz/) with clang and run each for a
# bounded time on a copy of its corpus. Usage: scripts/fuzz.sh [SECONDS]
# (per target, default 30). Exits non-zero when a target crashed, leaked or
# timed out, after printing the input and the command that reproduces it.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-30}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: scripts/fuzz.sh [SECONDS per target]" >&2
	exit 2
fi
targets=(fuzz_wire fuzz_config fuzz_inventory fuzz_calendar)
build=build-fuzz

scripts/deps.sh

# libFuzzer comes with clang's runtime (Debian: clang, libclang-rt-14-dev).
probe=$(mktemp -d /tmp/schoolnet-fuzz-probe.XXXXXX)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);
int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)
{ (void)d; (void)n; return 0; }' >"$probe/t.c"
if ! command -v clang >/dev/null ||
	! timeout 60 clang -fsanitize=fuzzer,address,undefined "$probe/t.c" \
		-o "$probe/t" >/dev/null 2>&1; then
	echo "fuzz: skipped: clang with libFuzzer not installed" \
		"(Debian: apt-get install clang libclang-rt-14-dev)"
	exit 0
fi

# A build directory configured with another compiler cannot switch to clang.
if [ -f "$build/CMakeCache.txt" ] &&
	! grep -q '^CMAKE_C_COMPILER:.*clang' "$build/CMakeCache.txt"; then
	rm -rf "$build"
fi
jobs=$(nproc 2>/dev/null || echo 2)
echo "=== fuzz build ($build)"
CC=clang timeout 600 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DSCHOOLNET_FUZZ=ON -DSCHOOLNET_TESTS=OFF >/dev/null
timeout 1200 cmake --build "$build" -j"$jobs" --target "${targets[@]}" make_seeds

work=$(mktemp -d /tmp/schoolnet-fuzz.XXXXXX)
# The targets write their input to a file per run: keep that in memory.
scratch=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch=/dev/shm
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}

status=0
summary=()
echo "=== fuzzing, $secs s per target (work in $work)"
for t in "${targets[@]}"; do
	bin=$PWD/$build/fuzz/$t
	dir=$work/$t
	mkdir -p "$dir/corpus" "$dir/crash"
	cp -r "fuzz/corpus/$t/." "$dir/corpus/"
	# Fresh frames from the real encoders, in case the protocol moved on.
	[ "$t" = fuzz_wire ] && "$build/fuzz/make_seeds" "$dir/corpus" >/dev/null
	before=$(find "$dir/corpus" -type f | wc -l)
	args=(-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10
		-print_final_stats=1 -artifact_prefix="$dir/crash/")
	[ -f "fuzz/$t.dict" ] && args+=(-dict="fuzz/$t.dict")
	rc=0
	# -max_total_time is checked between inputs; the outer bound catches
	# a target that hangs in a way -timeout does not see.
	TMPDIR=$scratch timeout -k 10 $((secs + 120)) \
		"$bin" "${args[@]}" "$dir/corpus" >"$dir/log" 2>&1 || rc=$?
	after=$(find "$dir/corpus" -type f | wc -l)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
	[ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$dir/log" | tail -1)
	[ -n "$runs" ] || runs="?"
	artifact=$(find "$dir/crash" -type f | head -1)
	if [ "$rc" -eq 0 ] && [ -z "$artifact" ]; then
		line="$t: $runs runs in $secs s, no crash ($((after - before)) new inputs in $dir/corpus)"
	else
		status=1
		what="crash"
		case "$(basename "${artifact:-none}")" in
		leak-*) what="leak" ;;
		timeout-*) what="timeout" ;;
		oom-*) what="out of memory" ;;
		esac
		[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && what="hang (killed after $((secs + 120)) s)"
		line="$t: $what after $runs runs (exit $rc)"
		echo "--- $t: last lines of $dir/log"
		grep -v '^#[0-9]' "$dir/log" | tail -40
		if [ -n "$artifact" ]; then
			line+="; input: $artifact; reproduce: $bin $artifact"
		else
			line+="; see $dir/log"
		fi
	fi
	echo "$line"
	summary+=("$line")
done

echo "=== fuzz summary"
printf '%s\n' "${summary[@]}"
echo "(to keep new inputs: $build/fuzz/TARGET -merge=1 fuzz/corpus/TARGET $work/TARGET/corpus)"
exit $status
