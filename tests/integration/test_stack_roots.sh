#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The rule of a complete stack for a runtime's roots (issue 13): a Go program's goroutines end at
# runtime.goexit, its threads at runtime.mstart, or at runtime.mcall where they switched to the
# g0 stack; a thread dump counts them all complete, and a CPU profile says no stack fell short.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (ptrace, BPF)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$TMP/gosrc" "$PPROF_TMPDIR"
cat >"$TMP/gosrc/main.go" <<'GO'
package main

import (
	"fmt"
	"os"
	"time"
)

//go:noinline
func spin(n int) int {
	x := 0
	for i := 0; i < n; i++ {
		x += i * i
	}
	return x
}

func main() {
	for i := 0; i < 3; i++ {
		go func() {
			for {
				spin(2000000)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	fmt.Println("ready")
	os.Stdout.Sync()
	time.Sleep(60 * time.Second)
}
GO
(cd "$TMP/gosrc" && GO111MODULE=off GOFLAGS= go build -o "$TMP/goprog" main.go) >"$TMP/gobuild.out" 2>&1 ||
	skip "go build failed: $(tail -1 "$TMP/gobuild.out")"
"$TMP/goprog" >"$TMP/target.out" 2>&1 &
TARGET_PID=$!
track "$TARGET_PID"
wait_for -m "the Go program to print ready" 10 grep -q ready "$TMP/target.out" || fail "the Go program did not start"

echo "== thread dump: every stack complete by the rule"
"$PROFD" stacks --pid "$TARGET_PID" >"$TMP/stacks" 2>"$TMP/stacks.err" || fail "profd stacks: $(cat "$TMP/stacks.err")"
grep -E "^(runtime\.goexit|runtime\.mstart|runtime\.mcall)\(" "$TMP/stacks" | sort | uniq -c
grep -qE "all [0-9]+ captured stacks reached the thread's start" "$TMP/stacks.err" ||
	fail "the dump counts stacks that fell short: $(cat "$TMP/stacks.err") $(cat "$TMP/stacks")"

echo "== CPU profile: no stack fell short"
waiting "profd cpu of the Go program" 60
"$PROFD" cpu --pid "$TARGET_PID" --seconds 2 --cpu-hz 200 -o "$TMP/go.pb.gz" 2>"$TMP/profd.err" ||
	fail "profd cpu: $(text_of "$TMP/profd.err")"
waited
go tool pprof -raw "$TMP/go.pb.gz" 2>/dev/null | grep '^Comment:' >"$TMP/comments"
cat "$TMP/comments"
go tool pprof -top "$TMP/go.pb.gz" 2>/dev/null | grep -q 'main.spin' || fail "main.spin is not in the CPU profile"
# at most a few samples may be cut (a sample inside a stack switch), never most of them
if grep -q 'fell short of the thread' "$TMP/comments"; then
	grep -qE '\(([0-4]\.[0-9])%\)' "$TMP/comments" || fail "5% or more of the Go stacks fell short: $(cat "$TMP/comments")"
fi
echo ok
