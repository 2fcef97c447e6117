#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Whole services (issue 12), side by side in one run (1.5-2 minutes; SETS_BUDGET=160 s ends it):
#   1. the CPU sampler's cost per sample over a set of 1,000 processes (a parent and 999 children,
#      each burning 0.5 ms of CPU a second: --pid PARENT --children) against one process (--pid on
#      a process burning half a CPU in 1 ms bursts), both profiled at the same time at --cpu-hz 1000: profd's
#      CPU (utime+stime) per sample delivered, and its CPU per second with no request (the set's
#      membership scan);
#   2. the cost of following forks: two targets each forking 1,000 children a second (each exits
#      at once; every 10th execs /bin/true), run at the same time, one followed by
#      profd --children with a CPU profile in progress (then the other: two rounds). Ratios of the
#      followed target's fork rate, fork() time and CPU per child to the unfollowed one's; profd's
#      CPU per child followed;
#   3. profd's RSS after a CPU profile and a thread dump of: one process; 200 forked processes of
#      one binary; 20 and 200 processes each exec'ing the same binary (own address layouts); 200
#      processes exec'ing 20 different binaries (copies of the target given 20 build ids by
#      objcopy). Ratios to the one-process profd, and profd's open descriptors.
#      "start CPU": profd's CPU from its start to listening (the set's processes read).
# Target: tests/targets/sets_bench. Needs root. Asserts nothing.
#   O=build [SETS_N=1000] [SETS_SECONDS=10] [FORK_SECONDS=5] [PARTS="1 2 3"] [RSS_WORK_US=2000] tests/bench/bench_sets.sh
# (RSS_WORK_US: the CPU each of part 3's 600 processes burns every 0.5 s; 200 keeps part 3 at a
# quarter of a CPU, for a busy machine: RSS is what it measures)
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
O="${O:-build}"
case "$O" in /*) B="$O" ;; *) B="$ROOT/$O" ;; esac
PROFD="$B/profd"
TARGET="$B/tests/targets/sets_bench"
N="${SETS_N:-1000}"
SECS="${SETS_SECONDS:-10}"
FSECS="${FORK_SECONDS:-5}"
PARTS="${PARTS:-1 2 3}"
RSS_WORK="${RSS_WORK_US:-2000}"
HZ=$(getconf CLK_TCK)

[ "$(id -u)" = 0 ] || { echo "bench_sets: needs root (BPF, perf events)"; exit 77; }
[ -x "$TARGET" ] || { echo "bench_sets: $TARGET not built (make test-bins)"; exit 77; }
command -v curl >/dev/null || { echo "bench_sets: needs curl"; exit 77; }
command -v go >/dev/null || { echo "bench_sets: go tool pprof needed (apt-get install golang-go)"; exit 77; }

TMP="$(mktemp -d /tmp/profd-bench-sets.XXXXXX)"
export PPROF_TMPDIR="$TMP/pprof"
mkdir -p "$PPROF_TMPDIR"
BUDGET="${SETS_BUDGET:-160}"
WATCHDOG=
trees=() # sets_bench tree parents: stop_tree ends their children too
pids=() # every process started: profds, trees (their children die with them), forkers
cleanup() {
	local p
	kill -TERM "$WATCHDOG" 2>/dev/null
	exec 7>&- 8>&- 2>/dev/null
	for p in "${trees[@]}"; do stop_tree "$p"; done
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	if [ -n "${KEEP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT HUP TERM
trap 'echo "bench_sets: stopped after $SECONDS s (SETS_BUDGET=$BUDGET): the machine is too busy"; exit 124' USR1
# bounded run time: every wait below has its own deadline, and this ends the whole run
(
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep "$BUDGET" &
	s=$!
	wait "$s" && kill -USR1 $$
) 2>/dev/null &
WATCHDOG=$!

mark() { [ -n "${TRACE:-}" ] && echo "[$SECONDS s] $*" >&2; return 0; }
die() { echo "bench_sets: $*" >&2; exit 1; }

# cpu_ticks PID: the process's user+system CPU in clock ticks (its ended threads included)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }
rss_kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
# profile_stats FILE: "SAMPLES PIDS", its total sample count and how many pid labels they carry
profile_stats() {
	go tool pprof -raw "$1" 2>/dev/null | awk '
		/^Samples:/ { s = 1; next } /^Locations/ { s = 0 }
		s && $1 ~ /^[0-9]+$/ && NF > 2 { n += $1 }
		s && match($0, /pid:\[[0-9]+\]/) { p[substr($0, RSTART, RLENGTH)] = 1 }
		END { printf "%d %d\n", n, length(p) }'
}
fdiv() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (b + 0 == 0) print "-"; else printf f "\n", a / b }'; }

# start_profd NAME ARGS...: a daemon on a free port; sets PROFD_PID, ADDR
start_profd() {
	local name="$1" i
	shift
	rm -f "$TMP/$name.addr"
	"$PROFD" --addr 127.0.0.1:0 --ready-file "$TMP/$name.addr" "$@" >"$TMP/$name.log" 2>&1 &
	PROFD_PID=$!
	pids+=("$PROFD_PID")
	for ((i = 0; i < 300; i++)); do
		[ -s "$TMP/$name.addr" ] && break
		kill -0 "$PROFD_PID" 2>/dev/null || die "profd $* exited: $(tail -n 3 "$TMP/$name.log")"
		sleep 0.1
	done
	[ -s "$TMP/$name.addr" ] || die "profd $* did not listen within 30 s"
	ADDR=$(cat "$TMP/$name.addr")
	mark "profd $name listening"
}

# wait_index ADDR REGEX SECONDS: until the index says REGEX (e.g. ": 1000 processes now")
wait_index() {
	local end=$((SECONDS + $3))
	while ((SECONDS < end)); do
		curl -s --max-time 10 "http://$1/debug/pprof/" >"$TMP/index.html" 2>/dev/null
		grep -qE "$2" "$TMP/index.html" && { mark "index: $2"; return 0; }
		sleep 0.2
	done
	die "the index at $1 did not say '$2' within $3 s: $(grep -o '<p>profd: [^<]*' "$TMP/index.html")"
}

# start_tree NAME N WORK_US PERIOD_MS [PATH...]: sets TREE_PID once it says "ready"
start_tree() {
	local name="$1" i
	shift
	"$TARGET" tree "$@" >"$TMP/$name.out" 2>&1 &
	TREE_PID=$!
	trees+=("$TREE_PID")
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready' "$TMP/$name.out" 2>/dev/null && return 0
		kill -0 "$TREE_PID" 2>/dev/null || die "sets_bench tree $* exited: $(cat "$TMP/$name.out")"
		sleep 0.1
	done
	die "sets_bench tree $* not ready within 30 s"
}

# forget PID: ended; not to be killed again on the way out (its number may be reused)
forget() {
	local p keep=()
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
	keep=()
	for p in "${trees[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	trees=("${keep[@]}")
}

# stop_tree PID: the tree's children and then itself killed, and waited for until gone (their
# parent-death signal would end the children too, but later than this returns)
stop_tree() {
	local kids k end=$((SECONDS + 20))
	kids=$(cat "/proc/$1/task/$1/children" 2>/dev/null)
	# shellcheck disable=SC2086
	kill -KILL $kids "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	for k in $kids; do
		while kill -0 "$k" 2>/dev/null && ((SECONDS < end)); do sleep 0.1; done
	done
	forget "$1"
}

# stop PID...: kill and reap
stop() {
	local p
	for p in "$@"; do kill -KILL "$p" 2>/dev/null; done
	for p in "$@"; do wait "$p" 2>/dev/null; forget "$p"; done
}

# field FILE NAME: NAME=value from the last line of FILE
field() { tail -n 1 "$1" | sed -n "s/.*\b$2=\([0-9.]*\).*/\1/p"; }
# wait_lines FILE N SECONDS
wait_lines() {
	local end=$((SECONDS + $3))
	while ((SECONDS < end)); do
		[ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	die "no answer in $1 within $3 s"
}

avg() { awk '{ s += $1; n++ } END { printf "%.3f\n", n ? s / n : 0 }'; }

# GET URL into FILE in the background; its HTTP status goes to FILE.code (see got)
get_bg() { curl -s --max-time "$3" -o "$1" -w '%{http_code}' "$2" >"$1.code" & }
got() { [ "$(cat "$1.code" 2>/dev/null)" = 200 ] || die "GET $2: HTTP $(cat "$1.code" 2>/dev/null) $(head -c 200 "$1" 2>/dev/null)"; }

# row TITLE RSS PEAK FDS BASE_RSS (KB) START_TICKS
row() { printf '%-52s %7dMB %7dMB %8s %6s %8dms\n' "$1" $(($2 / 1024)) $(($3 / 1024)) "$(fdiv "$2" "$5")" "$4" $(($6 * 1000 / HZ)); }

part1() {
	echo "== 1. CPU sampler: $N processes (--pid PARENT --children) vs one process (--pid), at the same time"
	start_tree tree1 $((N - 1)) 500 1000
	tree1=$TREE_PID
	# half a CPU in 1 ms bursts: on a busy machine a waking thread gets its share, a spinner not
	"$TARGET" worker 1000 1 >/dev/null 2>&1 &
	one=$!
	pids+=("$one")
	start_profd set1 --pid "$tree1" --children --cpu-hz 1000
	pset=$PROFD_PID aset=$ADDR
	start_profd one1 --pid "$one" --cpu-hz 1000
	pone=$PROFD_PID aone=$ADDR
	wait_index "$aset" ": $N processes now" 60
	# warm up both (symbols, unwind tables), then idle: the membership scan alone
	curl -s --max-time 60 -o /dev/null "http://$aset/debug/pprof/profile?seconds=2" &
	w1=$!
	curl -s --max-time 60 -o /dev/null "http://$aone/debug/pprof/profile?seconds=2"
	wait $w1
	sleep 1
	s0=$(cpu_ticks "$pset") o0=$(cpu_ticks "$pone") t0=$(date +%s.%N)
	sleep 4
	s1=$(cpu_ticks "$pset") o1=$(cpu_ticks "$pone") t1=$(date +%s.%N)
	idle_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	curl -s --max-time $((SECS + 60)) -o "$TMP/set.pb.gz" "http://$aset/debug/pprof/profile?seconds=$SECS" &
	c1=$!
	curl -s --max-time $((SECS + 60)) -o "$TMP/one.pb.gz" "http://$aone/debug/pprof/profile?seconds=$SECS" &
	c2=$!
	wait $c1 $c2
	s2=$(cpu_ticks "$pset") o2=$(cpu_ticks "$pone")
	read -r ns_set np_set < <(profile_stats "$TMP/set.pb.gz")
	read -r ns_one _ < <(profile_stats "$TMP/one.pb.gz")
	# CPU (ms) over the profile; its part beyond the idle rate (the scan goes on meanwhile)
	read -r ms_set ms_one idle_set idle_one < <(awk -v hz="$HZ" -v w="$idle_wall" -v d="$SECS" \
		-v s0="$s0" -v s1="$s1" -v s2="$s2" -v o0="$o0" -v o1="$o1" -v o2="$o2" 'BEGIN {
		printf "%.0f %.0f %.1f %.1f\n", 1000 * (s2 - s1) / hz, 1000 * (o2 - o1) / hz,
			1000 * (s1 - s0) / hz / w, 1000 * (o1 - o0) / hz / w }')
	us_set=$(fdiv "$((ms_set * 1000))" "$ns_set" %.0f)
	us_one=$(fdiv "$((ms_one * 1000))" "$ns_one" %.0f)
	ex_set=$(awk -v m="$ms_set" -v i="$idle_set" -v d="$SECS" -v n="$ns_set" 'BEGIN { v = m - i * d; if (v < 0) v = 0; printf "%.0f\n", n ? 1000 * v / n : 0 }')
	ex_one=$(awk -v m="$ms_one" -v i="$idle_one" -v d="$SECS" -v n="$ns_one" 'BEGIN { v = m - i * d; if (v < 0) v = 0; printf "%.0f\n", n ? 1000 * v / n : 0 }')
	printf '%-44s %14s %14s %8s\n' "" "set of $N" "one process" "ratio"
	printf '%-44s %14d %14d\n' "samples in ${SECS} s (pids in the set's: $np_set)" "$ns_set" "$ns_one"
	printf '%-44s %12dms %12dms\n' "profd CPU during the profile" "$ms_set" "$ms_one"
	printf '%-44s %12sus %12sus %8s\n' "profd CPU per sample" "$us_set" "$us_one" "$(fdiv "$us_set" "$us_one")"
	printf '%-44s %12sus %12sus %8s\n' "  beyond its idle CPU (the scan), per sample" "$ex_set" "$ex_one" "$(fdiv "$ex_set" "$ex_one")"
	printf '%-44s %10sms/s %10sms/s\n' "profd CPU with no request (idle)" "$idle_set" "$idle_one"
	printf '%-44s %12dMB %12dMB %8s\n' "profd RSS" "$(($(rss_kb "$pset" VmRSS) / 1024))" \
		"$(($(rss_kb "$pone" VmRSS) / 1024))" "$(fdiv "$(rss_kb "$pset" VmRSS)" "$(rss_kb "$pone" VmRSS)")"
	stop "$pset" "$pone" "$one"
	stop_tree "$tree1"
}

part2() {
	echo
	echo "== 2. following forks: two targets forking 1,000 children/s each (every 10th execs /bin/true),"
	echo "   at the same time, one followed by profd --children with a ${FSECS}s CPU profile in progress"
	mkfifo "$TMP/f1.in" "$TMP/f2.in"
	"$TARGET" fork 1000 10 <"$TMP/f1.in" >"$TMP/f1.out" 2>&1 &
	f1=$!
	pids+=("$f1")
	exec 7>"$TMP/f1.in"
	"$TARGET" fork 1000 10 <"$TMP/f2.in" >"$TMP/f2.out" 2>&1 &
	f2=$!
	pids+=("$f2")
	exec 8>"$TMP/f2.in"
	rate_r=() forkus_r=() cpu_r=() pcpu=() came=()
	for round in 1 2; do
		if [ $round = 1 ]; then fp=$f1 fout=$TMP/f1.out uout=$TMP/f2.out; else fp=$f2 fout=$TMP/f2.out uout=$TMP/f1.out; fi
		start_profd fork$round --pid "$fp" --children
		pf=$PROFD_PID af=$ADDR
		wait_index "$af" ": 1 process now" 30
		curl -s --max-time $((FSECS + 60)) -o "$TMP/fork$round.pb.gz" "http://$af/debug/pprof/profile?seconds=$((FSECS + 1))" &
		cp=$!
		sleep 0.5 # the sampler started (its fork tracepoint attached)
		n1=$(wc -l <"$TMP/f1.out") n2=$(wc -l <"$TMP/f2.out")
		c0=$(cpu_ticks "$pf")
		echo "run $FSECS" >&7
		echo "run $FSECS" >&8
		wait_lines "$TMP/f1.out" $((n1 + 1)) $((FSECS + 60))
		wait_lines "$TMP/f2.out" $((n2 + 1)) $((FSECS + 60))
		c1=$(cpu_ticks "$pf")
		wait $cp
		forks=$(field "$fout" forks)
		rate_r+=("$(fdiv "$(field "$fout" rate)" "$(field "$uout" rate)" %.3f)")
		forkus_r+=("$(fdiv "$(field "$fout" fork_us)" "$(field "$uout" fork_us)" %.3f)")
		cpu_r+=("$(fdiv "$(field "$fout" cpu_us_per_child)" "$(field "$uout" cpu_us_per_child)" %.3f)")
		pcpu+=("$(awk -v c="$((c1 - c0))" -v hz="$HZ" -v n="$forks" 'BEGIN { printf "%.1f\n", n ? 1e6 * c / hz / n : 0 }')")
		curl -s --max-time 10 "http://$af/debug/pprof/" >"$TMP/index.html"
		came+=("$(sed -n 's/.*; \([0-9]*\) came and.*/\1/p' "$TMP/index.html")/$forks, $(profile_stats "$TMP/fork$round.pb.gz" | cut -d' ' -f2) in the profile")
		echo "   round $round: followed  $(tail -n 1 "$fout")"
		echo "            unfollowed $(tail -n 1 "$uout")"
		stop "$pf"
	done
	printf '%-52s %8s   (rounds: %s)\n' "fork rate, followed / unfollowed" \
		"$(printf '%s\n' "${rate_r[@]}" | avg)" "${rate_r[*]}"
	printf '%-52s %8s   (rounds: %s)\n' "time in fork(), followed / unfollowed" \
		"$(printf '%s\n' "${forkus_r[@]}" | avg)" "${forkus_r[*]}"
	printf '%-52s %8s   (rounds: %s)\n' "target CPU per child, followed / unfollowed" \
		"$(printf '%s\n' "${cpu_r[@]}" | avg)" "${cpu_r[*]}"
	printf '%-52s %7sus   (rounds: %s)\n' "profd CPU per child followed" \
		"$(printf '%s\n' "${pcpu[@]}" | avg | awk '{ printf "%.1f", $1 }')" "${pcpu[*]}"
	echo "children the scan saw / forked, pids with samples: ${came[0]}; ${came[1]}"
	exec 7>&- 8>&-
	stop "$f1" "$f2"
}

part3() {
	local n c cases=(one fork exec20 exec var) variants=() get_pids=()
	local -A live=([one]=1 [fork]=201 [exec20]=21 [exec]=201 [var]=201) ppid addr rss hwm fds start
	echo
	echo "== 3. profd RSS after a 3 s CPU profile and a thread dump (goroutine?debug=1), the four side by side"
	# 20 binaries with their own build ids: copies of the target, the last byte of the id changed
	command -v objcopy >/dev/null || die "objcopy needed (apt-get install binutils)"
	objcopy --dump-section .note.gnu.build-id="$TMP/note" "$TARGET" || die "$TARGET has no build id"
	for ((v = 1; v <= 20; v++)); do
		head -c -1 "$TMP/note" >"$TMP/note$v"
		printf '%b' "\\x$(printf %02x "$v")" >>"$TMP/note$v"
		objcopy --update-section .note.gnu.build-id="$TMP/note$v" "$TARGET" "$TMP/sets_bench_v$v" ||
			die "objcopy could not give a copy of $TARGET another build id"
		variants+=("$TMP/sets_bench_v$v")
	done
	"$TARGET" worker 20000 20 >/dev/null 2>&1 &
	one=$!
	pids+=("$one")
	start_profd rss_one --pid "$one"
	ppid[one]=$PROFD_PID addr[one]=$ADDR start[one]=$(cpu_ticks "$PROFD_PID")
	start_tree fork200 200 "$RSS_WORK" 500
	start_profd rss_fork --pid "$TREE_PID" --children
	ppid[fork]=$PROFD_PID addr[fork]=$ADDR start[fork]=$(cpu_ticks "$PROFD_PID")
	start_tree exec20 20 "$RSS_WORK" 500 "$TARGET"
	start_profd rss_exec20 --pid "$TREE_PID" --children
	ppid[exec20]=$PROFD_PID addr[exec20]=$ADDR start[exec20]=$(cpu_ticks "$PROFD_PID")
	start_tree exec200 200 "$RSS_WORK" 500 "$TARGET"
	start_profd rss_exec --pid "$TREE_PID" --children
	ppid[exec]=$PROFD_PID addr[exec]=$ADDR start[exec]=$(cpu_ticks "$PROFD_PID")
	start_tree var200 200 "$RSS_WORK" 500 "${variants[@]}"
	start_profd rss_var --pid "$TREE_PID" --children
	ppid[var]=$PROFD_PID addr[var]=$ADDR start[var]=$(cpu_ticks "$PROFD_PID")
	for n in fork exec20 exec var; do wait_index "${addr[$n]}" ": ${live[$n]} processes now" 60; done
	for n in "${cases[@]}"; do
		get_bg "$TMP/$n.pb.gz" "http://${addr[$n]}/debug/pprof/profile?seconds=3" 60
		get_pids+=("$!")
	done
	wait "${get_pids[@]}"
	mark "profiles"
	get_pids=()
	for n in "${cases[@]}"; do
		get_bg "$TMP/$n.txt" "http://${addr[$n]}/debug/pprof/goroutine?debug=1" 60
		get_pids+=("$!")
	done
	wait "${get_pids[@]}"
	mark "dumps"
	for n in "${cases[@]}"; do
		got "$TMP/$n.pb.gz" "profile of rss_$n"
		got "$TMP/$n.txt" "goroutine of rss_$n"
		rss[$n]=$(rss_kb "${ppid[$n]}" VmRSS) hwm[$n]=$(rss_kb "${ppid[$n]}" VmHWM)
		[ -n "${rss[$n]}" ] || die "profd rss_$n ended: $(tail -n 3 "$TMP/rss_$n.log")"
		fds[$n]=$(find "/proc/${ppid[$n]}/fd" -mindepth 1 2>/dev/null | wc -l)
	done
	for n in "${cases[@]}"; do stop "${ppid[$n]}"; done
	stop "$one"
	for c in "${trees[@]}"; do stop_tree "$c"; done
	printf '%-52s %9s %9s %8s %6s %10s\n' "" "RSS" "peak" "ratio" "fds" "start CPU"
	row "one process" "${rss[one]}" "${hwm[one]}" "${fds[one]}" "${rss[one]}" "${start[one]}"
	row "200 forked processes of one binary (+ parent)" "${rss[fork]}" "${hwm[fork]}" "${fds[fork]}" "${rss[one]}" "${start[fork]}"
	row "20 processes exec'ing one binary (+ parent)" "${rss[exec20]}" "${hwm[exec20]}" "${fds[exec20]}" "${rss[one]}" "${start[exec20]}"
	row "200 processes exec'ing one binary (+ parent)" "${rss[exec]}" "${hwm[exec]}" "${fds[exec]}" "${rss[one]}" "${start[exec]}"
	row "200 processes exec'ing 20 binaries (+ parent)" "${rss[var]}" "${hwm[var]}" "${fds[var]}" "${rss[one]}" "${start[var]}"
	printf '200 exec'"'"'d processes of one binary / 20 of them: RSS %s, descriptors %s\n' \
		"$(fdiv "${rss[exec]}" "${rss[exec20]}")" "$(fdiv "${fds[exec]}" "${fds[exec20]}")"
	printf 'per exec'"'"'d process of one binary: %.0f KB; per extra binary: %.0f KB\n' \
		"$(awk -v a="${rss[exec]}" -v b="${rss[exec20]}" 'BEGIN { print (a - b) / 180 }')" \
		"$(awk -v a="${rss[var]}" -v b="${rss[exec]}" 'BEGIN { print (a - b) / 19 }')"
}

for part in $PARTS; do
	"part$part"
	mark "part $part done"
done
