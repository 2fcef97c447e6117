#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A process is alive while any of its threads is: a program whose main thread called
# pthread_exit() while others run (a zombie main thread) is profiled like any other, whether
# profd attaches before or after that; it is declared gone only when its last thread exits.
# A live target churning threads and mappings is never declared dead while profd attaches.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (ptrace, BPF)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"

main_state() { sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -d' ' -f1; }
main_is_zombie() { [ "$(main_state "$1")" = Z ]; }

# checks every profile of the target at $BASE; $1 says when
check_profiles() {
	[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "$1: thread dump: HTTP $(head -c 300 "$TMP/b")"
	grep -qE '^goroutine [0-9]+ \[.*"spinner"\]:$' "$TMP/b" || fail "$1: the dump lacks the spinner: $(head -20 "$TMP/b")"
	grep -q 'spin_here' "$TMP/b" || fail "$1: the spinner's stack is missing"
	[ "$(http GET /debug/pprof/cmdline)" = 200 ] || fail "$1: cmdline: HTTP $(cat "$TMP/b")"
	tr '\0' ' ' <"$TMP/b" | grep -q zombie_leader || fail "$1: cmdline is '$(tr '\0' ' ' <"$TMP/b")'"
	[ "$(http GET '/debug/pprof/profile?seconds=2')" = 200 ] || fail "$1: CPU profile: HTTP $(head -c 300 "$TMP/b")"
	go tool pprof -top "$TMP/b" 2>/dev/null | grep -q spin_here || fail "$1: CPU profile lacks spin_here"
	[ "$(http GET '/debug/pprof/heap?seconds=3')" = 200 ] || fail "$1: heap window: HTTP $(head -c 300 "$TMP/b")"
	go tool pprof -top -sample_index=alloc_space "$TMP/b" 2>/dev/null | grep -q alloc_here ||
		fail "$1: heap window lacks alloc_here: $(go tool pprof -raw "$TMP/b" 2>&1 | head -30)"
	[ "$(http GET /debug/pprof/)" = 200 ] && grep -q 'zombie_leader' "$TMP/b" || fail "$1: index"
}

echo "== attach after the main thread exited"
start_target zombie_leader --exit-now
wait_for 10 grep -q '^main exiting' "$TMP/target.out" || fail "target did not start"
wait_for 10 main_is_zombie "$TARGET_PID" || fail "the main thread did not become a zombie ($(main_state "$TARGET_PID"))"
start_profd --pid "$TARGET_PID" --heap-rate 16384 --heap-budget 100
check_profiles "attached to a zombie main thread"
kill -KILL "$TARGET_PID"
wait_profd_exit 10
[ "$PROFD_STATUS" = 3 ] || fail "profd did not exit 3 when the process ended (status $PROFD_STATUS)"

echo "== the main thread exits while profd is attached"
mkfifo "$TMP/in"
exec 9<>"$TMP/in"
"$TARGETS/zombie_leader" <&9 >"$TMP/target.out" 2>&1 &
TARGET_PID=$!
track "$TARGET_PID"
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "target did not start"
start_profd --pid "$TARGET_PID" --heap-rate 16384 --heap-budget 100
[ "$(http GET '/debug/pprof/goroutine?debug=1')" = 200 ] || fail "dump before the main thread exits"
echo go >&9
wait_for 10 main_is_zombie "$TARGET_PID" || fail "the main thread did not become a zombie"
check_profiles "after the main thread exited"
kill -0 "$PROFD_PID" 2>/dev/null || fail "profd exited when the main thread did"
grep -q 'exited' "$TMP/profd.err" && fail "profd said the target exited: $(grep exited "$TMP/profd.err")"
kill -KILL "$TARGET_PID"
wait_profd_exit 10
[ "$PROFD_STATUS" = 3 ] || fail "profd did not exit 3 when the process ended (status $PROFD_STATUS)"

echo "== attaching to a live target that churns threads and mappings"
mkfifo "$TMP/in2"
exec 8<>"$TMP/in2"
"$TARGETS/threads_mix" --cond 20 --churn 4 --spin 1 <&8 >"$TMP/churn.out" 2>&1 &
CHURN=$!
track "$CHURN"
wait_for 20 grep -q '^ready' "$TMP/churn.out" || fail "threads_mix did not start"
for i in $(seq 10); do
	start_profd --pid "$CHURN"
	[ "$(http GET '/debug/pprof/goroutine?debug=1')" = 200 ] || fail "attach $i: dump: HTTP $(head -c 200 "$TMP/b")"
	kill -TERM "$PROFD_PID"
	wait_profd_exit 10
	[ "$PROFD_STATUS" = 0 ] || fail "attach $i: profd exited $PROFD_STATUS: $(tail -3 "$TMP/profd.err")"
done
kill -0 "$CHURN" || fail "the churning target died"
echo ok
