#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# /metrics: Prometheus text exposition 0.0.4, checked by a strict parser here (and promtool when
# installed); the RSS, thread and descriptor figures match /proc for a target that grows them in
# steps the test controls; the sampled heap in use follows its leak; bad queries get 400/404/405;
# reading it stops no thread and attaches no probe; over a set, one series per process; the
# memory cgroup's usage and limit (v2, or v1 on hybrid hosts) for a target the test puts in one.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (ptrace, BPF)"

# check_exposition FILE: the text format, strictly: HELP then TYPE once per family, before its
# samples; samples of a family together, named as it (counters end in _total); label names and
# escaped values; numeric values; no series twice; a final newline.
check_exposition() {
	[ -s "$1" ] && [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] || { echo "empty or no final newline"; return 1; }
	awk '
	function bad(why) { printf "line %d: %s: %s\n", NR, why, $0; err = 1; exit 1 }
	BEGIN { name_re = "^[a-zA-Z_:][a-zA-Z0-9_:]*$"; err = 0 }
	/^# HELP / {
		if ($3 !~ name_re) bad("bad name in HELP")
		if ($3 in helped) bad("second HELP for a family")
		helped[$3] = 1; last_help = $3; next
	}
	/^# TYPE / {
		if (NF != 4 || ($4 != "counter" && $4 != "gauge")) bad("bad TYPE line")
		if ($3 != last_help) bad("TYPE not right after its HELP")
		if ($3 in typed) bad("second TYPE for a family")
		if ($4 == "counter" && $3 !~ /_total$/) bad("counter not ending in _total")
		if ($4 == "gauge" && $3 ~ /_total$/) bad("gauge ending in _total")
		typed[$3] = $4; fam = $3; nsamples[fam] = 0; next
	}
	/^#/ { bad("unknown comment") }
	/^$/ { bad("empty line") }
	{
		line = $0
		if (!match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*/)) bad("no metric name")
		name = substr(line, 1, RLENGTH); rest = substr(line, RLENGTH + 1)
		if (name != fam) bad("sample outside its family (" fam ")")
		labels = ""
		if (substr(rest, 1, 1) == "{") {
			if (!match(rest, /^\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*")*\}/))
				bad("bad label set")
			labels = substr(rest, 1, RLENGTH); rest = substr(rest, RLENGTH + 1)
		}
		if (rest !~ /^ (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|\+Inf|-Inf)$/) bad("bad value")
		if ((name labels) in seen) bad("series twice")
		seen[name labels] = 1; nsamples[fam]++
	}
	END {
		if (err) exit 1
		for (f in typed) if (!nsamples[f]) { print "family " f " without samples"; exit 1 }
	}' "$1"
}

