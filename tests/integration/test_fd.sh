#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# /debug/pprof/fd against tests/targets/fd_sites: the target opens a file, a socket, a pipe and an
# eventfd, profd attaches, then the target leaks 100 descriptors from leak_site (40 files, 30
# sockets, 15 pipes) and opens and closes 3550 more from churn_site (open, socket, pipe2, eventfd,
# dup, fcntl F_DUPFD_CLOEXEC, close_range). The profile (read by go tool pprof) has exactly 100
# under leak_site, 40/30/30 under its three callees, none under churn_site, the descriptors open
# at attach under "opened before profd attached" by type, Go's shape (fds/count), syscall labels;
# debug=1 lists every descriptor with its number, target and stack, and no close was missed (the
# table needed no correction from /proc); the index and /metrics count them. After the target
# execs itself, the leaked descriptors (close-on-exec) are gone. Over a set: pid labels, ?pid=;
# a child's leak is under its own pid, and when it is killed its descriptors leave the table.
# Those run with --fd always; by default (demand) nothing is attached before the first request,
# which says it started the tracking (all then open are pre-attach), a later one sees a leak made
# in between, and --fd-idle detaches the programs.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"

# cum_count FILE FUNC: the descriptors under FUNC (0 if absent)
cum_count() {
	go tool pprof -top -cum -nodecount=1000 "$1" 2>/dev/null |
		awk -v fn="$2" '{ name = $6; for (i = 7; i <= NF; i++) name = name " " $i }
			name == fn { print $4 + 0; found = 1; exit } END { if (!found) print 0 }'
}
# debug1_value NAME: the value of "# NAME = V" in the last debug=1 body
debug1_value() {
	sed -n "s/^# $1 = //p" "$TMP/b"
}

start_target fd_sites "$TMP/go"
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "fd_sites did not start: $(text_of "$TMP/target.out")"
before_n=$(sed -n 's/^ready //p' "$TMP/target.out")
start_profd --pid "$TARGET_PID" --heap off --growth off --fd always
touch "$TMP/go"
wait_for 20 grep -q '^done' "$TMP/target.out" || fail "fd_sites did not leak and churn: $(text_of "$TMP/target.out")"

echo "== counts per opening site"
[ "$(http GET /debug/pprof/fd)" = 200 ] || fail "fd: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/fd.pb.gz"
go tool pprof -raw "$TMP/fd.pb.gz" >"$TMP/fd.raw" 2>&1 || fail "go tool pprof -raw: $(head -n 5 "$TMP/fd.raw")"
grep -q '^fds/count' "$TMP/fd.raw" || fail "sample type: $(grep -A1 '^Samples' "$TMP/fd.raw")"
leak=$(cum_count "$TMP/fd.pb.gz" leak_site)
files=$(cum_count "$TMP/fd.pb.gz" leak_files)
socks=$(cum_count "$TMP/fd.pb.gz" leak_sockets)
pipes=$(cum_count "$TMP/fd.pb.gz" leak_pipes)
churn=$(cum_count "$TMP/fd.pb.gz" churn_site)
before=$(cum_count "$TMP/fd.pb.gz" "opened before profd attached")
echo "leak_site $leak (files $files, sockets $socks, pipes $pipes), churn_site $churn, before attach $before (target: $before_n)"
[ "$leak" = 100 ] || fail "leak_site has $leak open descriptors, expected 100: $(go tool pprof -top -cum "$TMP/fd.pb.gz" 2>&1 | head -n 30)"
[ "$files/$socks/$pipes" = 40/30/30 ] || fail "leak_files/sockets/pipes: $files/$socks/$pipes, expected 40/30/30"
[ "$churn" = 0 ] || fail "churn_site shows $churn open descriptors, expected 0 (closes missed)"
[ "$before" = "$before_n" ] || fail "$before descriptors under 'opened before profd attached', the target had $before_n"
go tool pprof -traces "$TMP/fd.pb.gz" 2>/dev/null | grep -A8 leak_sockets | grep -q main || fail "leak_sockets' stack does not reach main"
# by type under the pre-attach frame: the target's own socket, pipe (2 ends) and eventfd at least
go tool pprof -top -nodecount=1000 "$TMP/fd.pb.gz" 2>/dev/null >"$TMP/top"
for t in socket pipe 'anon_inode:\[eventfd\]' file; do
	grep -qE " $t\$" "$TMP/top" || fail "no '$t' type under the pre-attach frame: $(cat "$TMP/top")"
done
[ "$(awk '$6 == "pipe" { print $1 }' "$TMP/top")" -ge 2 ] || fail "the pipe's two ends are not both counted: $(grep pipe "$TMP/top")"
go tool pprof -tags "$TMP/fd.pb.gz" 2>/dev/null >"$TMP/tags"
for s in openat socket pipe2; do
	grep -qE "^ +[0-9.]+ \([ 0-9.]+%\): $s$" "$TMP/tags" || fail "no syscall label $s: $(cat "$TMP/tags")"
done
echo ok

