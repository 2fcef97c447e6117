#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Mutex profile benchmark: what the mutex profile's BPF programs (futex syscall tracepoints)
# cost a target whose every lock is a contended futex wait (tests/targets/lock_pingpong: two
# threads handing a baton through two pthread mutexes, tens of thousands of contended waits a
# second), side by side with bcc's offcputime on the same target (a stack per off-CPU wait,
# summed in the kernel: what one would otherwise use to see lock waits; its bpftrace equivalent
# where the kernel has no kprobes for bcc):
#   - the time of a fixed number of round trips: alone, with profd's mutex profile attached at
#     the default rate (10) and at rate 1 (every contended unlock keeps its stack), and under
#     offcputime (or bpftrace); wall and CPU time as ratios to the unprofiled run (median of BENCH_REPEAT runs);
#   - the added CPU per contended futex wait (the waits counted by profd's program), and the BPF
#     run time per program run as the kernel measures it (kernel.bpf_stats_enabled).
# Light: one target of two threads at a time; about a minute, plus the peers' start-up (bpftrace
# takes tens of seconds to attach on a loaded machine).
# Env: O (build dir), BENCH_ROUNDS (round trips per run, default 100000), BENCH_REPEAT (3).
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
O="${O:-build}"
case "$O" in /*) B="$O" ;; *) B="$ROOT/$O" ;; esac
PROFD="$B/profd"
TARGET="$B/tests/targets/lock_pingpong"
ROUNDS="${BENCH_ROUNDS:-100000}"
REPEAT="${BENCH_REPEAT:-3}"
TMP="$(mktemp -d /tmp/profd-bench-mutex.XXXXXX)"
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}" PPROF_TMPDIR="$TMP/pprof"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench_mutex: needs root (BPF)"; exit 77; }
[ -x "$TARGET" ] || { echo "bench_mutex: $TARGET not built (make test-bins)"; exit 77; }
command -v go >/dev/null || { echo "bench_mutex: needs go (go tool pprof reads profd's cost)"; exit 77; }
# copies: a rebuild during the run must not change what is measured
cp "$PROFD" "$TARGET" "$TMP"/ && PROFD="$TMP/profd" TARGET="$TMP/lock_pingpong"
source "$ROOT/tests/bench/offcpu.sh"

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
wait_file() { # file pattern seconds [pid that must stay alive]
	for ((k = 0; k < $3 * 10; k++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		[ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}

# run MODE: one run of ROUNDS round trips; prints its wall and CPU seconds (and, for profd, the
# BPF runs, ns per run, seconds attached and lock waits from the profile's cost comment, to
# $TMP/cost.MODE)
run() {
	local mode=$1 tp pp cp
	rm -f "$TMP/go"
	"$TARGET" "$TMP/go" "$ROUNDS" linger >"$TMP/t.out" &
	tp=$!
	pids+=("$tp")
	case "$mode" in
	profd*)
		local rate=10
		[ "$mode" = profd1 ] && rate=1
		"$PROFD" --pid "$tp" --addr 127.0.0.1:0 --ready-file "$TMP/ready" --mutex-rate "$rate" \
			--log-level debug >/dev/null 2>"$TMP/profd.err" &
		pp=$!
		pids+=("$pp")
		wait_file "$TMP/ready" . 20 || { echo "profd did not start" >&2; return 1; }
		curl -s -o "$TMP/mutex.pb.gz" "http://$(cat "$TMP/ready")/debug/pprof/mutex?seconds=60" &
		cp=$!
		pids+=("$cp")
		wait_file "$TMP/profd.err" 'mutex profiling of process .* attached' 20 "$pp" || return 1
		;;
	bpftrace)
		"$BPFTRACE" -e "$(offcpu_bpftrace_prog "$tp")" >"$TMP/offcpu.out" 2>&1 &
		pp=$!
		pids+=("$pp")
		wait_file "$TMP/offcpu.out" 'Tracing' 120 "$pp" || { echo "bpftrace did not start" >&2; return 1; }
		;;
	offcpu)
		BCC_KERNEL_SOURCE=$BCC "$OFFCPU" -p "$tp" 600 >"$TMP/offcpu.out" 2>&1 &
		pp=$!
		pids+=("$pp")
		wait_file "$TMP/offcpu.out" 'Tracing' 120 "$pp" || { echo "offcputime did not start" >&2; return 1; }
		;;
	esac
	touch "$TMP/go"
	while ! grep -q '^elapsed' "$TMP/t.out" 2>/dev/null && kill -0 "$tp" 2>/dev/null; do sleep 0.1; done
	awk '/^elapsed/ { print $2, $5 }' "$TMP/t.out"
	case "$mode" in
	profd*)
		curl -s -o "$TMP/m.pb.gz" "http://$(cat "$TMP/ready")/debug/pprof/mutex" # the cost so far
		go tool pprof -raw "$TMP/m.pb.gz" 2>/dev/null |
			sed -n 's/.*ran \([0-9]*\) times .* for \([0-9]*\) ns each.*over \([0-9.]*\) s attached; the target.s threads waited for locks \([0-9]*\) times.*/\1 \2 \3 \4/p' \
			>>"$TMP/cost.$mode"
		kill "$pp" "$cp" 2>/dev/null; wait "$pp" "$cp" 2>/dev/null
		rm -f "$TMP/ready"
		;;
	offcpu | bpftrace)
		# they print their maps at SIGINT; bounded: a tool still printing after 20 s is killed
		kill -INT "$pp" 2>/dev/null
		for ((k = 0; k < 200; k++)); do kill -0 "$pp" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pp" 2>/dev/null; wait "$pp" 2>/dev/null
		;;
	esac
	kill "$tp" 2>/dev/null; wait "$tp" 2>/dev/null
	return 0
}

