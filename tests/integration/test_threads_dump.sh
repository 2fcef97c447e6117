#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Thread dumps against a busy target (400+ threads, threads created and exiting all the time,
# threads in epoll_wait and sigtimedwait, which a ptrace stop would make fail with EINTR):
# repeated and concurrent goroutine?debug=2 requests all succeed with one block per thread; SIGKILL
# of profd (server and 'profd stacks') caught while it traces a thread leaves every thread running
# and untraced; no blocked syscall of the target ever saw EINTR.
# Every scan of the target's 410 threads is one grep, and every poll a builtin: on a slow host a
# fork per thread per scan took this test past its time limit.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (ptrace)"
mkfifo "$TMP/in"
exec 9<>"$TMP/in" # the target reads commands on stdin: keep it open
# not start_target: an asynchronous command's stdin would be /dev/null
[ -x "$TARGETS/threads_mix" ] || fail "test program threads_mix not built (run make test-bins)"
"$TARGETS/threads_mix" --cond 400 --sleep 40 --pipe 4 --spin 1 --churn 1 --epoll 2 --sigwait 1 <&9 >"$TMP/target.out" 2>&1 &
TARGET_PID=$!
track "$TARGET_PID"
wait_for 20 grep -q '^ready' "$TMP/target.out" || fail "target did not start: $(text_of "$TMP/target.out")"
progress "target threads_mix (pid $TARGET_PID) ready"