echo "== debug=1: each descriptor, its target, its stack"
[ "$(http GET '/debug/pprof/fd?debug=1')" = 200 ] || fail "fd?debug=1: HTTP $(head -c 300 "$TMP/b")"
total=$((100 + before_n))
head -n 1 "$TMP/b" | grep -q "^fd profile: $total open descriptors ($before_n opened before profd attached, 0 not seen created)\$" ||
	fail "debug=1 header: $(head -n 1 "$TMP/b"), expected $total open"
[ "$(grep -cE '^fd [0-9]+ -> ' "$TMP/b")" = "$total" ] || fail "debug=1 lists $(grep -cE '^fd [0-9]+ -> ' "$TMP/b") descriptors, expected $total"
[ "$(grep -cE '^fd [0-9]+ -> socket:\[[0-9]+\] \(socket\) @( 0x[0-9a-f]+)+$' "$TMP/b")" = 30 ] ||
	fail "debug=1: not 30 'fd N -> socket:[INODE] (socket) @ PCS' lines: $(grep socket "$TMP/b" | head -n 3)"
[ "$(grep -cE '^fd [0-9]+ -> pipe:\[[0-9]+\] \(pipe2\) @' "$TMP/b")" = 30 ] || fail "debug=1: not 30 pipe2 ends"
grep -qE $'^#\t0x[0-9a-f]+\tleak_sockets\\+0x[0-9a-f]+\t.*fd_sites\\.c:[0-9]+$' "$TMP/b" ||
	fail "debug=1: no frame line for leak_sockets: $(grep -m3 leak_sockets "$TMP/b")"
[ "$(grep -c $'^#\topened before profd attached$' "$TMP/b")" = "$before_n" ] || fail "debug=1: pre-attach lines"
[ "$(debug1_value Reconciled)" = 0 ] || fail "$(debug1_value Reconciled) entries were corrected from /proc: closes were missed"
[ "$(debug1_value Lost)" = 0 ] || fail "$(debug1_value Lost) records lost"
[ "$(debug1_value Created)" -ge 3650 ] || fail "Created = $(debug1_value Created), the target created at least 3650"
grep -q '^# Note = fd cost: [0-9]* descriptors created, [0-9]* ns each' "$TMP/b" || fail "debug=1: no cost note"
echo ok

echo "== the index and /metrics count them"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index"
grep -q "<tr><td>$total</td><td><a href='fd?debug=1'>" "$TMP/b" || fail "the index does not list fd with $total: $(grep "fd?debug" "$TMP/b")"
[ "$(http GET /metrics)" = 200 ] || fail "/metrics: HTTP $(head -c 300 "$TMP/b")"
grep -qE "^profd_fd_tracked_descriptors\{pid=\"$TARGET_PID\",process=\"fd_sites\"\} $total\$" "$TMP/b" ||
	fail "/metrics: $(grep profd_fd_tracked "$TMP/b"), expected $total"
grep -qE '^profd_fd_probe_cost_seconds_total [0-9.e-]+$' "$TMP/b" || fail "/metrics: no fd probe cost"
echo ok

echo "== exec: the close-on-exec descriptors are gone"
touch "$TMP/go.exec"
wait_for 20 grep -q '^exec' "$TMP/target.out" || fail "fd_sites did not exec: $(text_of "$TMP/target.out")"
after_n=$(sed -n 's/^exec //p' "$TMP/target.out")
[ "$(http GET '/debug/pprof/fd?debug=1')" = 200 ] || fail "fd?debug=1 after exec: HTTP $(head -c 300 "$TMP/b")"
[ "$(grep -cE '^fd [0-9]+ -> ' "$TMP/b")" = "$after_n" ] || fail "after exec, $(grep -cE '^fd [0-9]+ -> ' "$TMP/b") listed, the target has $after_n"
! grep -q leak_site "$TMP/b" || fail "leak_site's close-on-exec descriptors outlived the exec"
[ "$(debug1_value Execs)" = 1 ] || fail "Execs = $(debug1_value Execs)"
[ "$(debug1_value Reconciled)" = 0 ] || fail "after exec, $(debug1_value Reconciled) entries corrected from /proc"
echo ok

echo "== over a set: pid labels, ?pid="
send TERM "$PROFD_PID"
wait_profd_exit 20
start_profd --pid "$TARGET_PID" --children --heap off --growth off --fd always
[ "$(http GET "/debug/pprof/fd?pid=$TARGET_PID")" = 200 ] || fail "fd?pid: HTTP $(head -c 300 "$TMP/b")"
go tool pprof -tags "$TMP/b" 2>/dev/null | grep -q " $TARGET_PID\$" || fail "no pid label: $(go tool pprof -tags "$TMP/b" 2>&1)"
[ "$(cum_count "$TMP/b" "opened before profd attached")" = "$after_n" ] || fail "$after_n descriptors were open when the second profd attached"
echo ok

echo "== over a set: a child's leak under its pid; its exit drops its descriptors"
send TERM "$PROFD_PID"
wait_profd_exit 20
# a parent that outlives its child: it waits for it, then becomes a sleep
bash -c '"$1" "$2" >"$3" 2>&1 & echo $! >"$4"; wait; exec sleep 600' fdparent "$TARGETS/fd_sites" "$TMP/go2" \
	"$TMP/child.out" "$TMP/child.pid" &