modes="none profd profd1"
[ -n "$OFFCPU" ] && modes="$modes offcpu"
[ -n "$BPFTRACE" ] && modes="$modes bpftrace"
for m in $modes; do : >"$TMP/times.$m"; : >"$TMP/cost.$m"; done
for ((i = 0; i < REPEAT; i++)); do
	for m in $modes; do run "$m" >>"$TMP/times.$m" || echo "run $m failed" >&2; done
done
col() { awk -v c="$1" '{ print $c }' "$2" | median; }
base_w=$(col 1 "$TMP/times.none")
base_c=$(col 2 "$TMP/times.none")
# contended futex waits per run, as profd's program counted them (else two per round trip)
waits=$(cat "$TMP/cost.profd" "$TMP/cost.profd1" | awk '{ print $4 }' | median)
[ -n "$waits" ] && [ "$waits" != 0 ] || waits=$((2 * ROUNDS))
echo "$ROUNDS round trips, $waits contended futex waits per run (counted by profd's program)"
printf '%-40s %9s %7s %9s %7s %14s\n' "" "wall s" "ratio" "cpu s" "ratio" "+ns/wait (cpu)"
declare -A added
for m in $modes; do
	[ -s "$TMP/times.$m" ] || continue
	w=$(col 1 "$TMP/times.$m")
	c=$(col 2 "$TMP/times.$m")
	case $m in
	none) name="alone" ;;
	profd) name="profd mutex, --mutex-rate 10 (default)" ;;
	profd1) name="profd mutex, --mutex-rate 1 (every one)" ;;
	offcpu) name="bcc offcputime" ;;
	bpftrace) name="bpftrace offcputime equivalent" ;;
	esac
	added[$m]=$(awk -v a="$c" -v b="$base_c" -v n="$waits" 'BEGIN { print (a - b) * 1e9 / n }')
	printf '%-40s %9.3f %7.3f %9.3f %7.3f %+14.0f\n' "$name" "$w" "$(awk -v a="$w" -v b="$base_w" 'BEGIN { print a / b }')" \
		"$c" "$(awk -v a="$c" -v b="$base_c" 'BEGIN { print a / b }')" "${added[$m]}"
done
for m in profd profd1; do
	[ -s "$TMP/cost.$m" ] || continue
	awk -v m="$m" '{ r += $1; ns += $1 * $2; s += $3; w += $4 } END {
		printf "%s: BPF programs ran %.0f times/s (every futex call on the machine), %.0f ns each on average, %.0f ns per contended wait of the target (the kernel'"'"'s count)\n", m, r / s, ns / r, ns / w }' "$TMP/cost.$m"
done
for peer in offcpu bpftrace; do
	[ -s "$TMP/times.$peer" ] || continue
	for m in profd profd1; do
		[ -s "$TMP/times.$m" ] || continue
		echo "$m / $peer: wall $(awk -v a="$(col 1 "$TMP/times.$m")" -v b="$(col 1 "$TMP/times.$peer")" 'BEGIN { printf "%.3f", a / b }'), added CPU per wait $(awk -v a="${added[$m]}" -v b="${added[$peer]}" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')"
	done
done
echo "raw (wall cpu): $(for m in $modes; do printf '%s: %s | ' "$m" "$(tr '\n' ' ' <"$TMP/times.$m")"; done)"
