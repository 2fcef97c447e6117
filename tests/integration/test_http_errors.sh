#!/usr/bin/env bash
# What profd says when it cannot serve: every error, including refused request heads, is plain
# text with Content-Type and nosniff; a target held by another tracer (strace) is named with
# 409 where its threads must be stopped (the task iterator reads the blocked ones anyway, and
# says they are traced); a target that exits (or a profd that stops) during a ?seconds=N window
# gets 503 saying so; and HEAD answers with the headers only, without stopping a thread or
# collecting anything.
source "$(dirname "$0")/lib.sh"

# raw REQUEST: sends REQUEST as is (printf escapes) and leaves the response in $TMP/raw
raw() {
	exec {c}<>"/dev/tcp/${ADDR%:*}/${ADDR##*:}" || fail "cannot connect to $ADDR"
	printf "$1" >&$c 2>/dev/null
	timeout 10 cat <&$c >"$TMP/raw" 2>/dev/null
	exec {c}>&-
}

# plain_error STATUS WORDS WHAT: the response in $TMP/h + $TMP/b (or $TMP/raw) is profd's
# plain-text error with that status and a body holding WORDS
plain_error() {
	local want="$1" words="$2" what="$3" h b
	if [ -s "$TMP/raw" ]; then
		h=$(sed '/^\r$/q' "$TMP/raw"); b=$(sed '1,/^\r$/d' "$TMP/raw")
	else
		h=$(cat "$TMP/h"); b=$(cat "$TMP/b")
	fi
	head -n 1 <<<"$h" | grep -q "^HTTP/1.1 $want " || fail "$what: status line '$(head -n 1 <<<"$h")', want $want"
	grep -qi '^Content-Type: text/plain; charset=utf-8' <<<"$h" || fail "$what: not text/plain: $h"
	grep -qi '^X-Content-Type-Options: nosniff' <<<"$h" || fail "$what: no nosniff: $h"
	grep -qi '^X-Go-Pprof: 1' <<<"$h" || fail "$what: no X-Go-Pprof: $h"
	grep -q -- "$words" <<<"$b" || fail "$what: body '$b' lacks '$words'"
	! grep -qi '<html' <<<"$b" || fail "$what: an HTML body: $b"
}

start_target demo_target
start_profd --pid "$TARGET_PID"

# --- requests refused before any handler runs
q=$(head -c 100000 /dev/zero | tr '\0' a)
rm -f "$TMP/raw"
http GET "/debug/pprof/goroutine?x=$q" >/dev/null
plain_error 414 "request line longer than 8192 bytes" "a 100 KB query"
big=$(head -c 40000 /dev/zero | tr '\0' b)
http GET /debug/pprof/cmdline -H "X-Big: $big" >/dev/null
plain_error 431 "request head larger than 32768 bytes" "40 KB of headers"
head -c $((5 << 20)) /dev/zero | tr '\0' '1' >"$TMP/big"
http POST /debug/pprof/symbol --data-binary @"$TMP/big" >/dev/null
plain_error 413 "request body larger than 4194304 bytes" "a 5 MiB body"
http POST /debug/pprof/symbol -H 'Transfer-Encoding: chunked' --data-binary 0x1 >/dev/null
plain_error 411 "needs a Content-Length" "a chunked body"
raw 'GARBAGE\r\n\r\n'
plain_error 400 "malformed request line" "a garbage request line"
raw 'GET /debug/pprof/cmdline HTTP/1.1\r\nNo colon here\r\n\r\n'
plain_error 400 "malformed header field" "a header line without a colon"
raw 'GET /debug/pprof/cmdline HTTP/2.0\r\n\r\n'
plain_error 505 "HTTP/1.1" "HTTP/2.0 in the request line"
raw 'GET /debug/pprof/cmdline HTTP/1.1\r\nContent-Length: 12x\r\n\r\n'
plain_error 400 "malformed Content-Length" "a bad Content-Length"
rm -f "$TMP/raw"
[ "$(http GET /debug/pprof/cmdline)" = 200 ] || fail "profd stopped serving after bad requests"

