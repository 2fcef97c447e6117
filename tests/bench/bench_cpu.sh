#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CPU profile benchmark, side by side in one run (about 2-3 minutes):
#   1. the target's slowdown while profiled at 100 Hz and 1000 Hz: CPU time of a fixed amount of
#      work, against an unprofiled twin run at the same time (cancels the noise of a busy host);
#   2. profd's own CPU per sample and the share of samples whose stack reaches the thread's root,
#      against frame-pointer-only callchains (perf record -g, what bcc's profile also uses);
#   3. time and size of the same capture with profd and with perf record --call-graph dwarf +
#      perf report.
# Target: tests/targets/cpu_qsort (no frame pointers, hot functions under libc's qsort).
# Env: O (build dir), BENCH_SECONDS (capture length, default 30), BENCH_ROUNDS (work per
# overhead run, default 60 sorts), BENCH_REPEAT (overhead pairs, default 3).
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
O="${O:-build}"
case "$O" in /*) B="$O" ;; *) B="$ROOT/$O" ;; esac
PROFD="$B/profd"
TARGET="$B/tests/targets/cpu_qsort"
SECS="${BENCH_SECONDS:-30}"
ROUNDS="${BENCH_ROUNDS:-60}"
REPEAT="${BENCH_REPEAT:-3}"
TMP="$(mktemp -d /tmp/profd-bench-cpu.XXXXXX)"
export PPROF_TMPDIR="$TMP/pprof"
mkdir -p "$PPROF_TMPDIR"
pids=()
old_bpf_stats=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo 0)
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	echo "$old_bpf_stats" >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench_cpu: needs root (BPF, perf events)"; exit 77; }
[ -x "$TARGET" ] || { echo "bench_cpu: $TARGET not built (make test-bins)"; exit 77; }
"$PROFD" cpu --help >/dev/null 2>&1 || { echo "bench_cpu: $PROFD has no 'cpu' command"; exit 77; }
command -v go >/dev/null || { echo "bench_cpu: go tool pprof needed (apt-get install golang-go)"; exit 77; }
have_perf=1
command -v perf >/dev/null || have_perf=0

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run_pair HZ I: two identical targets doing ROUNDS sorts side by side, one of them (which one
# alternates with I) profiled by profd at HZ; both see the same load, so the ratio of their CPU
# times cancels most of a busy host's noise. Prints "ratio samples profd_cpu".
run_pair() {
	local hz="$1" i="$2" t1 t2 prof p_out u_out
	"$TARGET" 0 "$ROUNDS" >"$TMP/t1.out" &
	t1=$!
	"$TARGET" 0 "$ROUNDS" >"$TMP/t2.out" &
	t2=$!
	pids+=("$t1" "$t2")
	if [ $((i % 2)) = 0 ]; then prof=$t1 p_out=t1 u_out=t2; else prof=$t2 p_out=t2 u_out=t1; fi
	# the targets sleep 1 s before working: profd attaches in that time and ends when it exits
	/usr/bin/time -f '%U %S' -o "$TMP/work.time" \
		"$PROFD" cpu --pid "$prof" --seconds 600 --cpu-hz "$hz" -o "$TMP/work.pb.gz" 2>"$TMP/work.err" &
	local pp=$!
	pids+=("$pp")
	wait "$t1" "$t2"
	wait "$pp" || { cat "$TMP/work.err" >&2; echo "profd cpu failed" >&2; exit 1; }
	awk -v p="$(awk '/^elapsed/ { print $4 }' "$TMP/$p_out.out")" \
	    -v u="$(awk '/^elapsed/ { print $4 }' "$TMP/$u_out.out")" \
	    -v n="$(samples "$TMP/work.pb.gz")" -v c="$(awk '{ print $1 + $2 }' "$TMP/work.time")" \
	    'BEGIN { printf "%.5f %d %.3f\n", p / u, n, c }'
}

# samples FILE: total samples/count of a CPU profile.
samples() {
	go tool pprof -raw "$1" 2>/dev/null |
		awk '/^Samples:/ { s = 1; next } /^Locations/ { s = 0 } s && $1 ~ /^[0-9]+$/ && NF > 2 { n += $1 } END { print n + 0 }'
}

echo "== 1. target slowdown: CPU time of $ROUNDS sorts, profiled / unprofiled twin run side by side"
echo "   (median of $REPEAT pairs per rate)"
r100=() n100=() r1000=() n1000=()
for ((i = 0; i < REPEAT; i++)); do
	read -r r n c < <(run_pair 100 "$i"); r100+=("$r"); n100+=("$n")
	read -r r n c < <(run_pair 1000 "$i"); r1000+=("$r"); n1000+=("$n")
done
m100=$(printf '%s\n' "${r100[@]}" | median)
m1000=$(printf '%s\n' "${r1000[@]}" | median)
s100=$(printf '%s\n' "${n100[@]}" | median)
s1000=$(printf '%s\n' "${n1000[@]}" | median)
printf '%-34s %10s %10s\n' "" "100 Hz" "1000 Hz"
printf '%-34s %+9.2f%% %+9.2f%%\n' "slowdown (target < 1% at 100 Hz)" \
	"$(awk -v r="$m100" 'BEGIN { print 100 * (r - 1) }')" "$(awk -v r="$m1000" 'BEGIN { print 100 * (r - 1) }')"
printf '%-34s %10.0f %10.0f\n' "samples per run" "$s100" "$s1000"
echo "raw ratios: 100 Hz ${r100[*]} | 1000 Hz ${r1000[*]}"
echo "(on a VM whose speed drifts by more than 1% between runs this cannot resolve a 1% effect:"
echo " see the BPF time per sample below for the part of the cost profd adds inside the target)"
echo
echo "== 2+3. the same ${SECS} s capture of a busy target at 100 Hz"
"$TARGET" 3600 >/dev/null &
tp=$!
pids+=("$tp")
sleep 0.5
# kernel.bpf_stats_enabled: the BPF program's own run time, the part of the per-sample cost that
# profd adds inside the target's timer interrupt (the interrupt itself is the same for perf)
echo 1 >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null
t0=$(date +%s.%N)
PROFD_LOG_LEVEL=debug /usr/bin/time -f '%U %S %M' -o "$TMP/profd.time" \
	"$PROFD" cpu --pid "$tp" --seconds "$SECS" -o "$TMP/cap.pb.gz" 2>"$TMP/cap.err" &
cap=$!
sleep $((SECS > 2 ? SECS - 1 : 1))
bpftool prog show name on_cpu_sample 2>/dev/null |
	sed -n 's/.*run_time_ns \([0-9]*\) run_cnt \([0-9]*\).*/\1 \2/p' | head -n 1 >"$TMP/bpf.stats"
