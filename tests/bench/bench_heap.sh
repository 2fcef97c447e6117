#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Heap profiling overhead, side by side: the same malloc/free loop (tests/targets/heap_bench,
# 1 and 2 threads) bare, under profd --heap inuse (uprobe sessions, and classic uretprobes),
# --heap allocs, the trap floor (the same probes, BPF programs that return at once),
# memleak-bpfcc, bpftrace with a live-allocation map, and heaptrack (launched with LD_PRELOAD:
# its gdb-based -p injection fails on some VMs). Prints the median of
# RUNS runs of ns per malloc/free pair per thread, the ns added, and ratios; then profd's peak
# RSS with a million live sampled allocations (--heap-rate 1).
#   RUNS=3 (default)  SKIP="memleak bpftrace heaptrack" to leave tools out
#   METRIC=cpu_ns_per_pair (default: the loop thread's CPU time, user + kernel, which includes
#   the traps and BPF work and is not inflated by waiting for a CPU) or ns_per_pair (wall)
# Needs root. Tools: bpfcc-tools + linux-headers-amd64 (merged into BCC_KERNEL_SOURCE; tracefs is
# mounted if needed), bpftrace, heaptrack. Never asserts timings: it reports.
set -u
cd "$(dirname "$0")/../.."
O="${O:-build}"
T="$O/tests/targets"
RUNS="${RUNS:-3}"
# cpu_ns_per_pair (thread CPU time, robust on a loaded machine) or ns_per_pair (wall clock)
METRIC="${METRIC:-cpu_ns_per_pair}"
SKIP="${SKIP:-}"
WORK=$(mktemp -d /tmp/profd-bench-heap.XXXXXX)
BG=()
TOOLS=() # started with setsid: each leads its own process group
cleanup() {
	for p in "${TOOLS[@]}"; do kill -- -"$p" 2>/dev/null; done
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
[ -x "$T/heap_bench" ] && [ -x "$T/heap_driver" ] || { echo "build first: make O=$O test-bins"; exit 77; }

LIBC=$(ldd "$T/heap_bench" | awk '/libc.so.6/ { print $3 }')

# BCC needs kernel headers; Debian's common + arch packages merged into one tree
bcc_headers() {
	local m=/tmp/profd-bcc-headers common arch
	[ -d "$m/include" ] && { echo "$m"; return 0; }
	common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | tail -1)
	arch=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | tail -1)
	[ -n "$common" ] && [ -n "$arch" ] || return 1
	mkdir -p "$m" && cp -a "$common"/. "$m"/ && cp -a --remove-destination "$arch"/. "$m"/ && echo "$m"
}

wait_for() { # file regex seconds
	local i
	for i in $(seq $(($3 * 10))); do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# one_run KIND THREADS PAIRS -> prints ns per pair per thread (or "-")
one_run() {
	local kind=$1 threads=$2 pairs=$3 out="$WORK/t.$RANDOM" log="$WORK/l.$RANDOM" pid tool=""
	if [ $kind = heaptrack ]; then
		# heaptrack -p injects through gdb, which fails on some VMs ("Couldn't write extended
		# state status"): launch under heaptrack (LD_PRELOAD) and attach to nothing
		setsid heaptrack -o "$WORK/heaptrack.$RANDOM" "$T/heap_bench" "$pairs" "$threads" >"$out" 2>&1 &
		tool=$!
		BG+=($tool)
		TOOLS+=($tool)
		wait_for "$out" '^ready' 30 || { echo "-"; return; }
		pid=$(awk '/^ready/ { print $2; exit }' "$out")
		kill -USR1 $pid
	else
		"$T/heap_bench" "$pairs" "$threads" >"$out" 2>&1 &
		pid=$!
		BG+=($pid)
		wait_for "$out" '^ready' 10 || { echo "-"; return; }
	fi
	case $kind in
	bare) kill -USR1 $pid ;;
	inuse | uretprobe | allocs | floor)
		local f=()
		[ $kind = uretprobe ] && f=(--no-session)
		[ $kind = allocs ] && f=(--heap allocs)
		[ $kind = floor ] && f=(--noop)
		"$T/heap_driver" "${f[@]}" --pid $pid --usr1 --seconds 600 --done-file "$out" >"$log" 2>&1 &
		tool=$!
		;;
	memleak)
		# it prints "Attaching" before attaching; its first report comes after.
		# BCC 0.26 names its tracefs uprobe after the library path; with the default libc path
		# the name passes the kernel's 64-character limit (EINVAL, and its perf-PMU attempt fails
		# too on this kernel), so give it the target's libc under a short symlink.
		libc=$(awk '$6 ~ /\/libc\.so\.6$/ {print $6; exit}' /proc/$pid/maps)
		ln -sf "$libc" /tmp/pl.so
		BCC_KERNEL_SOURCE=$BCC setsid memleak-bpfcc -p $pid -O /tmp/pl.so 1 >"$log" 2>&1 &
		tool=$!
		if wait_for "$log" 'Top .* stacks|Failed to attach|Traceback' 90 && grep -q 'Top .* stacks' "$log"; then
			kill -USR1 $pid
		else
			echo "memleak-bpfcc did not attach: $(grep -m1 -E 'cannot|Exception' "$log")" >&2
			kill $pid 2>/dev/null
			echo "-"
			return
		fi
		;;
	bpftrace)
		setsid bpftrace -p $pid -e "BEGIN { printf(\"attached\\n\"); }
			uprobe:$LIBC:malloc { @sz[tid] = arg0; }
			uretprobe:$LIBC:malloc /@sz[tid]/ { @live[retval] = @sz[tid]; delete(@sz[tid]); }
			uprobe:$LIBC:free { delete(@live[arg0]); }" >"$log" 2>&1 &
		tool=$!
		wait_for "$log" '^attached' 60 && kill -USR1 $pid
		;;
	heaptrack) ;; # started above
	esac
	if [ -n "$tool" ] && [ $kind != heaptrack ]; then
		BG+=($tool)
		[ $kind = memleak ] || [ $kind = bpftrace ] && TOOLS+=($tool)
	fi
	if wait_for "$out" '^done' 900; then
		awk -v m="$METRIC" '$1 == m { print $2 }' "$out"
	else
		echo "-"
	fi
	# tools run in their own session: stop the whole group (heaptrack's shell leaves helpers)
	if [ -n "$tool" ]; then
		case $kind in
		memleak | bpftrace | heaptrack) kill -INT -- -$tool 2>/dev/null; sleep 0.5; kill -- -$tool 2>/dev/null ;;
		*) kill $tool 2>/dev/null ;;
		esac
		wait $tool 2>/dev/null
	fi
	kill $pid 2>/dev/null
	wait $pid 2>/dev/null
	return 0
}

