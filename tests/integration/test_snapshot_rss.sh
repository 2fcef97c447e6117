#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --snapshot-on rss-step=SIZE: a target growing by 8 MiB steps with rss-step=16M gets a heap
# snapshot every two steps, each logged once, in files of their own of which only the newest
# --snapshot-keep remain, whose top in-use site is the leak; bad values and combinations exit 2
# naming the flag.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (ptrace, BPF)"

echo "== refused at start with exit 2"
mkdir -p "$TMP/snaps"
refused() { # pattern args...
	local pat="$1" rc; shift
	timeout 20 "$PROFD" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ $rc = 2 ] || fail "profd $* exited $rc, want 2: $(cat "$TMP/err")"
	grep -qF -- "$pat" "$TMP/err" || fail "profd $*: no '$pat' in: $(cat "$TMP/err")"
}
refused "--snapshot-on needs --snapshot-dir" --pid $$ --snapshot-on rss-step=16M
refused "--snapshot-on: 'oom=1' is not valid" --pid $$ --snapshot-dir "$TMP/snaps" --snapshot-on oom=1
refused "--snapshot-on: 'rss-step=512K' is not valid" --pid $$ --snapshot-dir "$TMP/snaps" --snapshot-on rss-step=512K
refused "--snapshot-on: 'rss-step=0' is not valid" --pid $$ --snapshot-dir "$TMP/snaps" --snapshot-on rss-step=0
refused "--snapshot-on: 'rss-step=16X' is not valid" --pid $$ --snapshot-dir "$TMP/snaps" --snapshot-on rss-step=16X
refused "--snapshot-keep: '0' is not valid" --pid $$ --snapshot-keep 0
refused "--heap off does not take" --pid $$ --heap off --snapshot-dir "$TMP/snaps" --snapshot-on rss-step=16M
refused "use it with --pid alone" --pid $$ --children --snapshot-dir "$TMP/snaps" --snapshot-on rss-step=16M
PROFD_SNAPSHOT_ON=sometimes refused "PROFD_SNAPSHOT_ON: 'sometimes' is not valid" --pid $$ --snapshot-dir "$TMP/snaps"

echo "== 8 MiB steps, rss-step=16M, --snapshot-keep 2"
start_target grow_steps -m 8 -f 0 -t 0
wait_for 10 grep -q ready "$TMP/target.out" || fail "target did not start"
start_profd --pid "$TARGET_PID" --heap inuse --heap-rate 4096 --snapshot-dir "$TMP/snaps" \
	--snapshot-on rss-step=16M --snapshot-keep 2
steps_at_least() { [ "$(grep -c '^step' "$TMP/target.out")" -ge "$1" ]; }
logged() { [ "$(grep -c 'rss-step: the RSS of process' "$TMP/profd.err")" -ge "$1" ]; }
files() { local n=0 f; for f in "$TMP"/snaps/profd-heap-"$TARGET_PID"-*.pb.gz; do [ -e "$f" ] && n=$((n + 1)); done; echo $n; }
files_are() { [ "$(files)" = "$1" ] && ! ls "$TMP"/snaps/*.tmp >/dev/null 2>&1; }
s=0
for k in 1 2 3; do
	for _ in 1 2; do
		s=$((s + 1))
		kill -USR1 "$TARGET_PID"
		wait_for 10 steps_at_least $s || fail "target did not take step $s"
	done
	wait_for 10 logged $k || fail "no snapshot after step $s: $(grep rss-step "$TMP/profd.err")"
	want=$((k < 2 ? k : 2))
	wait_for 10 files_are $want || fail "after snapshot $k: $(files) files, want $want: $(ls "$TMP/snaps")"
done
[ "$(grep -c 'rss-step: the RSS of process' "$TMP/profd.err")" = 3 ] ||
	fail "snapshots logged: $(grep -c 'rss-step: the RSS' "$TMP/profd.err"), want 3: $(grep rss-step "$TMP/profd.err")"
ls "$TMP"/snaps/profd-heap-"$TARGET_PID"-*.pb.gz | grep -qE -- "-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.pb\.gz$" ||
	fail "file names: $(ls "$TMP/snaps")"
newest=$(ls "$TMP"/snaps/profd-heap-"$TARGET_PID"-*.pb.gz | sort | tail -n 1)
# the third snapshot's file is the newest; the first one's was removed
grep 'rss-step: the RSS' "$TMP/profd.err" | tail -n 1 | grep -qF "${newest##*/}" || fail "the newest file is not the last snapshot's"
gzip -t "$newest" || fail "$newest is not a gzip file"
if command -v go >/dev/null; then
	export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
	mkdir -p "$PPROF_TMPDIR"
	top=$(go tool pprof -top -sample_index=inuse_space "$newest" 2>/dev/null | awk '/flat%/ { on = 1; next } on { print $NF; exit }')
	[ "$top" = grow_leak ] || fail "top in-use site of the snapshot: '$top', want grow_leak"
else
	echo "go not installed: the snapshot's content is not checked"
fi
echo ok
