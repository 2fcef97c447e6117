#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Growth profile overhead, side by side in one run: the same loop (tests/targets/growth_touch
# churn: map MIB MiB of fresh memory, write one byte per page, unmap, ROUNDS times: every page a
# first touch, the worst case for a page-fault tracepoint) with nothing attached, under
# profd --growth always at the default rate (one sample per MiB), with a rate so large that
# nothing is sampled (what the BPF program costs on every fault), and with --growth-rate 1 (every
# fault sampled: registers, 16 KiB of stack, the ring buffer). The runs of each kind alternate, so
# that a machine whose load changes affects them alike. Prints the median of RUNS runs of the
# target thread's CPU time per 4 KiB page (user + kernel: the faults and the BPF program, which
# runs in the target's fault), the ns added and the ratio to bare; then the same with
# MADV_HUGEPAGE memory (2 MiB faults where the kernel has huge pages).
#   RUNS=5 (default)  MIB=64  ROUNDS=16
# Needs root. Never asserts timings: it reports.
set -u
cd "$(dirname "$0")/../.."
O="${O:-build}"
T="$O/tests/targets"
RUNS="${RUNS:-5}"
MIB="${MIB:-64}"
ROUNDS="${ROUNDS:-16}"
WORK=$(mktemp -d /tmp/profd-bench-growth.XXXXXX)
BG=()
cleanup() {
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
[ -x "$T/growth_touch" ] && [ -x "$O/profd" ] || { echo "build first: make O=$O test-bins"; exit 77; }

wait_for() { # file regex seconds
	local i
	for i in $(seq $(($3 * 10))); do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

mkfifo "$WORK/in"
exec 9<>"$WORK/in"
"$T/growth_touch" <&9 >"$WORK/target.out" 2>&1 &
TPID=$!
BG+=($TPID)
wait_for "$WORK/target.out" '^ready' 10 || { echo "growth_touch did not start"; exit 1; }

# one_run KIND CMD -> ns per page, or "-"
one_run() {
	local kind=$1 what=$2 pid="" rate n
	case $kind in
	default) rate=1M ;;
	unsampled) rate=1099511627776 ;; # 2^40: the countdown never runs out
	sampled) rate=1 ;;
	esac
	if [ $kind != bare ]; then
		rm -f "$WORK/ready"
		# --growth always attaches before profd serves, so ready means attached
		"$O/profd" --pid $TPID --addr 127.0.0.1:0 --ready-file "$WORK/ready" --growth always \
			--growth-rate $rate --heap off >"$WORK/profd.out" 2>"$WORK/profd.err" &
		pid=$!
		BG+=($pid)
		wait_for "$WORK/ready" . 30 || { echo "-"; kill $pid 2>/dev/null; return; }
	fi
	n=$(grep -c '^ok' "$WORK/target.out")
	echo "$what $MIB $ROUNDS" >&9
	for i in $(seq 1200); do
		[ "$(grep -c '^ok' "$WORK/target.out")" -gt "$n" ] && break
		sleep 0.1
	done
	tail -n 1 "$WORK/target.out" | awk '$1 == "ok" && $2 == "churn" { print $3; found = 1 } END { if (!found) print "-" }'
	if [ -n "$pid" ]; then
		kill -TERM $pid 2>/dev/null
		wait $pid 2>/dev/null
	fi
}

median() { tr ' ' '\n' | grep -v '^-$' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }

KINDS="bare default unsampled sampled"
echo "growth overhead: target CPU ns per 4 KiB page touched (${MIB} MiB x $ROUNDS rounds), median of $RUNS;" \
	"THP $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null); load: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A V R
for what in churn churnthp; do
	for r in $(seq "$RUNS"); do
		for k in $KINDS; do
			V[$what,$k]+=" $(one_run $k $what)"
		done
	done
	for k in $KINDS; do
		R[$what,$k]=$(echo ${V[$what,$k]} | median)
		echo "  $what $k: runs${V[$what,$k]} -> ${R[$what,$k]}" >&2
	done
done

printf '\n%-44s %12s %10s %8s %12s %10s %8s\n' "" "4K ns/page" "added" "ratio" "THP ns/page" "added" "ratio"
for k in $KINDS; do
	printf '%-44s' "$(case $k in bare) echo "bare (nothing attached)" ;; default) echo "profd --growth always (one sample per MiB)" ;;
		unsampled) echo "every fault, none sampled (rate 2^40)" ;; sampled) echo "every fault sampled (--growth-rate 1)" ;; esac)"
	for what in churn churnthp; do
		awk -v v="${R[$what,$k]}" -v b="${R[$what,bare]}" 'BEGIN {
			if (v == "-" || b == "-") printf " %12s %10s %8s", "-", "-", "-"
			else printf " %12.1f %10.1f %7.3fx", v, v - b, v / b }'
	done
	echo
done
echo
awk -v b="${R[churn,bare]}" -v u="${R[churn,unsampled]}" -v s="${R[churn,sampled]}" -v d="${R[churn,default]}" 'BEGIN {
	if (b == "-" || u == "-" || s == "-" || d == "-") exit
	printf "per 4 KiB first touch: %.0f ns bare; the BPF program adds %.0f ns to an unsampled fault (%.1f%%) and %.0f ns to a sampled one;\n", b, u - b, (u - b) * 100 / b, s - b
	printf "at the default rate the target runs %.3fx as long as without the growth profile\n", d / b }'
echo q >&9
