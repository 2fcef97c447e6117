#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Block profile benchmark: what the block profile's BPF programs cost a target that switches
# about 100,000 times a second (tests/targets/pingpong: two threads handing a token through
# pipes, every hand-over a wait), side by side with bcc's offcputime (a stack per wait, summed
# in the kernel):
#   - the time of a fixed number of round trips: alone, with profd's block profile attached at
#     the default rate (10ms) and at rate 1 (every wait kept, a stack copied per wait), and
#     under offcputime (bcc; it needs kprobes, which some kernels lack) or its bpftrace
#     equivalent (a frame-pointer user stack per switch-out, summed per stack in the kernel);
#     wall and CPU time as ratios to the unprofiled run (median of BENCH_REPEAT runs each);
#   - the BPF run time per context switch as the kernel measures it (kernel.bpf_stats_enabled).
# Env: O (build dir), BENCH_ROUNDS (round trips per run, default 200000), BENCH_REPEAT (5).
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
O="${O:-build}"
case "$O" in /*) B="$O" ;; *) B="$ROOT/$O" ;; esac
PROFD="$B/profd"
TARGET="$B/tests/targets/pingpong"
ROUNDS="${BENCH_ROUNDS:-200000}"
REPEAT="${BENCH_REPEAT:-5}"
TMP="$(mktemp -d /tmp/profd-bench-block.XXXXXX)"
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}" PPROF_TMPDIR="$TMP/pprof"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench_block: needs root (BPF)"; exit 77; }
[ -x "$TARGET" ] || { echo "bench_block: $TARGET not built (make test-bins)"; exit 77; }
# copies: a rebuild during the run must not change what is measured
cp "$PROFD" "$TARGET" "$TMP"/ && PROFD="$TMP/profd" TARGET="$TMP/pingpong"
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

# run MODE: one run of ROUNDS round trips; prints its elapsed seconds (and, for profd, the BPF
# ns per program run and runs per second from the profile's cost comment, to $TMP/cost)
run() {
	local mode=$1 tp pp cp
	rm -f "$TMP/go"
	"$TARGET" "$TMP/go" "$ROUNDS" linger >"$TMP/t.out" &
	tp=$!
	pids+=("$tp")
	case "$mode" in
	profd*)
		local rate=10ms
		[ "$mode" = profd1 ] && rate=1
		"$PROFD" --pid "$tp" --addr 127.0.0.1:0 --ready-file "$TMP/ready" --block-rate "$rate" \
			--log-level debug >/dev/null 2>"$TMP/profd.err" &
		pp=$!
		pids+=("$pp")
		wait_file "$TMP/ready" . 20 || { echo "profd did not start" >&2; return 1; }
		curl -s -o "$TMP/block.pb.gz" "http://$(cat "$TMP/ready")/debug/pprof/block?seconds=60" &
		cp=$!
		pids+=("$cp")
		wait_file "$TMP/profd.err" 'block profiling of process .* attached' 20 "$pp" || return 1
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
	while ! grep -q '^elapsed' "$TMP/t.out" && kill -0 "$tp" 2>/dev/null; do sleep 0.1; done
	awk '/^elapsed/ { print $2, $5 }' "$TMP/t.out"
	case "$mode" in
	profd*)
		curl -s -o "$TMP/b.pb.gz" "http://$(cat "$TMP/ready")/debug/pprof/block" # the cost so far
		go tool pprof -raw "$TMP/b.pb.gz" 2>/dev/null |
			sed -n 's/.*ran \([0-9]*\) times .* for \([0-9]*\) ns each.*over \([0-9.]*\) s attached.*/\1 \2 \3/p' \
			>>"$TMP/cost.$mode"
		kill "$pp" "$cp" 2>/dev/null; wait "$pp" "$cp" 2>/dev/null
		rm -f "$TMP/ready"
		;;
	offcpu | bpftrace) kill -INT "$pp" 2>/dev/null; wait "$pp" 2>/dev/null ;;
	esac
	kill "$tp" 2>/dev/null; wait "$tp" 2>/dev/null
	return 0
}

modes="none profd profd1"
[ -n "$OFFCPU" ] && modes="$modes offcpu"
[ -n "$BPFTRACE" ] && modes="$modes bpftrace"
for m in $modes; do : >"$TMP/times.$m"; done
for ((i = 0; i < REPEAT; i++)); do
	for m in $modes; do run "$m" >>"$TMP/times.$m" || echo "run $m failed" >&2; done
done
col() { awk -v c="$1" '{ print $c }' "$2" | median; }
base_w=$(col 1 "$TMP/times.none")
base_c=$(col 2 "$TMP/times.none")
printf '%-44s %9s %7s %9s %7s %11s\n' "$ROUNDS round trips (2 waits each)" "wall s" "ratio" "cpu s" "ratio" "waits/s"
for m in $modes; do
	[ -s "$TMP/times.$m" ] || continue
	w=$(col 1 "$TMP/times.$m")
	c=$(col 2 "$TMP/times.$m")
	case $m in
	none) name="alone" ;;
	profd) name="profd block, --block-rate 10ms (default)" ;;
	profd1) name="profd block, --block-rate 1 (every wait)" ;;
	offcpu) name="bcc offcputime" ;;
	bpftrace) name="bpftrace offcputime equivalent" ;;
	esac
	printf '%-44s %9.3f %7.3f %9.3f %7.3f %11.0f\n' "$name" "$w" "$(awk -v a="$w" -v b="$base_w" 'BEGIN { print a / b }')" \
		"$c" "$(awk -v a="$c" -v b="$base_c" 'BEGIN { print a / b }')" \
		"$(awk -v t="$w" -v r="$ROUNDS" 'BEGIN { print 2 * r / t }')"
	[ "$m" = none ] || printf '%-44s %+.0f ns of the target'"'"'s CPU per wait\n' "" \
		"$(awk -v a="$c" -v b="$base_c" -v r="$ROUNDS" 'BEGIN { print (a - b) * 1e9 / (2 * r) }')"
done
for m in profd profd1; do
	[ -s "$TMP/cost.$m" ] || continue
	awk -v m="$m" '{ r += $1; ns += $1 * $2; s += $3 } END {
		printf "%s: BPF programs ran %.0f times/s (every context switch and syscall exit on the machine), %.0f ns each on average (the kernel'"'"'s count)\n", m, r / s, ns / r }' "$TMP/cost.$m"
done
echo "raw (wall cpu): $(for m in $modes; do printf '%s: %s | ' "$m" "$(tr '\n' ' ' <"$TMP/times.$m")"; done)"
