#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real JVM (HotSpot) with -XX:+PreserveFramePointer, its perf map written on demand by
# `jcmd PID Compiler.perfmap`: the JIT-compiled hot method must appear by its name in the CPU
# profile, and 95% of the samples must reach the thread's root through the compiled frames.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF, perf events)"
for t in java javac jcmd; do
	command -v $t >/dev/null || skip "$t not installed (a JDK: default-jdk-headless): JVM stacks are untested"
done
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR" "$TMP/classes"

javac -d "$TMP/classes" "$ROOT/tests/targets/jvm/ProfdHot.java" 2>"$TMP/javac.err" || fail "javac: $(cat "$TMP/javac.err")"
java -XX:+PreserveFramePointer -cp "$TMP/classes" ProfdHot 120 >"$TMP/java.out" 2>&1 &
JAVA_PID=$!
track "$JAVA_PID"
wait_for -m "the JVM to compile its hot method and print ready" 60 grep -q '^ready' "$TMP/java.out" ||
	fail "java did not start: $(text_of "$TMP/java.out")"
jcmd "$JAVA_PID" Compiler.perfmap >"$TMP/jcmd.out" 2>&1 || fail "jcmd Compiler.perfmap: $(cat "$TMP/jcmd.out")"
[ -s "/tmp/perf-$JAVA_PID.map" ] || fail "jcmd wrote no /tmp/perf-$JAVA_PID.map"
start_profd --pid "$JAVA_PID" --cpu-hz 500 --max-seconds 20
code=$(http GET "/debug/pprof/profile?seconds=4")
rm -f "/tmp/perf-$JAVA_PID.map"
[ "$code" = 200 ] || fail "profile: HTTP $code: $(head -c 300 "$TMP/b")"
go tool pprof -top -cum -nodecount=40 "$TMP/b" >"$TMP/top" 2>&1 || fail "pprof: $(cat "$TMP/top")"
go tool pprof -comments "$TMP/b" >"$TMP/comments" 2>&1
cat "$TMP/comments"
hot=$(awk '/ProfdHot\.profdHotMethod/ { sub(/%/, "", $5); print $5 + 0; exit }' "$TMP/top")
echo "ProfdHot.profdHotMethod: ${hot:-0}% cumulative"
awk -v h="${hot:-0}" 'BEGIN { exit !(h >= 50) }' || fail "the hot method is not named in most samples: $(head -30 "$TMP/top")"
if grep -q 'fell short of the thread' "$TMP/comments"; then
	grep -qE '\(([0-4]\.[0-9])%\)' "$TMP/comments" || fail "5% or more of the stacks were cut: $(cat "$TMP/comments")"
fi
echo ok
