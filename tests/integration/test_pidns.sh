#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# profd inside a PID namespace with its target (a container, or a Kubernetes sidecar sharing the
# pod's process namespace): --pid is the PID as seen there. The CPU profile must hold the
# target's samples (the BPF filter would otherwise compare that PID with host PIDs and keep
# nothing), and thread dumps, heap probes and the fd profile must work on it.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF, perf events, unshare)"
command -v unshare >/dev/null || skip "unshare (util-linux) not installed"
unshare --pid --fork --mount-proc true 2>/dev/null || skip "cannot create a PID namespace here"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"

# Inside the namespace: the target, then profd's one-shot commands on it, each recording its
# exit status; the namespace (and the target) ends with the script.
cat >"$TMP/inside.sh" <<EOF
"$TARGETS/cpu_qsort" 300 >"$TMP/target.out" 2>&1 &
t=\$!
echo "\$t" >"$TMP/ns.pid"
for i in \$(seq 200); do grep -q ready "$TMP/target.out" && break; sleep 0.05; done
"$PROFD" cpu --pid "\$t" --seconds 3 --cpu-hz 200 -o "$TMP/ns.pb.gz" >"$TMP/cpu.log" 2>&1
echo \$? >"$TMP/cpu.rc"
"$PROFD" stacks --pid "\$t" >"$TMP/stacks.txt" 2>"$TMP/stacks.log"
echo \$? >"$TMP/stacks.rc"
"$PROFD" heap --pid "\$t" --seconds 1 -o "$TMP/heap.pb.gz" >"$TMP/heap.log" 2>&1
echo \$? >"$TMP/heap.rc"
kill "\$t"
# the daemon's fd profile: its BPF filter compares the namespace's PIDs, as the CPU sampler's
"$TARGETS/fd_sites" "$TMP/fdgo" >"$TMP/fd.out" 2>&1 &
t=\$!
for i in \$(seq 200); do grep -q ready "$TMP/fd.out" && break; sleep 0.05; done
"$PROFD" --pid "\$t" --addr 127.0.0.1:0 --ready-file "$TMP/fd.ready" --heap off --growth off --fd always 2>"$TMP/fd.log" &
p=\$!
for i in \$(seq 200); do [ -s "$TMP/fd.ready" ] && break; sleep 0.05; done
touch "$TMP/fdgo"
for i in \$(seq 200); do grep -q done "$TMP/fd.out" && break; sleep 0.05; done
curl -s --max-time 30 "http://\$(cat "$TMP/fd.ready")/debug/pprof/fd?debug=1" >"$TMP/fd.txt"
kill "\$p" "\$t"
EOF
timeout 90 unshare --pid --fork --mount-proc bash "$TMP/inside.sh" &
track $!
waiting "the PID namespace's script (profd cpu, stacks and heap on the target there)" 90
wait $! || fail "the namespace's script failed or timed out (status $?)"
waited

ns_pid=$(cat "$TMP/ns.pid")
echo "target is PID $ns_pid in its namespace"
[ "$ns_pid" -lt 100 ] || fail "the target is PID $ns_pid: not in a fresh PID namespace"

[ "$(cat "$TMP/cpu.rc")" = 0 ] || fail "profd cpu: $(cat "$TMP/cpu.log")"
top=$(go tool pprof -top -nodecount=5 "$TMP/ns.pb.gz" 2>/dev/null)
echo "$top"
echo "$top" | grep -q 'Total samples = 0 *$' && fail "the CPU profile has no samples"
hot=$(echo "$top" | awk '$6 == "hot_a" { sub(/%/, "", $2); print $2 + 0 }')
[ -n "$hot" ] || fail "hot_a is not among the top functions"
awk -v h="$hot" 'BEGIN { exit !(h >= 60 && h <= 90) }' || fail "hot_a is $hot% of the profile, expected about 75%"

[ "$(cat "$TMP/stacks.rc")" = 0 ] || fail "profd stacks: $(cat "$TMP/stacks.log")"
grep -q "^goroutine $ns_pid " "$TMP/stacks.txt" || fail "the dump does not name thread $ns_pid"
grep -q '^sort_round' "$TMP/stacks.txt" || fail "the dump lacks the target's frames: $(head -20 "$TMP/stacks.txt")"

[ "$(cat "$TMP/heap.rc")" = 0 ] || fail "profd heap: $(cat "$TMP/heap.log")"
go tool pprof -raw "$TMP/heap.pb.gz" >/dev/null 2>&1 || fail "the heap profile does not open in pprof"

leaked=$(grep -c $'^#\t0x[0-9a-f]*\tleak_site+' "$TMP/fd.txt")
[ "$leaked" = 100 ] || fail "fd profile in the namespace: leak_site has $leaked open descriptors, expected 100: $(head -n 3 "$TMP/fd.txt"; text_of "$TMP/fd.log")"
echo PASS