parent=$!
track "$parent"
wait_for 10 grep -q '^ready' "$TMP/child.out" || fail "the child fd_sites did not start: $(text_of "$TMP/child.out")"
# the parent shell writes the PID after the fork: on a busy host the child may be ready first
wait_for 10 test -s "$TMP/child.pid" || fail "the parent did not write its child's PID"
child=$(cat "$TMP/child.pid")
track "$child"
start_profd --pid "$parent" --children --heap off --growth off --fd always
touch "$TMP/go2"
wait_for 20 grep -q '^done' "$TMP/child.out" || fail "the child did not leak: $(text_of "$TMP/child.out")"
[ "$(http GET "/debug/pprof/fd?pid=$child")" = 200 ] || fail "fd?pid=$child: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/child.pb.gz"
[ "$(cum_count "$TMP/child.pb.gz" leak_site)" = 100 ] || fail "the child's leak_site: $(cum_count "$TMP/child.pb.gz" leak_site), expected 100"
go tool pprof -tags "$TMP/child.pb.gz" 2>/dev/null | grep -q " $child\$" || fail "no pid label $child"
[ "$(http GET "/debug/pprof/fd?pid=$parent")" = 200 ] || fail "fd?pid=$parent"
[ "$(cum_count "$TMP/b" leak_site)" = 0 ] || fail "the parent's profile has the child's leak"
send KILL "$child"
# the set's scan sees it gone within a second: its descriptors leave the table
child_gone() {
	http GET '/debug/pprof/fd?debug=1' >/dev/null &&
		[ "$(sed -n 's/^# Tracked = //p' "$TMP/b")" = "$(ls "/proc/$parent/fd" | wc -l)" ]
}
wait_for 10 child_gone || fail "after the child's exit the table holds $(sed -n 's/^# Tracked = //p' "$TMP/b") descriptors, the parent has $(ls "/proc/$parent/fd" | wc -l)"
! grep -q "^# pid $child " "$TMP/b" || fail "debug=1 still lists the dead child"
echo ok

echo "== on demand (the default): attached by the first request, detached after --fd-idle"
send TERM "$PROFD_PID"
wait_profd_exit 20
start_target fd_sites "$TMP/go3"
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "the third fd_sites did not start: $(text_of "$TMP/target.out")"
start_profd --pid "$TARGET_PID" --heap off --growth off --fd-idle 3s --log-level debug
attaches() { grep -c 'fd tracking of .* attached' "$TMP/profd.err"; }
detaches() { grep -c 'fd tracking of .* detached' "$TMP/profd.err"; }
detached() { [ "$(detaches)" -ge 1 ]; }
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index"
grep -q '<p>fd: Not attached: the first fd request attaches' "$TMP/b" ||
	fail "the index does not say fd is not attached: $(grep -i '>fd' "$TMP/b")"
[ "$(attaches)" = 0 ] || fail "fd attached before any request"
[ "$(http GET '/debug/pprof/fd?debug=1')" = 200 ] || fail "first fd request: HTTP $(head -c 300 "$TMP/b")"
grep -q '^# Note = fd tracking started at .* by this request' "$TMP/b" ||
	fail "the first request does not say it started the tracking: $(grep '^#' "$TMP/b" | head -n 5)"
open_now=$(ls "/proc/$TARGET_PID/fd" | wc -l)
[ "$(grep -c $'^#\topened before profd attached$' "$TMP/b")" = "$open_now" ] ||
	fail "all $open_now descriptors open at the first request should be pre-attach: $(head -n 1 "$TMP/b")"
touch "$TMP/go3"
wait_for 20 grep -q '^done' "$TMP/target.out" || fail "the third fd_sites did not leak: $(text_of "$TMP/target.out")"
[ "$(http GET /debug/pprof/fd)" = 200 ] || fail "second fd request: HTTP $(head -c 300 "$TMP/b")"
[ "$(cum_count "$TMP/b" leak_site)" = 100 ] ||
	fail "on demand, leak_site has $(cum_count "$TMP/b" leak_site) descriptors after the first request, expected 100"
[ "$(attaches)" = 1 ] || fail "fd attached $(attaches) times, expected once"
wait_for -m "the fd tracking to stop after --fd-idle 3s" 20 detached ||
	fail "fd was not detached after --fd-idle 3s: $(grep 'fd tracking' "$TMP/profd.err")"
[ "$(http GET /debug/pprof/)" = 200 ] && grep -q '<p>fd: Not attached' "$TMP/b" ||
	fail "after the idle detach the index does not say fd is not attached"
grep -q "<tr><td></td><td><a href='fd?debug=1'>" "$TMP/b" || fail "the index counts descriptors it no longer tracks"
[ "$(http GET /metrics)" = 200 ] && ! grep -q "^profd_fd_tracked_descriptors{" "$TMP/b" ||
	fail "/metrics reports tracked descriptors while detached"
echo ok
