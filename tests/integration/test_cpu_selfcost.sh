#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# profd's own cost in CPU profiles: a target whose qsort comparator allocates on every call
# (cpu_qsort alloc: malloc, and posix_memalign(16) -> malloc), with the heap probes attached at
# start-up and never paused (--heap inuse --heap-budget 100). The CPU profile names the probes'
# cost "profd: allocator probe", a leaf under malloc/free, with a non-zero share that a comment
# states; at least 99% of its stacks reach the thread's root (no stop at [uprobes]); go tool
# pprof -top, -traces and -raw accept it, and the debug=1 top list names it. Without the heap
# probes (--heap off) there is no such frame.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF, perf events, uprobes)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"
FRAME="profd: allocator probe"

# flat% of the synthetic frame in go tool pprof -top of FILE; 0 if absent
probe_pct() {
	go tool pprof -top -nodecount=1000 "$1" 2>/dev/null |
		awk -v fn="$FRAME" 'substr($0, length($0) - length(fn) + 1) == fn { sub(/%/, "", $2); print $2 + 0; found = 1; exit }
			END { if (!found) print 0 }'
}
# % of samples not unwound to the root, from the profile's comment (0 when there is none)
partial_pct() {
	go tool pprof -raw "$1" 2>/dev/null |
		sed -n 's/^Comment: .*samples (\([0-9.]*\)%) fell short of the thread.s start.*/\1/p' | awk '{ v = $1 } END { print v + 0 }'
}

stop_profd() {
	kill "$PROFD_PID" 2>/dev/null
	wait "$PROFD_PID" 2>/dev/null
}

start_target cpu_qsort alloc 300
wait_for 10 grep -q ready "$TMP/target.out" || fail "cpu_qsort did not start"

echo "== heap probes attached"
start_profd --pid "$TARGET_PID" --heap inuse --heap-budget 100 --cpu-hz 1000
code=$(curl -s -o "$TMP/p.pb.gz" -w '%{http_code}' --max-time 60 "$BASE/profile?seconds=8")
[ "$code" = 200 ] || fail "profile: HTTP $code: $(head -c 300 "$TMP/p.pb.gz")"
go tool pprof -raw "$TMP/p.pb.gz" >"$TMP/p.raw" 2>&1 || fail "pprof -raw rejects the profile: $(head "$TMP/p.raw")"
go tool pprof -top "$TMP/p.pb.gz" >"$TMP/p.top" 2>&1 || fail "pprof -top rejects the profile: $(head "$TMP/p.top")"
go tool pprof -traces "$TMP/p.pb.gz" >"$TMP/p.traces" 2>&1 || fail "pprof -traces rejects the profile"
grep '^Comment:' "$TMP/p.raw"
share=$(probe_pct "$TMP/p.pb.gz")
partial=$(partial_pct "$TMP/p.pb.gz")
echo "profd: allocator probe: $share% flat; not unwound to the root: $partial%"
awk -v s="$share" 'BEGIN { exit !(s > 5) }' || fail "the probes' frame has $share% of the profile: $(head -n 20 "$TMP/p.top")"
awk -v p="$partial" 'BEGIN { exit !(p <= 1) }' || fail "$partial% of the stacks stop before the thread's root"
grep -q "^Comment: [0-9.]*% of this profile's samples ([0-9.]* s of CPU) were profd's allocator probes" "$TMP/p.raw" ||
	fail "no comment states the probes' share"
# each trace whose leaf is the probes' frame continues with the probed function (or, for a
# return probe, its caller compare) and ends at main's callers
awk -v fn="$FRAME" '
	/^-----------/ { if (leaf == fn) { n++; if (second ~ /malloc|free|memalign|compare/ && sawmain) ok++ }
			 leaf = second = ""; line = sawmain = 0; next }
	/^ +[0-9.]+m?s +/ { line = 1; sub(/^ +[0-9.]+m?s +/, ""); leaf = $0; next }
	line == 1 { sub(/^ +/, ""); second = $0; line = 2; next }
	/ main$/ { sawmain = 1 }
	END { printf "%d traces with the probes frame as leaf, %d under an allocator function down to main\n", n, ok
	      exit !(n > 0 && ok >= 0.95 * n) }' "$TMP/p.traces" || fail "the probes' frame is not a leaf under malloc/free: $(head -n 40 "$TMP/p.traces")"
# it is never anything but the leaf
awk -v fn="$FRAME" '/^-----------/ { inblk = 1; leaf = 0; next } /^ +[0-9.]+m?s +/ { leaf = 1; next }
	inblk && leaf && index($0, fn) { bad = 1 } END { exit bad }' \
	"$TMP/p.traces" || fail "the probes' frame appears under another frame"
code=$(http GET "/debug/pprof/profile?seconds=1&debug=1")
[ "$code" = 200 ] || fail "debug=1: HTTP $code"
grep -q "$FRAME" "$TMP/b" || fail "the debug=1 top list does not name the probes: $(head "$TMP/b")"
stop_profd

echo "== no heap probes"
start_profd --pid "$TARGET_PID" --heap off --cpu-hz 1000
code=$(curl -s -o "$TMP/q.pb.gz" -w '%{http_code}' --max-time 60 "$BASE/profile?seconds=2")
[ "$code" = 200 ] || fail "profile without heap probes: HTTP $code"
go tool pprof -traces "$TMP/q.pb.gz" >"$TMP/q.traces" 2>&1 || fail "pprof -traces rejects the profile"
grep -q "$FRAME" "$TMP/q.traces" && fail "the probes' frame without heap probes"
grep -q 'hot_a' "$TMP/q.traces" || fail "the profile without heap probes lacks hot_a"
echo "ok"
