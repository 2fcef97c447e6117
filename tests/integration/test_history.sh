#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The resource history: a target whose RSS, threads and fds grow in steps the test controls shows
# each step, as a plateau, in /debug/pprof/history?format=csv and in the index's SVG charts,
# whose last values match /metrics (and, when Chromium is installed, the page renders in it with
# its four charts); the ring keeps --history-length rows; bad options exit 2 naming the flag and
# bad queries get 400/404/405; over a set, the total and one series per process.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (ptrace, BPF)"

echo "== bad options are refused with exit 2, naming the flag"
refused() { # pattern args...: exit 2 and the pattern on stderr
	local pat="$1" rc; shift
	timeout 20 "$PROFD" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ $rc = 2 ] || fail "profd $* exited $rc, want 2: $(cat "$TMP/err")"
	grep -qF -- "$pat" "$TMP/err" || fail "profd $*: no '$pat' in: $(cat "$TMP/err")"
}
refused "--history-interval: expected" --pid $$ --history-interval 0s
refused "--history-interval: expected" --pid $$ --history-interval 2h
refused "--history-interval: expected" --pid $$ --history-interval 10
refused "--history-length: '-1' is not valid" --pid $$ --history-length -1
refused "--history-length: '100001' is not valid" --pid $$ --history-length 100001
PROFD_HISTORY_INTERVAL=soon refused "PROFD_HISTORY_INTERVAL: expected" --pid $$

csv() { # fetch the history CSV (QUERY appended) into $TMP/csv
	[ "$(http GET "/debug/pprof/history?format=csv$1")" = 200 ] || return 1
	cp "$TMP/b" "$TMP/csv"
}
last_threads_are() { # N: the newest CSV row says N threads
	csv "" && [ "$(tail -n 1 "$TMP/csv" | cut -d, -f5)" = "$1" ]
}
steps_at_least() { [ "$(grep -c '^step' "$TMP/target.out")" -ge "$1" ]; }

echo "== a target growing in steps: each step is a plateau in the CSV"
start_target grow_steps -m 8 -f 10 -t 2
wait_for 10 grep -q ready "$TMP/target.out" || fail "target did not start"
start_profd --pid "$TARGET_PID" --heap inuse --heap-rate 4096 --history-interval 1s --history-length 12
wait_for 10 last_threads_are 1 || fail "no first sample: $(cat "$TMP/csv")"
for s in 1 2 3; do
	kill -USR1 "$TARGET_PID"
	wait_for 10 steps_at_least $s || fail "target did not take step $s"
	wait_for 10 last_threads_are $((1 + 2 * s)) || fail "step $s not in the history: $(tail -n 3 "$TMP/csv")"
done
head -n 1 "$TMP/csv" | grep -qx 'time,pid,process,rss_bytes,threads,open_fds,heap_inuse_bytes' ||
	fail "CSV header: $(head -n 1 "$TMP/csv")"
header Content-Type | grep -qx 'text/csv; charset=utf-8' || fail "CSV content type: $(header Content-Type)"
# every row: an RFC 3339 time, this pid and name, four whole numbers
bad=$(tail -n +2 "$TMP/csv" | grep -cvE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z,$TARGET_PID,grow_steps,[0-9]+,[0-9]+,[0-9]+,[0-9]+$")
[ "$bad" = 0 ] || fail "$bad malformed CSV rows: $(cat "$TMP/csv")"
# the plateaus, in order: threads 1 3 5 7, fds 10 apart, RSS and heap 8 MiB apart
plateaus=$(tail -n +2 "$TMP/csv" | cut -d, -f5 | uniq | tr '\n' ' ')
[ "$plateaus" = "1 3 5 7 " ] || fail "thread plateaus: '$plateaus', want '1 3 5 7 '"
awk -F, 'NR > 1 {
	if ($5 != t) { if (t != "") { if ($6 - f != 10) bad = bad " fds+" ($6 - f); if ($4 - r < 8 * 2^20) bad = bad " rss+" ($4 - r);
	                if ($7 - h < 8 * 2^20 || $7 - h > 9 * 2^20) bad = bad " heap+" ($7 - h) }
	              t = $5; f = $6; r = $4; h = $7 }
	else if ($6 != f) bad = bad " fds moved within a plateau"
} END { if (bad != "") { print bad; exit 1 } }' "$TMP/csv" >"$TMP/why" || fail "steps in the CSV:$(cat "$TMP/why"): $(cat "$TMP/csv")"

