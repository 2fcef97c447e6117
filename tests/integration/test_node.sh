#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real Node.js (V8) program: its JIT code has no CFI, only frame pointers, and its names are in
# the perf map node writes with --perf-basic-prof. CPU stacks must go through the JIT frames to
# the thread's root (95% of samples at least), the hot JavaScript functions must appear by the
# names of the perf map, the native Math.sin must have a JavaScript caller, and every thread of
# a thread dump must reach its root. Without the perf map, stacks still reach the root.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (BPF, perf events)"
command -v node >/dev/null || skip "node not installed (make deps installs nodejs): JIT stacks are untested"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"
script="$ROOT/tests/targets/jit_hot.js"
maps=() # the perf maps node writes and never removes

# start_node OUT NODE_FLAGS...: runs the script with those flags, sets NODE_PID once it is ready
start_node() {
	local out=$1
	shift
	# in $TMP: V8 may write isolate-*.log files to its working directory
	(cd "$TMP" && exec node "$@" "$script" 120) >"$out" 2>&1 &
	NODE_PID=$!
	track "$NODE_PID"
	maps+=("/tmp/perf-$NODE_PID.map")
	wait_for -m "node to compile its code and print ready" 60 grep -q '^ready' "$out" ||
		fail "node did not start: $(text_of "$out")"
}

