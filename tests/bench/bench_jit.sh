#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# JIT stacks benchmark (issue 13), side by side in one run (about a minute):
#   1. one Node.js process (tests/targets/jit_hot.js, run with --perf-basic-prof), profiled at the
#      same time by profd (CPU profile) and by perf record -g (frame-pointer callchains, names
#      from the same perf map): the share of samples whose stack reaches the thread's root, the
#      share with a JavaScript frame (a JS: name from the perf map), the distinct JavaScript
#      functions named, frames per sample;
#   2. profd's unwinding cost per sample and per frame, warm (after a first profile loaded the
#      debug info), on such a process (frame-pointer steps through JIT code, CFI through node's
#      own code) against a target unwound by CFI alone (tests/targets/cpu_qsort), from profd's
#      own counters on /metrics: its CPU time (profd_self_cpu_seconds_total) and the wall time of
#      unwinding (profd_cpu_unwind_seconds_total) over the samples (profd_cpu_samples_total).
# Env: O (build dir), BENCH_SECONDS (capture length, default 15).
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
O="${O:-build}"
case "$O" in /*) B="$O" ;; *) B="$ROOT/$O" ;; esac
PROFD="$B/profd"
QSORT="$B/tests/targets/cpu_qsort"
SCRIPT="$ROOT/tests/targets/jit_hot.js"
SECS="${BENCH_SECONDS:-15}"
TMP="$(mktemp -d /tmp/profd-bench-jit.XXXXXX)"
export PPROF_TMPDIR="$TMP/pprof"
mkdir -p "$PPROF_TMPDIR"
pids=()
node_pid=
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "$node_pid" ] && rm -f "/tmp/perf-$node_pid.map"
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench_jit: needs root (BPF, perf events)"; exit 77; }
[ -x "$QSORT" ] || { echo "bench_jit: $QSORT not built (make test-bins)"; exit 77; }
command -v node >/dev/null || { echo "bench_jit: node not installed (make deps)"; exit 77; }
command -v go >/dev/null || { echo "bench_jit: go tool pprof needed (make deps)"; exit 77; }
have_perf=1
command -v perf >/dev/null || have_perf=0

# pprof_stats FILE: "samples complete js frames names" of a CPU profile: samples (count), those
# whose outermost frame is a thread's root, those with a JS: frame, frames per sample, and the
# distinct JS: function names
pprof_stats() {
	go tool pprof -traces "$1" 2>/dev/null | awk '
		function flush() {
			if (!n) return
			tot += w; fr += n * w
			if (last ~ /^(_start|__libc_start_call_main|__libc_start_main_impl|start_thread|clone3|__clone3|clone|__clone)$/) ok += w
			if (js) jsw += w
			n = 0; js = 0; w = 0
		}
		/^-+\+/ { flush(); next }
		/^ +[0-9.]+m?s / { flush(); w = $1; sub(/m?s$/, "", w); if ($1 ~ /ms$/) w = w / 1000; $1 = "" }
		NF {
			name = $0; sub(/^ +/, "", name); sub(/ \(inline\)$/, "", name)
			if (name ~ /^thread: / || name ~ /^(pid|process): /) next
			n++; last = name
			if (name ~ /^JS:/) { js = 1; names[name] = 1 }
		}
		END {
			flush()
			for (k in names) nn++
			printf "%.2f %.2f %.2f %.1f %d\n", tot, ok, jsw, tot ? fr / tot : 0, nn
		}'
}

echo "== node $(node --version) --perf-basic-prof $(basename "$SCRIPT"): profd and perf record -g, ${SECS} s each, at the same time"
# in TMP: node may leave files in its working directory
(cd "$TMP" && exec node --perf-basic-prof "$SCRIPT" $((SECS * 4 + 60))) >"$TMP/node.out" 2>&1 &
node_pid=$!
pids+=("$node_pid")
for _ in $(seq 1 200); do grep -q '^ready' "$TMP/node.out" && break; sleep 0.1; done
grep -q '^ready' "$TMP/node.out" || { echo "node did not start: $(cat "$TMP/node.out")"; exit 1; }

"$PROFD" cpu --pid "$node_pid" --seconds "$SECS" -o "$TMP/node.pb.gz" 2>"$TMP/node.err" &
cap=$!
pids+=("$cap")
if [ $have_perf = 1 ]; then
	perf record -q -F 100 -g -p "$node_pid" -o "$TMP/perf.data" -- sleep "$SECS" >/dev/null 2>&1 &
	pr=$!
	pids+=("$pr")
	wait "$pr"
fi
wait "$cap" || { cat "$TMP/node.err"; exit 1; }
read -r p_tot p_ok p_js p_frames p_names < <(pprof_stats "$TMP/node.pb.gz")

if [ $have_perf = 1 ]; then
	# perf script: a header line per sample, then one "ip sym" line per frame, a blank line after
	perf script -i "$TMP/perf.data" -F ip,sym 2>/dev/null | awk '
		function flush() {
			if (!n) return
			tot++; fr += n
			if (last ~ /^(_start|__libc_start_call_main|__libc_start_main_impl|start_thread|clone3|__clone3|clone|__clone)$/) ok++
			if (js) jsn++
			n = 0; js = 0
		}
		/^$/ { flush(); next }
		{
			sym = $2; for (i = 3; i <= NF; i++) sym = sym " " $i
			sub(/\+0x[0-9a-f]+$/, "", sym)
			n++; last = sym
			if (sym ~ /^JS:/) { js = 1; names[sym] = 1 }
		}
		END { flush(); for (k in names) nn++; printf "%d %d %d %.1f %d\n", tot, ok, jsn, tot ? fr / tot : 0, nn }' \
		>"$TMP/perf.stats"
	read -r f_tot f_ok f_js f_frames f_names <"$TMP/perf.stats"
fi

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", (b > 0 ? 100 * a / b : 0) }'; }
printf '%-44s %14s %14s\n' "" "profd" "perf -g"
if [ $have_perf = 1 ]; then
	printf '%-44s %14s %14s\n' "samples (s of CPU for profd)" "${p_tot}s" "$f_tot"
	printf '%-44s %14s %14s\n' "stacks reaching the thread's root" "$(pct "$p_ok" "$p_tot")" "$(pct "$f_ok" "$f_tot")"
	printf '%-44s %14s %14s\n' "stacks with a JavaScript frame" "$(pct "$p_js" "$p_tot")" "$(pct "$f_js" "$f_tot")"
	printf '%-44s %14s %14s\n' "distinct JavaScript functions named" "$p_names" "$f_names"
	printf '%-44s %14s %14s\n' "frames per sample" "$p_frames" "$f_frames"
	awk -v a="$p_ok" -v b="$p_tot" -v c="$f_ok" -v d="$f_tot" 'BEGIN {
		if (b > 0 && d > 0 && c > 0) printf "complete stacks, profd / perf -g: %.2fx\n", (a / b) / (c / d) }'
else
	echo "(perf not installed: make deps-bench for the perf column)"
	printf '%-44s %14s\n' "samples (s of CPU)" "${p_tot}s"
	printf '%-44s %14s\n' "stacks reaching the thread's root" "$(pct "$p_ok" "$p_tot")"
	printf '%-44s %14s\n' "stacks with a JavaScript frame" "$(pct "$p_js" "$p_tot")"
	printf '%-44s %14s\n' "distinct JavaScript functions named" "$p_names"
fi
kill "$node_pid" 2>/dev/null

echo
echo "== unwinding cost, warm: node (frame pointers through JIT code, CFI elsewhere) against cpu_qsort (CFI only)"
echo "   (profd serving each target: a 2 s profile loads its debug info, then ${SECS} s are measured"
echo "    through /metrics' profd_cpu_samples_total and profd_cpu_unwind_seconds_total)"
# warm_cost PID: "samples us_per_sample frames_per_sample" of a warm SECS s profile of PID
warm_cost() {
	local rf="$TMP/ready.$1" addr s0 u0 s1 u1
	"$PROFD" --pid "$1" --addr 127.0.0.1:0 --ready-file "$rf" >/dev/null 2>"$TMP/daemon.$1.err" &
	local dp=$!
	pids+=("$dp")
	for _ in $(seq 1 200); do [ -s "$rf" ] && break; sleep 0.1; done
	read -r addr <"$rf" || { echo "profd did not start: $(cat "$TMP/daemon.$1.err")" >&2; return 1; }
	curl -s -o /dev/null "http://$addr/debug/pprof/profile?seconds=2"
	curl -s "http://$addr/metrics" >"$TMP/m0"
	curl -s -o "$TMP/warm.$1.pb.gz" "http://$addr/debug/pprof/profile?seconds=$SECS"
	curl -s "http://$addr/metrics" >"$TMP/m1"
	kill "$dp"
	wait "$dp" 2>/dev/null
	s0=$(awk '$1 == "profd_cpu_samples_total" { print $2 }' "$TMP/m0")
	u0=$(awk '$1 == "profd_cpu_unwind_seconds_total" { print $2 }' "$TMP/m0")
	s1=$(awk '$1 == "profd_cpu_samples_total" { print $2 }' "$TMP/m1")
	u1=$(awk '$1 == "profd_cpu_unwind_seconds_total" { print $2 }' "$TMP/m1")
	c0=$(awk '$1 ~ /^profd_self_cpu_seconds_total/ { c += $2 } END { print c + 0 }' "$TMP/m0")
	c1=$(awk '$1 ~ /^profd_self_cpu_seconds_total/ { c += $2 } END { print c + 0 }' "$TMP/m1")
	read -r _ _ _ frames _ < <(pprof_stats "$TMP/warm.$1.pb.gz")
	awk -v s0="$s0" -v u0="$u0" -v s1="$s1" -v u1="$u1" -v c0="$c0" -v c1="$c1" -v f="$frames" \
		'BEGIN { n = s1 - s0; if (n < 1) n = 1
			printf "%d %.1f %.1f %s\n", s1 - s0, 1e6 * (u1 - u0) / n, 1e6 * (c1 - c0) / n, f }'
}
(cd "$TMP" && exec node --perf-basic-prof "$SCRIPT" $((SECS * 2 + 60))) >"$TMP/node2.out" 2>&1 &
node_pid=$!
pids+=("$node_pid")
for _ in $(seq 1 200); do grep -q '^ready' "$TMP/node2.out" && break; sleep 0.1; done
read -r node_n node_us node_cpu node_frames < <(warm_cost "$node_pid")
kill "$node_pid" 2>/dev/null
"$QSORT" 3600 >/dev/null &
qp=$!
pids+=("$qp")
read -r qsort_n qsort_us qsort_cpu qsort_frames < <(warm_cost "$qp")
kill "$qp" 2>/dev/null
printf '%-44s %14s %14s\n' "" "node (FP+CFI)" "qsort (CFI)"
printf '%-44s %14s %14s\n' "samples unwound" "${node_n:-?}" "${qsort_n:-?}"
printf '%-44s %12sus %12sus\n' "profd CPU per sample (all threads)" "${node_cpu:-?}" "${qsort_cpu:-?}"
printf '%-44s %12sus %12sus\n' "unwind and dispatch per sample (wall)" "${node_us:-?}" "${qsort_us:-?}"
printf '%-44s %14s %14s\n' "frames per sample" "${node_frames:-?}" "${qsort_frames:-?}"
echo "(wall time counts waits too, e.g. a busy host's preemption; CPU time is what profd pays)"
awk -v a="${node_cpu:-0}" -v fa="${node_frames:-0}" -v b="${qsort_cpu:-0}" -v fb="${qsort_frames:-0}" 'BEGIN {
	if (a > 0 && b > 0 && fa > 0 && fb > 0) {
		printf "%-44s %12.2fus %12.2fus\n", "profd CPU per frame", a / fa, b / fb
		printf "profd CPU per sample, node / qsort: %.2fx; per frame: %.2fx\n", a / b, (a / fa) / (b / fb)
	} }'