wait $cap || { cat "$TMP/cap.err"; exit 1; }
t1=$(date +%s.%N)
echo "$old_bpf_stats" >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null
read -r bpf_ns bpf_cnt <"$TMP/bpf.stats" || { bpf_ns=0; bpf_cnt=0; }
go_t0=$(date +%s.%N)
go tool pprof -top "$TMP/cap.pb.gz" >"$TMP/cap.top" 2>&1 || { cat "$TMP/cap.top"; exit 1; }
go_t1=$(date +%s.%N)
ns=$(samples "$TMP/cap.pb.gz")
read -r pu ps prss <"$TMP/profd.time"
# profd's own count (debug log): "cpu: N samples read, L lost, R unwound to the root, U us per sample"
read -r st_n st_lost st_root st_us < <(sed -n \
	's/.*cpu: \([0-9]*\) samples read, \([0-9]*\) lost, \([0-9]*\) unwound to the root, \([0-9.]*\) us.*/\1 \2 \3 \4/p' \
	"$TMP/cap.err")
st_n=${st_n:-0} st_lost=${st_lost:-0} st_root=${st_root:-0} st_us=${st_us:-0}
profd_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
profd_size=$(stat -c %s "$TMP/cap.pb.gz")
report_wall=$(awk -v a="$go_t0" -v b="$go_t1" 'BEGIN { print b - a }')

if [ $have_perf = 1 ]; then
	perf_t0=$(date +%s.%N)
	/usr/bin/time -f '%U %S %M' -o "$TMP/perf.time" perf record -q -F 100 --call-graph dwarf -p "$tp" \
		-o "$TMP/perf.data" -- sleep "$SECS" >/dev/null 2>&1
	perf_t1=$(date +%s.%N)
	rep_t0=$(date +%s.%N)
	/usr/bin/time -f '%U %S %M' -o "$TMP/report.time" perf report -i "$TMP/perf.data" --stdio \
		>"$TMP/perf.report" 2>/dev/null
	rep_t1=$(date +%s.%N)
	grep -q hot_a "$TMP/perf.report" || echo "(perf report did not show hot_a: its time is not comparable)"
	read -r fu fs frss <"$TMP/perf.time"
	read -r ru rs rrss <"$TMP/report.time"
	perf_size=$(stat -c %s "$TMP/perf.data")
	# stacks of the dwarf capture: samples whose chain reaches main
	perf script -i "$TMP/perf.data" -F ip,sym 2>/dev/null | awk '
		/^$/ { if (n) { tot++; if (m) ok++ } n = 0; m = 0; next }
		{ n++; if ($2 == "main" || $2 == "__libc_start_call_main") m = 1 }
		END { if (n) { tot++; if (m) ok++ } printf "%d %d\n", tot, ok }' >"$TMP/perf.dwarf.stacks"
	read -r dtot dok <"$TMP/perf.dwarf.stacks"
	# frame-pointer-only callchains for 5 s (what bcc's profile and perf -g give without DWARF)
	perf record -q -F 100 -g -p "$tp" -o "$TMP/perf.fp" -- sleep 5 >/dev/null 2>&1
	perf script -i "$TMP/perf.fp" -F ip,sym 2>/dev/null | awk '
		/^$/ { if (n) { tot++; fr += n; if (m) ok++ } n = 0; m = 0; next }
		{ n++; if ($2 == "main" || $2 == "__libc_start_call_main") m = 1 }
		END { if (n) { tot++; fr += n; if (m) ok++ } printf "%d %d %.2f\n", tot, ok, tot ? fr / tot : 0 }' \
		>"$TMP/perf.fp.stacks"
	read -r ftot fok fframes <"$TMP/perf.fp.stacks"
