#!/usr/bin/env bash
# Limits that keep one kind of request from starving the others or the machine: request bodies
# held at once are bounded all requests together (a flood of large POSTs gets 503s, not
# hundreds of MB of RSS).
source "$(dirname "$0")/lib.sh"

rss_kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" /proc/"$PROFD_PID"/status; }

start_target demo_target
start_profd --pid "$TARGET_PID"

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

kill -0 "$TARGET_PID" || fail "target died"
echo ok
