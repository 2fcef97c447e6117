#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Thread dumps against a busy target (400+ threads, threads created and exiting all the time,
# threads in epoll_wait and sigtimedwait, which a ptrace stop would make fail with EINTR):
# repeated and concurrent goroutine?debug=2 requests all succeed with one block per thread; SIGKILL
# of profd (server and 'profd stacks') caught while it traces a thread leaves every thread running
# and untraced; no blocked syscall of the target ever saw EINTR.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (ptrace)"
mkfifo "$TMP/in"
exec 9<>"$TMP/in" # the target reads commands on stdin: keep it open
# not start_target: an asynchronous command's stdin would be /dev/null
[ -x "$TARGETS/threads_mix" ] || fail "test program threads_mix not built (run make test-bins)"
"$TARGETS/threads_mix" --cond 400 --sleep 40 --pipe 4 --spin 1 --churn 1 --epoll 2 --sigwait 1 <&9 >"$TMP/target.out" 2>&1 &
TARGET_PID=$!
track "$TARGET_PID"
wait_for 20 grep -q '^ready' "$TMP/target.out" || fail "target did not start"

# stats KEY: the target's counter, from a fresh stats line
stats() {
	local before
	before=$(grep -c . "$TMP/target.out")
	echo stats >&9
	wait_for 10 test "$(grep -c . "$TMP/target.out")" -gt "$before" || fail "target does not answer"
	tail -n 1 "$TMP/target.out" | sed -n "s/.*\b$1=\([0-9-]*\).*/\1/p"
}

# traced_by PID: some thread of the target is traced by a thread of process PID right now
# (TracerPid names the tracer *thread*: profd traces from a worker thread)
traced_by() {
	local t
	for t in /proc/"$1"/task/*; do
		grep -qs "^TracerPid:[[:space:]]*${t##*/}\$" /proc/"$TARGET_PID"/task/*/status && return 0
	done
	return 1
}

# none_stopped PID: like lib.sh's no_thread_stopped, but a thread that exits during the scan
# (this target churns threads) is not counted as stopped
none_stopped() {
	local t st status
	for t in /proc/"$1"/task/*; do
		st=$(sed 's/.*) //' "$t/stat" 2>/dev/null | cut -d' ' -f1)
		status=$(cat "$t/status" 2>/dev/null) || continue
		[ -n "$st" ] || continue
		case "$st" in t|T) return 1 ;; esac
		grep -q '^TracerPid:[[:space:]]*0$' <<<"$status" || return 1
	done
	return 0
}

# show_stopped WHEN: lists the threads that none_stopped objects to, and fails
show_stopped() {
	local t
	for t in /proc/"$TARGET_PID"/task/*; do
		echo "${t##*/} $(sed 's/.*) //' "$t/stat" 2>/dev/null | cut -d' ' -f1)" \
			"$(grep TracerPid "$t/status" 2>/dev/null)"
	done | grep -Ev ' [SRD] TracerPid:.0$|^[0-9]+  $' >&2
	ps -eLf | grep -E '[p]rofd' >&2
	fail "threads left stopped or traced $1"
}

# alive PID: running and not a zombie
alive() {
	[ -e /proc/"$1" ] && [ "$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -d' ' -f1)" != Z ]
}

caught_or_done() {
	traced_by "$1" || ! alive "$1"
}

start_profd --pid "$TARGET_PID"

# repeated dumps while threads come and go: never an error, one block per listed thread
for i in 1 2 3 4 5; do
	[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "debug=2 status: $(cat "$TMP/b")"
	n=$(grep -cE '^goroutine [0-9]+ \[.*\]:$' "$TMP/b")
	[ "$n" -ge 410 ] || fail "dump $i has only $n blocks"
	grep -qE '^goroutine [0-9]+ \[sleeping: futex, "cond-399"\]:$' "$TMP/b" || fail "cond-399 missing"
done

# two concurrent dumps do not interfere
curl -s -o "$TMP/c1" -w '%{http_code}' "$BASE/goroutine?debug=2" >"$TMP/c1.code" &
c1=$!
curl -s -o "$TMP/c2" -w '%{http_code}' "$BASE/goroutine?debug=1" >"$TMP/c2.code" &
c2=$!
wait $c1 $c2
[ "$(cat "$TMP/c1.code")" = 200 ] && [ "$(cat "$TMP/c2.code")" = 200 ] || fail "concurrent dumps failed"
[ "$(grep -cE '^goroutine [0-9]+ \[.*\]:$' "$TMP/c1")" -ge 410 ] || fail "concurrent debug=2 incomplete"
grep -qE '^goroutine profile: total [0-9]+$' "$TMP/c2" || fail "concurrent debug=1 incomplete"
grep -qE '^400 @( 0x[0-9a-f]+)+$' "$TMP/c2" || fail "debug=1 lacks the group of 400 cond waiters"

# catch_mid_capture PID: freezes PID (SIGSTOP) at moments when it holds a thread of the target
# stopped; returns 0 with PID frozen in that state, 1 if that never happened within 400 tries.
catch_mid_capture() {
	local try
	for ((try = 0; try < 400; try++)); do
		alive "$1" || return 1
		kill -STOP "$1" 2>/dev/null
		wait_for 2 stopped "$1"
		traced_by "$1" && return 0
		kill -CONT "$1" 2>/dev/null
		sleep "0.00$((RANDOM % 10))"
	done
	return 1
}
stopped() {
	[ "$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -d' ' -f1)" = T ]
}

# The kills below test the ptrace path: with the task iterator profd stops only running threads,
# too seldom to be caught at it. Every profd from here on stops every thread.
export PROFD_THREAD_DUMP=ptrace
kill "$PROFD_PID"; wait "$PROFD_PID" 2>/dev/null; start_profd --pid "$TARGET_PID"

# SIGKILL of the server while it holds a thread stopped: every thread runs on, none stays traced
for round in 1 2 3; do
	( while true; do curl -s -o /dev/null "$BASE/goroutine?debug=2"; done ) &
	loop=$!
	track "$loop"
	catch_mid_capture "$PROFD_PID" || fail "never caught profd mid-capture"
	kill -KILL "$PROFD_PID"
	wait_for 5 none_stopped "$TARGET_PID" || show_stopped "after SIGKILL (round $round)"
	kill "$loop" 2>/dev/null
	wait "$loop" 2>/dev/null
	wait "$PROFD_PID" 2>/dev/null
	start_profd --pid "$TARGET_PID"
done

# the same for the one-shot command (a dump of 400+ threads takes long enough to catch)
caught=0
for round in 1 2 3 4 5 6; do
	"$PROFD" stacks --pid "$TARGET_PID" >/dev/null 2>&1 &
	sp=$!
	track "$sp"
	if catch_mid_capture "$sp"; then
		caught=$((caught + 1))
	fi
	kill -KILL "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	wait_for 5 none_stopped "$TARGET_PID" || show_stopped "after SIGKILL of profd stacks"
done
[ "$caught" -ge 1 ] || fail "never caught profd stacks mid-capture"

kill -0 "$TARGET_PID" || fail "target died"
[ "$(stats eintr)" = 0 ] || fail "a blocked syscall of the target saw EINTR"
none_stopped "$TARGET_PID" || show_stopped "at the end"