# value FILE NAME LABELS: the value of series NAME{LABELS...} (LABELS: a regex within the braces)
value() {
	awk -v n="$2" -v l="$3" 'index($0, n "{") == 1 && $0 ~ ("{[^}]*" l) { print $NF; exit }
		$1 == n && l == "" { print $2; exit }' "$1"
}
status_kb() { # PID FIELD: /proc/PID/status FIELD in KiB
	awk -v f="$2:" '$1 == f { print $2 }' /proc/"$1"/status
}
fd_count() { local n=0 f; for f in /proc/"$1"/fd/*; do n=$((n + 1)); done; echo "$n"; }
steps() { grep -c '^step' "$TMP/target.out"; }
steps_at_least() { [ "$(steps)" -ge "$1" ]; }
metrics() { # fetch into $TMP/m, strictly checked
	[ "$(http GET "/metrics$1")" = 200 ] || fail "GET /metrics$1: $(cat "$TMP/b")"
	cp "$TMP/b" "$TMP/m"
	check_exposition "$TMP/m" >"$TMP/why" || fail "/metrics$1 is not valid exposition: $(cat "$TMP/why")"
}

echo "== one process: figures match /proc, and follow its steps"
# 8 MiB, 10 descriptors and 2 threads per step; heap samples every 4 KiB: each 1 MiB block is
# sampled and weighs its size
start_target grow_steps -m 8 -f 10 -t 2
wait_for 10 grep -q ready "$TMP/target.out" || fail "target did not start"
# in a memory cgroup of 512 MiB (v2, or v1 where the controller is: lib.sh), when there is one
CG=
if memcg_find; then
	cg_make metrics 512
	cg_join "$TARGET_PID"
fi
start_profd --pid "$TARGET_PID" --heap inuse --heap-rate 4096
L="pid=\"$TARGET_PID\",process=\"grow_steps\""
for s in 1 2; do
	kill -USR1 "$TARGET_PID"
	wait_for 10 steps_at_least $s || fail "target did not take step $s: $(text_of "$TMP/target.out")"
done
metrics ""
header Content-Type | grep -qx 'text/plain; version=0.0.4; charset=utf-8' || fail "content type: $(header Content-Type)"
if command -v promtool >/dev/null; then
	promtool check metrics <"$TMP/m" >"$TMP/prom" 2>&1 || fail "promtool check metrics: $(cat "$TMP/prom")"
else
	echo "promtool not installed (Debian: prometheus): strict awk check only"
fi
threads=$(value "$TMP/m" profd_process_threads "$L")
[ "$threads" = 5 ] || fail "threads: $threads, expected 5 (main + 2 steps x 2)"
[ "$threads" = "$(status_kb "$TARGET_PID" Threads)" ] || fail "threads differ from /proc"
fds=$(value "$TMP/m" profd_process_open_fds "$L")
[ "$fds" = "$(fd_count "$TARGET_PID")" ] || fail "open fds: $fds, /proc says $(fd_count "$TARGET_PID")"
[ "$fds" -ge 23 ] || fail "open fds: $fds, expected stdio + 20"
rss=$(value "$TMP/m" profd_process_resident_memory_bytes "$L")
anon=$(value "$TMP/m" profd_process_resident_memory_anon_bytes "$L")
now=$(($(status_kb "$TARGET_PID" VmRSS) * 1024))
[ -n "$rss" ] && [ $((rss - now)) -le 1048576 ] && [ $((now - rss)) -le 1048576 ] ||
	fail "RSS $rss differs from /proc's $now by more than 1 MiB"
[ "$anon" -ge $((16 << 20)) ] || fail "anonymous RSS $anon below the 16 MiB the target touched"
heap=$(value "$TMP/m" profd_heap_inuse_bytes "$L")
[ "$heap" -ge $((16 << 20)) ] && [ "$heap" -le $((17 << 20)) ] || fail "heap in use $heap, expected 16-17 MiB"
for f in profd_process_cpu_seconds_total profd_process_page_faults_total profd_process_context_switches_total; do
	grep -q "^$f{$L,[a-z]*=\"[a-z]*\"} " "$TMP/m" || fail "no $f for the target"
done
grep -q '^profd_self_resident_memory_bytes [1-9]' "$TMP/m" || fail "no profd_self_resident_memory_bytes"
grep -q '^profd_self_cpu_seconds_total{mode="user"} ' "$TMP/m" || fail "no profd_self_cpu_seconds_total"
grep -q '^profd_heap_probes_attached 1$' "$TMP/m" || fail "heap probes not said attached"
grep -q '^profd_heap_dropped_events_total{reason="ring_buffer_full"} 0$' "$TMP/m" || fail "no dropped events counter"
grep -q '^profd_cpu_lost_samples_total 0$' "$TMP/m" || fail "no CPU lost samples counter"
grep -q '^profd_cpu_unwind_seconds_total [0-9]' "$TMP/m" || fail "no CPU unwind time counter"
if [ -n "$CG" ]; then
	# the cgroup's figures, labelled with its path in the hierarchy that has the memory controller
	cgl="$L,cgroup=\"/${CG##*/}\""
	cgmax=$(value "$TMP/m" profd_process_cgroup_memory_max_bytes "$cgl")
	cgcur=$(value "$TMP/m" profd_process_cgroup_memory_current_bytes "$cgl")
	[ "$cgmax" = $((512 << 20)) ] ||
		fail "cgroup $CGV memory limit: '$cgmax', expected $((512 << 20)): $(grep cgroup "$TMP/m")"
	[ -n "$cgcur" ] && [ "$cgcur" -ge $((16 << 20)) ] && [ "$cgcur" -le $((512 << 20)) ] ||
		fail "cgroup $CGV memory in use: '$cgcur', expected the target's 16+ MiB: $(grep cgroup "$TMP/m")"
	echo "cgroup $CGV: $cgcur of $cgmax bytes"
else
	echo "no memory cgroup controller here: cgroup figures not checked"
fi

