#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# /debug/pprof/profile against real targets built -O2 without frame pointers: two overlapping
# requests both succeed with their own windows, hot_a/hot_b shares within 5 points, complete
# chains down to main, go tool pprof -top and -raw accept the result; seconds above
# --max-seconds is a 400, garbage seconds means Go's default, debug=1 is a readable top list, a
# target that exits mid-profile gives what was collected and says so; `profd cpu` one-shot.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF, perf events)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"

# flat% of FUNC in go tool pprof -top of FILE; 0 if absent
pct() { # file func
	go tool pprof -top -nodecount=1000 "$1" 2>/dev/null |
		awk -v fn="$2" '$6 == fn { sub(/%/, "", $2); print $2 + 0; found = 1; exit } END { if (!found) print 0 }'
}
cum_pct() { # file func
	go tool pprof -top -cum -nodecount=1000 "$1" 2>/dev/null |
		awk -v fn="$2" '$6 == fn { sub(/%/, "", $5); print $5 + 0; found = 1; exit } END { if (!found) print 0 }'
}
within() { # actual expected points
	awk -v a="$1" -v e="$2" -v p="$3" 'BEGIN { d = a - e; if (d < 0) d = -d; exit !(d <= p) }'
}
raw_field() { # file field: "Duration: 4.01" -> 4.01
	go tool pprof -raw "$1" 2>/dev/null | sed -n "s/^$2: //p" | head -n 1
}
# perf_fds PID: sets PERF_FDS to the number of perf_event fds PID holds
perf_fds() {
	PERF_FDS=$(ls -l /proc/"$1"/fd 2>/dev/null | grep -c 'anon_inode:\[perf_event\]')
}
# sampling / not_sampling: profd's CPU sampler runs, or not. It runs while a profile request
# has a window open, with one perf event per CPU on top of those profd holds when idle
# (IDLE_PERF_FDS, counted after start_profd).
sampling() {
	perf_fds "$PROFD_PID"
	[ "$PERF_FDS" -gt "$IDLE_PERF_FDS" ]
}
not_sampling() {
	perf_fds "$PROFD_PID"
	[ "$PERF_FDS" -eq "$IDLE_PERF_FDS" ]
}

start_target cpu_qsort 300
wait_for 10 grep -q ready "$TMP/target.out" || fail "cpu_qsort did not start"
start_profd --pid "$TARGET_PID" --cpu-hz 1000 --max-seconds 20
perf_fds "$PROFD_PID"
IDLE_PERF_FDS=$PERF_FDS

echo "== two overlapping requests"
curl -s -o "$TMP/a.pb.gz" -D "$TMP/a.h" -w '%{http_code}' --max-time 60 "$BASE/profile?seconds=6" >"$TMP/a.code" &
ca=$!
track $ca # (so that alive tells it from a later owner of its PID)
wait_for -m "profd to start sampling for the first request" 20 sampling ||
	fail "profd holds no more perf_event fds than idle ($IDLE_PERF_FDS) with a profile request open"
# the second request starts 2 s into the first's window, so that their windows differ in start
# and in end (a window that began with the sampler would last 5 s, not 3)
nap 2
alive $ca || fail "the first request ended within 2 s of its start: HTTP $(text_of "$TMP/a.code")"
curl -s -o "$TMP/b.pb.gz" -D "$TMP/b.h" -w '%{http_code}' --max-time 60 "$BASE/profile?seconds=3" >"$TMP/b.code" &
cb=$!
wait $cb
wait $ca
[ "$(cat "$TMP/a.code")" = 200 ] || fail "first request: HTTP $(cat "$TMP/a.code"): $(head -c 300 "$TMP/a.pb.gz")"
[ "$(cat "$TMP/b.code")" = 200 ] || fail "second request: HTTP $(cat "$TMP/b.code"): $(head -c 300 "$TMP/b.pb.gz")"
for r in a b; do
	grep -qi '^content-type: application/octet-stream' "$TMP/$r.h" || fail "$r: content type: $(cat "$TMP/$r.h")"
	grep -qi '^content-disposition: attachment; filename="profile"' "$TMP/$r.h" || fail "$r: no attachment header"
	go tool pprof -raw "$TMP/$r.pb.gz" >"$TMP/$r.raw" 2>&1 || fail "pprof -raw rejects $r: $(head "$TMP/$r.raw")"
	go tool pprof -top "$TMP/$r.pb.gz" >"$TMP/$r.top" 2>&1 || fail "pprof -top rejects $r: $(head "$TMP/$r.top")"
	grep -q '^PeriodType: cpu nanoseconds' "$TMP/$r.raw" || fail "$r: period type"
	grep -q '^Period: 1000000$' "$TMP/$r.raw" || fail "$r: period is not 1e9/1000 Hz"
	grep -q '^samples/count cpu/nanoseconds' "$TMP/$r.raw" || fail "$r: sample types"
done
da=$(raw_field "$TMP/a.pb.gz" Duration)
db=$(raw_field "$TMP/b.pb.gz" Duration)
echo "durations: $da s and $db s"
awk -v d="$da" 'BEGIN { exit !(d >= 6 && d < 8) }' || fail "first window lasted $da s, asked 6"
awk -v d="$db" 'BEGIN { exit !(d >= 3 && d < 5) }' || fail "second window lasted $db s, asked 3"

