#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the fuzz targets (tests/fuzz/fuzz.mk builds them; use the make targets):
#   fuzz.sh run NAME...      libFuzzer, FUZZ_SECONDS (default 60) each, one process at a time;
#                            new inputs go to $O/fuzz/NAME, crashes to $O/fuzz/artifacts/
#   fuzz.sh merge NAME...    minimizes tests/fuzz/corpus/NAME with what $O/fuzz/NAME found
#   fuzz.sh replay NAME...   every committed corpus through $O/tests/fuzz/fuzz_NAME (the replay
#                            build; under ASan/UBSan when $O was built with SAN=address,undefined)
# Ends with "fuzz: N passed, N failed"; exits non-zero when a target failed.
set -u
cd "$(dirname "$0")/../.."
O="${O:-build}"
mode="${1:-}"
shift || true
passed=0 failed=0 failures=()

# One process: the machines are shared. rss and per-input time limits catch runaway inputs.
LIBFUZZER_OPTS=(-rss_limit_mb=2048 -timeout=20 -max_len=65536 -print_final_stats=1)

note() { printf '%-10s %-12s %s\n' "$1" "$2" "$3"; }

check_runtime() {
	local rt
	rt=$("${CLANG:-clang}" -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null)
	if [ ! -f "$rt" ]; then
		echo "fuzz: clang's libFuzzer runtime is missing ($rt): apt-get install libclang-rt-\$(clang version)-dev" >&2
		echo "      (Debian 12: libclang-rt-14-dev)" >&2
		exit 2
	fi
}

run_one() { # name
	local n="$1" bin="$O/libfuzzer/fuzz_$1" work="$O/fuzz/$1" art="$O/fuzz/artifacts" log rc dict=()
	log="$O/fuzz/$n.log"
	mkdir -p "$work" "$art"
	[ -f "tests/fuzz/$n.dict" ] && dict=(-dict="tests/fuzz/$n.dict")
	ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}" \
		"$bin" "${LIBFUZZER_OPTS[@]}" "${dict[@]}" -max_total_time="${FUZZ_SECONDS:-60}" \
		-artifact_prefix="$art/$n-" "$work" "tests/fuzz/corpus/$n" >"$log" 2>&1
	rc=$?
	local stats
	stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" |
		sed 's/^stat:://; s/: */=/' | tr '\n' ' ')
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		note PASS "fuzz/$n" "$stats"
	else
		failed=$((failed + 1)); failures+=("$n")
		note FAIL "fuzz/$n" "exit $rc, log $log:"
		grep -E 'ERROR|runtime error|SUMMARY|Test unit written|fuzz_[a-z_]*: ' "$log" | head -n 20 | sed 's/^/    | /'
	fi
}

merge_one() { # name
	local n="$1" corpus="tests/fuzz/corpus/$1" tmp
	tmp=$(mktemp -d)
	mkdir -p "$O/fuzz/$n"
	# -use_counters=0: an input stays for a new edge, not for a new hit count; the committed
	# corpora stay small (a few hundred KiB) and keep every edge
	if "$O/libfuzzer/fuzz_$n" -merge=1 -use_counters=0 -rss_limit_mb=2048 -timeout=20 "$tmp" "$corpus" "$O/fuzz/$n" \
		>"$O/fuzz/$n.merge.log" 2>&1; then
		# named inputs (seeds, crash reproducers) stay whatever coverage says; libFuzzer names
		# the others by the SHA-1 of their bytes, so a copy of a named one is dropped
		for f in "$corpus"/*; do
			if [[ $(basename "$f") =~ ^[0-9a-f]{40}$ ]]; then
				rm -f "$f"
			else
				rm -f "$tmp/$(sha1sum "$f" | cut -c1-40)"
			fi
		done
		cp "$tmp"/* "$corpus"/ 2>/dev/null
		passed=$((passed + 1))
		note MERGED "fuzz/$n" "$(find "$corpus" -type f | wc -l) files, $(du -sk --apparent-size "$corpus" | cut -f1) KiB"
	else
		failed=$((failed + 1)); failures+=("$n")
		note FAIL "fuzz/$n" "merge failed: $O/fuzz/$n.merge.log"
	fi
	rm -rf "$tmp"
}

replay_one() { # name
	local n="$1" log="$O/fuzz-replay-$1.log" start=$SECONDS
	mkdir -p "$(dirname "$log")"
	if ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
		UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}" \
		"$O/tests/fuzz/fuzz_$n" "tests/fuzz/corpus/$n" >"$log" 2>&1; then
		passed=$((passed + 1))
		note PASS "fuzz/$n" "$(tail -n 1 "$log"), $((SECONDS - start)) s"
	else
		failed=$((failed + 1)); failures+=("$n")
		note FAIL "fuzz/$n" "$log:"
		grep -E 'ERROR|runtime error|SUMMARY|#[0-9]+ 0x|replay' "$log" | head -n 30 | sed 's/^/    | /'
	fi
}

# One function, read whole before it runs: editing this file under a long run cannot break it.
main() {
	case "$mode" in
	run) check_runtime; for n in "$@"; do run_one "$n"; done ;;
	merge) check_runtime; for n in "$@"; do merge_one "$n"; done ;;
	replay) for n in "$@"; do replay_one "$n"; done ;;
	*) echo "usage: $0 run|merge|replay NAME..." >&2; exit 2 ;;
	esac
	[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
	echo "fuzz: $passed passed, $failed failed"
	[ $failed -eq 0 ]
}
main "$@"; exit
