#!/usr/bin/env bash
# The listener's safety rules: loopback only unless --allow-public, a failed bind is fatal and
# clear, idle connections neither block others nor stay forever (slow ones: test_slow_clients),
# the connection cap holds without locking anyone out, SIGTERM ends cleanly, the
# target's exit is reported with the documented status, bad input is refused before start.
source "$(dirname "$0")/lib.sh"

start_target demo_target

# --- bad input is refused before anything starts, exit 2 (usage) or 3 (no such target)
progress "bad input"
expect_refused() { # status pattern args...
	local want="$1" pat="$2"; shift 2
	"$PROFD" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	[ $rc -eq "$want" ] || fail "profd $* exited $rc, want $want: $(text_of "$TMP/err")"
	grep -q -- "$pat" "$TMP/err" || fail "profd $*: message '$(text_of "$TMP/err")' lacks '$pat'"
	[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "profd $*: message is not one line: $(text_of "$TMP/err")"
}
expect_refused 2 "--pid is required"
expect_refused 2 "not a process ID" --pid abc
expect_refused 2 "unknown flag '--bogus'" --pid "$TARGET_PID" --bogus
expect_refused 2 "has no port" --pid "$TARGET_PID" --addr 127.0.0.1
expect_refused 2 "not a loopback address" --pid "$TARGET_PID" --addr 0.0.0.0:0
expect_refused 2 "--allow-public" --pid "$TARGET_PID" --addr '[::]:0'
dead=$(sh -c 'echo $$')
expect_refused 3 "no such process" --pid "$dead"
PROFD_PID=abc "$PROFD" 2>"$TMP/err"
rc=$?
[ $rc -eq 2 ] && grep -q PROFD_PID "$TMP/err" || fail "bad PROFD_PID not named: exit $rc, want 2: $(text_of "$TMP/err")"

# --- a non-loopback address is accepted with --allow-public, with a warning
progress "--allow-public"
"$PROFD" --pid "$TARGET_PID" --addr 0.0.0.0:0 --allow-public --ready-file "$TMP/pub" 2>"$TMP/pub.err" >/dev/null &
pub=$!
track $pub
wait_ready $pub "$TMP/pub" "$TMP/pub.err"
grep -q "warning: listening on non-loopback address 0.0.0.0" "$TMP/pub.err" ||
	fail "no warning for public address: $(text_of "$TMP/pub.err")"
port=$(sed 's/.*://' "$TMP/pub")
curl -sSf --max-time 60 "http://127.0.0.1:$port/debug/pprof/cmdline" -o /dev/null 2>"$TMP/curl.err" ||
	fail "public listener does not serve: $(text_of "$TMP/curl.err")"
kill -TERM $pub

# --- environment variables work like flags
progress "PROFD_* environment"
PROFD_PID=$TARGET_PID PROFD_ADDR=127.0.0.1:0 PROFD_READY_FILE="$TMP/env" "$PROFD" >/dev/null 2>"$TMP/env.err" &
envp=$!
track $envp
wait_ready $envp "$TMP/env" "$TMP/env.err" # (fails naming the PROFD_* profd that did not start)
kill -TERM $envp

# --- start the server under test
progress "the server under test"
start_profd --pid "$TARGET_PID"
grep -q "^profd listening on $ADDR\$" "$TMP/profd.out" || fail "bound address not printed on stdout"
port=${ADDR##*:}

# --- a port already in use is fatal, at once, with a clear message
progress "busy port"
"$PROFD" --pid "$TARGET_PID" --addr "127.0.0.1:$port" >/dev/null 2>"$TMP/busy.err"
rc=$?
[ $rc -eq 1 ] || fail "busy port: exit $rc, want 1: $(text_of "$TMP/busy.err")"
grep -q "already in use" "$TMP/busy.err" || fail "busy port message: $(text_of "$TMP/busy.err")"

# --- 200 idle connections do not block a real request
progress "200 idle connections"
fds=()
for i in $(seq 200); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || fail "idle connection $i refused"
	fds+=("$fd")
done
code=$(http GET /debug/pprof/cmdline --max-time 2)
[ "$code" = 200 ] || fail "a request with 200 idle connections open got no answer within 2 s: HTTP $code"

# --- request bodies are capped (4 MiB): a larger POST gets 413, and profd goes on serving
progress "request body cap"
head -c $((5 << 20)) /dev/zero | tr '\0' '1' >"$TMP/big"
code=$(http POST /debug/pprof/symbol --data-binary @"$TMP/big")
[ "$code" = 413 ] || fail "a 5 MiB body was not refused with 413: HTTP $code"
code=$(http GET /debug/pprof/cmdline)
[ "$code" = 200 ] || fail "profd stopped serving after a large body: HTTP $code"

# --- idle connections are closed by the request timeout (10 s by default)
progress "request timeout"
exec {slow}<>"/dev/tcp/127.0.0.1/$port" || fail "a connection for the request timeout was refused"
printf 'GET /debug/pprof/cmdline HTTP/1.1\r\n' >&$slow   # never finishes its headers
waiting "profd to close a connection whose headers never end (header timeout, about 10 s)" 25
if ! timeout 25 cat <&$slow >/dev/null; then
	fail "an idle connection was not closed within 25 s"
fi
waited
for fd in "${fds[@]}"; do exec {fd}>&-; done

# --- the connection cap holds: with --max-connections 4 and 4 idle clients, a fifth is served
# only by taking the place of the oldest idle one (which gets a 503 and is closed), never as a
# fifth connection; the other three stay open
progress "--max-connections 4"
"$PROFD" --pid "$TARGET_PID" --addr 127.0.0.1:0 --max-connections 4 --ready-file "$TMP/cap" >/dev/null 2>"$TMP/cap.err" &
cap=$!
track $cap
wait_ready $cap "$TMP/cap" "$TMP/cap.err"
cport=$(sed 's/.*://' "$TMP/cap")
# accepted PID PORT N: process PID holds N established connections on its PORT (ss names the
# owner of an accepted socket; one still in the listen queue has none)
accepted() {
	[ "$(ss -Htnp state established "( sport = :$2 )" | grep -c "pid=$1,")" -eq "$3" ]
}
capfds=()
for i in 1 2 3 4; do
	exec {fd}<>"/dev/tcp/127.0.0.1/$cport" || fail "idle connection $i to the --max-connections 4 profd refused"
	capfds+=("$fd")
	# in order of age: each one accepted before the next connects
	wait_for -m "profd --max-connections 4 to accept idle client $i" 10 accepted $cap "$cport" $i ||
		fail "profd --max-connections 4 did not accept idle connection $i: $(ss -Htnp state established "( sport = :$cport )" | grep -c "pid=$cap,") accepted"
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
wait_for 5 curl -sf --max-time 2 "http://127.0.0.1:$cport/debug/pprof/cmdline" ||
	fail "profd did not serve again after idle clients left"
kill -TERM $cap

# --- SIGTERM: clean exit 0 within 5 s, ready file removed
progress "SIGTERM"
kill -TERM "$PROFD_PID"
wait_profd_exit 5
[ "$PROFD_STATUS" = 0 ] || fail "SIGTERM: exit status $PROFD_STATUS, want 0 within 5 s"
[ -z "$(ls "$TMP"/ready.* 2>/dev/null)" ] || fail "ready file left behind after SIGTERM: $(ls "$TMP"/ready.*)"
alive "$TARGET_PID" || fail "target died with profd"
no_thread_stopped "$TARGET_PID" || fail "a target thread was left stopped: $(show_stopped_threads "$TARGET_PID")"

# --- the target exiting ends profd with status 3 and a clear message
progress "target exit"
start_profd --pid "$TARGET_PID"
kill -KILL "$TARGET_PID"
wait "$TARGET_PID" 2>/dev/null # (quietly: bash would report the kill in the log)
wait_profd_exit 5
[ "$PROFD_STATUS" = 3 ] || fail "target exit: profd status $PROFD_STATUS, want 3"
grep -q "target process $TARGET_PID (demo_target) exited" "$TMP/profd.err" || fail "target exit not reported: $(text_of "$TMP/profd.err")"
echo ok
