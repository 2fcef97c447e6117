#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-timeout: 150
# A scraper's default set, as Grafana Alloy's pyroscope.scrape asks it: every 15 s, at once,
# allocs, block, goroutine, mutex and profile?seconds=14, four rounds (about a minute) against a
# target that contends for locks (tests/targets/mutex_contend.cc): every answer is 200, every
# profile is read by go tool pprof, and the later mutex and block profiles (their tracking began
# with the first round) show the target's lock holders and waiters.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"

PATHS=(allocs block goroutine mutex 'profile?seconds=14')
ROUNDS=4

start_target mutex_contend 0
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "mutex_contend did not start: $(text_of "$TMP/target.out")"
send USR1 "$TARGET_PID"
start_profd --pid "$TARGET_PID"

# scrape ROUND: the five requests at once, each to its own file; codes in $TMP/r.ROUND.N.code
curls=()
scrape() {
	local r=$1 i
	for i in "${!PATHS[@]}"; do
		curl -s -o "$TMP/r.$r.$i" --max-time 40 -w '%{http_code}' "http://$ADDR/debug/pprof/${PATHS[$i]}" \
			>"$TMP/r.$r.$i.code" 2>/dev/null &
		curls+=($!)
	done
}

t0=$SECONDS
for ((r = 0; r < ROUNDS; r++)); do
	# the scrape interval, from the first round's start
	while [ $((SECONDS - t0)) -lt $((r * 15)) ]; do nap 0.2; done
	echo "== round $((r + 1)) at $((SECONDS - t0)) s"
	scrape "$r"
done
waiting "the last round's profile?seconds=14" 40
wait "${curls[@]}" # each curl gives up after 40 s
waited
echo "all $ROUNDS rounds answered after $((SECONDS - t0)) s"

for ((r = 0; r < ROUNDS; r++)); do
	for i in "${!PATHS[@]}"; do
		code=$(cat "$TMP/r.$r.$i.code" 2>/dev/null)
		[ "$code" = 200 ] || fail "round $((r + 1)): ${PATHS[$i]} answered HTTP '$code': $(head -c 300 "$TMP/r.$r.$i")"
		go tool pprof -raw "$TMP/r.$r.$i" >"$TMP/r.$r.$i.raw" 2>&1 ||
			fail "round $((r + 1)): go tool pprof cannot read ${PATHS[$i]}: $(head -n 3 "$TMP/r.$r.$i.raw")"
	done
done
echo "every answer 200, every profile read by go tool pprof"

last=$((ROUNDS - 1))
go tool pprof -top -cum -nodecount=1000 "$TMP/r.$last.3" 2>/dev/null | grep -q release_mutex ||
	fail "the last mutex profile does not show release_mutex: $(go tool pprof -top -cum "$TMP/r.$last.3" 2>&1 | head -20)"
go tool pprof -top -cum -nodecount=1000 "$TMP/r.$last.1" 2>/dev/null | grep -q wait_for_mutex ||
	fail "the last block profile does not show wait_for_mutex: $(go tool pprof -top -cum "$TMP/r.$last.1" 2>&1 | head -20)"
grep -q '^samples/count cpu/nanoseconds' "$TMP/r.$last.4.raw" || fail "the CPU profile's sample types: $(head -n 12 "$TMP/r.$last.4.raw")"
echo ok