_lines_above() { # file count: FILE has more than COUNT lines
	local lines
	mapfile -t lines <"$1"
	[ ${#lines[@]} -gt "$2" ]
}

# target_stat KEY: sets STAT to the target's counter KEY, from a fresh stats line. Not to be
# called in $(...): its fail must end the test, not a subshell.
target_stat() {
	local lines
	mapfile -t lines <"$TMP/target.out"
	echo stats >&9
	wait_for -m "the target's answer to 'stats'" 10 _lines_above "$TMP/target.out" ${#lines[@]} ||
		fail "target does not answer 'stats' (it $(alive "$TARGET_PID" && echo runs || echo "has exited")): $(tail -n 3 "$TMP/target.out")"
	mapfile -t lines <"$TMP/target.out"
	[[ " ${lines[-1]}" =~ \ $1=(-?[0-9]+) ]] || fail "no $1 in the target's stats line: ${lines[-1]}"
	STAT=${BASH_REMATCH[1]}
}

# traced_by PID: some thread of the target is traced by a thread of process PID right now
# (TracerPid names the tracer *thread*: profd traces from a worker thread). One grep over the
# target's threads; a thread that exits during the scan is skipped.
traced_by() {
	local tracer
	for tracer in $(grep -shE '^TracerPid:[[:space:]]*[1-9]' /proc/"$TARGET_PID"/task/*/status); do
		[ "$tracer" = TracerPid: ] || [ ! -e /proc/"$1"/task/"$tracer" ] || return 0
	done
	return 1
}

# show_stopped WHEN: lists the threads that no_thread_stopped objects to, and fails
show_stopped() {
	show_stopped_threads "$TARGET_PID" >&2
	ps -eLf | grep -E '[p]rofd' >&2
	fail "threads left stopped or traced $1"
}

stopped() {
	proc_state "$1" && [ "$PROC_STATE" = T ]
}

start_profd --pid "$TARGET_PID"
progress "profd (pid $PROFD_PID) serves $ADDR"

# repeated dumps while threads come and go: never an error, one block per listed thread
for i in 1 2 3 4 5; do
	[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "debug=2 status: $(text_of "$TMP/b")"
	n=$(grep -cE '^goroutine [0-9]+ \[.*\]:$' "$TMP/b")
	[ "$n" -ge 410 ] || fail "dump $i has only $n blocks"
	grep -qE '^goroutine [0-9]+ \[sleeping: futex, "cond-399"\]:$' "$TMP/b" || fail "cond-399 missing"
	progress "dump $i: $n blocks"
done

# two concurrent dumps do not interfere
curl -s -o "$TMP/c1" -w '%{http_code}' --max-time 120 "$BASE/goroutine?debug=2" >"$TMP/c1.code" &
c1=$!
curl -s -o "$TMP/c2" -w '%{http_code}' --max-time 120 "$BASE/goroutine?debug=1" >"$TMP/c2.code" &
c2=$!
waiting "two concurrent dumps (curl --max-time 120)" 120
wait $c1 $c2
waited
[ "$(cat "$TMP/c1.code")" = 200 ] && [ "$(cat "$TMP/c2.code")" = 200 ] ||
	fail "concurrent dumps failed: HTTP $(cat "$TMP/c1.code") and $(cat "$TMP/c2.code")"
[ "$(grep -cE '^goroutine [0-9]+ \[.*\]:$' "$TMP/c1")" -ge 410 ] || fail "concurrent debug=2 incomplete"
grep -qE '^goroutine profile: total [0-9]+$' "$TMP/c2" || fail "concurrent debug=1 incomplete"
grep -qE '^400 @( 0x[0-9a-f]+)+$' "$TMP/c2" || fail "debug=1 lacks the group of 400 cond waiters"
progress "two concurrent dumps: both complete"

# catch_mid_capture PID: freezes PID (SIGSTOP) at moments when it holds a thread of the target
# stopped; returns 0 with PID frozen in that state, 1 if that never happened within 400 tries.
# Sets TRIES to the number of tries.
catch_mid_capture() {
	for ((TRIES = 1; TRIES <= 400; TRIES++)); do
		alive "$1" || return 1
		send STOP "$1"
		wait_for -m "pid $1 to stop on SIGSTOP" 2 stopped "$1"
		traced_by "$1" && return 0
		send CONT "$1"
		nap "0.00$((RANDOM % 10))"
	done
	return 1
}

# request_loop: debug=2 requests one after another while profd lives, so that it is always
# capturing; after a failed request it pauses, and it ends when profd is gone (never spinning
# against a closed port)
request_loop() {
	while alive "$PROFD_PID"; do
		curl -s -o /dev/null --max-time 60 "$BASE/goroutine?debug=2" || nap 0.2
	done
}

# The kills below test the ptrace path: with the task iterator profd stops only running threads,
# too seldom to be caught at it. Every profd from here on stops every thread.
export PROFD_THREAD_DUMP=ptrace
kill "$PROFD_PID"; wait "$PROFD_PID" 2>/dev/null; start_profd --pid "$TARGET_PID"

# SIGKILL of the server while it holds a thread stopped: every thread runs on, none stays traced
for round in 1 2 3; do
	request_loop &
	loop=$!
	track "$loop"
	stamp t0
	catch_mid_capture "$PROFD_PID" || fail "round $round: never caught profd mid-capture in $TRIES tries"
	stamp t1
	progress "round $round: caught profd mid-capture after $TRIES tries ($((t1 - t0)) ms)"
	send KILL "$PROFD_PID"
	wait_for 5 no_thread_stopped "$TARGET_PID" || show_stopped "after SIGKILL (round $round)"
	stamp t2
	progress "round $round: no thread stopped or traced $((t2 - t1)) ms after the SIGKILL"
	wait_for -m "the request loop to end with profd" 10 gone "$loop" || fail "the request loop outlived profd"
	wait "$loop" 2>/dev/null
	wait "$PROFD_PID" 2>/dev/null
	start_profd --pid "$TARGET_PID"
	progress "round $round: profd restarted (pid $PROFD_PID)"
done

# the same for the one-shot command (a dump of 400+ threads takes long enough to catch)
caught=0
for round in 1 2 3 4 5 6; do
	"$PROFD" stacks --pid "$TARGET_PID" >/dev/null 2>&1 &
	sp=$!
	track "$sp"
	stamp t0
	if catch_mid_capture "$sp"; then
		caught=$((caught + 1))
		stamp t1
		progress "stacks round $round: caught profd stacks mid-capture after $TRIES tries ($((t1 - t0)) ms)"
	else
		progress "stacks round $round: profd stacks finished before it was caught ($TRIES tries)"
	fi
	send KILL "$sp" # (it may have finished: its PID may be a target thread's by now)
	wait_for -m "profd stacks (pid $sp) to end after SIGKILL" 10 gone "$sp" || fail "profd stacks survived SIGKILL"
	wait "$sp" 2>/dev/null
	wait_for 5 no_thread_stopped "$TARGET_PID" || show_stopped "after SIGKILL of profd stacks"
done
[ "$caught" -ge 1 ] || fail "never caught profd stacks mid-capture"

alive "$TARGET_PID" || fail "target died"
target_stat eintr
[ "$STAT" = 0 ] || fail "a blocked syscall of the target saw EINTR ($STAT times)"
no_thread_stopped "$TARGET_PID" || show_stopped "at the end"
progress "done: caught profd stacks $caught times in 6 rounds; no EINTR"
