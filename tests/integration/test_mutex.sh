#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# /debug/pprof/mutex against a target with known lock holders (tests/targets/mutex_contend.cc):
# nothing is attached before the first request; with --mutex-rate 1 the delay that the waiters
# of a pthread mutex, a std::mutex and a pthread_rwlock measured (+-20%) is charged to the
# holder's unlocking stack (release_mutex, release_std_mutex, release_rwlock, down to the
# holder's thread), and the waiters are in block with wait=futex; a condition-variable wait
# (wait_for_signal, signalled from send_signal) is in block but not in mutex; debug=1 is Go's
# "--- mutex:" text, which go tool pprof reads back, and block?debug=1 Go's "--- contention:";
# ?seconds=N is a window; the tracking ends after --mutex-idle; over a set, the default rate's
# sampling period, pid and process labels and ?pid=; bad --mutex-rate / --mutex-idle values exit
# 2 naming the flag.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF)"
[ -e /sys/kernel/tracing/events/syscalls/sys_enter_futex ] ||
	[ -e /sys/kernel/debug/tracing/events/syscalls/sys_enter_futex ] || skip "no syscall tracepoints (tracefs)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"

# cum_ms FILE FUNC [pprof args...]: cumulative delay of FUNC in ms (0 if absent)
cum_ms() {
	local f=$1 fn=$2; shift 2
	go tool pprof -top -cum -unit=ms -nodecount=1000 "$@" "$f" 2>/dev/null |
		awk -v fn="$fn" '$6 == fn { v = $4; sub(/ms$/, "", v); print v + 0; found = 1; exit } END { if (!found) print 0 }'
}
# total_ms FILE: the total delay go tool pprof reads from FILE, in ms
total_ms() {
	go tool pprof -top -unit=ms "$1" 2>/dev/null | awk '/ total$/ { v = $(NF - 1); sub(/ms$/, "", v); print v + 0; exit }'
}
within() { # actual expected percent
	awk -v a="$1" -v e="$2" -v p="$3" 'BEGIN { d = a - e; if (d < 0) d = -d; exit !(e > 0 && d <= e * p / 100) }'
}
measured_ms() { # NAME: what the target measured, in ms
	awk -v k="$1" '$1 == k { printf "%.1f\n", $2 / 1e6 }' "$TMP/target.out"
}
attaches() { grep -c 'mutex profiling of process [0-9]* attached' "$TMP/profd.err"; }
detaches() { grep -c 'mutex profiling of process [0-9]* detached' "$TMP/profd.err"; }
detached_more_than() { [ "$(detaches)" -gt "$1" ]; }

start_target mutex_contend 60
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "mutex_contend did not start: $(text_of "$TMP/target.out")"
start_profd --pid "$TARGET_PID" --mutex-rate 1 --mutex-idle 3s --log-level debug

echo "== nothing attached before the first mutex request"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index"
grep -q 'mutex: Not attached' "$TMP/b" || fail "the index does not say mutex is not attached: $(grep -i mutex "$TMP/b")"
grep -q "href='mutex?debug=1'>mutex" "$TMP/b" || fail "the index does not list mutex"
grep -q 'Stack traces of holders of contended mutexes' "$TMP/b" || fail "the index does not describe mutex"
[ "$(attaches)" = 0 ] || fail "mutex attached before any request"
echo ok

echo "== the first request starts the tracking; then the target contends"
[ "$(http GET /debug/pprof/mutex)" = 200 ] || fail "mutex: HTTP $(head -c 300 "$TMP/b")"
go tool pprof -raw "$TMP/b" 2>/dev/null | grep -q 'mutex tracking started at .* by this request' ||
	fail "the first request does not say it started the tracking: $(go tool pprof -raw "$TMP/b" 2>&1 | head -20)"
[ "$(attaches)" = 1 ] || fail "no attach logged for the first request"
[ "$(http GET /debug/pprof/block)" = 200 ] || fail "block: HTTP $(head -c 300 "$TMP/b")"
send USR1 "$TARGET_PID"
wait_for -m "the target's 60 rounds to end (its 'done' line)" 60 grep -q '^done' "$TMP/target.out" ||
	fail "the target did not finish its rounds: $(text_of "$TMP/target.out")"
echo ok

