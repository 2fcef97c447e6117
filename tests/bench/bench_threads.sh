#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Thread dumps side by side (issues 4 and 16): profd reading blocked threads with the BPF task
# iterator (the default), profd stopping every thread (--thread-dump ptrace, the path of kernels
# without the iterator), eu-stack -p and gdb -batch 'thread apply all bt', on
# tests/targets/threads_mix with 200, 1,000 and 10,000 threads, all in one run.
# Per tool: the wall time of a full symbolized dump (median of REPEATS), and the pause the
# target's threads saw, measured inside the target: 96 sleepers (10 ms nanosleep loops) record
# their longest oversleep; "med" is the median over sleepers of that longest oversleep, "max" the
# largest (a baseline without any dump shows the machine's own jitter). The driver adds the
# daemon's case (warm: modules and symbols indexed, BPF loaded) and profd's own count of the
# threads it stopped and their pause (interrupt -> detach). Then the ratios, from this run.
# Goals: no pause for blocked threads; a 1,000-thread dump at least 20x faster than eu-stack.
# Needs root. Asserts nothing. A tool whose run takes more than SLOW_S seconds is run once; one
# that takes more than TIMEOUT_S is stopped and reported as such.
#   O=build [REPEATS=3] [SIZES="200 1000 10000"] [SLOW_S=20] [TIMEOUT_S=600] tests/bench/bench_threads.sh
set -eu
cd "$(dirname "$0")/../.."
O="${O:-build}"
REPEATS="${REPEATS:-3}"
SIZES="${SIZES:-200 1000 10000}"
SLOW_S="${SLOW_S:-20}"
TIMEOUT_S="${TIMEOUT_S:-600}"
make -s O="$O" "$O/tests/bench/bench_threads" "$O/tests/targets/threads_mix" "$O/profd"
for tool in eu-stack gdb; do
	command -v "$tool" >/dev/null || echo "note: $tool not installed (make deps-bench); its rows are skipped"
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
	IFS= read -r -t 60 line <&"${TGT[0]}"
	echo "$line"
}
field() { sed -n "s/.*\b$1=\([0-9.-]*\).*/\1/p" <<<"$2"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "-")}'; }
maxof() { sort -n | tail -n 1; }
now_ms() { date +%s%N | awk '{printf "%.1f", $1/1e6}'; }
# ratio A B: A/B with one decimal, "-" if either is missing
ratio() { awk -v a="${1:--}" -v b="${2:--}" 'BEGIN {if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.1f", a / b}'; }

# run_tool KEY LABEL CMD... : REPEATS runs (one if slow); records wall median in $tmp/KEY.wall
# and the sleepers' pause in $tmp/KEY.pause, prints a row
run_tool() {
	local key="$1" label="$2"; shift 2
	local walls=() meds=() maxs=() eintr=0 i t0 t1 s rc
	for ((i = 0; i < REPEATS; i++)); do
		target_cmd reset >/dev/null
		t0=$(now_ms)
		rc=0
		timeout -k 5 "$TIMEOUT_S" "$@" >"$tmp/$key.out" 2>"$tmp/$key.err" || rc=$?
		t1=$(now_ms)
		if [ $rc = 124 ] || [ $rc = 137 ]; then
			printf '  %-34s stopped after %s s\n' "$label" "$TIMEOUT_S"
			echo "$((TIMEOUT_S * 1000))" >"$tmp/$key.wall" # a lower bound
			return 0
		elif [ $rc != 0 ]; then
			echo "  $label failed: $(tail -n 1 "$tmp/$key.err")"
			return 0
		fi
		sleep 0.05 # let every sleeper complete the sleep it was stopped in
		s=$(target_cmd stats)
		walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')")
		meds+=("$(field oversleep_med_us "$s")")
		maxs+=("$(field oversleep_max_us "$s")")
		eintr=$(field eintr "$s")
		awk -v a="$t0" -v b="$t1" -v s="$SLOW_S" 'BEGIN {exit !(b - a > s * 1000)}' && break
	done
	printf '%s\n' "${walls[@]}" | median >"$tmp/$key.wall"
	printf '%s\n' "${maxs[@]}" | maxof >"$tmp/$key.pause"
	printf '  %-34s wall %9s ms (%d runs)   sleepers longest oversleep: med %7s us, max %7s us   EINTR %s\n' \
		"$label" "$(cat "$tmp/$key.wall")" "${#walls[@]}" "$(printf '%s\n' "${meds[@]}" | median)" \
		"$(cat "$tmp/$key.pause")" "$eintr"
}

# driver KEY METHOD: the library's cold and warm dumps; prints a row, records warm/cold ms
driver() {
	local key="$1" method="$2" out s
	target_cmd reset >/dev/null
	out=$("$O/tests/bench/bench_threads" "$tpid" "$REPEATS" "$tmp/$key.dump" "$method")
	sleep 0.05
	s=$(target_cmd stats)
	field warm_ms "$out" >"$tmp/$key.warm"
	field cold_ms "$out" >"$tmp/$key.cold"
	field oversleep_max_us "$s" >"$tmp/$key.pause"
	printf '  %-34s cold %7s ms, warm %7s ms; threads read without a stop %s, stopped %s (pause med %s us, max %s us)\n' \
		"driver, $method" "$(field cold_ms "$out")" "$(field warm_ms "$out")" "$(field unstopped "$out")" \
		"$(field stopped "$out")" "$(field pause_med_us "$out")" "$(field pause_max_us "$out")"
	printf '  %-34s sleepers longest oversleep over its %d dumps: med %s us, max %s us\n' "" \
		$((2 * REPEATS)) "$(field oversleep_med_us "$s")" "$(field oversleep_max_us "$s")"
}

