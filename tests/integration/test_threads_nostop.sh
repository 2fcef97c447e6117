#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Thread dumps that stop no thread (the BPF task iterator), counted from outside with strace:
# - a target whose threads all block (futex, pipe read, epoll_wait, sigtimedwait): debug=2,
#   debug=1, debug=0 and 'profd stacks' make not one ptrace call, and still show every stack;
# - with a spinner: it is still captured (its frames are there); if anything is stopped, it is
#   the spinner and nothing else;
# - a set of processes (--pid P --children: a shell and two threads_mix): one iterator loaded
#   for all of them, every process's threads read, not one ptrace call, in 'profd stacks' and
#   the daemon (also with ?pid=);
# - a kernel that refuses the iterator (simulated: PROFD_TASKITER_SIMULATE=reject) and
#   --thread-dump ptrace: one log line says why, the index says it too, no verifier log is
#   printed, and dumps stop the threads with ptrace, as before.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF, ptrace)"
command -v strace >/dev/null || skip "strace is not installed (apt-get install strace)"
[ -x "$TARGETS/threads_mix" ] || fail "test program threads_mix not built (run make test-bins)"

# start_mix NAME ARGS...: a threads_mix reading commands from a FIFO this shell holds open
start_mix() {
	local name="$1"; shift
	mkfifo "$TMP/$name.in"
	exec {fd}<>"$TMP/$name.in"
	"$TARGETS/threads_mix" "$@" <"$TMP/$name.in" >"$TMP/$name.out" 2>&1 &
	TARGET_PID=$!
	track "$TARGET_PID"
	wait_for 20 grep -q '^ready' "$TMP/$name.out" || fail "target $name did not start: $(text_of "$TMP/$name.out")"
	progress "target $name (pid $TARGET_PID) ready"
}

# strace_on PID: traces the ptrace calls of every thread of PID into $TMP/strace.out
strace_on() {
	: >"$TMP/strace.out"
	strace -f -qq -e trace=ptrace -o "$TMP/strace.out" -p "$1" 2>"$TMP/strace.err" &
	STRACE_PID=$!
	track "$STRACE_PID"
	wait_for 10 grep -Eq "^TracerPid:[[:space:]]*$STRACE_PID\$" /proc/"$1"/status ||
		fail "strace did not attach: $(text_of "$TMP/strace.err")"
}
strace_off() {
	send INT "$STRACE_PID"
	wait "$STRACE_PID" 2>/dev/null
}

# stop_profd: SIGTERM, and its clean exit
stop_profd() {
	send TERM "$PROFD_PID"
	wait_profd_exit 20
	[ "$PROFD_STATUS" = 0 ] || fail "profd ended with status $PROFD_STATUS after SIGTERM"
}
ptrace_calls() { grep -c 'ptrace(' "$TMP/strace.out"; }

blocks() { grep -cE '^goroutine [0-9]+ \[.*\]:$' "$1"; }

# block_of NAME FILE: the debug=2 block of the thread named NAME
block_of() { awk -v n="\"$1\"]:" '/^goroutine /{p = index($0, n) > 0} p' "$2"; }

