#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A Go program (tests/targets/go/busy.go) as the target: heap and allocs answer 404 with the
# reason in Go's error shape (go tool pprof prints it) and the index lists them as not available,
# with why; thread dumps (debug=1 and debug=2) say that they show the program's OS threads, not
# its goroutines, and point to its own net/http/pprof; every "goroutine N" is one of its thread
# IDs; stacks that switch to the g0 stack end at the switch (runtime.mcall, runtime.systemstack),
# with no made-up frame after it; its CPU profile names main.spin.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}" GO111MODULE=off GOFLAGS=
mkdir -p "$PPROF_TMPDIR" "$TMP/gosrc"
cp "$PROFD_TEST_ROOT/tests/targets/go/busy.go" "$TMP/gosrc/main.go"
(cd "$TMP/gosrc" && go build -o "$TMP/gobusy" main.go) >"$TMP/gobuild.out" 2>&1 ||
	fail "go build failed: $(text_of "$TMP/gobuild.out")"

"$TMP/gobusy" >"$TMP/target.out" 2>&1 &
TARGET_PID=$!
track "$TARGET_PID"
wait_for 20 grep -q '^ready' "$TMP/target.out" || fail "the Go target did not start: $(text_of "$TMP/target.out")"
start_profd --pid "$TARGET_PID"

progress "== heap and allocs: the reason, in Go's error shape"
for p in heap allocs; do
	[ "$(http GET "/debug/pprof/$p")" = 404 ] || fail "$p of a Go program: status $(cat "$TMP/b")"
	[ "$(header X-Go-Pprof)" = 1 ] || fail "$p: no X-Go-Pprof header"
	grep -q "is a Go program" "$TMP/b" && grep -q 'net/http/pprof' "$TMP/b" ||
		fail "$p: the answer does not say why: $(text_of "$TMP/b")"
done
go tool pprof -top "$BASE/heap" >"$TMP/pprof_heap.out" 2>&1 && fail "go tool pprof read a heap profile of a Go program"
grep -q 'server response: 404.*is a Go program' "$TMP/pprof_heap.out" ||
	fail "go tool pprof does not show the reason: $(text_of "$TMP/pprof_heap.out")"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index status"
grep -A3 'Not available for this target' "$TMP/b" | grep -q 'heap: </div> .*is a Go program' ||
	fail "the index does not list heap as not available: $(text_of "$TMP/b")"
grep -q '<p>goroutine: .*a Go program: these are its OS threads' "$TMP/b" ||
	fail "the index does not say the dump shows OS threads: $(text_of "$TMP/b")"
# an unknown name is still Go's plain answer
[ "$(http GET /debug/pprof/nope)" = 404 ] && [ "$(cat "$TMP/b")" = "Unknown profile" ] ||
	fail "unknown profile: $(cat "$TMP/b")"

progress "== thread dumps: OS threads, said so; switches to g0 end there"
for i in 1 2 3 4 5 6 7 8; do
	[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "debug=2 status: $(text_of "$TMP/b")"
	head -n 1 "$TMP/b" | grep -q "^# profd: process $TARGET_PID (gobusy) is a Go program: .*OS threads.*not a goroutine.*net/http/pprof" ||
		fail "debug=2 does not start with the note: $(head -n 3 "$TMP/b")"
	# every block names a thread of the target
	for tid in $(awk '/^goroutine [0-9]+ \[/ { print $2 }' "$TMP/b"); do
		[ -d "/proc/$TARGET_PID/task/$tid" ] || fail "goroutine $tid is not a thread of $TARGET_PID"
	done
	# a frame with no name, or anything after a g0 switch, in any block: a switch function that
	# is a caller (not the leaf, which may not have switched yet) is where the g0 stack begins
	awk '
		/^goroutine / { after = ""; user = 0; name = ""; next }
		/^$/ { after = ""; next }
		/^# / { next }
		/^\t/ {
			if (name == "" || $0 ~ /\[kernel\]/) { name = ""; next }
			if (after != "") { print "frame " name " after " after; bad = 1 }
			if (name ~ /^runtime\.(mcall|systemstack|morestack)\(/ && user > 0) after = name
			user++
			name = ""
			next
		}
		{
			name = $0
			if ($0 ~ /\?\?/) { print "unnamed frame " $0; bad = 1 }
		}
		END { exit bad }' "$TMP/b" >"$TMP/bad.txt" || fail "dump $i: $(cat "$TMP/bad.txt"); dump: $(text_of "$TMP/b")"
	cp "$TMP/b" "$TMP/dump$i.txt"
done
cat "$TMP"/dump*.txt | grep -q '^runtime\.\(mcall\|systemstack\)(' ||
	progress "(no thread was inside runtime.mcall or runtime.systemstack in 8 dumps)"
[ "$(http GET '/debug/pprof/goroutine?debug=1')" = 200 ] || fail "debug=1 status"
sed -n 2p "$TMP/b" | grep -q '^# profd: .* is a Go program' || fail "debug=1 lacks the note: $(head -n 3 "$TMP/b")"
cp "$TMP/b" "$TMP/g1.txt"
go tool pprof -raw "$TMP/g1.txt" >"$TMP/g1.raw" 2>&1 || fail "go tool pprof cannot read debug=1: $(text_of "$TMP/g1.raw")"

progress "== CPU profile"
[ "$(http GET '/debug/pprof/profile?seconds=3')" = 200 ] || fail "CPU profile: $(text_of "$TMP/b")"
cp "$TMP/b" "$TMP/cpu.pb.gz"
go tool pprof -top "$TMP/cpu.pb.gz" 2>/dev/null | grep -q 'main\.spin' ||
	fail "main.spin is not in the CPU profile: $(go tool pprof -top "$TMP/cpu.pb.gz" 2>&1 | head -20)"
kill -0 "$TARGET_PID" || fail "the Go target died"
echo PASS
