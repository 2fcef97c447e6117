#!/usr/bin/env bash
# Limits that keep one kind of request from starving the others or the machine: request bodies
# held at once are bounded all requests together (a flood of large POSTs gets 503s, not
# hundreds of MB of RSS), and long windows (?seconds=N, CPU profiles) have a pool of their own, so
# that while it is full a thread dump, a heap snapshot and the index are still served.
source "$(dirname "$0")/lib.sh"

rss_kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" /proc/"$PROFD_PID"/status; }

start_target demo_target
start_profd --pid "$TARGET_PID" --max-seconds 30

# --- 64 concurrent 4 MiB POSTs to /symbol: every answer is 200 or 503 with a readable body, and
# profd's peak RSS grows by much less than 64 x 4 MiB (the budget is 32 MiB of bodies at once)
head -c $(((4 << 20) - 16)) /dev/zero | tr '\0' '1' >"$TMP/body"
[ "$(http GET /debug/pprof/symbol)" = 200 ] || fail "symbol"
before=$(rss_kb VmRSS)
pids=()
for i in $(seq 64); do
	curl -s -o "$TMP/post.$i" -w '%{http_code}' --max-time 60 --data-binary @"$TMP/body" \
		-H 'Content-Type: application/octet-stream' "$BASE/symbol" >"$TMP/post.$i.code" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
peak=$(rss_kb VmHWM)
ok=0 busy=0
for i in $(seq 64); do
	code=$(cat "$TMP/post.$i.code")
	case "$code" in
	200) grep -qx 'num_symbols: 1' "$TMP/post.$i" || fail "POST $i: 200 with body '$(head -c 200 "$TMP/post.$i")'"; ok=$((ok + 1)) ;;
	503) grep -q 'too many request bodies at once: profd holds at most 32 MiB of them' "$TMP/post.$i" ||
		fail "POST $i: 503 with body '$(head -c 200 "$TMP/post.$i")'"; busy=$((busy + 1)) ;;
	*) fail "POST $i: status '$code', body '$(head -c 200 "$TMP/post.$i")'" ;;
	esac
done
grew=$(((peak - before) / 1024))
echo "64 POSTs of 4 MiB: $ok served, $busy refused with 503; peak RSS $((peak / 1024)) MiB, $grew MiB over the $((before / 1024)) MiB before"
[ $ok -ge 1 ] || fail "no large POST was served"
[ $grew -le 96 ] || fail "64 concurrent 4 MiB POSTs took profd's RSS up by $grew MiB (limit 96: 32 MiB of bodies and the threads)"
[ "$(http GET /debug/pprof/cmdline)" = 200 ] || fail "profd stopped serving after the POSTs"

# --- fill the pool of windows (16) with long CPU profiles (or goroutine deltas without eBPF)
http GET /debug/pprof/ >/dev/null
if grep -q "<a href='profile?debug=1'>" "$TMP/b"; then
	long="profile?seconds=30"
else
	long="goroutine?seconds=30"
fi
cpids=()
for i in $(seq 16); do
	curl -s -o /dev/null --max-time 60 "$BASE/$long" &
	cpids+=($!)
done
full() { http GET /debug/pprof/ >/dev/null && grep -q 'In progress: 16 of 16 profiles over time' "$TMP/b"; }
wait_for 20 full || fail "16 $long did not all start: $(grep 'In progress' "$TMP/b")"
[ "$(http GET "/debug/pprof/$long")" = 503 ] || fail "a 17th $long was not refused while 16 ran"
grep -q 'at most 16 at once' "$TMP/b" || fail "the 503 does not state the limit: $(cat "$TMP/b")"
# snapshots are still served while every window is taken
[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "thread dump while the windows are full: $(cat "$TMP/b")"
grep -qE '^goroutine [0-9]+ \[' "$TMP/b" || fail "thread dump body"
[ "$(http GET /debug/pprof/goroutine)" = 200 ] || fail "goroutine profile while the windows are full: $(cat "$TMP/b")"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index while the windows are full"
if grep -q "<a href='heap?debug=1'>" "$TMP/b"; then
	[ "$(http GET /debug/pprof/heap)" = 200 ] || fail "heap snapshot while the windows are full: $(cat "$TMP/b")"
	[ "$(http GET '/debug/pprof/allocs?debug=1')" = 200 ] || fail "allocs text while the windows are full: $(cat "$TMP/b")"
fi
[ "$(http GET '/debug/pprof/goroutine?seconds=1')" = 503 ] || fail "a delta got a window beyond the 16"
kill "${cpids[@]}" 2>/dev/null
for p in "${cpids[@]}"; do wait "$p" 2>/dev/null; done
# the windows come back once their clients are gone
free() { [ "$(http GET '/debug/pprof/goroutine?seconds=1')" = 200 ]; }
wait_for 20 free || fail "the windows did not come back after their clients left: $(cat "$TMP/b")"
kill -0 "$TARGET_PID" || fail "target died"
echo ok