# ---- every thread blocked: no ptrace at all
start_mix blocked --cond 20 --pipe 4 --epoll 2 --sigwait 1
nthreads=$(ls /proc/"$TARGET_PID"/task | wc -l)
start_profd --pid "$TARGET_PID"
! grep -q 'thread dumps will stop' "$TMP/profd.err" || fail "profd did not use the task iterator: $(text_of "$TMP/profd.err")"
strace_on "$PROFD_PID"
[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "debug=2 status"
cp "$TMP/b" "$TMP/blocked.txt"
[ "$(http GET '/debug/pprof/goroutine?debug=1')" = 200 ] || fail "debug=1 status"
grep -qE '^20 @( 0x[0-9a-f]+)+$' "$TMP/b" || fail "debug=1 lacks the group of 20 cond waiters: $(head -5 "$TMP/b")"
[ "$(http GET '/debug/pprof/goroutine')" = 200 ] || fail "debug=0 status"
[ "$(http GET '/debug/pprof/')" = 200 ] || fail "index status"
cp "$TMP/b" "$TMP/index.html"
strace_off
progress "daemon, all threads blocked: $(ptrace_calls) ptrace calls"
[ "$(ptrace_calls)" = 0 ] || fail "dumps of blocked threads made ptrace calls: $(head -5 "$TMP/strace.out")"
[ "$(blocks "$TMP/blocked.txt")" = "$nthreads" ] || fail "debug=2 has $(blocks "$TMP/blocked.txt") blocks for $nthreads threads"
for role in cond-19:cond_leaf pipe-3:pipe_leaf epoll-1:epoll_leaf sigwait-0:sigwait_leaf threads_mix:main; do
	block_of "${role%%:*}" "$TMP/blocked.txt" | grep -q "^${role#*:}(" || fail "${role%%:*} lacks ${role#*:}"
done
block_of cond-0 "$TMP/blocked.txt" | grep -q '^goroutine [0-9]* \[sleeping: futex, "cond-0"\]:$' ||
	fail "cond-0's header: $(block_of cond-0 "$TMP/blocked.txt" | head -1)"
block_of cond-0 "$TMP/blocked.txt" | grep -qP '^\t\[kernel\]:0 \+0x' || fail "cond-0 has no kernel frames"
grep -q 'goroutine: .*without stopping, 0 stopped.*no thread stopped' "$TMP/index.html" ||
	fail "the index does not say no thread was stopped: $(grep goroutine: "$TMP/index.html")"

# the one-shot command, traced from its start
strace -f -qq -e trace=ptrace -o "$TMP/stacks.strace" "$PROFD" stacks --pid "$TARGET_PID" >"$TMP/stacks.txt" 2>"$TMP/stacks.err" ||
	fail "profd stacks: $(text_of "$TMP/stacks.err")"
progress "profd stacks, all threads blocked: $(grep -c 'ptrace(' "$TMP/stacks.strace") ptrace calls"
! grep -q 'ptrace(' "$TMP/stacks.strace" || fail "profd stacks made ptrace calls: $(head -5 "$TMP/stacks.strace")"
[ "$(blocks "$TMP/stacks.txt")" = "$nthreads" ] || fail "profd stacks printed $(blocks "$TMP/stacks.txt") blocks"
grep -q "$nthreads captured ($nthreads without stopping, 0 stopped)" "$TMP/stacks.err" ||
	fail "profd stacks' summary: $(text_of "$TMP/stacks.err")"
stop_profd
no_thread_stopped "$TARGET_PID" || fail "a thread was left stopped"
echo stats >"$TMP/blocked.in"
wait_for 10 grep -q '^eintr=' "$TMP/blocked.out" || fail "the target does not answer"
grep -q '^eintr=0 ' "$TMP/blocked.out" || fail "a blocked syscall saw EINTR: $(grep eintr= "$TMP/blocked.out")"

# ---- a spinner: still captured; only it may be stopped
start_mix spin --cond 4 --spin 1
spin_tid=$(grep -l '^spin-0$' /proc/"$TARGET_PID"/task/*/comm | cut -d/ -f5)
start_profd --pid "$TARGET_PID"
strace_on "$PROFD_PID"
for i in 1 2 3 4 5; do
	[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "debug=2 status (spinner)"
	block_of spin-0 "$TMP/b" | grep -q '^spin_leaf(' || fail "the spinner's stack lacks spin_leaf: $(block_of spin-0 "$TMP/b")"
	block_of cond-3 "$TMP/b" | grep -q '^cond_leaf(' || fail "cond-3 lacks cond_leaf"
done
strace_off
seized=$(grep -o 'PTRACE_SEIZE, [0-9]*' "$TMP/strace.out" | awk '{print $2}' | sort -u)
progress "daemon, with a spinner: $(ptrace_calls) ptrace calls; threads seized: ${seized:-none} (spinner $spin_tid)"
[ -z "$seized" ] || [ "$seized" = "$spin_tid" ] || fail "threads other than the spinner were stopped: $seized"
stop_profd

# ---- the iterator refused (simulated), then turned off: ptrace as before, and said once
for mode in reject ptrace; do
	if [ $mode = reject ]; then
		PROFD_TASKITER_SIMULATE=reject start_profd --pid "$TARGET_PID"
		want='warning: thread dumps will stop every thread, one at a time: the BPF task iterator is unavailable: the kernel refused the program'
	else
		start_profd --pid "$TARGET_PID" --thread-dump ptrace
		want='info: thread dumps stop every thread, one at a time (--thread-dump ptrace)'
	fi
	strace_on "$PROFD_PID"
	seen=0
	for i in 1 2 3; do
		[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "debug=2 status ($mode)"
		[ "$(blocks "$TMP/b")" = 6 ] || fail "debug=2 has $(blocks "$TMP/b") blocks ($mode)"
		# on a loaded machine a thread may not reach its stop in time: it says so, and has no frames
		if block_of cond-0 "$TMP/b" | grep -q '^cond_leaf('; then
			seen=$((seen + 1))
		else
			block_of cond-0 "$TMP/b" | head -1 | grep -q 'stack not captured' ||
				fail "cond-0 lacks cond_leaf ($mode): $(block_of cond-0 "$TMP/b")"
		fi
	done
	[ $seen -ge 1 ] || fail "cond-0 was never captured in 3 dumps ($mode)"
	[ "$(http GET '/debug/pprof/')" = 200 ] || fail "index status ($mode)"
	strace_off
	progress "$mode: $(ptrace_calls) ptrace calls; $(grep -c 'thread dumps' "$TMP/profd.err") log line: $(grep 'thread dumps' "$TMP/profd.err")"
	[ "$(grep -c 'PTRACE_SEIZE' "$TMP/strace.out")" -ge 18 ] || fail "$mode: 3 dumps of 6 threads seized only $(grep -c PTRACE_SEIZE "$TMP/strace.out")"
	[ "$(grep -c 'thread dumps' "$TMP/profd.err")" = 1 ] || fail "$mode: not said exactly once: $(text_of "$TMP/profd.err")"
	grep -qF "$want" "$TMP/profd.err" || fail "$mode: the log does not say why: $(text_of "$TMP/profd.err")"
	! grep -Eq 'libbpf|PROG LOAD LOG|processed [0-9]+ insns' "$TMP/profd.err" "$TMP/profd.out" ||
		fail "$mode: libbpf or the verifier printed: $(grep -E 'libbpf|LOAD LOG' "$TMP/profd.err" | head -3)"
	grep -q 'goroutine: .*6 stopped.*every thread is stopped to be read (ptrace)' "$TMP/b" ||
		fail "$mode: the index does not say why: $(grep goroutine: "$TMP/b")"
	stop_profd
	no_thread_stopped "$TARGET_PID" || fail "$mode: a thread was left stopped"
done

# ---- a set of processes: a shell (blocked in wait4) and its two threads_mix children
mkfifo "$TMP/kid1.in" "$TMP/kid2.in"
exec {kid1_fd}<>"$TMP/kid1.in" {kid2_fd}<>"$TMP/kid2.in"
sh -c '"$1" --cond 3 <"$2" >"$3" 2>&1 & "$1" --cond 5 --pipe 1 <"$4" >"$5" 2>&1 & wait' sh \
	"$TARGETS/threads_mix" "$TMP/kid1.in" "$TMP/kid1.out" "$TMP/kid2.in" "$TMP/kid2.out" &
PARENT_PID=$!
track "$PARENT_PID"
wait_for 20 grep -q '^ready' "$TMP/kid1.out" || fail "the first child did not start: $(text_of "$TMP/kid1.out")"
wait_for 20 grep -q '^ready' "$TMP/kid2.out" || fail "the second child did not start: $(text_of "$TMP/kid2.out")"
read -r -a kids < <(cat /proc/"$PARENT_PID"/task/*/children)
[ ${#kids[@]} = 2 ] || fail "the shell has ${#kids[@]} children, not 2: ${kids[*]}"
for k in "${kids[@]}"; do track "$k"; done
set_threads=0
for p in "$PARENT_PID" "${kids[@]}"; do
	t=(/proc/"$p"/task/*)
	set_threads=$((set_threads + ${#t[@]}))
done
progress "a set: shell $PARENT_PID, children ${kids[*]}, $set_threads threads"

strace -f -qq -e trace=ptrace,bpf -o "$TMP/set.strace" "$PROFD" stacks --pid "$PARENT_PID" --children \
	>"$TMP/set.txt" 2>"$TMP/set.err" || fail "profd stacks --children: $(text_of "$TMP/set.err")"
loads=$(grep -c 'BPF_PROG_LOAD.*prog_name="dump_thread"' "$TMP/set.strace")
progress "profd stacks of the set: $(grep -c 'ptrace(' "$TMP/set.strace") ptrace calls, the iterator loaded $loads times"
! grep -q 'ptrace(' "$TMP/set.strace" || fail "profd stacks --children made ptrace calls: $(grep -m5 'ptrace(' "$TMP/set.strace")"
[ "$loads" = 1 ] || fail "the task iterator was loaded $loads times for a set of 3 processes, not once"
[ "$(grep -cE '^process [0-9]+ \(.*\): [0-9]+ threads?$' "$TMP/set.txt")" = 3 ] ||
	fail "the dump does not have 3 processes: $(grep '^process ' "$TMP/set.txt")"
[ "$(blocks "$TMP/set.txt")" = "$set_threads" ] || fail "the set's dump has $(blocks "$TMP/set.txt") blocks for $set_threads threads"
block_of cond-4 "$TMP/set.txt" | grep -q '^cond_leaf(' || fail "the second child's cond-4 lacks cond_leaf"
[ "$(grep -o '[0-9]* without stopping, 0 stopped' "$TMP/set.err" | wc -l)" = 3 ] ||
	fail "the summary does not say every process was read without stopping: $(text_of "$TMP/set.err")"

# the iterator refused: said once for the set, and every process is dumped with ptrace
PROFD_TASKITER_SIMULATE=reject "$PROFD" stacks --pid "$PARENT_PID" --children >"$TMP/set.txt" 2>"$TMP/set.err" ||
	fail "profd stacks --children, iterator refused: $(text_of "$TMP/set.err")"
[ "$(grep -c 'thread dumps will stop every thread' "$TMP/set.err")" = 1 ] ||
	fail "the set's refused iterator is not said exactly once: $(text_of "$TMP/set.err")"
[ "$(grep -o 'every thread is stopped to be read (ptrace)' "$TMP/set.err" | wc -l)" = 1 ] ||
	fail "the set's summary does not say once why threads were stopped: $(text_of "$TMP/set.err")"
[ "$(blocks "$TMP/set.txt")" = "$set_threads" ] ||
	fail "the set's dump with ptrace has $(blocks "$TMP/set.txt") blocks for $set_threads threads"
progress "profd stacks of the set, iterator refused: said once, $(blocks "$TMP/set.txt") blocks"

start_profd --pid "$PARENT_PID" --children
! grep -q 'thread dumps will stop' "$TMP/profd.err" || fail "the set's profd did not use the task iterator: $(text_of "$TMP/profd.err")"
strace_on "$PROFD_PID"
[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "the set's debug=2: $(text_of "$TMP/b")"
[ "$(blocks "$TMP/b")" = "$set_threads" ] || fail "the set's debug=2 has $(blocks "$TMP/b") blocks for $set_threads threads"
[ "$(http GET "/debug/pprof/goroutine?debug=2&pid=${kids[0]}")" = 200 ] || fail "debug=2 of pid ${kids[0]}: $(text_of "$TMP/b")"
grep -q "^process ${kids[0]} " "$TMP/b" && ! grep -q "^process $PARENT_PID " "$TMP/b" ||
	fail "?pid=${kids[0]} dumped other processes: $(grep '^process ' "$TMP/b")"
block_of cond-0 "$TMP/b" | grep -q '^cond_leaf(' || fail "?pid=${kids[0]}: cond-0 lacks cond_leaf"
[ "$(http GET '/debug/pprof/goroutine?debug=1')" = 200 ] || fail "the set's debug=1: $(text_of "$TMP/b")"
[ "$(http GET '/debug/pprof/')" = 200 ] || fail "the set's index"
strace_off
progress "daemon over the set: $(ptrace_calls) ptrace calls"
[ "$(ptrace_calls)" = 0 ] || fail "dumps of the set made ptrace calls: $(head -5 "$TMP/strace.out")"
grep -q 'goroutine: .*without stopping, 0 stopped' "$TMP/b" ||
	fail "the set's index does not say how its threads were read: $(grep goroutine: "$TMP/b")"
stop_profd
for p in "$PARENT_PID" "${kids[@]}"; do
	no_thread_stopped "$p" || fail "a thread of $p was left stopped"
done
# the children end first, so that their shell reaps them and ends
for k in "${kids[@]}"; do send TERM "$k"; done
wait_for -m "the set's shell to end with its children" 20 gone "$PARENT_PID" || fail "the set's shell did not end"
wait "$PARENT_PID" 2>/dev/null
echo PASS