# Per thread: number of user frames in eu-stack's output and in profd's debug=2 (physical frames:
# those with +0x, kernel frames excluded). Prints how many threads agree.
compare_frames() {
	awk '/^TID /{tid=$2; sub(":","",tid)} /^#[0-9]/{n[tid]++} END {for (t in n) print t, n[t]}' \
		"$tmp/eu.out" | sort >"$tmp/eu.count"
	awk '/^goroutine /{tid=$2} /^\t/ && /\+0x/ && !/^\t\[kernel\]/{n[tid]++} END {for (t in n) print t, n[t]}' \
		"$tmp/iter.out" | sort >"$tmp/profd.count"
	local total same
	total=$(wc -l <"$tmp/eu.count")
	same=$(join "$tmp/eu.count" "$tmp/profd.count" | awk '$2 == $3' | wc -l)
	echo "  frames: $same of $total threads have the same number of user frames in profd and eu-stack" \
		"(spinners move between the two dumps; pc-for-pc equality is checked by unit/test_threads)"
}

summary=()
for size in $SIZES; do
	rm -f "$tmp"/*.wall "$tmp"/*.warm "$tmp"/*.cold "$tmp"/*.pause
	cond=$((size - 96 - 4 - 2 - 1))
	coproc TGT { exec "$O/tests/targets/threads_mix" --cond "$cond" --sleep 96 --pipe 4 --spin 2; }
	tpid=$TGT_PID
	IFS= read -r -t 120 line <&"${TGT[0]}"
	[ "$line" = ready ] || { echo "target did not start"; exit 1; }
	echo "== $(ls /proc/"$tpid"/task | wc -l) threads (pid $tpid: $cond cond_wait, 96 sleepers, 4 pipe readers," \
		"2 spinners; load average $(cut -d' ' -f1 /proc/loadavg))"
	target_cmd reset >/dev/null
	sleep 1
	s=$(target_cmd stats)
	echo "$(field oversleep_max_us "$s")" >"$tmp/base.pause"
	printf '  %-34s                        sleepers longest oversleep: med %7s us, max %7s us (1 s, no dump)\n' \
		"baseline" "$(field oversleep_med_us "$s")" "$(field oversleep_max_us "$s")"
	run_tool iter "profd stacks" "$O/profd" stacks --pid "$tpid"
	run_tool ptrace "profd stacks --thread-dump ptrace" "$O/profd" stacks --pid "$tpid" --thread-dump ptrace
	# eu-stack prints symbols only by default; -s -i adds what profd shows (lines, inlined frames)
	if command -v eu-stack >/dev/null; then
		run_tool eusi "eu-stack -s -i" eu-stack -s -i -p "$tpid"
		run_tool eu "eu-stack" eu-stack -p "$tpid"
	fi
	command -v gdb >/dev/null && run_tool gdb "gdb" gdb -p "$tpid" -batch -ex 'thread apply all bt'
	driver diter auto
	driver dptrace ptrace
	echo "     cold = first dump of a fresh process (as profd stacks, minus exec); warm = the daemon's"
	echo "     repeated dump; pause = interrupt -> detach per stopped thread as profd measured it"
	[ -f "$tmp/eu.wall" ] && [ -s "$tmp/iter.out" ] && compare_frames
	w() { cat "$tmp/$1.$2" 2>/dev/null || echo -; }
	line=$(printf '%6s threads | warm daemon dump: iterator %s ms, ptrace %s ms (%sx); vs eu-stack %sx, eu-stack -s -i %sx, gdb %sx | profd stacks: %sx ptrace, %sx eu-stack, %sx gdb | sleepers max oversleep: iterator %s us, ptrace %s us, eu-stack %s us, gdb %s us, none %s us' \
		"$size" "$(w diter warm)" "$(w dptrace warm)" "$(ratio "$(w dptrace warm)" "$(w diter warm)")" \
		"$(ratio "$(w eu wall)" "$(w diter warm)")" "$(ratio "$(w eusi wall)" "$(w diter warm)")" \
		"$(ratio "$(w gdb wall)" "$(w diter warm)")" "$(ratio "$(w ptrace wall)" "$(w iter wall)")" \
		"$(ratio "$(w eu wall)" "$(w iter wall)")" "$(ratio "$(w gdb wall)" "$(w iter wall)")" \
		"$(w diter pause)" "$(w dptrace pause)" "$(w eu pause)" "$(w gdb pause)" "$(w base pause)")
	echo "  ratios: $line"
	summary+=("$line")
	s=$(target_cmd stats)
	echo "  target after all dumps: $s"
	bad=$(awk '{print $3}' /proc/"$tpid"/task/*/stat | grep -c '^t$' || true)
	echo "  threads left in tracing stop: $bad; TracerPid: $(awk '/TracerPid/{print $2}' /proc/"$tpid"/status)"
	exec {TGT[1]}>&-
	kill -9 "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null || true
	tpid=
done
echo
echo "== ratios (x = how many times faster profd with the task iterator is; same run, same machine)"
printf '%s\n' "${summary[@]}"