# traces_stats FILE: from go tool pprof -traces, prints "total complete js sin sin_js" in ms:
# all samples, those whose outermost frame is a thread's root, those with a JS: frame from the
# script, those in ieee754::sin, and those of sin whose caller is a JS: frame
traces_stats() {
	go tool pprof -traces "$1" 2>/dev/null | awk '
	function ms(v) {
		if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
		if (v ~ /ns$/) return substr(v, 1, length(v) - 2) / 1e6
		if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
		return 0
	}
	function flush() {
		if (val == "") return
		total += val
		if (last ~ /^(_start|clone3|__clone3|start_thread)$/) complete += val
		if (hasjs) jsv += val
		if (hassin) sinv += val
		if (hassinjs) sinjsv += val
		val = ""
	}
	/^-+\+-+$/ { flush(); inblock = 1; hasjs = hassin = hassinjs = prev_sin = 0; next }
	{
		if (!inblock)
			next
		if (val == "" && /^ +[0-9.]+(ns|us|ms|s) +/) {
			val = ms($1); sub(/^ +[^ ]+ +/, ""); last = $0
		} else if (val != "" && /^ +[^ ]/) {
			sub(/^ +/, ""); last = $0
		} else
			next
		if (last ~ /^JS:.*profd(SineWork|StringWork|Outer)/) hasjs = 1
		if (prev_sin && last ~ /^JS:/) hassinjs = 1
		prev_sin = last ~ /ieee754::sin\(/
		if (prev_sin) hassin = 1
	}
	END { flush(); printf "%d %d %d %d %d\n", total, complete, jsv, sinv, sinjsv }'
}

echo "== node --perf-basic-prof --interpreted-frames-native-stack"
start_node "$TMP/node.out" --perf-basic-prof --interpreted-frames-native-stack
start_profd --pid "$NODE_PID" --cpu-hz 500 --max-seconds 20
# on a loaded host node may get little CPU: a longer window until there are enough samples
for secs in 5 10 20; do
	progress "profiling node for $secs s"
	code=$(http GET "/debug/pprof/profile?seconds=$secs")
	[ "$code" = 200 ] || fail "profile: HTTP $code: $(head -c 300 "$TMP/b")"
	cp "$TMP/b" "$TMP/jit.pb.gz"
	read -r total complete js sin sinjs < <(traces_stats "$TMP/jit.pb.gz")
	[ "${total:-0}" -ge 200 ] && break
done
go tool pprof -comments "$TMP/jit.pb.gz" >"$TMP/jit.comments" 2>&1 || fail "pprof rejects the profile: $(cat "$TMP/jit.comments")"
echo "samples ${total} ms, complete ${complete} ms, in the script's JS functions ${js} ms, in sin ${sin} ms (with a JS caller ${sinjs} ms)"
cat "$TMP/jit.comments"
[ "${total:-0}" -ge 200 ] || fail "too few samples (${total} ms of CPU in $secs s): $(text_of "$TMP/jit.comments")"
awk -v c="$complete" -v t="$total" 'BEGIN { exit !(c >= 0.95 * t) }' ||
	fail "only $complete of $total ms of samples reach the thread's root: $(go tool pprof -traces "$TMP/jit.pb.gz" 2>/dev/null | head -60)"
awk -v c="$js" -v t="$total" 'BEGIN { exit !(c >= 0.5 * t) }' ||
	fail "the script's functions (JS:*profd...) are in $js of $total ms: $(go tool pprof -top "$TMP/jit.pb.gz" 2>/dev/null | head -30)"
[ "${sin:-0}" -gt 0 ] || fail "no sample in v8::base::ieee754::sin: $(go tool pprof -top "$TMP/jit.pb.gz" 2>/dev/null | head -30)"
awk -v c="$sinjs" -v t="$sin" 'BEGIN { exit !(c >= 0.9 * t) }' ||
	fail "sin has a JavaScript caller in $sinjs of $sin ms: $(go tool pprof -traces -focus=ieee754 "$TMP/jit.pb.gz" 2>/dev/null | head -40)"
grep -q 'fell short of the thread' "$TMP/jit.comments" && ! grep -qE '\(([0-4]\.[0-9])%\)' "$TMP/jit.comments" &&
	fail "the profile says 5% or more of the stacks were cut: $(cat "$TMP/jit.comments")"

# jit_locs FILE PATTERN: how many locations whose name matches PATTERN are in a "[jit]" mapping,
# then how many are elsewhere (go tool pprof -raw: "id: addr M=mapping name ...")
jit_locs() {
	go tool pprof -raw "$1" 2>/dev/null | awk -v pat="$2" '
		/^Locations/ { inloc = 1; next }
		/^Mappings/ { inloc = 0; inmap = 1; next }
		inloc && $3 ~ /^M=/ && $0 ~ pat { m = substr($3, 3); locs[NR] = m }
		inmap && $2 ~ /^0x/ && $3 == "[jit]" { id = $1; sub(/:$/, "", id); jit[id] = 1 }
		END { for (k in locs) if (locs[k] in jit) in_jit++; else out++; print in_jit + 0, out + 0 }'
}
read -r in_jit not_jit < <(jit_locs "$TMP/jit.pb.gz" 'JS:')
[ "$in_jit" -gt 0 ] && [ "$not_jit" = 0 ] ||
	fail "JS: frames should all be in a [jit] mapping: $in_jit are, $not_jit not: $(go tool pprof -raw "$TMP/jit.pb.gz" 2>/dev/null | sed -n '/^Mappings/,$p')"

echo "== thread dump: every node thread reaches its root"
"$PROFD" stacks --pid "$NODE_PID" >"$TMP/stacks" 2>"$TMP/stacks.err" || fail "profd stacks: $(cat "$TMP/stacks.err")"
awk '/^goroutine /{ if (g != "") print g, last; g = $2; last = ""; next }
     /^[^\t ].*\(/ { f = $0; sub(/\(.*/, "", f); last = f }
     END { if (g != "") print g, last }' "$TMP/stacks" >"$TMP/roots"
nthreads=$(wc -l <"$TMP/roots")
[ "$nthreads" -ge 5 ] || fail "the dump has $nthreads threads, node runs at least 5: $(head -50 "$TMP/stacks")"
bad=$(grep -vE ' (_start|clone3|__clone3|start_thread)$' "$TMP/roots")
[ -z "$bad" ] || fail "threads whose stack stops short of the root (tid, last frame): $bad"
no_thread_stopped "$NODE_PID" || fail "a node thread was left stopped"
send TERM "$PROFD_PID"
send TERM "$NODE_PID"
wait_profd_exit

echo "== node without a perf map: JIT frames unnamed, stacks still complete"
start_node "$TMP/node2.out"
start_profd --pid "$NODE_PID" --cpu-hz 500 --max-seconds 20
for secs in 4 10 20; do
	code=$(http GET "/debug/pprof/profile?seconds=$secs")
	[ "$code" = 200 ] || fail "profile: HTTP $code: $(head -c 300 "$TMP/b")"
	read -r total complete js sin sinjs < <(traces_stats "$TMP/b")
	[ "${total:-0}" -ge 100 ] && break
done
echo "samples ${total} ms, complete ${complete} ms, named JS ${js} ms"
[ "${total:-0}" -ge 100 ] || fail "too few samples (${total} ms)"
awk -v c="$complete" -v t="$total" 'BEGIN { exit !(c >= 0.95 * t) }' ||
	fail "without a perf map only $complete of $total ms reach the root: $(go tool pprof -traces "$TMP/b" 2>/dev/null | head -60)"
[ "$js" = 0 ] || fail "JS names without a perf map ($js ms): a stale /tmp/perf-$NODE_PID.map?"
go tool pprof -raw "$TMP/b" 2>/dev/null | grep -qE '^[0-9]+: 0x[0-9a-f]+/0x[0-9a-f]+/0x0 \[jit\]' ||
	fail "no [jit] mapping for the unnamed JIT frames: $(go tool pprof -raw "$TMP/b" 2>/dev/null | sed -n '/^Mappings/,$p')"
rm -f "${maps[@]}"
echo ok
