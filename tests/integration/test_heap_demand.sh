#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Heap profiling that costs nothing until asked (--heap demand, the default) and never more than
# its budget: no uprobe exists before the first heap request; heap?seconds=N holds only what was
# allocated in its window (inuse_* = what of that still lives at its end); overlapping windows
# share one attachment; a request without seconds starts tracking, which stops after --heap-idle;
# a target allocating at full speed gets its probes detached within about a second, the index,
# the profile and the log say so and its allocation rate recovers; --heap-budget 100 never
# detaches them.
source "$(dirname "$0")/lib.sh"
[ -n "${KEEP_TMP:-}" ] && trap - EXIT

[ "$(id -u)" = 0 ] || skip "needs root (uprobes, BPF)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"
MiB=1048576

# the target reads commands on a fifo (an asynchronous command's stdin would be /dev/null)
mkfifo "$TMP/in"
exec 9<>"$TMP/in"
"$TARGETS/heap_phases" <&9 >"$TMP/target.out" 2>&1 &
TARGET_PID=$!
track "$TARGET_PID"
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "heap_phases did not start: $(cat "$TMP/target.out")"

# lines_above PATTERN N: the target has printed more than N lines matching PATTERN
lines_above() {
	[ "$(grep -c "$1" "$TMP/target.out")" -gt "$2" ]
}

# cmd LINE: sends a command and waits (deadline 60 s) for its "ok"
cmd() {
	local before
	before=$(grep -c '^ok' "$TMP/target.out")
	echo "$1" >&9
	wait_for 60 lines_above '^ok' "$before" || fail "target did not do '$1': $(tail -n 3 "$TMP/target.out")"
}