echo "== the waiters' delay is charged to the holders' unlocking stacks (+-20%)"
[ "$(http GET /debug/pprof/mutex)" = 200 ] || fail "mutex: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/m.pb.gz"
go tool pprof -raw "$TMP/m.pb.gz" >"$TMP/m.raw" 2>&1 || fail "go tool pprof -raw: $(head -n 5 "$TMP/m.raw")"
grep -q '^contentions/count delay/nanoseconds' "$TMP/m.raw" || fail "sample types: $(grep -A1 Samples "$TMP/m.raw")"
grep -q '^PeriodType: contentions count' "$TMP/m.raw" || fail "period type: $(grep PeriodType "$TMP/m.raw")"
grep -q 'mutex tracking since .*--mutex-idle' "$TMP/m.raw" || fail "the profile does not say since when it counts"
grep -q 'mutex cost: ' "$TMP/m.raw" || grep -q 'run time is not measured' "$TMP/m.raw" || fail "no cost comment"
for kind in mutex:release_mutex std:release_std_mutex rw:release_rwlock; do
	want=$(measured_ms "${kind%%:*}_wait_ns")
	got=$(cum_ms "$TMP/m.pb.gz" "${kind#*:}")
	echo "${kind#*:}: ${got} ms charged; the waiters measured ${want} ms"
	awk -v w="$want" 'BEGIN { exit !(w > 200) }' || fail "the target measured only $want ms of ${kind%%:*} waiting"
	within "$got" "$want" 20 || fail "${kind#*:} is charged $got ms, the waiters measured $want ms (+-20%)"
done
go tool pprof -traces "$TMP/m.pb.gz" 2>/dev/null >"$TMP/m.traces"
grep -A4 'release_mutex$' "$TMP/m.traces" | grep -q holder_main ||
	fail "release_mutex's stack does not reach holder_main: $(grep -B3 -A4 release_mutex "$TMP/m.traces")"
grep -B3 'release_mutex$' "$TMP/m.traces" | grep -q 'pthread_mutex_unlock' ||
	fail "the charged stack is not pthread_mutex_unlock's: $(grep -B3 -A4 release_mutex "$TMP/m.traces")"
echo ok

echo "== a condition-variable wait is not lock contention; it is in block, as the lock waiters are"
cond_want=$(measured_ms cond_wait_ns)
sig=$(cum_ms "$TMP/m.pb.gz" send_signal)
condw=$(cum_ms "$TMP/m.pb.gz" wait_for_signal)
echo "mutex: send_signal ${sig} ms, wait_for_signal ${condw} ms (the condition waits lasted ${cond_want} ms)"
awk -v s="$sig" -v w="$condw" 'BEGIN { exit !(s + w < 1) }' ||
	fail "the condition-variable wait shows in mutex: send_signal $sig ms, wait_for_signal $condw ms"
[ "$(http GET /debug/pprof/block)" = 200 ] || fail "block: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/bl.pb.gz"
for fn in wait_for_mutex wait_std_mutex wait_rwlock_read wait_for_signal; do
	all=$(cum_ms "$TMP/bl.pb.gz" "$fn")
	futex=$(cum_ms "$TMP/bl.pb.gz" "$fn" -tagfocus=wait=futex)
	echo "block: $fn ${all} ms, ${futex} ms of it wait=futex"
	awk -v a="$all" 'BEGIN { exit !(a > 100) }' || fail "block does not show $fn's waits ($all ms)"
	[ "$futex" = "$all" ] || fail "$fn's waits in block are not all wait=futex ($futex of $all ms)"
done
echo ok

echo "== debug=1: Go's text, read back by go tool pprof"
[ "$(http GET '/debug/pprof/mutex?debug=1')" = 200 ] || fail "mutex?debug=1: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/m.txt"
[ "$(sed -n 1p "$TMP/m.txt")" = '--- mutex:' ] || fail "debug=1 header: $(head -n 3 "$TMP/m.txt")"
[ "$(sed -n 2p "$TMP/m.txt")" = 'cycles/second=1000000000' ] || fail "debug=1 cycles line: $(head -n 3 "$TMP/m.txt")"
[ "$(sed -n 3p "$TMP/m.txt")" = 'sampling period=1' ] || fail "debug=1 period line: $(head -n 3 "$TMP/m.txt")"
grep -qE '^[0-9]+ [0-9]+ @( 0x[0-9a-f]+)+$' "$TMP/m.txt" || fail "no 'delay count @ pcs' line: $(head -n 6 "$TMP/m.txt")"
grep -qP '^#\t0x[0-9a-f]+\trelease_mutex\+0x' "$TMP/m.txt" || fail "debug=1 does not name release_mutex"
# the text has addresses only (as Go's): compare the totals go tool pprof reads
txt=$(total_ms "$TMP/m.txt")
pb=$(total_ms "$TMP/m.pb.gz")
echo "go tool pprof reads debug=1: $txt ms in all (the profile: $pb ms)"
within "$txt" "$pb" 1 || fail "go tool pprof reads $txt ms from debug=1 against $pb ms in the profile"
[ "$(http GET '/debug/pprof/block?debug=1')" = 200 ] || fail "block?debug=1: HTTP $(head -c 300 "$TMP/b")"
[ "$(sed -n 1p "$TMP/b")" = '--- contention:' ] || fail "block debug=1 header: $(head -n 3 "$TMP/b")"
[ "$(sed -n 2p "$TMP/b")" = 'cycles/second=1000000000' ] || fail "block debug=1 cycles line: $(head -n 3 "$TMP/b")"
go tool pprof -raw "$TMP/b" >/dev/null 2>&1 || fail "go tool pprof cannot read block?debug=1: $(go tool pprof -raw "$TMP/b" 2>&1 | head -3)"
echo ok

