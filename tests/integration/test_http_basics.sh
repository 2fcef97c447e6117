#!/usr/bin/env bash
# The Go-compatible HTTP surface: index, redirect, cmdline against the real argv, 404 and 405
# bodies and headers, nosniff everywhere, HEAD.
source "$(dirname "$0")/lib.sh"

start_target demo_target --arg-one "two words" x
start_profd --pid "$TARGET_PID"

# index: HTML, lists cmdline with a relative ?debug=1 link, shows the target's PID
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index status"
header Content-Type | grep -q '^text/html; charset=utf-8' || fail "index content type: $(header Content-Type)"
[ "$(header X-Content-Type-Options)" = nosniff ] || fail "index nosniff"
grep -q "<a href='cmdline?debug=1'>cmdline</a>" "$TMP/b" || fail "index has no relative cmdline link"
grep -q "process $TARGET_PID (demo_target)" "$TMP/b" || fail "index does not show the target"

# /debug/pprof redirects to the index, with Go's exact body
[ "$(http GET /debug/pprof)" = 301 ] || fail "redirect status"
[ "$(header Location)" = /debug/pprof/ ] || fail "redirect location: $(header Location)"
printf '<a href="/debug/pprof/">Moved Permanently</a>.\n\n' | cmp -s - "$TMP/b" || fail "redirect body"

# cmdline: NUL-separated argv, no trailing NUL, no newline
[ "$(http GET /debug/pprof/cmdline)" = 200 ] || fail "cmdline status"
printf '%s\0%s\0%s\0%s' "$TARGETS/demo_target" --arg-one "two words" x | cmp - "$TMP/b" || fail "cmdline body differs"
header Content-Type | grep -q '^text/plain; charset=utf-8' || fail "cmdline content type"

# unknown profile: Go's serveError shape
for p in nope heap/ 'goroutine%2F'; do
	[ "$(http GET "/debug/pprof/$p")" = 404 ] || fail "/debug/pprof/$p should be 404"
	[ "$(cat "$TMP/b")" = "Unknown profile" ] || fail "404 body: $(cat "$TMP/b")"
	[ "$(header X-Go-Pprof)" = 1 ] || fail "404 lacks X-Go-Pprof"
	[ "$(header X-Content-Type-Options)" = nosniff ] || fail "404 lacks nosniff"
	header Content-Type | grep -q '^text/plain; charset=utf-8' || fail "404 content type"
done
# outside /debug/pprof: plain 404
[ "$(http GET /metricz)" = 404 ] || fail "/metricz should be 404"
[ "$(http GET /)" = 404 ] || fail "/ should be 404"

# methods: HEAD works with no body, others 405 with Allow
[ "$(http HEAD /debug/pprof/cmdline -I)" = 200 ] || fail "HEAD cmdline"
for m in PUT DELETE PATCH; do
	[ "$(http $m /debug/pprof/cmdline)" = 405 ] || fail "$m should be 405"
	[ "$(header Allow)" = "GET, HEAD" ] || fail "405 Allow header: $(header Allow)"
	[ "$(header X-Content-Type-Options)" = nosniff ] || fail "405 nosniff"
done
[ "$(http POST /debug/pprof/cmdline)" = 405 ] || fail "POST cmdline should be 405"

# a profile turned off says so, and how to turn it on, where Unknown profile would leave one guessing
kill "$PROFD_PID"
wait_profd_exit
start_profd --pid "$TARGET_PID" --heap off --growth off
for p in heap allocs growth; do
	[ "$(http GET "/debug/pprof/$p")" = 404 ] || fail "/debug/pprof/$p with it off should be 404"
	flag=--${p/allocs/heap}
	grep -q "^profile $p is not available here: .*($flag off); start profd with $flag demand" "$TMP/b" ||
		fail "$p off: the answer does not say why: $(cat "$TMP/b")"
	[ "$(header X-Go-Pprof)" = 1 ] || fail "$p off: no X-Go-Pprof"
done
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index status"
grep -A5 'Not available for this target' "$TMP/b" | grep -q 'heap: </div> heap profiling is off' ||
	fail "the index does not list heap as off: $(text_of "$TMP/b")"
grep -q "<a href='heap?debug=1'>" "$TMP/b" && fail "the index links to a heap profile that is off"

# the target is untouched
kill -0 "$TARGET_PID" || fail "target died"
echo ok
