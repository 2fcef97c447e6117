#!/usr/bin/env bash
# Rust programs are linked by lld, whose code segment shares a file page with the read-only
# data before it (p_vaddr = p_offset + 0x1000). Stacks must still unwind to the thread's root:
# in a thread dump (main down to _start) and in a heap profile (the allocating function's callers).
source "$(dirname "$0")/lib.sh"
need_go

bin="$TARGETS/heap_rust"
[ -x "$bin" ] || skip "rustc not found, so the Rust target was not built: Rust stacks are untested"
start_target heap_rust "$TMP/go"
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "heap_rust did not start"
# --heap inuse: probes attached before profd is ready, so the leak made after it is tracked (the
# default, demand, would attach them only at the first heap request, after the leak)
start_profd --pid "$TARGET_PID" --heap inuse --heap-budget 100 --heap-rate 65536
touch "$TMP/go"
wait_for 20 grep -q '^done' "$TMP/target.out" || fail "heap_rust did not allocate"

# thread dump: the main thread's stack reaches main and _start through Rust's runtime
"$PROFD" stacks --pid "$TARGET_PID" >"$TMP/stacks" 2>"$TMP/stacks.err" || fail "profd stacks: $(cat "$TMP/stacks.err")"
sed -n "/^goroutine $TARGET_PID /,/^\$/p" "$TMP/stacks" >"$TMP/main"
for f in 'heap_rust::main' 'std::rt::lang_start' '__libc_start_call_main' '_start'; do
	grep -q "^$f" "$TMP/main" || fail "main thread's stack lacks $f: $(cat "$TMP/main")"
done

# heap: the leak's stack goes on past rust_leaker to main
go tool pprof -traces -sample_index=inuse_space "$BASE/heap" >"$TMP/traces" 2>"$TMP/traces.err" ||
	fail "pprof: $(cat "$TMP/traces.err")"
grep -A12 'heap_rust::rust_leaker' "$TMP/traces" | grep -q 'heap_rust::main' ||
	fail "heap stack stops at rust_leaker: $(grep -A12 rust_leaker "$TMP/traces" | head -20)"
no_thread_stopped "$TARGET_PID" || fail "a target thread was left stopped"
echo ok