# links: profd's uprobe links (BPF links of type uprobe_multi, or perf-event links for classic
# uprobes; no CPU profile runs in this test, so every perf link is a heap probe)
links() {
	grep -lE '^link_type:[[:space:]]+(uprobe_multi|perf)' /proc/"$PROFD_PID"/fdinfo/* 2>/dev/null | wc -l
}
detached() { [ "$(links)" = 0 ]; }
# attaches: how many times profd attached its probes to the target (it also attaches a probe to
# itself for a moment, to time one, so links alone do not say the target's are there)
attaches() { grep -cE 'heap probes of process [0-9]+( \([^)]*\))? attached' "$TMP/profd.err"; }
attached_more_than() { [ "$(attaches)" -gt "$1" ] && [ "$(links)" -gt 0 ]; }

# value FILE SAMPLE_INDEX FUNC: flat bytes of FUNC in go tool pprof -top (0 if absent)
value() {
	go tool pprof -top -sample_index="$2" -unit=B -nodecount=1000 "$1" 2>/dev/null |
		awk -v f="$3" '$6 == f { v = $1; sub(/B$/, "", v); print v; found = 1; exit } END { if (!found) print 0 }'
}
within() { # actual expected percent
	awk -v a="$1" -v e="$2" -v p="$3" 'BEGIN { d = a - e; if (d < 0) d = -d; exit !(d <= e * p / 100) }'
}
check() { # file index func expected percent
	local v
	v=$(value "$1" "$2" "$3")
	within "$v" "$4" "$5" || fail "$3 $2 = $v bytes in $(basename "$1"), expected $4 +-$5%"
	echo "ok: $3 $2 = $v (expected $4 +-$5%)"
}
absent() { # file index func
	[ "$(value "$1" "$2" "$3")" = 0 ] || fail "$3 has $2 $(value "$1" "$2" "$3") in $(basename "$1"), expected none"
}

# The window checks allocate in bursts that would exceed the 2% default budget: the operator
# allows it explicitly, as the windows then must (the budget has its own checks below).
start_profd --pid "$TARGET_PID" --heap-rate 4096 --heap-idle 3s --heap-budget 100 --log-level debug

echo "== nothing attached before the first heap request"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index"
grep -q 'No probe attached (--heap demand)' "$TMP/b" || fail "the index does not say nothing is attached: $(grep heap "$TMP/b")"
cmd "churn a 1000 1000"
detached || fail "$(links) uprobe links before any heap request"
grep -qE 'heap probes of process [0-9]+( \([^)]*\))? attached' "$TMP/profd.err" && fail "probes attached before any heap request"

echo "== heap?seconds=4: only what was allocated in the window"
cmd "alloc a 2048 4096" # 8 MiB before the window: must not show
n0=$(attaches)
curl -s -o "$TMP/w.pb.gz" -w '%{http_code}' --max-time 60 "$BASE/heap?seconds=4" >"$TMP/w.code" &
w=$!
wait_for 30 attached_more_than "$n0" || fail "the window did not attach the probes"
cmd "alloc b 4096 4096" # 16 MiB kept
cmd "churn c 4096 4096" # 16 MiB allocated and freed
wait $w
[ "$(cat "$TMP/w.code")" = 200 ] || fail "heap?seconds=4: HTTP $(cat "$TMP/w.code"): $(head -c 300 "$TMP/w.pb.gz")"
go tool pprof -raw "$TMP/w.pb.gz" >"$TMP/w.raw" 2>&1 || fail "pprof rejects the window: $(head "$TMP/w.raw")"
check "$TMP/w.pb.gz" inuse_space site_b $((16 * MiB)) 15
check "$TMP/w.pb.gz" alloc_space site_c $((16 * MiB)) 15
absent "$TMP/w.pb.gz" inuse_space site_c
absent "$TMP/w.pb.gz" alloc_space site_a
absent "$TMP/w.pb.gz" inuse_space site_a
grep -q '^Comment: a [0-9]* s window' "$TMP/w.raw" || fail "the window's profile does not say what it holds"
wait_for 15 detached || fail "probes still attached ($(links) links) after the window ended"

echo "== overlapping windows share one attachment"
n0=$(attaches)
curl -s -o "$TMP/o1.pb.gz" -w '%{http_code}' --max-time 60 "$BASE/allocs?seconds=5" >"$TMP/o1.code" &
o1=$!
wait_for 30 attached_more_than "$n0" || fail "the first window did not attach the probes"
one=$(links)
curl -s -o "$TMP/o2.pb.gz" -w '%{http_code}' --max-time 60 "$BASE/heap?seconds=2" >"$TMP/o2.code" &
o2=$!
most=$one
while kill -0 $o2 2>/dev/null; do
	n=$(links)
	[ "$n" -gt "$most" ] && most=$n
	sleep 0.1
done
wait $o1 $o2
[ "$(cat "$TMP/o1.code")" = 200 ] && [ "$(cat "$TMP/o2.code")" = 200 ] || fail "overlapping windows: HTTP $(cat "$TMP/o1.code") and $(cat "$TMP/o2.code")"
[ "$most" = "$one" ] || fail "overlapping windows: $most uprobe links at once, one window has $one"
[ "$(attaches)" = $((n0 + 1)) ] || fail "overlapping windows attached the probes more than once"
go tool pprof -raw "$TMP/o2.pb.gz" 2>/dev/null | grep -q '^Comment: a 2 s window' || fail "the second window is not its own 2 s"

echo "== a request without seconds starts tracking; --heap-idle ends it"
wait_for 15 detached || fail "probes still attached after the windows"
n0=$(attaches)
[ "$(http GET /debug/pprof/heap)" = 200 ] || fail "heap: HTTP $(cat "$TMP/b")"
wait_for 10 attached_more_than "$n0" || fail "a heap request did not start tracking ($(attaches) attaches, $(links) links)"
go tool pprof -raw "$TMP/b" 2>/dev/null | grep -q '^Comment: heap tracking started at .* by this request' ||
	fail "the first profile does not say tracking started"
cmd "alloc b 1024 4096"
[ "$(http GET '/debug/pprof/heap?debug=1')" = 200 ] || fail "heap?debug=1"
grep -q '^# Note = heap tracking since .* it stops after 3s without a' "$TMP/b" || fail "debug=1 does not say since when it tracks: $(grep Note "$TMP/b")"
grep -q 'site_b' "$TMP/b" || fail "tracked allocations missing from debug=1"
wait_for 20 detached || fail "probes still attached 20 s after the last request (--heap-idle 3s)"
grep -qE 'heap probes of process [0-9]+( \([^)]*\))? detached: no request for --heap-idle' "$TMP/profd.err" || fail "idle detach not logged"
index_says() { [ "$(http GET /debug/pprof/)" = 200 ] && grep -q "$1" "$TMP/b"; }
wait_for 10 index_says 'No probe attached' || fail "index after idle detach: $(grep heap "$TMP/b")"
kill -TERM "$PROFD_PID"
wait_profd_exit 10

echo "== the budget: a target allocating at full speed"
cmd "spin"
wait_for 60 grep -q '^rate' "$TMP/target.out" || fail "the spinner does not report its rate"
# its rate before profd: the median of four readings
before=$(grep -c '^rate' "$TMP/target.out")
wait_for 60 lines_above '^rate' $((before + 3)) || fail "no rate readings"
r0=$(grep '^rate' "$TMP/target.out" | tail -n 4 | awk '{ print $2 }' | sort -n | awk 'NR == 2 || NR == 3 { s += $1 } END { print int(s / 2) }')
echo "spinner rate without probes: $r0 pairs/s"
start_profd --pid "$TARGET_PID" --log-level debug
[ "$(http GET /debug/pprof/heap)" = 200 ] || fail "heap with the default budget: HTTP $(head -c 300 "$TMP/b")"
wait_for 10 grep -q 'heap probes paused at' "$TMP/profd.err" || fail "probes not paused while the allocator is called at full speed"
wait_for 10 detached || fail "probes still attached after the pause"
# profd's own clock: from attach to the decision
t_att=$(grep -m1 -E 'heap probes of process [0-9]+( \([^)]*\))? attached' "$TMP/profd.err" | sed -E 's/^profd: [0-9-]+T([0-9:.]+)Z.*/\1/')
t_pause=$(grep -m1 'heap probes paused at' "$TMP/profd.err" | sed -E 's/^profd: [0-9-]+T([0-9:.]+)Z.*/\1/')
took=$(awk -v a="$t_att" -v b="$t_pause" 'BEGIN { split(a, x, ":"); split(b, y, ":");
	print (y[1] * 3600 + y[2] * 60 + y[3]) - (x[1] * 3600 + x[2] * 60 + x[3]) }')
echo "probes paused $took s after they were attached"
awk -v t="$took" 'BEGIN { exit !(t >= 0 && t <= 1.5) }' || fail "the probes cost above the budget for $took s"
grep -q 'warning: heap probes paused at .*the allocator was called [0-9]* times/s; at [0-9.]* us per call that would cost the target [0-9]*% of its CPU; budget 2% (--heap-budget)' "$TMP/profd.err" ||
	fail "the log does not say why: $(grep paused "$TMP/profd.err")"
[ "$(http GET /debug/pprof/)" = 200 ] && grep -q 'heap probes paused at .*budget 2%' "$TMP/b" || fail "the index does not say the probes are paused"
[ "$(http GET /debug/pprof/heap)" = 200 ] || fail "heap while paused"
go tool pprof -raw "$TMP/b" 2>/dev/null | grep -q '^Comment: heap probes paused at .*budget 2% (--heap-budget)' ||
	fail "the profile does not say the probes are paused"
detached || fail "a request during the backoff attached the probes again"
# the target's allocation rate recovers
after=$(grep -c '^rate' "$TMP/target.out")
wait_for 60 lines_above '^rate' $((after + 3)) || fail "no rate readings after the pause"
r1=$(grep '^rate' "$TMP/target.out" | tail -n 4 | awk '{ print $2 }' | sort -n | awk 'NR == 2 || NR == 3 { s += $1 } END { print int(s / 2) }')
echo "spinner rate after the pause: $r1 pairs/s"
awk -v a="$r1" -v b="$r0" 'BEGIN { exit !(a >= b / 2) }' || fail "the target's rate did not recover: $r1 pairs/s after, $r0 before"
kill -TERM "$PROFD_PID"
wait_profd_exit 10

echo "== --heap-budget 100: never paused"
start_profd --pid "$TARGET_PID" --heap-budget 100 --log-level debug
[ "$(http GET /debug/pprof/heap)" = 200 ] || fail "heap with --heap-budget 100"
attached_more_than 0 || fail "not attached"
# twelve budget checks' worth of full-speed allocation
sleep 3
attached_more_than 0 || fail "detached with --heap-budget 100"
grep -q 'paused' "$TMP/profd.err" && fail "paused with --heap-budget 100: $(grep paused "$TMP/profd.err")"
[ "$(http GET /debug/pprof/)" = 200 ] && grep -q 'estimated at [0-9.]*% of the target.*CPU time (budget 100%)' "$TMP/b" ||
	fail "the index does not state the cost: $(grep heap: "$TMP/b")"
cmd "stop"
echo ok