a=$(pct "$TMP/a.pb.gz" hot_a)
b=$(pct "$TMP/a.pb.gz" hot_b)
m=$(cum_pct "$TMP/a.pb.gz" main)
echo "6 s request: hot_a $a%, hot_b $b%, main cum $m%"
within "$a" 75 5 || fail "hot_a is $a% of the first profile, expected 75 +-5"
within "$b" 25 5 || fail "hot_b is $b% of the first profile, expected 25 +-5"
awk -v m="$m" 'BEGIN { exit !(m >= 95) }' || fail "only $m% of samples reach main"
# the chain through libc, as go tool pprof shows it
go tool pprof -traces "$TMP/a.pb.gz" 2>/dev/null | awk '
	/^-----------/ { if (h && c && q && s && m) ok = 1; h = c = q = s = m = 0; next }
	$NF == "hot_a" || $2 == "hot_a" { h = 1 } /compare/ { c = 1 } /qsort/ { q = 1 }
	/sort_round/ { s = 1 } / main$/ { m = 1 }
	END { if (h && c && q && s && m) ok = 1; exit !ok }' || fail "no trace hot_a <- compare <- qsort <- sort_round <- main"
b_a=$(pct "$TMP/b.pb.gz" hot_a)
echo "3 s request: hot_a $b_a%"
within "$b_a" 75 8 || fail "hot_a is $b_a% of the second profile, expected 75 +-8"

echo "== limits and parameters"
code=$(http GET "/debug/pprof/profile?seconds=21")
[ "$code" = 400 ] || fail "seconds=21 above --max-seconds 20: HTTP $code"
grep -q '20 seconds' "$TMP/b" || fail "the 400 does not name the limit: $(cat "$TMP/b")"
[ "$(header X-Go-Pprof)" = 1 ] || fail "the 400 lacks X-Go-Pprof: 1"

code=$(http GET "/debug/pprof/profile?seconds=1&debug=1")
[ "$code" = 200 ] || fail "debug=1: HTTP $code"
header Content-Type | grep -q '^text/plain' || fail "debug=1 content type $(header Content-Type)"
grep -q 'flat%' "$TMP/b" && grep -q 'hot_a' "$TMP/b" || fail "debug=1 is not a top list: $(head "$TMP/b")"

# garbage seconds is Go's default of 30 s (here clamped to --max-seconds 20, not refused): the
# client gives up after 3 s without an answer,
# which also ends the window (the sampler stops), and the next short request works at once
curl -s -o "$TMP/abc" -w '%{http_code}' --max-time 3 "$BASE/profile?seconds=abc" >"$TMP/abc.code"
rc=$?
[ $rc = 28 ] || fail "seconds=abc answered before 3 s (curl $rc, HTTP $(cat "$TMP/abc.code")): not the default duration"
wait_for -m "profd to stop sampling once the client went away" 10 not_sampling ||
	fail "the window of a request whose client went away did not end: profd holds $PERF_FDS perf_event fds, $IDLE_PERF_FDS when idle"
code=$(http GET "/debug/pprof/profile?seconds=1" --max-time 10)
[ "$code" = 200 ] || fail "request after a client disconnect: HTTP $code (within 10 s)"

echo "== one-shot"
"$PROFD" cpu --pid "$TARGET_PID" --seconds 2 --cpu-hz 1000 -o "$TMP/one.pb.gz" 2>"$TMP/one.err" ||
	fail "profd cpu: $(cat "$TMP/one.err")"
go tool pprof -top "$TMP/one.pb.gz" 2>/dev/null | grep -q hot_a || fail "one-shot profile lacks hot_a"

echo "== target exits during the profile"
# the target is killed once the request's window is open: a target that ran for a fixed time
# could exit before profd was up or the request had started (then profd had shut down and the
# connection was refused)
start_target cpu_qsort 300
wait_for 10 grep -q ready "$TMP/target.out" || fail "cpu_qsort did not start"
start_profd --pid "$TARGET_PID"
perf_fds "$PROFD_PID"
IDLE_PERF_FDS=$PERF_FDS
curl -s -o "$TMP/exit.pb.gz" -w '%{http_code}' --max-time 60 "$BASE/profile?seconds=20" >"$TMP/exit.code" &
cx=$!
track $cx
wait_for -m "profd to start sampling for the request" 20 sampling ||
	fail "profd holds no more perf_event fds than idle ($IDLE_PERF_FDS) with a profile request open"
kill -KILL "$TARGET_PID"
wait "$TARGET_PID" 2>/dev/null # (quietly: bash would report the kill in the log)
wait_for -m "the 20 s profile to end after the target's exit" 6 gone "$cx" ||
	fail "the profile did not end within 6 s of the target's exit"
wait "$cx"
code=$(cat "$TMP/exit.code")
[ "$code" = 200 ] || fail "profile of an exiting target: HTTP $code: $(head -c 300 "$TMP/exit.pb.gz")"
go tool pprof -raw "$TMP/exit.pb.gz" >"$TMP/exit.raw" 2>&1 || fail "pprof rejects the profile of an exited target"
grep -q '^Comment: .*exited' "$TMP/exit.raw" || fail "no comment says the target exited"
echo "ok"
