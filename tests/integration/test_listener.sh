#!/usr/bin/env bash
# The listener's safety rules: loopback only unless --allow-public, a failed bind is fatal and
# clear, idle connections neither block others nor stay forever (slow ones: test_slow_clients),
# the connection cap holds without locking anyone out, SIGTERM ends cleanly, the
# target's exit is reported with the documented status, bad input is refused before start.
source "$(dirname "$0")/lib.sh"

start_target demo_target

# --- bad input is refused before anything starts, exit 2 (usage) or 3 (no such target)
expect_refused() { # status pattern args...
	local want="$1" pat="$2"; shift 2
	"$PROFD" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	[ $rc -eq "$want" ] || fail "profd $* exited $rc, want $want: $(cat "$TMP/err")"
	grep -q -- "$pat" "$TMP/err" || fail "profd $*: message '$(cat "$TMP/err")' lacks '$pat'"
	[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "profd $*: message is not one line: $(cat "$TMP/err")"
}
expect_refused 2 "--pid is required"
expect_refused 2 "not a process ID" --pid abc
expect_refused 2 "unknown flag '--bogus'" --pid "$TARGET_PID" --bogus
expect_refused 2 "has no port" --pid "$TARGET_PID" --addr 127.0.0.1
expect_refused 2 "not a loopback address" --pid "$TARGET_PID" --addr 0.0.0.0:0
expect_refused 2 "--allow-public" --pid "$TARGET_PID" --addr '[::]:0'
dead=$(sh -c 'echo $$')
expect_refused 3 "no such process" --pid "$dead"
PROFD_PID=abc "$PROFD" 2>"$TMP/err"; [ $? -eq 2 ] && grep -q PROFD_PID "$TMP/err" || fail "bad PROFD_PID not named"

# --- a non-loopback address is accepted with --allow-public, with a warning
"$PROFD" --pid "$TARGET_PID" --addr 0.0.0.0:0 --allow-public --ready-file "$TMP/pub" 2>"$TMP/pub.err" >/dev/null &
pub=$!
track $pub
wait_for 10 test -s "$TMP/pub" || fail "--allow-public did not start: $(cat "$TMP/pub.err")"
grep -q "warning: listening on non-loopback address 0.0.0.0" "$TMP/pub.err" || fail "no warning for public address"
port=$(sed 's/.*://' "$TMP/pub")
curl -sf "http://127.0.0.1:$port/debug/pprof/cmdline" >/dev/null || fail "public listener does not serve"
kill -TERM $pub

# --- environment variables work like flags
PROFD_PID=$TARGET_PID PROFD_ADDR=127.0.0.1:0 PROFD_READY_FILE="$TMP/env" "$PROFD" >/dev/null 2>&1 &
envp=$!
track $envp
wait_for 10 test -s "$TMP/env" || fail "PROFD_* environment did not start profd"
kill -TERM $envp

# --- start the server under test
start_profd --pid "$TARGET_PID"
grep -q "^profd listening on $ADDR\$" "$TMP/profd.out" || fail "bound address not printed on stdout"
port=${ADDR##*:}

# --- a port already in use is fatal, at once, with a clear message
"$PROFD" --pid "$TARGET_PID" --addr "127.0.0.1:$port" >/dev/null 2>"$TMP/busy.err"
rc=$?
[ $rc -eq 1 ] || fail "busy port: exit $rc, want 1"
grep -q "already in use" "$TMP/busy.err" || fail "busy port message: $(cat "$TMP/busy.err")"

# --- 200 idle connections do not block a real request
fds=()
for i in $(seq 200); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || fail "idle connection $i refused"
	fds+=("$fd")
done
start=$(date +%s%N)
[ "$(http GET /debug/pprof/cmdline)" = 200 ] || fail "request blocked by idle connections"
took_ms=$((($(date +%s%N) - start) / 1000000))
[ $took_ms -lt 2000 ] || fail "request with 200 idle connections took ${took_ms} ms"

# --- request bodies are capped (4 MiB): a larger POST gets 413, and profd goes on serving
head -c $((5 << 20)) /dev/zero | tr '\0' '1' >"$TMP/big"
[ "$(http POST /debug/pprof/symbol --data-binary @"$TMP/big")" = 413 ] || fail "a 5 MiB body was not refused with 413"
[ "$(http GET /debug/pprof/cmdline)" = 200 ] || fail "profd stopped serving after a large body"

# --- idle connections are closed by the request timeout (10 s by default)
exec {slow}<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /debug/pprof/cmdline HTTP/1.1\r\n' >&$slow   # never finishes its headers
if ! timeout 25 cat <&$slow >/dev/null; then
	fail "an idle connection was not closed within 25 s"
fi
for fd in "${fds[@]}"; do exec {fd}>&-; done

# --- the connection cap holds: with --max-connections 4 and 4 idle clients, a fifth is served
# only by taking the place of the oldest idle one (which gets a 503 and is closed), never as a
# fifth connection; the other three stay open
"$PROFD" --pid "$TARGET_PID" --addr 127.0.0.1:0 --max-connections 4 --ready-file "$TMP/cap" >/dev/null 2>&1 &
cap=$!
track $cap
wait_for 10 test -s "$TMP/cap" || fail "profd with --max-connections 4 did not start"
cport=$(sed 's/.*://' "$TMP/cap")
capfds=()
for i in 1 2 3 4; do
	exec {fd}<>"/dev/tcp/127.0.0.1/$cport"
	capfds+=("$fd")
	sleep 0.1 # in order of age
done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$cport/debug/pprof/cmdline")
[ "$code" = 200 ] || fail "a fifth client was not served at the cap (status $code)"
timeout 5 cat <&"${capfds[0]}" >"$TMP/evicted" || fail "the oldest idle connection was not closed to make room"
head -n 1 "$TMP/evicted" | grep -q '^HTTP/1.1 503 ' || fail "the evicted connection got: $(head -n 1 "$TMP/evicted")"
grep -q 'connection limit (4, --max-connections)' "$TMP/evicted" || fail "503 body: $(cat "$TMP/evicted")"
for fd in "${capfds[@]:1}"; do
	timeout 0.3 cat <&"$fd" >/dev/null
	[ $? = 124 ] || fail "an idle connection younger than the evicted one was closed too"
done
for fd in "${capfds[@]}"; do exec {fd}>&-; done
wait_for 5 curl -sf "http://127.0.0.1:$cport/debug/pprof/cmdline" || fail "profd did not serve again after idle clients left"
kill -TERM $cap

# --- SIGTERM: clean exit 0 within 5 s, ready file removed
kill -TERM "$PROFD_PID"
wait_profd_exit 5
[ "$PROFD_STATUS" = 0 ] || fail "SIGTERM: exit status $PROFD_STATUS, want 0 within 5 s"
[ -z "$(ls "$TMP"/ready.* 2>/dev/null)" ] || fail "ready file left behind after SIGTERM"
kill -0 "$TARGET_PID" || fail "target died with profd"
no_thread_stopped "$TARGET_PID" || fail "a target thread was left stopped"

# --- the target exiting ends profd with status 3 and a clear message
start_profd --pid "$TARGET_PID"
kill -KILL "$TARGET_PID"
wait_profd_exit 5
[ "$PROFD_STATUS" = 3 ] || fail "target exit: profd status $PROFD_STATUS, want 3"
grep -q "target process $TARGET_PID (demo_target) exited" "$TMP/profd.err" || fail "target exit not reported: $(cat "$TMP/profd.err")"
echo ok