median() { tr ' ' '\n' | grep -v '^-$' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }

pairs_for() {
	case $1 in
	bare) echo 5000000 ;;
	inuse | uretprobe | allocs | floor | heaptrack) echo 500000 ;;
	*) echo 100000 ;;
	esac
}

# BCC creates its uprobes through tracefs
if [ ! -e /sys/kernel/tracing/uprobe_events ] && [[ " $SKIP " != *" memleak "* ]]; then
	echo "note: mounting tracefs on /sys/kernel/tracing (memleak-bpfcc needs it)"
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || SKIP+=" memleak"
fi

KINDS="bare floor inuse uretprobe allocs"
BCC=$(bcc_headers) && command -v memleak-bpfcc >/dev/null && [[ " $SKIP " != *" memleak "* ]] && KINDS+=" memleak"
command -v bpftrace >/dev/null && [[ " $SKIP " != *" bpftrace "* ]] && KINDS+=" bpftrace"
command -v heaptrack >/dev/null && [[ " $SKIP " != *" heaptrack "* ]] && KINDS+=" heaptrack"

echo "heap overhead: $METRIC per malloc/free pair per thread, median of $RUNS; load: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A R
for threads in 1 2; do
	for k in $KINDS; do
		vals=""
		for r in $(seq "$RUNS"); do
			vals+=" $(one_run $k $threads "$(pairs_for $k)")"
		done
		R[$k,$threads]=$(echo $vals | median)
		echo "  $threads thread(s) $k: runs$vals -> ${R[$k,$threads]}" >&2
	done
done

printf '\n%-34s %14s %12s %14s %12s\n' "tool" "1T ns/pair" "1T added" "2T ns/pair" "2T added"
for k in $KINDS; do
	printf '%-34s' "$(case $k in bare) echo "bare loop" ;; floor) echo "trap floor (profd probes, no-op)" ;;
		inuse) echo "profd --heap inuse (sessions)" ;; uretprobe) echo "profd --heap inuse (uretprobes)" ;;
		allocs) echo "profd --heap allocs" ;; memleak) echo "memleak-bpfcc" ;;
		bpftrace) echo "bpftrace live map" ;; heaptrack) echo "heaptrack (LD_PRELOAD launch)" ;; esac)"
	for t in 1 2; do
		awk -v v="${R[$k,$t]}" -v b="${R[bare,$t]}" 'BEGIN { if (v == "-") printf " %14s %12s", "-", "-"; else printf " %14.1f %12.1f", v, v - b }'
	done
	echo
done
echo
for t in 1 2; do
	awk -v t=$t -v b="${R[bare,$t]}" -v fl="${R[floor,$t]}" -v iu="${R[inuse,$t]}" -v al="${R[allocs,$t]}" \
		-v ml="${R[memleak,$t]:--}" -v bt="${R[bpftrace,$t]:--}" -v ht="${R[heaptrack,$t]:--}" 'BEGIN {
		printf "%dT: inuse/floor (added ns) %.2fx, allocs/floor %.2fx", t, (iu - b) / (fl - b), (al - b) / (fl - b)
		if (ml != "-") printf ", memleak/inuse %.1fx, memleak/allocs %.1fx", (ml - b) / (iu - b), (ml - b) / (al - b)
		if (bt != "-") printf ", bpftrace/inuse %.1fx", (bt - b) / (iu - b)
		if (ht != "-") printf ", heaptrack/inuse %.2fx", (ht - b) / (iu - b)
		printf "\n" }'
done

echo
echo "profd memory with a million live sampled allocations (--heap-rate 1):"
out="$WORK/live.out"
"$T/heap_bench" 0 1 live 1000000 >"$out" 2>&1 &
pid=$!
BG+=($pid)
wait_for "$out" '^ready' 10
"$T/heap_driver" --heap-rate 1 --pid $pid --usr1 --seconds 600 --done-file "$out" >"$WORK/live.log" 2>&1
grep -E '^(calls|peak_rss)' "$WORK/live.log" | sed 's/^/  /'
kill $pid 2>/dev/null
