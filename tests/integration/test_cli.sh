#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Command-line mistakes are refused at once, with one line naming the problem and exit 2, before
# anything is sampled or announced: a one-shot's output in a missing directory, a ready file in a
# missing directory (nothing printed on stdout), a kernel thread as the target, a flag given
# twice. And the index follows a target that execs.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root"
start_target demo_target

refused() { # want-status pattern args...
	local want="$1" pat="$2"; shift 2
	timeout 20 "$PROFD" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	[ $rc -eq "$want" ] || fail "profd $* exited $rc, want $want: $(cat "$TMP/err")"
	grep -q -- "$pat" "$TMP/err" || fail "profd $*: message '$(cat "$TMP/err")' lacks '$pat'"
	[ "$(grep -c . "$TMP/err")" -eq 1 ] || fail "profd $*: not one line: $(cat "$TMP/err")"
	[ ! -s "$TMP/out" ] || fail "profd $* printed on stdout: $(cat "$TMP/out")"
}

echo "== bad output paths are refused before sampling"
refused 2 "the directory /nonexistent/dir does not exist" cpu --pid "$TARGET_PID" --seconds 60 -o /nonexistent/dir/x
refused 2 "the directory /nonexistent/dir does not exist" heap --pid "$TARGET_PID" --seconds 60 -o /nonexistent/dir/x
refused 2 "is a directory" cpu --pid "$TARGET_PID" --seconds 60 -o /tmp
refused 2 "--ready-file /nonexistent/dir/ready: the directory" --pid "$TARGET_PID" --addr 127.0.0.1:0 --ready-file /nonexistent/dir/ready

echo "== a kernel thread is not a target"
kt=$(awk '$2 == "(kthreadd)" { print $1; exit }' /proc/[0-9]*/stat 2>/dev/null)
[ -n "$kt" ] || kt=2
refused 2 "is a kernel thread" --pid "$kt" --addr 127.0.0.1:0
refused 2 "is a kernel thread" stacks --pid "$kt"

echo "== a flag given twice"
refused 2 "--pid given twice ('$TARGET_PID' and '1')" --pid "$TARGET_PID" --pid 1
refused 2 "--heap given twice" --pid "$TARGET_PID" --heap inuse --heap=off

echo "== the index follows a target that execs"
mkfifo "$TMP/in"
exec 9<>"$TMP/in"
bash -c 'read -r line; exec sleep 600' <&9 >/dev/null 2>&1 &
EXECER=$!
track "$EXECER"
wait_for 10 grep -q bash /proc/$EXECER/comm || fail "the shell did not start"
start_profd --pid "$EXECER" --heap off
[ "$(http GET /debug/pprof/)" = 200 ] && grep -q "process $EXECER (bash)" "$TMP/b" || fail "index before exec: $(grep profiles "$TMP/b")"
echo go >&9
index_names_sleep() { [ "$(http GET /debug/pprof/)" = 200 ] && grep -q "process $EXECER (sleep)" "$TMP/b" && grep -q 'Executable: .*/sleep' "$TMP/b"; }
wait_for 10 index_names_sleep || fail "the index still shows the old program after exec: $(grep -E 'profiles|Executable' "$TMP/b")"
echo ok
