#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Thread dumps side by side (issue 4): profd vs eu-stack -p vs gdb -batch 'thread apply all bt',
# on tests/targets/threads_mix with 200 and 1000 threads. Prints, per tool, the wall time of a
# full symbolized dump (median of REPEATS) and the pause the target's threads saw, measured inside
# the target: 96 sleepers (10 ms nanosleep loops) record their longest oversleep; "med" is the
# median over sleepers of that longest oversleep, "max" the largest (a baseline without any dump
# shows the machine's own jitter). profd's own per-thread pause (interrupt -> detach) comes from
# its driver. Goals: profd >= 5x faster than eu-stack, median pause < 50 us, same frames.
# Needs root. Asserts nothing.
#   O=build [REPEATS=3] [SIZES="200 1000"] tests/bench/bench_threads.sh
set -eu
cd "$(dirname "$0")/../.."
O="${O:-build}"
REPEATS="${REPEATS:-3}"
SIZES="${SIZES:-200 1000}"
make -s O="$O" "$O/tests/bench/bench_threads" "$O/tests/targets/threads_mix" "$O/profd"
for tool in eu-stack gdb; do
	command -v "$tool" >/dev/null || echo "note: $tool not installed (apt-get install elfutils gdb); its rows are skipped"
done
tmp=$(mktemp -d)
tpid=
cleanup() {
	[ -n "$tpid" ] && kill -9 "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# target_cmd CMD -> one answer line (the target's stats protocol)
target_cmd() {
	local line
	echo "$1" >&"${TGT[1]}"
	IFS= read -r -t 30 line <&"${TGT[0]}"
	echo "$line"
}
field() { sed -n "s/.*\b$1=\([0-9-]*\).*/\1/p" <<<"$2"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "-")}'; }
maxof() { sort -n | tail -n 1; }
now_ms() { date +%s%N | awk '{printf "%.1f", $1/1e6}'; }

# run_tool NAME CMD... : REPEATS runs; prints wall median and the sleepers' pause
run_tool() {
	local name="$1"; shift
	local walls=() meds=() maxs=() eintr=0 i t0 t1 s
	for ((i = 0; i < REPEATS; i++)); do
		target_cmd reset >/dev/null
		t0=$(now_ms)
		"$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || { echo "$name failed: $(tail -n 1 "$tmp/$name.err")"; return 0; }
		t1=$(now_ms)
		sleep 0.05 # let every sleeper complete the sleep it was stopped in
		s=$(target_cmd stats)
		walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')")
		meds+=("$(field oversleep_med_us "$s")")
		maxs+=("$(field oversleep_max_us "$s")")
		eintr=$(field eintr "$s")
	done
	printf '  %-26s wall %9s ms   sleepers longest oversleep: med %7s us, max %7s us   EINTR seen %s\n' \
		"$name" "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${meds[@]}" | median)" \
		"$(printf '%s\n' "${maxs[@]}" | maxof)" "$eintr"
	echo "${walls[*]}" >"$tmp/$name.walls"
}

# Per thread: number of user frames in eu-stack's output and in profd's debug=2 (physical frames:
# those with +0x, kernel frames excluded). Prints how many threads agree.
compare_frames() {
	awk '/^TID /{tid=$2; sub(":","",tid)} /^#[0-9]/{n[tid]++} END {for (t in n) print t, n[t]}' \
		"$tmp/eu-stack.out" | sort >"$tmp/eu.count"
	awk '/^goroutine /{tid=$2} /^\t/ && /\+0x/ && !/^\t\[kernel\]/{n[tid]++} END {for (t in n) print t, n[t]}' \
		"$tmp/profd.dump" | sort >"$tmp/profd.count"
	local total same
	total=$(wc -l <"$tmp/eu.count")
	same=$(join "$tmp/eu.count" "$tmp/profd.count" | awk '$2 == $3' | wc -l)
	echo "  frames: $same of $total threads have the same number of user frames in profd and eu-stack" \
		"(spinners move between the two dumps; pc-for-pc equality is checked by unit/test_threads)"
}

for size in $SIZES; do
	cond=$((size - 96 - 4 - 2 - 1))
	coproc TGT { exec "$O/tests/targets/threads_mix" --cond "$cond" --sleep 96 --pipe 4 --spin 2; }
	tpid=$TGT_PID
	IFS= read -r -t 60 line <&"${TGT[0]}"
	[ "$line" = ready ] || { echo "target did not start"; exit 1; }
	echo "== $(ls /proc/"$tpid"/task | wc -l) threads (pid $tpid: $cond cond_wait, 96 sleepers, 4 pipe readers, 2 spinners)"
	target_cmd reset >/dev/null
	sleep 1
	s=$(target_cmd stats)
	printf '  %-26s                  sleepers longest oversleep: med %7s us, max %7s us (1 s, no dump)\n' \
		"baseline" "$(field oversleep_med_us "$s")" "$(field oversleep_max_us "$s")"
	run_tool "profd stacks" "$O/profd" stacks --pid "$tpid"
	cp "$tmp/profd stacks.out" "$tmp/profd.dump"
	# eu-stack prints symbols only by default; -s -i adds what profd shows (lines, inlined frames)
	command -v eu-stack >/dev/null && run_tool "eu-stack -s -i" eu-stack -s -i -p "$tpid"
	command -v eu-stack >/dev/null && run_tool "eu-stack" eu-stack -p "$tpid"
	command -v gdb >/dev/null && run_tool "gdb" gdb -p "$tpid" -batch -ex 'thread apply all bt'
	target_cmd reset >/dev/null
	drv=$("$O/tests/bench/bench_threads" "$tpid" "$REPEATS" "$tmp/driver.dump")
	sleep 0.05
	s=$(target_cmd stats)
	echo "  profd library (driver):    $drv"
	echo "     sleepers' longest oversleep over its $((2 * REPEATS)) dumps: med $(field oversleep_med_us "$s") us," \
		"max $(field oversleep_max_us "$s") us"
	echo "     cold = first dump of a fresh process (as profd stacks, minus exec); warm = daemon's repeated dump;"
	echo "     pause = interrupt -> detach per thread as profd measured it (median of per-dump medians)"
	if [ -f "$tmp/eu-stack.walls" ]; then
		awk -v p="$(median <<<"$(tr ' ' '\n' <"$tmp/profd stacks.walls")")" \
		    -v e="$(median <<<"$(tr ' ' '\n' <"$tmp/eu-stack.walls")")" \
		    -v w="$(sed -n 's/.*warm_ms=\([0-9.]*\).*/\1/p' <<<"$drv")" \
		    -v ei="$(median <<<"$(tr ' ' '\n' <"$tmp/eu-stack -s -i.walls")")" \
		    'BEGIN {printf "  speed-up vs eu-stack (vs eu-stack -s -i): profd stacks %.1fx (%.1fx), warm daemon dump %.1fx (%.1fx); goal >= 5x\n", e / p, ei / p, e / w, ei / w}'
		compare_frames
	fi
	s=$(target_cmd stats)
	echo "  target after all dumps: $s"
	bad=$(awk '{print $3}' /proc/"$tpid"/task/*/stat | grep -c '^t$' || true)
	echo "  threads left in tracing stop: $bad; TracerPid: $(awk '/TracerPid/{print $2}' /proc/"$tpid"/status)"
	exec {TGT[1]}>&-
	kill -9 "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null || true
	tpid=
done
