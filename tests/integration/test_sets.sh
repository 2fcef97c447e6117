#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Whole services: --pid MASTER --children follows a prefork server's workers as they are replaced
# (CPU and heap samples labelled with each worker's pid and name, ?pid= scopes a request, heap
# samples of workers that already ended stay in the cumulative profile, the dump is grouped by
# process, an empty set is waited on); --cgroup follows a cgroup v2 directory whose processes are
# all killed and replaced; bad selectors are refused at start with exit status 2.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (ptrace, BPF)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"

# tags FILE SAMPLE_INDEX TAG [FOCUS]: "count value" lines of a label over the samples of a profile
# (with FOCUS, only of the samples whose stack holds it)
tags() {
	go tool pprof -tags -sample_index="$2" ${4:+-focus="$4"} "$1" 2>/dev/null |
		awk -v tag="$3" '$1 == tag ":" { on = 1; next } /^ *[a-z_]+: Total/ { on = 0 } on && NF >= 3 { print $1, $NF }'
}
# live_workers: the PIDs the prefork target reported that still run
live_workers() {
	local p
	for p in $(awk '$1 == "worker" { print $2 }' "$TMP/target.out"); do
		alive "$p" && echo "$p"
	done
}
index_lists() { # pid: the index has a row for it
	[ "$(http GET /debug/pprof/)" = 200 ] && grep -q "<a href='?pid=$1'>$1</a>" "$TMP/b"
}
index_live() { # N: the index says at least N processes now
	[ "$(http GET /debug/pprof/)" = 200 ] &&
		[ "$(sed -n 's/.*: \([0-9]*\) process\(es\)\? now;.*/\1/p' "$TMP/b")" -ge "$1" ] 2>/dev/null
}

echo "== --pid MASTER --children on a prefork server whose workers are replaced every 3 s"
start_target prefork --workers 2 --lifetime 3
master=$TARGET_PID
workers_started() { [ "$(grep -c '^worker' "$TMP/target.out")" -ge "$1" ]; }
wait_for 10 workers_started 2 || fail "the prefork target did not start two workers: $(text_of "$TMP/target.out")"
start_profd --pid "$master" --children --heap-rate 16384 --heap-budget 100
wait_for 20 index_live 3 || fail "the index does not list the master and two workers: $(grep -E 'now|<tr>' "$TMP/b")"
grep -q "profiles of process $master (prefork) and its descendants" "$TMP/b" || fail "the index does not name the set: $(grep 'profiles of' "$TMP/b")"

# tracking starts now; the workers alive now are replaced within 3 s
[ "$(http GET /debug/pprof/heap)" = 200 ] || fail "heap: HTTP $(head -c 300 "$TMP/b")"
first=$(live_workers | tr '\n' ' ')
[ -n "$first" ] || fail "no live worker"
ended() { local p; for p in $first; do ! alive "$p" || return 1; done; }
wait_for 20 ended || fail "workers $first still run after 20 s (--lifetime 3)"

echo "== CPU: samples of at least two workers, labelled"
[ "$(http GET '/debug/pprof/profile?seconds=4')" = 200 ] || fail "profile: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/cpu.pb.gz"
go tool pprof -top "$TMP/cpu.pb.gz" 2>/dev/null | grep -q worker_burn || fail "the CPU profile lacks worker_burn: $(go tool pprof -top "$TMP/cpu.pb.gz" 2>&1 | head -20)"
tags "$TMP/cpu.pb.gz" samples pid worker_burn >"$TMP/cpu.pids"
[ "$(wc -l <"$TMP/cpu.pids")" -ge 2 ] || fail "worker_burn samples come from fewer than two pids: $(cat "$TMP/cpu.pids")"
tags "$TMP/cpu.pb.gz" samples process worker_burn | grep -q ' prefork$' || fail "samples lack the process label: $(go tool pprof -tags "$TMP/cpu.pb.gz" 2>&1 | head -30)"

echo "== ?pid= restricts a profile to one worker"
# a worker lives 3 s: one that ends before or during its profile is followed by the next one
one_worker_profile() {
	one=$(live_workers | tail -n 1)
	[ -n "$one" ] && [ "$(http GET "/debug/pprof/profile?seconds=2&pid=$one")" = 200 ] || return 1
	cp "$TMP/b" "$TMP/one.pb.gz"
	tags "$TMP/one.pb.gz" samples pid >"$TMP/one.pids"
	[ -s "$TMP/one.pids" ]
}
wait_for 60 one_worker_profile || fail "no profile?pid= of a live worker had samples: HTTP $(head -c 300 "$TMP/b")"
[ "$(awk '{ print $2 }' "$TMP/one.pids" | sort -u)" = "$one" ] || fail "profile?pid=$one has samples of other pids: $(cat "$TMP/one.pids")"
[ "$(http GET '/debug/pprof/heap?pid=1')" = 404 ] || fail "?pid=1 (not in the set): HTTP $(head -c 300 "$TMP/b")"
grep -q 'not one of the processes profd serves' "$TMP/b" || fail "the 404 does not say why: $(cat "$TMP/b")"

echo "== heap: samples of workers that already ended stay in the cumulative profile"
[ "$(http GET /debug/pprof/allocs)" = 200 ] || fail "allocs: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/allocs.pb.gz"
tags "$TMP/allocs.pb.gz" alloc_space pid worker_alloc >"$TMP/heap.pids"
gone_seen=""
for p in $first; do
	awk '{ print $2 }' "$TMP/heap.pids" | grep -qx "$p" && gone_seen="$gone_seen $p"
