#!/usr/bin/env bash
# README's first command ends in `make demo`: it must show a real heap profile with the demo's
# leak, a thread dump with its named threads, and a CPU profile, then leave nothing running.
source "$(dirname "$0")/lib.sh"
need_go

O="$B" "$ROOT/cli/demo.sh" >"$TMP/demo.out" 2>&1 || fail "demo failed: $(tail -n 20 "$TMP/demo.out")"
grep -qE '^goroutine [0-9]+ \[.*"worker-a"\]:$' "$TMP/demo.out" || fail "demo shows no thread dump"
sed -n '/Live heap by allocation site/,/Allocations in the same window/p' "$TMP/demo.out" | grep -q 'cache_session' ||
	fail "demo heap profile does not show the leak in cache_session: $(cat "$TMP/demo.out")"
sed -n '/Allocations in the same window/,/CPU profile/p' "$TMP/demo.out" | grep -q 'handle_request' ||
	fail "demo allocs profile does not show handle_request"
sed -n '/CPU profile/,$p' "$TMP/demo.out" | grep -q 'compare_scores' || fail "demo CPU profile lacks compare_scores"
sed -n '/Where resident memory grew/,$p' "$TMP/demo.out" | grep -qE '^ +[0-9.]+[kMG]?B +[0-9.]+% .* grow_arena$' ||
	fail "demo growth profile does not show grow_arena: $(sed -n '/Where resident memory grew/,$p' "$TMP/demo.out")"
! pgrep -f "$B/tests/targets/demo_target" >/dev/null || fail "demo left its target running"
echo ok
