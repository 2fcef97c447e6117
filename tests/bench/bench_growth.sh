#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Growth profile overhead, side by side in one run: the same loop (tests/targets/growth_touch
# churn: map MIB MiB of fresh memory, write one byte per page, unmap, ROUNDS times: every page a
# first touch, the worst case for a page-fault tracepoint) with nothing attached, at the default
# rate (one sample per MiB), with a rate so large that nothing is sampled (what the BPF program
# costs on every fault), and with --growth-rate 1 (every fault sampled: registers, 16 KiB of
# stack, the ring buffer). Three profds, one per rate, stay up with nothing attached; a kind is
# measured inside a growth?seconds=N window of its profd, closed when the loop is done, so the
# kinds alternate within seconds and each round compares them with that round's bare run: on a
# machine whose load changes (a shared VM) the median of those per-round ratios is what holds.
# The metric is the target thread's CPU time per 4 KiB page (user + kernel: the faults and the
# BPF program, which runs in the target's fault). Then the same with MADV_HUGEPAGE memory (2 MiB
# faults where the kernel has huge pages). Alongside, the BPF program's own time per fault of the
# target and per sample, as profd reports it (the program times one fault in 64 and every
# sample): unlike the target's CPU time, barely moved by the machine's load.
# And the tool a user would otherwise reach for, at the same sampling: perf record -e page-faults
# -c 256 --call-graph dwarf (a sample every 256 faults, 1 MiB of 4 KiB first touches, with 8 KiB
# of stack, as the target has no frame pointers), when perf is installed.
#   RUNS=15 (default)  MIB=64  ROUNDS=4
# Needs root. Never asserts timings: it reports.
set -u
cd "$(dirname "$0")/../.."
O="${O:-build}"
T="$O/tests/targets"
RUNS="${RUNS:-15}"
MIB="${MIB:-64}"
ROUNDS="${ROUNDS:-4}"
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

wait_file() { # file regex seconds
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
wait_file "$WORK/target.out" '^ready' 10 || { echo "growth_touch did not start"; exit 1; }

KINDS="bare default unsampled sampled"
PERF_OK=0
if command -v perf >/dev/null && perf record -q -e page-faults -c 256 -o /dev/null -- true >/dev/null 2>&1; then
	KINDS+=" perf"
	PERF_OK=1
fi
declare -A PID ADDR
for k in default unsampled sampled; do
	case $k in
	default) rate=1M ;;
	unsampled) rate=1099511627776 ;; # 2^40: the countdown never runs out
	sampled) rate=1 ;;
	esac
	# a debug=1 request (the program's own timing) extends the tracking: by a second only
	"$O/profd" --pid $TPID --addr 127.0.0.1:0 --ready-file "$WORK/ready.$k" --growth-rate $rate --heap off \
		--growth-idle 1s \
		>"$WORK/profd.$k.out" 2>"$WORK/profd.$k.err" &
	PID[$k]=$!
	BG+=(${PID[$k]})
	wait_file "$WORK/ready.$k" . 30 || { echo "profd ($k) did not start: $(tail -n 3 "$WORK/profd.$k.err")"; exit 1; }
	ADDR[$k]=$(cat "$WORK/ready.$k")
