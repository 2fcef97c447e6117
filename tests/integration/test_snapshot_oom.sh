#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-timeout: 240
# --snapshot-on oom and pressure. OOM: a target in a memory cgroup this test creates with a
# 64 MiB limit (cgroup v2 memory.max, or v1 memory.limit_in_bytes where only v1 has the memory
# controller) leaks until the kernel's OOM killer kills it; profd (--pid) writes the heap profile
# it holds before it exits with status 3, logged once, and the snapshot's top in-use site is
# the leak. The same over a set (--pid --children): two children killed in turn, profd goes on,
# each file is the victim's alone, and with --snapshot-keep 1 the first victim's file goes. Pressure: a target that leaks 40 MiB and then reads a 48 MiB
# file, so that its cgroup reaches the limit and the kernel reclaims, gets a snapshot whose top
# site is the leak. Bad combinations exit 2 naming the flag. The cgroups are removed whatever
# happens.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF, cgroups)"

echo "== refused at start with exit 2"
mkdir -p "$TMP/snaps"
refused() { # pattern args...
	local pat="$1" rc; shift
	timeout 20 "$PROFD" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ $rc = 2 ] || fail "profd $* exited $rc, want 2: $(cat "$TMP/err")"
	grep -qF -- "$pat" "$TMP/err" || fail "profd $*: no '$pat' in: $(cat "$TMP/err")"
}
refused "--snapshot-on needs --snapshot-dir" --pid $$ --snapshot-on oom
refused "--heap allocs does not track" --pid $$ --heap allocs --snapshot-dir "$TMP/snaps" --snapshot-on oom
refused "--snapshot-on pressure writes heap profiles, which --heap off does not take" --pid $$ --heap off \
	--snapshot-dir "$TMP/snaps" --snapshot-on pressure
refused "--snapshot-on: 'oomkill' is not valid" --pid $$ --snapshot-dir "$TMP/snaps" --snapshot-on pressure,oomkill

# ---- memory cgroups (lib.sh), removed at exit whatever happens ----
memcg_find || skip "no memory cgroup controller (neither cgroup v2's nor v1's)"
echo "   memory controller: cgroup $CGV"

export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"
top_site() { # FILE: the top in-use function of a heap profile
	go tool pprof -top -sample_index=inuse_space "$1" 2>/dev/null | awk '/flat%/ { on = 1; next } on { print $NF; exit }'
}
logged() { # PATTERN N: profd logged PATTERN at least N times
	[ "$(grep -c -- "$1" "$TMP/profd.err")" -ge "$2" ]
}

echo "== oom, --pid: the pre-mortem is written before profd exits"
cg_make oom 64
# its parent reaps it only when told: the victim stays a zombie, without an address space, while
# profd writes (a process without mappings must not erase what profd knew of them)
"$TARGETS/oom_leak" fork >"$TMP/target.out" 2>&1 &
reaper=$!
track "$reaper"
wait_for 10 grep -q ready "$TMP/target.out" || fail "target did not start: $(text_of "$TMP/target.out")"
read -r _ TARGET_PID <"$TMP/target.out"
track "$TARGET_PID"
cg_join "$TARGET_PID"
start_profd --pid "$TARGET_PID" --heap-rate 64K --snapshot-dir "$TMP/snaps" --snapshot-on oom
grep -q 'oom: watching the OOM killer' "$TMP/profd.err" || fail "the oom trigger did not start: $(text_of "$TMP/profd.err")"
grep -q 'the heap probes stay attached from start-up' "$TMP/profd.err" ||
	fail "--heap demand was not turned into tracking from start-up: $(grep heap "$TMP/profd.err")"
