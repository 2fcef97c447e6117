#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fd profile benchmark: what the fd profile costs a target that does nothing but open and close
# a file (tests/targets/fd_sites --bench: open("/dev/null") + close in a loop, the worst case:
# every call creates a descriptor), as its throughput:
#   - alone; with profd attached to it (the fd profile with --fd always; nothing else attached);
#     with profd attached to another process (the cost of the syscall tracepoints on a bystander);
#   - under the peers: a bpftrace fd-leak tracker (a user stack per open kept in a map until its
#     close, frame pointers only) and bcc's opensnoop (an event per open to user space) when
#     they run here;
#   - profd's own figure: BPF ns per descriptor created, from /metrics.
# Ratios are to the target alone: its throughput (wall) and its CPU time per open and close
# (user + system, which a competing load on the machine moves less); medians of BENCH_REPEAT
# runs, the modes interleaved. Light: one core,
# BENCH_SECONDS (default 1.5) per run, about 50 s in all. Env: O (build dir), BENCH_SECONDS,
# BENCH_REPEAT (5).
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
O="${O:-build}"
case "$O" in /*) B="$O" ;; *) B="$ROOT/$O" ;; esac
PROFD="$B/profd"
TARGET="$B/tests/targets/fd_sites"
SECS="${BENCH_SECONDS:-1.5}"
REPEAT="${BENCH_REPEAT:-5}"
TMP="$(mktemp -d /tmp/profd-bench-fd.XXXXXX)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench_fd: needs root (BPF)"; exit 77; }
[ -x "$TARGET" ] || { echo "bench_fd: $TARGET not built (make test-bins)"; exit 77; }
cp "$PROFD" "$TARGET" "$TMP"/ && PROFD="$TMP/profd" TARGET="$TMP/fd_sites"
BPFTRACE=$(command -v bpftrace || true)
OPENSNOOP=$(command -v opensnoop-bpfcc || true)

# BCC needs kernel headers; Debian's common + arch packages merged into one tree (as bench_heap.sh)
bcc_headers() {
	local m=/tmp/profd-bcc-headers common arch
	[ -d "$m/include" ] && { echo "$m"; return 0; }
	common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | tail -1)
	arch=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | tail -1)
	[ -n "$common" ] && [ -n "$arch" ] || return 1
	mkdir -p "$m" && cp -a "$common"/. "$m"/ && cp -a --remove-destination "$arch"/. "$m"/ && echo "$m"
}
[ -n "$OPENSNOOP" ] && { BCC=$(bcc_headers) || OPENSNOOP=; }

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
wait_file() { # file pattern seconds [pid that must stay alive]
	for ((k = 0; k < $3 * 10; k++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		[ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}

# run MODE: one run; prints the target's opens per second and its CPU ns per open
run() {
	local mode=$1 tp pp="" other="" who
	rm -f "$TMP/go" "$TMP/ready"
	"$TARGET" --bench "$SECS" "$TMP/go" >"$TMP/t.out" &
	tp=$!
	pids+=("$tp")
	wait_file "$TMP/t.out" '^ready' 10 "$tp" || { echo "the target did not start" >&2; return 1; }
	case "$mode" in
	profd | profd_other)
		who=$tp
		if [ "$mode" = profd_other ]; then
			sleep 600 &
			other=$!
			pids+=("$other")
			who=$other
		fi
		"$PROFD" --pid "$who" --addr 127.0.0.1:0 --ready-file "$TMP/ready" --heap off --growth off --fd always \
			--log-level debug >/dev/null 2>"$TMP/profd.err" &
		pp=$!
		pids+=("$pp")
		wait_file "$TMP/ready" . 20 "$pp" || { echo "profd did not start: $(tail -n 3 "$TMP/profd.err")" >&2; return 1; }
		wait_file "$TMP/profd.err" 'fd tracking of .* attached' 20 "$pp" || return 1
		;;
	bpftrace)
		"$BPFTRACE" -e "tracepoint:syscalls:sys_exit_openat /pid == $tp && args->ret >= 0/ { @live[args->ret] = ustack; }
			tracepoint:syscalls:sys_enter_close /pid == $tp/ { delete(@live[args->fd]); }
			BEGIN { printf(\"Tracing\n\"); }" >"$TMP/tool.out" 2>&1 &
		pp=$!
		pids+=("$pp")
		wait_file "$TMP/tool.out" 'Tracing' 120 "$pp" || { echo "bpftrace did not start" >&2; return 1; }
		;;
	opensnoop)
		BCC_KERNEL_SOURCE=$BCC "$OPENSNOOP" -p "$tp" >"$TMP/tool.out" 2>&1 &
		pp=$!
		pids+=("$pp")
		wait_file "$TMP/tool.out" 'PID' 120 "$pp" || { echo "opensnoop did not start: $(head -n 3 "$TMP/tool.out")" >&2; return 1; }
		;;
	esac
	touch "$TMP/go"
	while ! grep -q '^opens' "$TMP/t.out" && kill -0 "$tp" 2>/dev/null; do sleep 0.1; done
	awk '/^opens/ { print $4, $6 }' "$TMP/t.out"
	if [ "$mode" = profd ]; then
		curl -s "http://$(cat "$TMP/ready")/metrics" |
			awk '/^profd_fd_created_total / { n = $2 } /^profd_fd_probe_cost_seconds_total / { s = $2 }
				END { if (n) print s * 1e9 / n }' >>"$TMP/cost"
	fi
	[ -n "$pp" ] && { kill -INT "$pp" 2>/dev/null; wait "$pp" 2>/dev/null; }
	[ "$mode" = opensnoop ] && ! grep -q fd_sites "$TMP/tool.out" && echo "note: opensnoop saw no open" >&2
	[ -n "$other" ] && { kill "$other" 2>/dev/null; wait "$other" 2>/dev/null; }
	kill "$tp" 2>/dev/null; wait "$tp" 2>/dev/null
	return 0
}

modes="none profd profd_other"
[ -n "$BPFTRACE" ] && modes="$modes bpftrace"
[ -n "$OPENSNOOP" ] && modes="$modes opensnoop"
for m in $modes; do : >"$TMP/rate.$m"; done
: >"$TMP/cost"
for ((i = 0; i < REPEAT; i++)); do
	for m in $modes; do
		run "$m" >>"$TMP/rate.$m" && continue
		echo "run $m failed: left out from now on" >&2
		modes=${modes/ $m/}
	done
done
col() { awk -v c="$1" '{ print $c }' "$2" | median; }
base=$(col 1 "$TMP/rate.none")
base_c=$(col 2 "$TMP/rate.none")
printf '%-50s %10s %6s %13s %6s %9s\n' "open+close /dev/null for ${SECS} s" "opens/s" "ratio" "CPU ns/open" "ratio" "+ns/open"
for m in $modes; do
	[ -s "$TMP/rate.$m" ] || continue
	r=$(col 1 "$TMP/rate.$m")
	c=$(col 2 "$TMP/rate.$m")
	case $m in
	none) name="alone" ;;
	profd) name="profd fd profile (16 KiB stack copy per open)" ;;
	profd_other) name="profd attached to another process (bystander)" ;;
	bpftrace) name="bpftrace leak tracker (ustack per open, FP only)" ;;
	opensnoop) name="bcc opensnoop (an event per open, no stack)" ;;
	esac
	printf '%-50s %10.0f %6.3f %13.0f %6.3f %9.0f\n' "$name" "$r" "$(awk -v a="$r" -v b="$base" 'BEGIN { print a / b }')" \
		"$c" "$(awk -v a="$c" -v b="$base_c" 'BEGIN { print a / b }')" "$(awk -v a="$c" -v b="$base_c" 'BEGIN { print a - b }')"
done
[ -s "$TMP/cost" ] && echo "profd's own figure: $(median <"$TMP/cost" | awk '{ printf "%.0f", $1 }') ns of BPF per descriptor created (/metrics)"
echo "raw (opens/s cpu_ns): $(for m in $modes; do printf '%s: %s | ' "$m" "$(tr '\n' ' ' <"$TMP/rate.$m")"; done)"