done
[ -n "$gone_seen" ] || fail "no heap samples of the ended workers $first: pids with worker_alloc: $(cat "$TMP/heap.pids")"
gone1=${gone_seen# }; gone1=${gone1%% *}
index_lists "$gone1" || fail "the index does not keep the ended worker $gone1: $(grep '<tr>' "$TMP/b")"

echo "== the thread dump is grouped by process"
# while a worker is being replaced the set may hold the master and one worker: ask again
grouped_dump() {
	[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] &&
		grep -qE "^process $master \(prefork\): [0-9]+ threads?$" "$TMP/b" &&
		[ "$(grep -cE '^process [0-9]+ \(prefork\): ' "$TMP/b")" -ge 3 ] &&
		grep -q 'worker_burn' "$TMP/b"
}
wait_for 30 grouped_dump || fail "no dump grouped the master and two workers, one in worker_burn: $(grep '^process' "$TMP/b") $(head -c 300 "$TMP/b")"

echo "== the set empties: profd waits, and keeps what it had"
kill -KILL "$master"
wait_for 10 gone "$master" || fail "the master did not end"
no_live() { [ -z "$(live_workers)" ]; }
wait_for 10 no_live || fail "workers outlived the master: $(live_workers)"
says_empty() { [ "$(http GET /debug/pprof/)" = 200 ] && grep -q 'no process in it now; waiting' "$TMP/b"; }
wait_for 15 says_empty || fail "the index does not say the set is empty: $(grep 'profiles of' "$TMP/b")"
alive "$PROFD_PID" || fail "profd exited when the set emptied"
[ "$(http GET /debug/pprof/allocs)" = 200 ] || fail "allocs of the empty set: HTTP $(head -c 300 "$TMP/b")"
go tool pprof -top -sample_index=alloc_space "$TMP/b" 2>/dev/null | grep -q worker_alloc || fail "the empty set's allocs profile lost worker_alloc"
kill -TERM "$PROFD_PID"
wait_profd_exit 10
[ "$PROFD_STATUS" = 0 ] || fail "profd exited $PROFD_STATUS on SIGTERM"

echo "== --cgroup: every process of a cgroup v2 directory, all replaced"
root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$root" ] || skip "no cgroup2 mount (the cgroup part needs one)"
cg="profd-test-sets-$$"
mkdir "$root/$cg" || fail "cannot create the cgroup $root/$cg"
cleanup_cgroup() {
	local p
	for p in $(cat "$root/$cg/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$root/$cg" 2>/dev/null && return; sleep 0.2; done
}
trap '_rc=$?; cleanup_cgroup; (exit $_rc); cleanup' EXIT
join_cg() { echo "$1" >"$root/$cg/cgroup.procs" || fail "cannot move $1 into $root/$cg"; }
"$TARGETS/cpu_threads" >"$TMP/a.out" 2>&1 &
a=$!
track $a
"$TARGETS/demo_target" >"$TMP/d.out" 2>&1 &
d=$!
track $d
wait_for -m "the two targets to exec" 10 sh -c "[ /proc/$a/exe -ef '$TARGETS/cpu_threads' ] && [ /proc/$d/exe -ef '$TARGETS/demo_target' ]" ||
	fail "the cgroup's targets did not start"
join_cg $a
join_cg $d
start_profd --cgroup "$cg"
wait_for 20 index_live 2 || fail "the index does not list the cgroup's two processes: $(grep -E 'now|<tr>' "$TMP/b")"
index_lists $a && index_lists $d || fail "the index lacks $a or $d: $(grep '<tr>' "$TMP/b")"
kill -KILL $a $d
wait_for 15 says_empty || fail "the index does not say the cgroup is empty: $(grep 'profiles of' "$TMP/b")"
"$TARGETS/cpu_threads" >"$TMP/n.out" 2>&1 &
n=$!
track $n
wait_for 10 _runs $n "$TARGETS/cpu_threads" || fail "the new target did not start"
join_cg $n
wait_for 20 index_lists $n || fail "profd did not pick up $n, which joined the cgroup: $(grep -E 'now|<tr>' "$TMP/b")"
[ "$(http GET "/debug/pprof/profile?seconds=2&pid=$n")" = 200 ] || fail "profile?pid=$n: HTTP $(head -c 300 "$TMP/b")"
[ "$(tags "$TMP/b" samples pid | awk '{ print $2 }' | sort -u)" = "$n" ] || fail "the new process's CPU samples: $(go tool pprof -tags "$TMP/b" 2>&1 | head)"
kill -TERM "$PROFD_PID"
wait_profd_exit 10

echo "== bad selectors: refused at start, exit 2, naming the flag"
refused() { # pattern args...: profd refuses the arguments with status 2 and a message matching pattern
	local pat=$1; shift
	"$PROFD" "$@" --addr 127.0.0.1:0 >"$TMP/r.out" 2>&1
	local st=$?
	[ $st = 2 ] || fail "profd $* exited $st, not 2: $(cat "$TMP/r.out")"
	grep -qE -- "$pat" "$TMP/r.out" || fail "profd $*: the message does not match '$pat': $(cat "$TMP/r.out")"
}
refused '--cgroup' --cgroup "profd-no-such-cgroup-$$"
refused '--unit' --unit "profd-no-such-unit-$$"
refused '--children needs --pid' --children
refused 'give one selector' --pid $$ --cgroup "$cg"
v1=$(awk '$3 == "cgroup" { print $2; exit }' /proc/mounts)
[ -z "$v1" ] || refused '--cgroup.*(v1|cgroup2|version 2)' --cgroup "$v1"
echo ok