kill -USR1 "$TARGET_PID"
wait_profd_exit 90
[ "$PROFD_STATUS" = 3 ] || fail "profd exit status $PROFD_STATUS after the target's OOM kill, want 3"
gone "$TARGET_PID" || fail "the target still runs after profd saw it exit"
n=$(grep -c "snapshot-on oom: the OOM killer chose process $TARGET_PID " "$TMP/profd.err")
[ "$n" = 1 ] || fail "the OOM kill was logged $n times, want 1: $(grep snapshot-on "$TMP/profd.err")"
f=$(ls "$TMP"/snaps/profd-heap-"$TARGET_PID"-*.pb.gz 2>/dev/null)
[ "$(echo "$f" | grep -c .)" = 1 ] || fail "heap snapshots of $TARGET_PID: '$f', want one: $(ls "$TMP/snaps")"
grep "snapshot-on oom" "$TMP/profd.err" | grep -qF "${f##*/}" || fail "the log does not name ${f##*/}"
# written before profd's exit line: the pre-mortem comes first
grep -n 'snapshot-on oom: the OOM killer chose\|exited; profd is shutting down' "$TMP/profd.err" | head -n 1 |
	grep -q 'OOM killer chose' || fail "profd said the target exited before it took the snapshot: $(tail -n 4 "$TMP/profd.err")"
echo "   $(grep 'snapshot-on oom: the OOM' "$TMP/profd.err" | sed 's/^profd: [^ ]* //')"
if command -v go >/dev/null; then
	top=$(top_site "$f")
	[ "$top" = leak_site ] || fail "top in-use site of the pre-mortem: '$top', want leak_site: $(go tool pprof -top "$f" 2>&1 | head -n 20)"
	go tool pprof -raw "$f" 2>/dev/null | grep -q '^Comment: written by --snapshot-on oom: the OOM killer chose' ||
		fail "the snapshot does not say what triggered it"
else
	echo "   go not installed: the snapshot's content is not checked"
fi
kill -TERM "$reaper"
wait "$reaper"
cg_remove

