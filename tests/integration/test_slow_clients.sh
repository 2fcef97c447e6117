#!/usr/bin/env bash
# Slow clients cannot hold profd: a whole request (head and body) must arrive within
# --request-timeout of connecting, however slowly it trickles in (a slowloris sends one byte a
# second and so resets any idle timer); at the connection cap a new client takes the place of the
# one that has been sending its request the longest, so a flood of slow clients keeps nobody out.
source "$(dirname "$0")/lib.sh"

SLOW="$TARGETS/slow_client"
[ -x "$SLOW" ] || fail "$SLOW not built (make test-bins)"
T=3 # --request-timeout for these runs

# slow PORT N MODE OUT: starts a slowloris of N connections sending one byte a second each and
# waits until they are all connected. It ends when the server has closed them all (or after 30 s).
slow() {
	"$SLOW" "$1" "$2" 1000 30 "$3" >"$4" 2>"$4.err" &
	track $!
	wait_for 10 grep -q "^connected $2\$" "$4" || fail "$2 slow clients did not connect: $(cat "$4" "$4.err")"
}

# check_closed OUT N MAX_S WANT: the slowloris in OUT ended, every one of its N connections closed
# by profd within MAX_S seconds of connecting, and its answers match WANT (a regex)
check_closed() {
	wait_for $(($3 + 15)) grep -q '^closed' "$1" || fail "slow clients still open $(($3 + 15)) s after connecting: $(cat "$1")"
	local line longest
	line=$(grep '^closed' "$1")
	[[ "$line" == "closed $2 of $2;"* ]] || fail "profd did not close every slow connection: $line"
	longest=$(sed 's/.*longest open \([0-9.]*\) s.*/\1/' <<<"$line")
	awk -v l="$longest" -v m="$3" 'BEGIN { exit !(l <= m) }' ||
		fail "a slow connection stayed open ${longest} s, more than $3 s (--request-timeout $T + slack): $line"
	grep -qE "$4" <<<"$line" || fail "slow clients' answers: $line; want $4"
	echo "$line"
}

# served_within SECONDS: a normal request succeeds within SECONDS (retried: a refused try is no
# answer); prints how long it took
served_within() {
	local start=$SECONDS code
	while [ $((SECONDS - start)) -lt "$1" ]; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$1" "$BASE/cmdline")
		if [ "$code" = 200 ]; then
			echo "a normal request was served $((SECONDS - start)) s into the flood"
			return 0
		fi
		sleep 0.2
	done
	fail "no normal request was served within $1 s of a flood of slow clients (last status $code)"
}

start_target demo_target

# --- 300 slow headers (well under the cap of 512): each gets 408 at the deadline, whatever its
# pace; a normal request meanwhile is served at once
start_profd --pid "$TARGET_PID" --request-timeout $T
port=${ADDR##*:}
slow "$port" 300 head "$TMP/flood"
served_within 2
check_closed "$TMP/flood" 300 $((T + 3)) '408 x300 none x0'
# the 408 is profd's plain-text error
exec {c}<>"/dev/tcp/127.0.0.1/$port"
timeout 10 cat <&$c >"$TMP/408" || fail "an idle connection was not closed within 10 s (--request-timeout $T)"
exec {c}>&-
head -n 1 "$TMP/408" | grep -q '^HTTP/1.1 408 ' || fail "idle connection: $(head -n 1 "$TMP/408")"
grep -qi '^Content-Type: text/plain; charset=utf-8' "$TMP/408" || fail "408 without text/plain: $(cat "$TMP/408")"
grep -qi '^X-Content-Type-Options: nosniff' "$TMP/408" || fail "408 without nosniff"
grep -q 'within 3 s of connecting (profd --request-timeout)' "$TMP/408" || fail "408 body: $(cat "$TMP/408")"

# --- slow bodies: a whole head, then a body at one byte a second: cut at the same deadline
slow "$port" 20 body "$TMP/bodies"
check_closed "$TMP/bodies" 20 $((T + 3)) 'closed 20 of 20'
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/cmdline")" = 200 ] || fail "profd does not serve after slow bodies"
kill -TERM "$PROFD_PID"
wait_profd_exit 10

# --- the cap filled three times over by slow clients: a normal client still gets in quickly
# (it takes the place of the oldest slow one), and every slow one is closed, early or at its
# deadline (some waited in the listen backlog first: that wait counts here, not for profd)
start_profd --pid "$TARGET_PID" --request-timeout $T --max-connections 16
slow "${ADDR##*:}" 48 head "$TMP/capflood"
served_within $((T + 2))
check_closed "$TMP/capflood" 48 $((T + 6)) 'closed 48 of 48'
kill -0 "$TARGET_PID" || fail "target died"
echo ok