# --- HEAD: headers as GET would have them, no body, and nothing taken from the target: the
# index's goroutine status line (the last dump's summary) stays absent
[ "$(http HEAD '/debug/pprof/goroutine?debug=2' -I)" = 200 ] || fail "HEAD goroutine?debug=2: $(cat "$TMP/h")"
header Content-Type | grep -q '^text/plain; charset=utf-8' || fail "HEAD debug=2 content type: $(cat "$TMP/h")"
[ -z "$(header Content-Length)" ] || fail "HEAD answered a Content-Length, so it made the body: $(cat "$TMP/h")"
[ "$(http HEAD /debug/pprof/goroutine -I)" = 200 ] || fail "HEAD goroutine"
header Content-Disposition | grep -q 'filename="goroutine"' || fail "HEAD goroutine lacks its Content-Disposition"
[ "$(http HEAD '/debug/pprof/goroutine?seconds=5' -I --max-time 3)" = 200 ] || fail "HEAD of a 5 s delta did not answer at once"
header Content-Disposition | grep -q 'filename="goroutine-delta"' || fail "HEAD delta lacks its filename"
[ "$(http HEAD '/debug/pprof/goroutine?seconds=abc' -I)" = 400 ] || fail "HEAD checks parameters as GET does"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index"
if grep -q '<p>goroutine: pid' "$TMP/b"; then
	fail "HEAD took a thread dump: $(grep '<p>goroutine: pid' "$TMP/b")"
fi
if grep -q "<a href='profile?debug=1'>" "$TMP/b"; then
	[ "$(http HEAD '/debug/pprof/profile?seconds=5' -I --max-time 3)" = 200 ] || fail "HEAD profile?seconds=5 did not answer at once"
	header Content-Disposition | grep -q 'filename="profile"' || fail "HEAD profile lacks its filename"
fi
[ "$(http GET '/debug/pprof/goroutine?debug=1')" = 200 ] || fail "GET goroutine"
[ "$(http GET /debug/pprof/)" = 200 ] && grep -q '<p>goroutine: pid' "$TMP/b" || fail "a GET dump leaves no status line: the HEAD check above proves nothing"