echo "== oom over a set (--pid --children, --snapshot-keep 1): two children killed in turn"
rm -f "$TMP"/snaps/*
cg_make oomset 64
# a parent outside the cgroup starts a leaking child per line it reads; the test moves each in
mkfifo "$TMP/spawn"
exec 7<>"$TMP/spawn"
bash -c 'while read -r _; do "$0" leak & echo $! >>"$1"; done' "$TARGETS/oom_leak" "$TMP/children" <&7 \
	>"$TMP/child.out" 2>&1 &
parent=$!
track "$parent"
start_profd --pid "$parent" --children --heap-rate 64K --snapshot-dir "$TMP/snaps" --snapshot-on oom --snapshot-keep 1
started() { [ "$(grep -c ready "$TMP/child.out")" -ge "$1" ] && [ "$(grep -c . "$TMP/children")" -ge "$1" ]; }
in_set() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/cmdline?pid=$1")" = 200 ]; }
# the heap probes are attached to every running process of the set (the index says "N of the
# set's N running processes probed"): a child leaks its 64 MiB in half a second
all_probed() {
	curl -s "$BASE/" | grep -qE "(^|[^0-9])([0-9]+) of the set&#39;s \2 running processes probed"
}
victims=()
for k in 1 2; do
	echo go >&7
	wait_for 10 started $k || fail "child $k did not start: $(text_of "$TMP/child.out")"
	child=$(sed -n "${k}p" "$TMP/children")
	track "$child"
	wait_for -m "profd to see process $child in the set" 20 in_set "$child" || fail "child $child is not in the set"
	wait_for -m "the heap probes of process $child" 20 all_probed ||
		fail "the heap probes are not attached to every process: $(curl -s "$BASE/" | grep -o '[0-9]* of the set[^.]*')"
	cg_join "$child"
	kill -USR1 "$child"
	wait_for -m "the OOM kill of $child to be logged" 90 logged "the OOM killer chose process $child " 1 ||
		fail "no OOM snapshot of the child $child: $(grep -i 'snapshot\|oom' "$TMP/profd.err")"
	wait_for 30 bash -c "ls '$TMP'/snaps/profd-heap-$child-*.pb.gz" ||
		fail "no heap snapshot file of $child: $(ls "$TMP/snaps")"
	alive "$PROFD_PID" || fail "profd ended with the set's child $child"
	victims+=("$child")
done
f=$(ls "$TMP"/snaps/profd-heap-"$child"-*.pb.gz)
if command -v go >/dev/null; then
	top=$(top_site "$f")
	[ "$top" = leak_site ] || fail "top in-use site of the child's pre-mortem: '$top', want leak_site"
	# the victim's samples alone
	pids=$(go tool pprof -raw "$f" 2>/dev/null | grep -o 'pid:\[[0-9]*\]' | sort -u | tr '\n' ' ')
	[ "$pids" = "pid:[$child] " ] || fail "the victim's snapshot holds the samples of: $pids"
fi
# --snapshot-keep 1: the first victim's files went when the second one's were written
first_gone() { ! ls "$TMP"/snaps/profd-heap-"${victims[0]}"-*.pb.gz >/dev/null 2>&1; }
wait_for 10 first_gone || fail "the first victim's snapshot stayed with --snapshot-keep 1: $(ls "$TMP/snaps")"
kill -TERM "$PROFD_PID"
wait_profd_exit 20
[ "$PROFD_STATUS" = 0 ] || fail "profd exited with $PROFD_STATUS after SIGTERM"
exec 7>&-
cg_remove

echo "== pressure: a target near its cgroup's limit"
rm -f "$TMP"/snaps/*
dd if=/dev/zero of="$TMP/cachefile" bs=1M count=48 conv=fsync status=none || fail "cannot write $TMP/cachefile"
cg_make pressure 64
start_target oom_leak pressure 40 "$TMP/cachefile"
wait_for 10 grep -q ready "$TMP/target.out" || fail "target did not start"
cg_join "$TARGET_PID"
start_profd --pid "$TARGET_PID" --heap-rate 64K --snapshot-dir "$TMP/snaps" --snapshot-on pressure
grep -q "snapshot-on pressure: watching cgroup $CGV" "$TMP/profd.err" ||
	fail "the pressure trigger does not watch the target's cgroup $CGV: $(grep snapshot-on "$TMP/profd.err")"
kill -USR1 "$TARGET_PID"
wait_for 20 grep -q leaked "$TMP/target.out" || fail "the target did not leak: $(text_of "$TMP/target.out")"
wait_for -m "a pressure snapshot" 60 logged "snapshot-on pressure: memory pressure on process $TARGET_PID" 1 ||
	fail "no pressure snapshot: $(grep snapshot-on "$TMP/profd.err"); cgroup: $(grep -s . "$CG"/memory.events "$CG"/memory.failcnt)"
wait_for 30 bash -c "ls '$TMP'/snaps/profd-heap-$TARGET_PID-*.pb.gz" || fail "no pressure snapshot file: $(ls "$TMP/snaps")"
# the file is renamed into place whole: it is complete once listed
f=$(ls "$TMP"/snaps/profd-heap-"$TARGET_PID"-*.pb.gz)
echo "   $(grep 'snapshot-on pressure: memory' "$TMP/profd.err" | sed 's/^profd: [^ ]* //')"
if command -v go >/dev/null; then
	top=$(top_site "$f")
	[ "$top" = leak_site ] || fail "top in-use site of the pressure snapshot: '$top', want leak_site"
fi
# rate-limited: one snapshot, however long the pressure lasts (at most one per 30 s)
[ "$(grep -c 'snapshot-on pressure: memory pressure' "$TMP/profd.err")" = 1 ] || fail "more than one pressure snapshot"
alive "$TARGET_PID" || fail "the target died under pressure alone: $(text_of "$TMP/target.out")"
kill -TERM "$PROFD_PID"
wait_profd_exit 20
[ "$PROFD_STATUS" = 0 ] || fail "profd exited with $PROFD_STATUS after SIGTERM"
echo ok
