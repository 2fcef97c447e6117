#!/usr/bin/env bash
# /debug/pprof/goroutine over HTTP in Go's three shapes, deltas and their errors, /symbol for
# GET and POST, 'profd stacks', and a clean SIGTERM while a long request is in flight.
source "$(dirname "$0")/lib.sh"
need_go

start_target demo_target
# its threads name themselves as they start: wait for the four this test looks for
named_threads() {
	[ "$(cat /proc/"$TARGET_PID"/task/*/comm 2>/dev/null | grep -cxE 'worker-a|worker-b|idle-waiter|pipe-reader')" = 4 ]
}
wait_for -m "demo_target's four named threads" 10 named_threads || fail "demo_target did not name its threads"
start_profd --pid "$TARGET_PID" --max-seconds 20
nthreads=$(ls /proc/"$TARGET_PID"/task | wc -l)

# debug=2: one "goroutine <tid> [...]:" block per thread, names quoted, blocks separated by one blank line
[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "debug=2 status"
header Content-Type | grep -q '^text/plain; charset=utf-8' || fail "debug=2 content type"
n=$(grep -cE '^goroutine [0-9]+ \[.*\]:$' "$TMP/b")
[ "$n" -eq "$nthreads" ] || fail "debug=2 has $n blocks for $nthreads threads"
for name in worker-a worker-b idle-waiter pipe-reader demo_target; do
	grep -qE "^goroutine [0-9]+ \[.*\"$name\"\]:$" "$TMP/b" || fail "thread $name missing from debug=2"
done
grep -A40 '"idle-waiter"' "$TMP/b" | grep -q '^waiter(' || fail "idle-waiter's stack lacks waiter()"
grep -A40 '"pipe-reader"' "$TMP/b" | grep -q '^reader(' || fail "pipe-reader's stack lacks reader()"
grep -qP '^\t.*demo_target\.c:[0-9]+ \+0x[0-9a-f]+$' "$TMP/b" || fail "no file:line +0xoff frame lines"
[ -z "$(tail -c 1 "$TMP/b" | tr -d '\n')" ] && [ -n "$(tail -n 1 "$TMP/b")" ] || fail "debug=2 must end with one newline, no blank line"
! grep -qzP '\n\n\n' "$TMP/b" || fail "debug=2 has a double blank line"

# debug=1: Go's count text
[ "$(http GET '/debug/pprof/goroutine?debug=1')" = 200 ] || fail "debug=1 status"
head -n 1 "$TMP/b" | grep -qE '^goroutine profile: total [0-9]+$' || fail "debug=1 header: $(head -n 1 "$TMP/b")"
grep -qE '^[0-9]+ @( 0x[0-9a-f]+)+$' "$TMP/b" || fail "debug=1 has no count @ pc lines"

# debug=0: a gzip proto that go tool pprof reads
[ "$(http GET /debug/pprof/goroutine)" = 200 ] || fail "debug=0 status"
[ "$(header Content-Type)" = application/octet-stream ] || fail "debug=0 content type"
header Content-Disposition | grep -q 'filename="goroutine"' || fail "debug=0 disposition"
[ "$(head -c 2 "$TMP/b" | od -An -tx1 | tr -d ' ')" = 1f8b ] || fail "debug=0 is not gzip"
go tool pprof -raw "$TMP/b" >"$TMP/raw" 2>"$TMP/raw.err" || fail "go tool pprof -raw: $(cat "$TMP/raw.err")"
grep -q 'goroutine/count' "$TMP/raw" || fail "sample type is not goroutine/count"
grep -q waiter "$TMP/raw" || fail "pprof -raw does not show waiter"
! grep -q 'Local symbolization failed' "$TMP/raw.err" || fail "pprof tried to re-symbolize"

# deltas and their errors, as Go words them
[ "$(http GET '/debug/pprof/goroutine?seconds=1')" = 200 ] || fail "delta status: $(cat "$TMP/b")"
header Content-Disposition | grep -q 'filename="goroutine-delta"' || fail "delta filename"
go tool pprof -raw "$TMP/b" >/dev/null 2>&1 || fail "pprof cannot read the delta"
[ "$(http GET '/debug/pprof/goroutine?seconds=abc')" = 400 ] || fail "bad seconds"
grep -qx 'invalid value for "seconds" - must be a positive integer' "$TMP/b" || fail "bad seconds body"
[ "$(header X-Go-Pprof)" = 1 ] || fail "400 lacks X-Go-Pprof"
[ "$(http GET '/debug/pprof/goroutine?seconds=1&debug=1')" = 400 ] || fail "seconds+debug"
grep -qx 'seconds and debug params are incompatible' "$TMP/b" || fail "seconds+debug body"
[ "$(http GET '/debug/pprof/goroutine?seconds=21')" = 400 ] || fail "seconds above --max-seconds"
grep -q 'max-seconds (20 s)' "$TMP/b" || fail "max-seconds body: $(cat "$TMP/b")"

# /symbol: GET and POST resolve a real function address of the target
base=$(awk '/demo_target/ && $3 == "00000000" {print $1; exit}' /proc/"$TARGET_PID"/maps | cut -d- -f1)
off=$(nm "$TARGETS/demo_target" | awk '$3 == "compare_scores" {print $1}')
[ -n "$base" ] && [ -n "$off" ] || fail "cannot find compare_scores"
addr=$(printf '0x%x' $((0x$base + 0x$off + 4)))
[ "$(http GET "/debug/pprof/symbol?$addr+0x1+garbage")" = 200 ] || fail "symbol GET"
printf 'num_symbols: 1\n%s compare_scores\n' "$addr" | cmp -s - "$TMP/b" || fail "symbol GET body: $(cat "$TMP/b")"
[ "$(http POST /debug/pprof/symbol --data-binary "$addr" -H 'Content-Type: application/octet-stream')" = 200 ] || fail "symbol POST"
grep -qx "$addr compare_scores" "$TMP/b" || fail "symbol POST body: $(cat "$TMP/b")"
[ "$(http GET /debug/pprof/symbol)" = 200 ] && [ "$(cat "$TMP/b")" = "num_symbols: 1" ] || fail "bare symbol GET"

# the one-shot command prints the same shape
"$PROFD" stacks --pid "$TARGET_PID" >"$TMP/stacks" 2>"$TMP/stacks.err" || fail "profd stacks: $(cat "$TMP/stacks.err")"
grep -qE "^goroutine $TARGET_PID \[.*\"demo_target\"\]:$" "$TMP/stacks" || fail "profd stacks lacks the main thread"
"$PROFD" stacks --pid 999999999 2>"$TMP/stacks.err"; [ $? -eq 3 ] || fail "stacks with a missing pid should exit 3"

no_thread_stopped "$TARGET_PID" || fail "a target thread was left stopped"

# SIGTERM while a 20 s delta is in flight: the request ends, profd exits 0 within 5 s
# request_read: on a connection profd has accepted (ss names it the owner), bytes came in and
# none is left unread (Recv-Q 0): profd has read the request, and its handler runs. (Recv-Q 0
# alone also holds before curl has sent anything; ss -i prints bytes_received on a second line.)
request_read() {
	ss -Htinp state established "( sport = :${ADDR##*:} )" |
		awk -v p="pid=$PROFD_PID," 'index($0, p) { mine = ($1 == 0); next }
			mine && /bytes_received:[1-9]/ { ok = 1 } { mine = 0 } END { exit !ok }'
}
curl -s -o "$TMP/inflight" -w '%{http_code}' --max-time 60 "$BASE/goroutine?seconds=20" >"$TMP/inflight.code" &
cpid=$!
wait_for -m "profd to read the 20 s delta request" 10 request_read || fail "profd did not take the delta request"
kill -TERM "$PROFD_PID"
wait_profd_exit 5
[ "$PROFD_STATUS" = 0 ] || fail "SIGTERM with a request in flight: status $PROFD_STATUS"
wait $cpid
# (curl writes 000 when no response came at all)
code=$(cat "$TMP/inflight.code")
[ "$code" != 000 ] || fail "the in-flight request got no response"
no_thread_stopped "$TARGET_PID" || fail "a target thread was left stopped"
kill -0 "$TARGET_PID" || fail "target died"
echo ok