fi

printf '%-34s %16s %16s\n' "" "profd cpu" "perf dwarf"
if [ $have_perf = 1 ]; then
	printf '%-34s %15.1fs %15.1fs\n' "capture wall time" "$profd_wall" \
		"$(awk -v a="$perf_t0" -v b="$perf_t1" 'BEGIN { print b - a }')"
	printf '%-34s %15.2fs %15.2fs\n' "capture CPU (user+sys)" "$(awk -v a="$pu" -v b="$ps" 'BEGIN { print a + b }')" \
		"$(awk -v a="$fu" -v b="$fs" 'BEGIN { print a + b }')"
	printf '%-34s %14.0fKB %14.0fKB\n' "output size" "$(awk -v s="$profd_size" 'BEGIN { print s / 1024 }')" \
		"$(awk -v s="$perf_size" 'BEGIN { print s / 1024 }')"
	printf '%-34s %15.2fs %15.2fs\n' "report time (pprof -top | perf report)" "$report_wall" \
		"$(awk -v a="$rep_t0" -v b="$rep_t1" 'BEGIN { print b - a }')"
	printf '%-34s %16d %16d\n' "samples" "$ns" "$dtot"
	printf '%-34s %15.1f%% %15.1f%%\n' "stacks reaching the root (>= 99%)" \
		"$(awk -v n="$st_n" -v r="$st_root" 'BEGIN { print n ? 100 * r / n : 0 }')" \
		"$(awk -v n="$dtot" -v p="$dok" 'BEGIN { print n ? 100 * p / n : 0 }')"
	printf '%-34s %15.1fus %16s\n' "profd CPU per sample (incl. start)" \
		"$(awk -v a="$pu" -v b="$ps" -v n="$ns" 'BEGIN { print n ? 1e6 * (a + b) / n : 0 }')" "-"
	printf '%-34s %15.1fus %16s\n' "profd unwind+dispatch per sample" "$st_us" "-"
	printf '%-34s %16d %16s\n' "samples lost (ring buffer full)" "$st_lost" "-"
	# all runs (other processes' ticks are filtered out in a few ns) over the target's samples
	bpf_us=$(awk -v t="$bpf_ns" -v n="$ns" -v s="$SECS" 'BEGIN { k = s > 2 ? (s - 1) / s : 1; print n ? t / (n * k) / 1000 : 0 }')
	printf '%-34s %15.2fus %16s\n' "BPF time in the target per sample" "$bpf_us" "-"
	printf '%-34s %15.3f%% %16s\n' "  = share of a busy thread at 100 Hz" \
		"$(awk -v u="$bpf_us" 'BEGIN { print u * 100 / 1e4 }')" "-"
	printf '%-34s %14.0fMB %14.0fMB\n' "peak RSS (capture)" "$(awk -v r="$prss" 'BEGIN { print r / 1024 }')" \
		"$(awk -v r="$frss" 'BEGIN { print r / 1024 }')"
	echo
	printf 'frame-pointer-only callchains (perf record -g, 5 s): %d samples, %.2f frames on average, ' \
		"$ftot" "$fframes"
	awk -v n="$ftot" -v p="$fok" 'BEGIN { printf "%.1f%% reach main\n", n ? 100 * p / n : 0 }'
else
	echo "(perf not installed: apt-get install -y linux-perf for the side-by-side columns)"
	printf 'profd: %.1fs wall, %.2fs CPU, %d bytes, %d samples, %.1f%% reach the root\n' "$profd_wall" \
		"$(awk -v a="$pu" -v b="$ps" 'BEGIN { print a + b }')" "$profd_size" "$ns" \
		"$(awk -v n="$st_n" -v r="$st_root" 'BEGIN { print n ? 100 * r / n : 0 }')"
fi
echo
echo "profd top 5 of the capture:"
sed -n '/flat%/,$p' "$TMP/cap.top" | head -n 6