done
links() { grep -l '^tp_name:[[:space:]]*page_fault_user' /proc/"$1"/fdinfo/* 2>/dev/null | wc -l; }
wait_links() { # pid: attached (1) or not (0)
	local i
	for i in $(seq 300); do
		if [ "$2" = 1 ]; then [ "$(links "$1")" -gt 0 ] && return 0; else [ "$(links "$1")" = 0 ] && return 0; fi
		sleep 0.05
	done
	return 1
}

# timing KIND: "TIMED TIMED_NS SAMPLES_TIMED SAMPLE_NS", the program's own timing counters so far
timing() {
	curl -s --max-time 60 "http://${ADDR[$1]}/debug/pprof/growth?debug=1" |
		awk -F' = ' '/^# BpfTimed = / { t = $2 } /^# BpfTimedNs = / { tn = $2 } /^# BpfSampleTimed = / { s = $2 }
			/^# BpfSampleNs = / { sn = $2 } END { print t + 0, tn + 0, s + 0, sn + 0 }'
}

# one_run KIND CMD -> ns per page, or "-"
one_run() {
	local kind=$1 what=$2 curl="" perf="" n i
	if [ $kind = perf ]; then
		rm -f "$WORK/perf.data"
		perf record -q -e page-faults -c 256 --call-graph dwarf -p $TPID -o "$WORK/perf.data" \
			>"$WORK/perf.out" 2>&1 &
		perf=$!
		# the header is written once the events are open
		wait_file_size "$WORK/perf.data" 10 || { kill -INT $perf; wait $perf 2>/dev/null; echo "-"; return; }
	elif [ $kind != bare ]; then
		# the window lasts until the loop is done: the client's disconnect ends it
		curl -s -o /dev/null --max-time 300 "http://${ADDR[$kind]}/debug/pprof/growth?seconds=290" &
		curl=$!
		wait_links ${PID[$kind]} 1 || { kill $curl; wait $curl 2>/dev/null; echo "-"; return; }
	fi
	n=$(grep -c '^ok' "$WORK/target.out")
	echo "$what $MIB $ROUNDS" >&9
	for i in $(seq 1200); do
		[ "$(grep -c '^ok' "$WORK/target.out")" -gt "$n" ] && break
		sleep 0.05
	done
	tail -n 1 "$WORK/target.out" | awk '$1 == "ok" && $2 == "churn" { print $3; found = 1 } END { if (!found) print "-" }'
	if [ -n "$curl" ]; then
		kill $curl 2>/dev/null
		wait $curl 2>/dev/null
		wait_links ${PID[$kind]} 0
	fi
	if [ -n "$perf" ]; then
		kill -INT $perf 2>/dev/null
		wait $perf 2>/dev/null
	fi
}
wait_file_size() { # file seconds: the file exists and is not empty
	local i
	for i in $(seq $(($2 * 20))); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

median() { tr ' ' '\n' | grep -v '^-$' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }

echo "growth overhead: target CPU ns per 4 KiB page touched (${MIB} MiB x $ROUNDS rounds per run), $RUNS runs;" \
	"THP $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null); load: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A V Q R RQ T0 PF PS
for what in churn churnthp; do
	for k in default unsampled sampled; do
		T0[$k]=$(timing $k)
	done
	for r in $(seq "$RUNS"); do
		declare -A one=()
		for k in $KINDS; do
			one[$k]=$(one_run $k $what)
			V[$what,$k]+=" ${one[$k]}"
		done
		for k in $KINDS; do
			Q[$what,$k]+=" $(awk -v v="${one[$k]}" -v b="${one[bare]}" 'BEGIN { if (v == "-" || b == "-" || b == 0) print "-"; else printf "%.4f", v / b }')"
		done
	done
	for k in $KINDS; do
		R[$what,$k]=$(echo ${V[$what,$k]} | median)
		RQ[$what,$k]=$(echo ${Q[$what,$k]} | median)
		echo "  $what $k: ns/page${V[$what,$k]} -> ${R[$what,$k]}; ratio to the round's bare -> ${RQ[$what,$k]}" >&2
	done
	# the program's own time over these runs: per fault (timed ones), per sample
	PF[$what,perf]=-
	PS[$what,perf]=-
	for k in default unsampled sampled; do
		read -r PF[$what,$k] PS[$what,$k] <<<"$(echo "${T0[$k]} $(timing $k)" | awk '{
			t = $5 - $1; tn = $6 - $2; s = $7 - $3; sn = $8 - $4
			pf = "-"; ps = "-"
			if (t > 0) pf = sprintf("%.0f", tn / t)
			if (s > 0) ps = sprintf("%.1f", sn / s / 1000)
			print pf, ps }')"
	done
	PF[$what,bare]=-
	PS[$what,bare]=-
done

printf '\n%-44s %11s %8s %7s %7s   %11s %8s %7s %7s\n' "" "4K ns/page" "ratio" "BPF ns" "BPF us" \
	"THP ns/page" "ratio" "BPF ns" "BPF us"
for k in $KINDS; do
	printf '%-44s' "$(case $k in bare) echo "bare (nothing attached)" ;; default) echo "growth profile, default rate (1 MiB)" ;;
		unsampled) echo "every fault seen, none sampled (rate 2^40)" ;; sampled) echo "every fault sampled (--growth-rate 1)" ;;
		perf) echo "perf record -e page-faults -c 256 (dwarf)" ;; esac)"
	for what in churn churnthp; do
		printf ' %11s %7sx %7s %7s  ' "${R[$what,$k]}" "${RQ[$what,$k]}" "${PF[$what,$k]}" "${PS[$what,$k]}"
	done
	echo
done
echo "(BPF ns: the program's own time per fault of the target; BPF us: more per sampled fault, the copy)"
echo
awk -v b="${R[churn,bare]}" -v u="${RQ[churn,unsampled]}" -v s="${RQ[churn,sampled]}" -v d="${RQ[churn,default]}" 'BEGIN {
	if (b == "-" || u == "-" || s == "-" || d == "-") exit
	printf "per 4 KiB first touch (%.0f ns bare): an unsampled fault costs %.0f ns more (%.1f%%), a sampled one %.1f us more;\n", b, (u - 1) * b, (u - 1) * 100, (s - 1) * b / 1000
	printf "at the default rate the target runs %.3fx as long as without the growth profile (median of per-round ratios)\n", d }'
[ "$PERF_OK" = 1 ] && awk -v d="${RQ[churn,default]}" -v p="${RQ[churn,perf]}" -v dt="${RQ[churnthp,default]}" -v pt="${RQ[churnthp,perf]}" 'BEGIN {
	if (d == "-" || p == "-") exit
	printf "perf record -e page-faults -c 256 --call-graph dwarf, the same sampling: %.3fx (4 KiB pages), %sx (THP);\n", p, pt
	printf "the growth profile: %.3fx and %sx, %.0f%% of perf'"'"'s added cost on 4 KiB pages\n", d, dt, (p > 1 ? (d - 1) / (p - 1) * 100 : 0) }'
echo quit >&9