echo "== ?seconds=N is a window; the tracking ends after --mutex-idle"
d=$(detaches)
[ "$(http GET '/debug/pprof/mutex?seconds=1')" = 200 ] || fail "mutex?seconds=1: HTTP $(head -c 300 "$TMP/b")"
go tool pprof -raw "$TMP/b" 2>/dev/null | grep -q 'a 1 s window' || fail "no window comment"
wait_for -m "the mutex tracking to stop after --mutex-idle 3s" 20 detached_more_than "$d" ||
	fail "mutex is still attached 20 s after the last request (--mutex-idle 3s)"
echo ok

echo "== over a set, at the default rate: sampling period 10, pid and process labels, ?pid="
send TERM "$PROFD_PID"
wait_profd_exit 20
start_target mutex_contend 0
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "mutex_contend did not start: $(text_of "$TMP/target.out")"
send USR1 "$TARGET_PID"
start_profd --pid "$TARGET_PID" --children
[ "$(http GET "/debug/pprof/mutex?seconds=3&pid=$TARGET_PID")" = 200 ] || fail "mutex?pid: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/s.pb.gz"
go tool pprof -tags "$TMP/s.pb.gz" 2>/dev/null >"$TMP/s.tags"
grep -qE "^ *pid: Total" "$TMP/s.tags" && grep -q " $TARGET_PID\$" "$TMP/s.tags" || fail "no pid label $TARGET_PID: $(cat "$TMP/s.tags")"
grep -q 'mutex_contend' "$TMP/s.tags" || fail "no process label: $(cat "$TMP/s.tags")"
go tool pprof -raw "$TMP/s.pb.gz" 2>/dev/null | awk '/^Samples:/ { s = 1; next } s && /^ +[0-9]+ +[0-9]+:/ { n++; if ($1 % 10) bad++ } /^Locations/ { s = 0 } END { exit !(n > 0 && !bad) }' ||
	fail "at rate 10 the contentions are not multiples of 10: $(go tool pprof -raw "$TMP/s.pb.gz" 2>&1 | sed -n '/Samples/,/Locations/p' | head)"
[ "$(cum_ms "$TMP/s.pb.gz" release_mutex)" != 0 ] || fail "release_mutex is not in a 3 s window at rate 10"
[ "$(http GET '/debug/pprof/mutex?debug=1')" = 200 ] && grep -q '^sampling period=10$' "$TMP/b" ||
	fail "debug=1 does not say sampling period=10: $(head -n 3 "$TMP/b")"
[ "$(http GET '/debug/pprof/mutex?pid=1')" = 404 ] || fail "mutex?pid=1 (not in the set): HTTP $(head -c 300 "$TMP/b")"
echo ok

echo "== bad values: exit 2 naming the flag"
refused() { # pattern args...
	local pat=$1; shift
	"$PROFD" "$@" --addr 127.0.0.1:0 >"$TMP/r.out" 2>&1
	local st=$?
	[ $st = 2 ] || fail "profd $* exited $st, not 2: $(cat "$TMP/r.out")"
	grep -qE -- "$pat" "$TMP/r.out" || fail "profd $*: the message does not match '$pat': $(cat "$TMP/r.out")"
}
refused '--mutex-rate' --pid "$TARGET_PID" --mutex-rate 0
refused '--mutex-rate' --pid "$TARGET_PID" --mutex-rate 2000000
refused '--mutex-rate' --pid "$TARGET_PID" --mutex-rate 5x
refused '--mutex-idle' --pid "$TARGET_PID" --mutex-idle 0s
PROFD_MUTEX_RATE=fast refused 'PROFD_MUTEX_RATE' --pid "$TARGET_PID"
echo ok
