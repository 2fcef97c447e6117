#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The growth profile over a set of processes (--pid P --children): a parent with two workers that
# touch known amounts at the same site. Each worker's growth is labelled with its pid and process;
# ?pid= scopes the profile (and debug=1) to one worker; a worker forked after the page-fault
# tracepoint is attached is tracked from its fork (it grows at once, before the set's scan, which
# runs once a second, could have seen it).
source "$(dirname "$0")/lib.sh"
[ -n "${KEEP_TMP:-}" ] && trap - EXIT

[ "$(id -u)" = 0 ] || skip "needs root (BPF)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"
MiB=1048576
[ -x "$TARGETS/growth_touch" ] || fail "test program growth_touch not built (run make test-bins)"

# the parent starts worker 1 at once and worker 2 when told (a line on its control fifo); each
# worker reads its commands on a fifo of its own
mkfifo "$TMP/ctl" "$TMP/in1" "$TMP/in2"
exec 7<>"$TMP/ctl" 8<>"$TMP/in1" 9<>"$TMP/in2"
bash -c '"$1" <&8 >"$2/out1" 2>&1 & read -r _ <&7; "$1" <&9 >"$2/out2" 2>&1 & wait' parent \
	"$TARGETS/growth_touch" "$TMP" &
PARENT=$!
track "$PARENT"
: >"$TMP/out2"
wait_for 10 grep -q '^ready' "$TMP/out1" || fail "worker 1 did not start: $(text_of "$TMP/out1")"
W1=$(awk '/^ready/ { print $2; exit }' "$TMP/out1")
track "$W1"

# lines_above FILE PATTERN N: FILE has more than N lines matching PATTERN
lines_above() {
	[ "$(grep -c "$2" "$1")" -gt "$3" ]
}

# cmd N LINE: sends a command to worker N and waits (deadline 60 s) for its "ok"
cmd() {
	local before fd=$((7 + $1))
	before=$(grep -c '^ok' "$TMP/out$1")
	echo "$2" >&"$fd"
	wait_for 60 lines_above "$TMP/out$1" '^ok' "$before" || fail "worker $1 did not do '$2': $(tail -n 3 "$TMP/out$1")"
}

links() {
	grep -l '^tp_name:[[:space:]]*page_fault_user' /proc/"$PROFD_PID"/fdinfo/* 2>/dev/null | wc -l
}
attached() { [ "$(links)" -gt 0 ]; }

# value FILE FUNC: growth/bytes of FUNC in go tool pprof -top (0 if absent)
value() {
	go tool pprof -top -sample_index=growth -unit=B -nodecount=1000 "$1" 2>/dev/null |
		awk -v f="$2" '$6 == f { v = $1; sub(/B$/, "", v); print v; found = 1; exit } END { if (!found) print 0 }'
}
check() { # file func expected percent
	local v
	v=$(value "$1" "$2")
	awk -v a="$v" -v e="$3" -v p="$4" 'BEGIN { d = a - e; if (d < 0) d = -d; exit !(d <= e * p / 100) }' ||
		fail "$2 growth = $v bytes in $(basename "$1"), expected $3 +-$4%"
	echo "ok: $2 growth = $v in $(basename "$1") (expected $3 +-$4%)"
}

progress "profd over the parent and its children"
start_profd --pid "$PARENT" --children --growth-rate 32K --log-level debug
grep -q 'growth (demand): page faults of the processes of' "$TMP/profd.err" ||
	fail "profd does not serve growth over the set: $(grep -i growth "$TMP/profd.err" | head -n 3)"
[ "$(http GET /debug/pprof/growth)" = 200 ] || fail "growth: HTTP $(head -c 300 "$TMP/b")"
wait_for 15 attached || fail "a growth request did not attach the page-fault tracepoint"

progress "worker 1 grows; worker 2 is forked and grows at once"
cmd 1 "touch 64"
echo go >&7
wait_for 10 grep -q '^ready' "$TMP/out2" || fail "worker 2 did not start: $(text_of "$TMP/out2")"
W2=$(awk '/^ready/ { print $2; exit }' "$TMP/out2")
track "$W2"
cmd 2 "touch 32"

progress "the whole set: both workers, each labelled"
[ "$(http GET /debug/pprof/growth)" = 200 ] || fail "growth of the set: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/all.pb.gz"
check "$TMP/all.pb.gz" touch_site $((96 * MiB)) 15
go tool pprof -raw "$TMP/all.pb.gz" >"$TMP/all.raw" 2>&1 || fail "pprof -raw rejects the set's profile: $(head -n 5 "$TMP/all.raw")"
for w in "$W1" "$W2"; do
	grep -q "pid:\[$w\]" "$TMP/all.raw" || fail "no sample labelled pid $w: $(grep -m 5 'pid:' "$TMP/all.raw")"
done
grep -q 'process:\[growth_touch\]' "$TMP/all.raw" || fail "samples are not labelled with their process: $(grep -m 5 'process:' "$TMP/all.raw")"

progress "?pid= scopes the profile to one worker"
[ "$(http GET "/debug/pprof/growth?pid=$W1")" = 200 ] || fail "growth?pid=$W1: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/w1.pb.gz"
check "$TMP/w1.pb.gz" touch_site $((64 * MiB)) 15
[ "$(http GET "/debug/pprof/growth?pid=$W2")" = 200 ] || fail "growth?pid=$W2: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/w2.pb.gz"
# worker 2 was tracked from its fork: its growth, done at once, is all there
check "$TMP/w2.pb.gz" touch_site $((32 * MiB)) 15
go tool pprof -raw "$TMP/w2.pb.gz" >"$TMP/w2.raw" 2>&1 || fail "pprof -raw rejects growth?pid=$W2"
grep -q "pid:\[$W1\]" "$TMP/w2.raw" && fail "growth?pid=$W2 holds samples of pid $W1"

progress "debug=1 over the set, and scoped"
[ "$(http GET "/debug/pprof/growth?debug=1")" = 200 ] || fail "growth?debug=1: HTTP $(head -c 300 "$TMP/b")"
grep -q "^# pid $W1 (growth_touch)" "$TMP/b" || fail "debug=1 does not name worker 1's records"
grep -q "^# pid $W2 (growth_touch)" "$TMP/b" || fail "debug=1 does not name worker 2's records"
grep -q $'^#\t0x[0-9a-f]*\ttouch_site+0x[0-9a-f]*\t.*growth_touch.c:[0-9]*$' "$TMP/b" || fail "debug=1 has no symbolized touch_site frame"
[ "$(http GET "/debug/pprof/growth?debug=1&pid=$W1")" = 200 ] || fail "growth?debug=1&pid=$W1"
grep -q "^# pid $W2 " "$TMP/b" && fail "growth?debug=1&pid=$W1 lists worker 2's records"

progress "a window over the set"
curl -s -o "$TMP/win.pb.gz" -w '%{http_code}' --max-time 60 "$BASE/growth?seconds=3&pid=$W2" >"$TMP/win.code" &
w=$!
window_open() { [ "$(http GET /debug/pprof/)" = 200 ] && grep -q 'growth: .* window open' "$TMP/b"; }
wait_for 30 window_open || fail "the index does not show the window open: $(grep 'growth:' "$TMP/b")"
cmd 1 "touch 16"
cmd 2 "touch 8"
wait $w
[ "$(cat "$TMP/win.code")" = 200 ] || fail "growth?seconds=3&pid=$W2: HTTP $(cat "$TMP/win.code")"
check "$TMP/win.pb.gz" touch_site $((8 * MiB)) 25
kill -0 "$W1" && kill -0 "$W2" || fail "a worker died"
echo ok
