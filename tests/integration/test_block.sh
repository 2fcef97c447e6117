#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# /debug/pprof/block against a target with known waits (tests/targets/block_waits.c): nothing is
# attached before the first request; block?seconds=5 holds the pipe reader's, the sleeper's and
# the condition-variable waiter's delays in proportion (+-15%) under their functions, each with
# its `wait` label (read, clock_nanosleep, futex); 200 us sleeps far below the 10 ms rate are
# counted through Go's scaling (+-25% of what the target counted); a request without seconds
# starts the tracking, which says so and ends after --block-idle; over a set, pid and process
# labels and ?pid=; bad --block-rate / --block-idle values exit 2 naming the flag.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"

# cum_ms FILE FUNC [pprof args...]: cumulative delay of FUNC in ms (0 if absent)
cum_ms() {
	local f=$1 fn=$2; shift 2
	go tool pprof -top -cum -unit=ms -nodecount=1000 "$@" "$f" 2>/dev/null |
		awk -v fn="$fn" '$6 == fn { v = $4; sub(/ms$/, "", v); print v + 0; found = 1; exit } END { if (!found) print 0 }'
}
# cum_count FILE FUNC: cumulative contentions of FUNC
cum_count() {
	go tool pprof -top -cum -sample_index=contentions -nodecount=1000 "$1" 2>/dev/null |
		awk -v fn="$2" '$6 == fn { v = $4; print v + 0; found = 1; exit } END { if (!found) print 0 }'
}
within() { # actual expected percent
	awk -v a="$1" -v e="$2" -v p="$3" 'BEGIN { d = a - e; if (d < 0) d = -d; exit !(e > 0 && d <= e * p / 100) }'
}
attaches() { grep -c 'block profiling of process [0-9]* attached' "$TMP/profd.err"; }
detaches() { grep -c 'block profiling of process [0-9]* detached' "$TMP/profd.err"; }
detached_more_than() { [ "$(detaches)" -gt "$1" ]; }
shorty_line() { # N: the Nth-from-last "shorty" count the target printed
	grep '^shorty' "$TMP/target.out" | tail -n "$1" | head -n 1 | awk '{ print $2 }'
}
shorty_lines_above() { [ "$(grep -c '^shorty' "$TMP/target.out")" -gt "$1" ]; }

start_target block_waits
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "block_waits did not start: $(text_of "$TMP/target.out")"
start_profd --pid "$TARGET_PID" --block-idle 3s --log-level debug

echo "== nothing attached before the first block request"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index"
grep -q 'block: Not attached' "$TMP/b" || fail "the index does not say block is not attached: $(grep -i block "$TMP/b")"
grep -q "href='block?debug=1'" "$TMP/b" || fail "the index does not list block"
[ "$(attaches)" = 0 ] || fail "block attached before any request"

echo "== block?seconds=5: delays in proportion, under their functions, with their wait labels"
wait_for 10 shorty_lines_above 1 || fail "the target prints no shorty counts"
[ "$(http GET '/debug/pprof/block?seconds=5')" = 200 ] || fail "block?seconds=5: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/w.pb.gz"
go tool pprof -raw "$TMP/w.pb.gz" >"$TMP/w.raw" 2>&1 || fail "go tool pprof -raw: $(head -n 5 "$TMP/w.raw")"
grep -q '^contentions/count delay/nanoseconds' "$TMP/w.raw" || fail "sample types: $(grep -A1 Samples "$TMP/w.raw")"
grep -q '^PeriodType: contentions count' "$TMP/w.raw" || fail "period type: $(grep PeriodType "$TMP/w.raw")"
grep -q 'a 5 s window' "$TMP/w.raw" || fail "no window comment"
grep -q 'block cost: ' "$TMP/w.raw" || grep -q 'run time is not measured' "$TMP/w.raw" || fail "no cost comment"
pipe=$(cum_ms "$TMP/w.pb.gz" pipe_wait)
sleep_=$(cum_ms "$TMP/w.pb.gz" sleep_wait)
cond=$(cum_ms "$TMP/w.pb.gz" cond_wait_here)
echo "delays: pipe_wait ${pipe} ms, sleep_wait ${sleep_} ms, cond_wait_here ${cond} ms"
# the piper and condy wait all the time (5 s each), the sleeper half of it
within "$pipe" 5000 15 || fail "pipe_wait waited $pipe ms in a 5 s window, expected 5000 +-15%"
within "$cond" 5000 15 || fail "cond_wait_here waited $cond ms in a 5 s window, expected 5000 +-15%"
within "$sleep_" 2500 15 || fail "sleep_wait waited $sleep_ ms in a 5 s window, expected 2500 +-15%"
within "$(awk -v a="$pipe" -v b="$sleep_" 'BEGIN { print a / b }')" 2 15 ||
	fail "pipe_wait / sleep_wait = $pipe / $sleep_, expected 2 +-15%"