echo "== the index draws the four charts, their last values as /metrics says"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index"
cp "$TMP/b" "$TMP/index.html"
[ "$(grep -c '<svg ' "$TMP/index.html")" = 4 ] || fail "the index has $(grep -c '<svg ' "$TMP/index.html") charts, want 4"
[ "$(grep -c '<polyline ' "$TMP/index.html")" = 4 ] || fail "charts without a line"
grep -qi '<script' "$TMP/index.html" && fail "the index has JavaScript"
# chart_last METRIC FILE: a chart's data-last (profd writes '...', a browser's DOM "...")
chart_last() { sed -n "s/.*data-metric=[\"']$1[\"'] data-points=[\"'][0-9]*[\"'] data-last=[\"']\([0-9]*\)[\"'].*/\1/p" "$2"; }
[ "$(http GET /metrics)" = 200 ] || fail "/metrics"
L="pid=\"$TARGET_PID\",process=\"grow_steps\""
m_threads=$(awk -v k="profd_process_threads{$L}" '$1 == k { print $2 }' "$TMP/b")
m_fds=$(awk -v k="profd_process_open_fds{$L}" '$1 == k { print $2 }' "$TMP/b")
m_rss=$(awk -v k="profd_process_resident_memory_bytes{$L}" '$1 == k { print $2 }' "$TMP/b")
[ "$(chart_last threads "$TMP/index.html")" = "$m_threads" ] || fail "threads chart $(chart_last threads "$TMP/index.html") != /metrics $m_threads"
[ "$(chart_last open_fds "$TMP/index.html")" = "$m_fds" ] || fail "fds chart $(chart_last open_fds "$TMP/index.html") != /metrics $m_fds"
c_rss=$(chart_last rss_bytes "$TMP/index.html")
[ -n "$c_rss" ] && [ $((c_rss - m_rss)) -le 1048576 ] && [ $((m_rss - c_rss)) -le 1048576 ] ||
	fail "RSS chart $c_rss vs /metrics $m_rss"
[ "$(chart_last heap_inuse_bytes "$TMP/index.html")" -ge $((24 << 20)) ] || fail "heap chart below the 24 MiB leaked"

if command -v chromium >/dev/null; then
	echo "== the index in headless Chromium"
	chrome() {
		timeout 90 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$TMP/chromium" "$@" \
			"http://$ADDR/debug/pprof/" 2>"$TMP/chromium.err"
	}
	chrome --dump-dom >"$TMP/dom.html" || fail "chromium --dump-dom failed: $(tail -n 3 "$TMP/chromium.err")"
	[ "$(grep -o '<svg ' "$TMP/dom.html" | wc -l)" = 4 ] || fail "Chromium's DOM has $(grep -o '<svg ' "$TMP/dom.html" | wc -l) charts"
	[ "$(grep -o '<polyline ' "$TMP/dom.html" | wc -l)" = 4 ] || fail "Chromium's DOM has charts without lines"
	[ "$(chart_last threads "$TMP/dom.html")" = "$m_threads" ] || fail "Chromium: threads chart $(chart_last threads "$TMP/dom.html") != $m_threads"
	chrome --screenshot="$TMP/index.png" --window-size=1000,1200 >/dev/null || fail "chromium --screenshot failed"
	[ "$(stat -c %s "$TMP/index.png")" -gt 20000 ] || fail "Chromium's screenshot of the index is nearly empty"
else
	echo "chromium not installed (make deps): the page is checked as text only"
fi

