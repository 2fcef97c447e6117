#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Per-file state is shared by the processes of a set: two profds, one on 4 processes that each
# exec'd one binary (own address layouts, so nothing is shared by fork) and one on 60 of them,
# both after a CPU profile and a thread dump (every process unwound and symbolized): the second
# holds as many descriptors as the first (no file kept open per process) and its RSS is not 1 MiB
# per process more (it was, with an ELF, CFI and libdwfl per process), and its dump names the
# workers' frames in every process.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (ptrace, BPF)"
BIN="$TARGETS/sets_bench"
[ -x "$BIN" ] || fail "test program $BIN not built (run make test-bins)"
SMALL=4 LARGE=60

tree_ready() { grep -q '^ready' "$1"; }
rss_kb() { local k v _; while read -r k v _; do [ "$k" = VmRSS: ] && { echo "$v"; return; }; done <"/proc/$1/status"; }
fds() { local n=0 f; for f in /proc/"$1"/fd/*; do n=$((n + 1)); done; echo "$n"; }
index_live() { # N: the index says N processes now
	[ "$(http GET /debug/pprof/)" = 200 ] &&
		[ "$(sed -n 's/.*: \([0-9]*\) process\(es\)\? now;.*/\1/p' "$TMP/b")" = "$1" ]
}

declare -A rss nfd
for n in $SMALL $LARGE; do
	progress "a tree of $n processes exec'ing sets_bench, followed by profd --children"
	# 0.3 ms of CPU a second each: 2% of a CPU for the 60
	"$BIN" tree "$n" 300 1000 "$BIN" >"$TMP/tree$n.out" 2>&1 &
	tree=$!
	track "$tree"
	wait_for 30 tree_ready "$TMP/tree$n.out" || fail "sets_bench tree $n did not start: $(text_of "$TMP/tree$n.out")"
	start_profd --pid "$tree" --children
	wait_for 60 index_live $((n + 1)) || fail "the index does not list $((n + 1)) processes: $(grep -o '[0-9]* process[a-z]* now[^<]*' "$TMP/b")"
	[ "$(http GET '/debug/pprof/profile?seconds=2')" = 200 ] || fail "profile: HTTP $(head -c 300 "$TMP/b")"
	[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "goroutine?debug=2: HTTP $(head -c 300 "$TMP/b")"
	cp "$TMP/b" "$TMP/dump$n.txt"
	# a kernel address to name: both profds hold the kernel's symbols, whichever samples came
	[ "$(http POST /debug/pprof/symbol --data-binary 0xffffffff81000000)" = 200 ] || fail "symbol: HTTP $(head -c 300 "$TMP/b")"
	rss[$n]=$(rss_kb "$PROFD_PID") nfd[$n]=$(fds "$PROFD_PID")
	# every exec'd worker is unwound down to its loop and named: the shared CFI and symbols
	# serve each address layout
	named=$(awk '/^process [0-9]+/ { p = $2 } /(^|[^a-z_])worker\(/ && p { seen[p] = 1 } END { print length(seen) }' "$TMP/dump$n.txt")
	[ "$named" -ge "$n" ] || fail "the dump names the worker function in $named of $n workers: $(head -c 1500 "$TMP/dump$n.txt")"
	echo "   $n processes: profd RSS ${rss[$n]} KB, ${nfd[$n]} descriptors, worker named in $named processes"
	send KILL "$PROFD_PID"
	send KILL "$tree"
	wait "$PROFD_PID" "$tree" 2>/dev/null
done

[ "${nfd[$LARGE]}" -le $((nfd[$SMALL] + 4)) ] ||
	fail "profd holds ${nfd[$LARGE]} descriptors with $LARGE processes of one binary, ${nfd[$SMALL]} with $SMALL: files are opened per process"
per=$(((rss[$LARGE] - rss[$SMALL]) / (LARGE - SMALL)))
[ "$per" -lt 400 ] ||
	fail "profd's RSS grows by $per KB per process of one binary (${rss[$SMALL]} KB with $SMALL, ${rss[$LARGE]} KB with $LARGE): per-file state is not shared"
echo "PASS: $LARGE processes of one binary: ${nfd[$LARGE]} descriptors (${nfd[$SMALL]} with $SMALL), $per KB of RSS per process"