# --- another tracer holds every thread. The task iterator reads the blocked ones all the same
# (no stop needed), each said to be traced by it; where every thread must be stopped
# (--thread-dump ptrace, or a kernel without the iterator): 409, naming the tracer
if command -v strace >/dev/null; then
	strace -f -qq -p "$TARGET_PID" -o /dev/null &
	st=$!
	track $st
	nthreads=$(ls /proc/"$TARGET_PID"/task | wc -l)
	# strace -f attaches the other threads right after the first
	all_traced() { [ -z "$(grep -sL "^TracerPid:[[:space:]]*$st\$" /proc/"$TARGET_PID"/task/*/status)" ]; }
	wait_for -m "strace (pid $st) to trace all $nthreads threads of $TARGET_PID" 10 all_traced ||
		fail "strace did not attach to every thread of $TARGET_PID"
	[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] ||
		fail "goroutine?debug=2 with strace attached, task iterator: $(text_of "$TMP/b")"
	[ "$(grep -cE '^goroutine [0-9]+ \[.*\]:$' "$TMP/b")" = "$nthreads" ] || fail "not one block per thread: $(text_of "$TMP/b")"
	[ "$(grep -cE "^goroutine [0-9]+ \[.*, traced by $st[],]" "$TMP/b")" = "$nthreads" ] ||
		fail "not every thread is said traced by strace ($st): $(grep '^goroutine' "$TMP/b")"
	grep -A 30 '"idle-waiter"\]:$' "$TMP/b" | grep -q '^waiter(' ||
		fail "the blocked idle-waiter was not read while strace traced it: $(grep -A 12 '"idle-waiter"\]:$' "$TMP/b")"
	progress "strace ($st) traces all $nthreads threads: the task iterator's dump is 200, every thread said traced"
	send TERM "$PROFD_PID"
	wait_profd_exit 20
	start_profd --pid "$TARGET_PID" --thread-dump ptrace
	for q in 'goroutine?debug=2' goroutine 'goroutine?debug=1'; do
		http GET "/debug/pprof/$q" >/dev/null
		plain_error 409 "cannot stop the threads of process $TARGET_PID: thread [0-9]* is already traced by process $st (strace)" \
			"$q with strace attached, --thread-dump ptrace"
	done
	progress "--thread-dump ptrace: 409 naming strace ($st)"
	send INT $st
	wait $st 2>/dev/null
	wait_for 10 no_thread_stopped "$TARGET_PID" || fail "strace did not detach"
	[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "no dump after strace detached: $(text_of "$TMP/b")"
else
	echo "strace is not installed: the 409 check is skipped"
fi

# --- the target exits during ?seconds=N windows: 503 saying so, not 500 "context canceled"
http GET /debug/pprof/ >/dev/null
grep -q "<a href='heap?debug=1'>" "$TMP/b" && heap=1 || heap=0
curl -s -o "$TMP/d1" -w '%{http_code}' "$BASE/goroutine?seconds=20" >"$TMP/d1.code" &
d1=$!
if [ $heap = 1 ]; then
	curl -s -o "$TMP/d2" -w '%{http_code}' "$BASE/heap?seconds=20" >"$TMP/d2.code" &
	d2=$!
fi
windows() { http GET /debug/pprof/ >/dev/null && grep -q "In progress: $1 of 16 " "$TMP/b"; }
wait_for 10 windows $((1 + heap)) || fail "the windows did not open: $(grep 'In progress' "$TMP/b")"
kill -KILL "$TARGET_PID"
wait $d1
[ "$(cat "$TMP/d1.code")" = 503 ] || fail "goroutine?seconds=20 when the target exited: $(cat "$TMP/d1.code") $(cat "$TMP/d1")"
grep -qx "target process $TARGET_PID (demo_target) has exited; profd is shutting down" "$TMP/d1" || fail "body: $(cat "$TMP/d1")"
if [ $heap = 1 ]; then
	wait $d2
	[ "$(cat "$TMP/d2.code")" = 503 ] || fail "heap?seconds=20 when the target exited: $(cat "$TMP/d2.code") $(cat "$TMP/d2")"
	grep -q "target process $TARGET_PID (demo_target) has exited" "$TMP/d2" || fail "heap body: $(cat "$TMP/d2")"
fi
wait_profd_exit 10
[ "$PROFD_STATUS" = 3 ] || fail "profd exit status $PROFD_STATUS after the target exited, want 3"

# --- profd is stopped (SIGTERM) during a window: 503 saying so, and the answer is sent in full
# before profd exits
start_target demo_target
start_profd --pid "$TARGET_PID"
curl -s -o "$TMP/d3" -w '%{http_code}' "$BASE/goroutine?seconds=20" >"$TMP/d3.code" &
d3=$!
wait_for 10 windows 1 || fail "the window did not open: $(grep 'In progress' "$TMP/b")"
kill -TERM "$PROFD_PID"
wait $d3
[ "$(cat "$TMP/d3.code")" = 503 ] || fail "goroutine?seconds=20 when profd stopped: $(cat "$TMP/d3.code") $(cat "$TMP/d3")"
grep -qx "profd is shutting down: the 20 s window was cut short" "$TMP/d3" || fail "body: $(cat "$TMP/d3")"
wait_profd_exit 10
[ "$PROFD_STATUS" = 0 ] || fail "profd exit status $PROFD_STATUS after SIGTERM, want 0"
echo ok
