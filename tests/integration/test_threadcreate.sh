#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# /debug/pprof/threadcreate against tests/targets/thread_sites: after profd attached, the target
# creates 3 threads from create_site_a and 5 from create_site_b: exactly those counts under each
# site, the thread that existed at attach under "created before profd attached", Go's sample
# type, the index lists it with its count; goroutine?debug=2 ends each new thread's block with
# Go's "created by create_site_X in goroutine MAIN" and its location; over a set, pid labels
# and the same trailers.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"

# cum_count FILE FUNC: the threads created under FUNC (0 if absent)
cum_count() {
	go tool pprof -top -cum -nodecount=1000 "$1" 2>/dev/null |
		awk -v fn="$2" '{ name = $6; for (i = 7; i <= NF; i++) name = name " " $i }
			name == fn { print $4 + 0; found = 1; exit } END { if (!found) print 0 }'
}

start_target thread_sites "$TMP/go" 3 5
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "thread_sites did not start"
start_profd --pid "$TARGET_PID"
touch "$TMP/go"
wait_for 10 grep -q '^done' "$TMP/target.out" || fail "thread_sites did not create its threads"

echo "== counts per creating site"
[ "$(http GET /debug/pprof/threadcreate)" = 200 ] || fail "threadcreate: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/tc.pb.gz"
go tool pprof -raw "$TMP/tc.pb.gz" >"$TMP/tc.raw" 2>&1 || fail "go tool pprof -raw: $(head -n 5 "$TMP/tc.raw")"
grep -q '^threadcreate/count' "$TMP/tc.raw" || fail "sample type: $(grep -A1 '^Samples' "$TMP/tc.raw")"
a=$(cum_count "$TMP/tc.pb.gz" create_site_a)
b=$(cum_count "$TMP/tc.pb.gz" create_site_b)
before=$(cum_count "$TMP/tc.pb.gz" "created before profd attached")
echo "create_site_a $a, create_site_b $b, before $before"
[ "$a" = 3 ] || fail "create_site_a created $a threads, expected 3"
[ "$b" = 5 ] || fail "create_site_b created $b threads, expected 5"
[ "$before" = 1 ] || fail "$before threads counted as created before profd attached, expected 1 (main)"
go tool pprof -traces "$TMP/tc.pb.gz" 2>/dev/null | grep -A8 create_site_a | grep -q main || fail "create_site_a's stack does not reach main"
echo ok

echo "== the index lists it with its count"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index"
grep -q "<tr><td>9</td><td><a href='threadcreate?debug=1'>" "$TMP/b" || fail "the index does not list threadcreate with 9: $(grep threadcreate "$TMP/b")"
[ "$(http GET '/debug/pprof/threadcreate?debug=1')" = 200 ] || fail "threadcreate?debug=1"
grep -q create_site_b "$TMP/b" || fail "debug=1 does not name create_site_b"
echo ok

echo "== goroutine?debug=2: threads created after attach end with Go's 'created by'"
[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "goroutine?debug=2: HTTP $(head -c 300 "$TMP/b")"
na=$(grep -c "^created by create_site_a in goroutine $TARGET_PID\$" "$TMP/b")
nb=$(grep -c "^created by create_site_b in goroutine $TARGET_PID\$" "$TMP/b")
[ "$na" = 3 ] && [ "$nb" = 5 ] || fail "created by: $na create_site_a, $nb create_site_b (expected 3 and 5): $(grep -A1 '^created by' "$TMP/b")"
grep -A1 '^created by create_site_a' "$TMP/b" | grep -qE $'^\t.*thread_sites\.c:[0-9]+ \+0x[0-9a-f]+$' ||
	fail "the line after 'created by' is not FILE:LINE +0xOFF: $(grep -A1 '^created by' "$TMP/b" | head -n 2)"
# the main thread existed before: its block (the first) has no trailer
awk 'NR > 1 && /^goroutine / { exit } /^created by/ { bad = 1 } END { exit bad }' "$TMP/b" ||
	fail "the main thread's block has a 'created by' line"
# each trailer ends its block (a blank line or the end follows its location line)
awk '/^created by/ { c = NR } c && NR == c + 2 && $0 != "" { bad = 1 } END { exit bad }' "$TMP/b" ||
	fail "a 'created by' trailer does not end its block"
echo ok

echo "== over a set: pid labels"
send TERM "$PROFD_PID"
wait_profd_exit 20
start_profd --pid "$TARGET_PID" --children
[ "$(http GET "/debug/pprof/threadcreate?pid=$TARGET_PID")" = 200 ] || fail "threadcreate?pid: HTTP $(head -c 300 "$TMP/b")"
go tool pprof -tags "$TMP/b" 2>/dev/null | grep -q " $TARGET_PID\$" || fail "no pid label: $(go tool pprof -tags "$TMP/b" 2>&1)"
[ "$(cum_count "$TMP/b" "created before profd attached")" = 9 ] || fail "9 threads existed when the second profd attached"
echo ok

echo "== over a set: 'created by' for threads created after attach"
send TERM "$PROFD_PID"
wait_profd_exit 20
start_target thread_sites "$TMP/go2" 2 1
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "the second thread_sites did not start"
start_profd --pid "$TARGET_PID" --children
touch "$TMP/go2"
wait_for 10 grep -q '^done' "$TMP/target.out" || fail "the second thread_sites did not create its threads"
[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "set debug=2: HTTP $(head -c 300 "$TMP/b")"
grep -q "^process $TARGET_PID (thread_sites): 4 threads" "$TMP/b" || fail "set dump: no process line: $(head -n 3 "$TMP/b")"
na=$(grep -c "^created by create_site_a in goroutine $TARGET_PID\$" "$TMP/b")
nb=$(grep -c "^created by create_site_b in goroutine $TARGET_PID\$" "$TMP/b")
[ "$na" = 2 ] && [ "$nb" = 1 ] ||
	fail "set dump: created by: $na create_site_a, $nb create_site_b (expected 2 and 1): $(text_of "$TMP/b")"
echo ok