# chains to the thread's start
go tool pprof -traces "$TMP/w.pb.gz" 2>/dev/null >"$TMP/w.traces"
grep -A6 'pipe_wait$' "$TMP/w.traces" | grep -q piper_main || fail "pipe_wait's stack does not reach piper_main: $(grep -A6 pipe_wait "$TMP/w.traces")"
# labels: each wait under its syscall, and -tagfocus separates them
[ "$(cum_ms "$TMP/w.pb.gz" pipe_wait -tagfocus=wait=read)" = "$pipe" ] || fail "pipe_wait is not all wait=read"
[ "$(cum_ms "$TMP/w.pb.gz" cond_wait_here -tagfocus=wait=futex)" = "$cond" ] || fail "cond_wait_here is not all wait=futex"
[ "$(cum_ms "$TMP/w.pb.gz" sleep_wait -tagfocus=wait=clock_nanosleep)" = "$sleep_" ] ||
	fail "sleep_wait is not all wait=clock_nanosleep"
[ "$(cum_ms "$TMP/w.pb.gz" pipe_wait -tagfocus=wait=futex)" = 0 ] || fail "-tagfocus=wait=futex still shows pipe_wait"
echo ok

echo "== short waits far below the rate: Go's scaling counts them"
wait_for 10 shorty_lines_above 3 || fail "the target prints no shorty counts"
a=$(shorty_line 3) b=$(shorty_line 1)
per_s=$(( (b - a) / 2 ))
short=$(cum_count "$TMP/w.pb.gz" short_wait)
echo "short_wait: $short contentions in the window; the target did about $per_s per second"
within "$short" $((per_s * 5)) 25 || fail "short_wait has $short contentions, expected $((per_s * 5)) +-25%"
echo ok

echo "== a request without seconds starts the tracking; it ends after --block-idle"
n=$(attaches)
d=$(detaches)
[ "$(http GET /debug/pprof/block)" = 200 ] || fail "block: HTTP $(head -c 300 "$TMP/b")"
go tool pprof -raw "$TMP/b" 2>/dev/null | grep -q 'block tracking started at .* by this request' ||
	fail "the first request does not say it started the tracking: $(go tool pprof -raw "$TMP/b" 2>&1 | grep Comment)"
[ "$(attaches)" -gt "$n" ] || fail "no attach logged for the request"
sees_pipe_wait() {
	[ "$(http GET /debug/pprof/block)" = 200 ] && go tool pprof -top -cum "$TMP/b" 2>/dev/null | grep -q pipe_wait
}
wait_for 10 sees_pipe_wait ||
	fail "the tracking does not see pipe_wait"
[ "$(http GET /debug/pprof/block)" = 200 ] || fail "block: HTTP $(head -c 300 "$TMP/b")"
go tool pprof -raw "$TMP/b" 2>/dev/null | grep -q 'block tracking since .*--block-idle' ||
	fail "a later request does not say since when it counts"
[ "$(http GET '/debug/pprof/block?debug=1')" = 200 ] || fail "block?debug=1: HTTP $(head -c 300 "$TMP/b")"
grep -q 'pipe_wait' "$TMP/b" || fail "debug=1 does not name pipe_wait: $(head -c 500 "$TMP/b")"
wait_for -m "the block tracking to stop after --block-idle 3s" 20 detached_more_than "$d" ||
	fail "block is still attached 20 s after the last request (--block-idle 3s)"
echo ok

echo "== over a set: pid and process labels, ?pid="
send TERM "$PROFD_PID"
wait_profd_exit 20
start_profd --pid "$TARGET_PID" --children
[ "$(http GET "/debug/pprof/block?seconds=2&pid=$TARGET_PID")" = 200 ] || fail "block?pid: HTTP $(head -c 300 "$TMP/b")"
go tool pprof -tags "$TMP/b" 2>/dev/null >"$TMP/s.tags"
grep -qE "^ *pid: Total" "$TMP/s.tags" && grep -q " $TARGET_PID\$" "$TMP/s.tags" || fail "no pid label $TARGET_PID: $(cat "$TMP/s.tags")"
grep -q 'block_waits' "$TMP/s.tags" || fail "no process label: $(cat "$TMP/s.tags")"
[ "$(http GET '/debug/pprof/block?pid=1')" = 404 ] || fail "block?pid=1 (not in the set): HTTP $(head -c 300 "$TMP/b")"
echo ok

echo "== bad values: exit 2 naming the flag"
refused() { # pattern args...
	local pat=$1; shift
	"$PROFD" "$@" --addr 127.0.0.1:0 >"$TMP/r.out" 2>&1
	local st=$?
	[ $st = 2 ] || fail "profd $* exited $st, not 2: $(cat "$TMP/r.out")"
	grep -qE -- "$pat" "$TMP/r.out" || fail "profd $*: the message does not match '$pat': $(cat "$TMP/r.out")"
}
refused '--block-rate' --pid "$TARGET_PID" --block-rate 0
refused '--block-rate' --pid "$TARGET_PID" --block-rate 2s
refused '--block-rate' --pid "$TARGET_PID" --block-rate 10x
refused '--block-idle' --pid "$TARGET_PID" --block-idle 0s
PROFD_BLOCK_RATE=fast refused 'PROFD_BLOCK_RATE' --pid "$TARGET_PID"
echo ok