# a step later, the figures moved by exactly the step
kill -USR1 "$TARGET_PID"
wait_for 10 steps_at_least 3 || fail "target did not take step 3"
metrics ""
[ "$(value "$TMP/m" profd_process_threads "$L")" = 7 ] || fail "threads after step 3: $(value "$TMP/m" profd_process_threads "$L")"
[ "$(value "$TMP/m" profd_process_open_fds "$L")" = $((fds + 10)) ] || fail "fds after step 3"
rss3=$(value "$TMP/m" profd_process_resident_memory_bytes "$L")
[ $((rss3 - rss)) -ge $((8 << 20)) ] || fail "RSS grew by $((rss3 - rss)) bytes in a step of 8 MiB"

# requests served are counted
http GET /debug/pprof/heap >/dev/null
metrics ""
[ "$(value "$TMP/m" profd_profile_requests_total 'profile="heap"')" = 1 ] || fail "heap requests not counted"

echo "== bad requests"
[ "$(http GET '/metrics?pid=abc')" = 400 ] || fail "?pid=abc should be 400"
grep -q 'invalid value for "pid"' "$TMP/b" || fail "400 body: $(cat "$TMP/b")"
[ "$(http GET '/metrics?pid=1')" = 404 ] || fail "?pid=1 (not served) should be 404"
[ "$(http POST /metrics)" = 405 ] || fail "POST /metrics should be 405"
[ "$(header Allow)" = "GET, HEAD" ] || fail "405 Allow: $(header Allow)"
[ "$(http HEAD /metrics -I)" = 200 ] || fail "HEAD /metrics"
header Content-Type | grep -qx 'text/plain; version=0.0.4; charset=utf-8' || fail "HEAD content type"
[ "$(http GET "/metrics?pid=$TARGET_PID")" = 200 ] || fail "?pid=$TARGET_PID"
cleanup_one() { kill "$PROFD_PID" "$TARGET_PID" 2>/dev/null; wait "$PROFD_PID" "$TARGET_PID" 2>/dev/null; }
cleanup_one

echo "== reading /metrics stops no thread and attaches no probe (--heap demand)"
start_target grow_steps -m 1 -f 1 -t 4
wait_for 10 grep -q ready "$TMP/target.out" || fail "target did not start"
kill -USR1 "$TARGET_PID"
start_profd --pid "$TARGET_PID"
links_before=$(bpftool link show 2>/dev/null | grep -c uprobe)
for i in 1 2 3 4 5; do
	metrics ""
	no_thread_stopped "$TARGET_PID" || fail "a thread is stopped: $(show_stopped_threads "$TARGET_PID")"
done
grep -q '^profd_heap_probes_attached 0$' "$TMP/m" || fail "the heap probes attached for /metrics"
[ "$(bpftool link show 2>/dev/null | grep -c uprobe)" = "$links_before" ] || fail "uprobe links appeared"
[ "$(value "$TMP/m" profd_profile_requests_total 'profile="goroutine"')" = 0 ] || fail "a thread dump was taken"
cleanup_one

echo "== a set: one series per process"
start_target prefork --workers 2
master=$TARGET_PID
workers_started() { [ "$(grep -c '^worker' "$TMP/target.out")" -ge 2 ]; }
wait_for 10 workers_started || fail "prefork did not start its workers: $(text_of "$TMP/target.out")"
start_profd --pid "$master" --children
has_all() {
	local p
	http GET /metrics >/dev/null || return 1
	for p in "$master" $(awk '$1 == "worker" { print $2 }' "$TMP/target.out"); do
		grep -q "^profd_process_threads{pid=\"$p\",process=\"[^\"]*\"} [1-9]" "$TMP/b" || return 1
	done
}
wait_for 10 has_all || fail "not every process of the set has its series: $(grep '^profd_process_threads' "$TMP/b")"
metrics ""
grep -q '^profd_processes 3$' "$TMP/m" || fail "profd_processes: $(grep '^profd_processes ' "$TMP/m")"
w=$(awk '$1 == "worker" { print $2; exit }' "$TMP/target.out")
metrics "?pid=$w"
[ "$(grep -c '^profd_process_threads{' "$TMP/m")" = 1 ] && grep -q "^profd_process_threads{pid=\"$w\"" "$TMP/m" ||
	fail "?pid=$w: $(grep '^profd_process_threads' "$TMP/m")"
send TERM "$master" # it ends and reaps its workers: no zombie is left
no_worker() { local p; for p in $(awk '$1 == "worker" { print $2 }' "$TMP/target.out"); do alive "$p" && return 1; done; return 0; }
wait_for 10 no_worker || fail "the workers outlived the master"
wait "$master" 2>/dev/null
echo ok