echo "== bad queries"
[ "$(http GET '/debug/pprof/history?format=xml')" = 400 ] || fail "format=xml should be 400"
grep -q 'invalid value for "format" - must be csv' "$TMP/b" || fail "400 body: $(cat "$TMP/b")"
[ "$(http GET '/debug/pprof/history?pid=abc')" = 400 ] || fail "pid=abc should be 400"
[ "$(http GET '/debug/pprof/history?pid=1')" = 404 ] || fail "pid=1 should be 404"
[ "$(http POST '/debug/pprof/history')" = 405 ] || fail "POST history should be 405"
[ "$(http GET '/debug/pprof/?pid=abc')" = 400 ] || fail "index ?pid=abc should be 400"

echo "== the ring keeps --history-length rows, the newest"
rows() { csv "" && [ "$(($(wc -l <"$TMP/csv") - 1))" = "$1" ]; }
wait_for 30 rows 12 || fail "rows: $(($(wc -l <"$TMP/csv") - 1)), want 12"
first=$(sed -n 2p "$TMP/csv" | cut -d, -f1)
moved() { csv "" && [ "$(sed -n 2p "$TMP/csv" | cut -d, -f1)" != "$first" ]; }
wait_for 10 moved || fail "the oldest row was not dropped"
rows 12 || fail "rows after wrapping: $(($(wc -l <"$TMP/csv") - 1))"
kill "$PROFD_PID" "$TARGET_PID" 2>/dev/null
wait "$PROFD_PID" "$TARGET_PID" 2>/dev/null

echo "== --history-length 0: no history"
start_target grow_steps
start_profd --pid "$TARGET_PID" --history-length 0
[ "$(http GET '/debug/pprof/history?format=csv')" = 404 ] || fail "history with --history-length 0 should be 404"
grep -q 'history-length 0' "$TMP/b" || fail "404 body: $(cat "$TMP/b")"
[ "$(http GET /debug/pprof/)" = 200 ] && ! grep -q '<svg' "$TMP/b" || fail "charts without a history"
kill "$PROFD_PID" "$TARGET_PID" 2>/dev/null
wait "$PROFD_PID" "$TARGET_PID" 2>/dev/null

echo "== a set: the total and each process"
start_target prefork --workers 2
master=$TARGET_PID
workers_started() { [ "$(grep -c '^worker' "$TMP/target.out")" -ge 2 ]; }
wait_for 10 workers_started || fail "prefork did not start its workers"
start_profd --pid "$master" --children --history-interval 1s
w=$(awk '$1 == "worker" { print $2; exit }' "$TMP/target.out")
has_all() { csv "" && grep -q '^[^,]*,,(all),' "$TMP/csv" && grep -q "^[^,]*,$master,prefork," "$TMP/csv" && grep -q "^[^,]*,$w,prefork," "$TMP/csv"; }
wait_for 15 has_all || fail "the set's history lacks the total, the master or worker $w: $(cat "$TMP/csv")"
# the total's threads are the sum of the processes' in the same row
awk -F, 'NR > 1 { if ($2 == "") tot[$1] = $5; else sum[$1] += $5 }
	END { for (t in tot) if (t in sum && tot[t] != sum[t]) { print t, tot[t], sum[t]; exit 1 } }' "$TMP/csv" >"$TMP/why" ||
	fail "a total differs from the sum of its processes: $(cat "$TMP/why")"
csv "&pid=$w" || fail "history ?pid=$w"
[ "$(tail -n +2 "$TMP/csv" | cut -d, -f2 | sort -u)" = "$w" ] || fail "?pid=$w rows: $(cat "$TMP/csv")"
[ "$(http GET "/debug/pprof/?pid=$w")" = 200 ] && grep -q "History of process $w (prefork)" "$TMP/b" ||
	fail "the index ?pid=$w does not draw its history: $(grep -i history "$TMP/b")"
[ "$(http GET /debug/pprof/)" = 200 ] && grep -q 'History of the whole set' "$TMP/b" || fail "the set's index history"
send TERM "$master" # it ends and reaps its workers: no zombie is left
no_worker() { local p; for p in $(awk '$1 == "worker" { print $2 }' "$TMP/target.out"); do alive "$p" && return 1; done; return 0; }
wait_for 10 no_worker || fail "the workers outlived the master"
echo ok
