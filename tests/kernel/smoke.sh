#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The smoke test run inside the test guest (Debian 12's own kernel, tests/kernel/run), with the
# host's root read-only and /tmp a tmpfs. profd starts against the demo target at the default
# log level; a thread dump (blocked threads read by the BPF task iterator, not stopped), a 5 s
# CPU profile and a 5 s heap window (classic uretprobes: 6.1 has no uprobe sessions) are
# checked, the profiles with go tool pprof; growth and fd (syscall tracepoints) at known sites; every profile the index lists answers 200 or refuses with its reason (503/501 and a body saying why), and every profile
# profd's index has on the host but not here was said unavailable in profd's log; profd printed
# no libbpf or verifier output. Then profd runs again at debug level, where every BPF program the
# kernel rejects shows: the uprobe-session program must not be among them (profd asks BTF first).
# Last, the growth, mutex and fd profiles against targets of their own, then the OOM trigger: a
# target leaking in a 64 MiB cgroup v2 is killed by the OOM killer and profd writes its heap
# snapshot first (bpf/oom.bpf.c on 6.1's oom:mark_victim).
# Needs PROFD_TEST_ROOT and O (the guest's init sets them from the kernel command line), and
# PROFD_HOST_PROFILES: a file listing the profiles profd's index has on the host (may be empty).
# Every go tool pprof costs seconds under emulation: each profile is read once.
source "$PROFD_TEST_ROOT/tests/integration/lib.sh"

export GOCACHE="$TMP/gocache"
mkdir -p "$PPROF_TMPDIR"
step_start=0
step() { # NAME: prints the step and what the previous one took
	local now
	now=$(cut -d' ' -f1 /proc/uptime)
	[ "$step_start" = 0 ] || echo "   ($(awk -v a="$step_start" -v b="$now" 'BEGIN { printf "%.1f", b - a }') s)"
	step_start=$now
	echo "== $*"
}
raw() { # FILE WHAT: go tool pprof -raw FILE into FILE.raw, or fail
	go tool pprof -raw "$1" >"$1.raw" 2>&1 || fail "$2: go tool pprof rejects it: $(head -n 3 "$1.raw")"
}
# in_locations FILE.raw FUNC: FUNC is a frame of some sample (pprof -raw lists only the
# locations samples use, each with its function names)
in_locations() {
	sed -n '/^Locations/,/^Mappings/p' "$1" | grep -q " $2 "
}

echo "kernel $(uname -r), $(nproc) CPUs; BTF: $([ -r /sys/kernel/btf/vmlinux ] && echo yes || echo no)"

step "daemon start against the demo target"
# niced: the demo's two workers would otherwise take both emulated CPUs from profd and the tools
bin="$TARGETS/demo_target"
[ -x "$bin" ] || fail "$bin is not built (make test-bins)"
nice -n 10 "$bin" >"$TMP/target.out" 2>&1 &
TARGET_PID=$!
track "$TARGET_PID"
# the heap window must see allocations whatever the probes cost under emulation: no budget, and
# a sample every 64 KiB (the demo churns about 4.5 KiB per request)
start_profd --pid "$TARGET_PID" --heap-budget 100 --heap-rate 65536
sed 's/^profd: [^ ]* /   | /' "$TMP/profd.err"

step "index"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index: HTTP $(head -c 300 "$TMP/b")"
cp "$TMP/b" "$TMP/index.html"
sed -n "s/.*<a href='\([a-z_]*\)?debug=1'>.*/\1/p" "$TMP/index.html" | sort -u >"$TMP/profiles"
echo "   profiles: $(tr '\n' ' ' <"$TMP/profiles")"
sed -n 's/^<p>\(.*\)<\/p>$/   | \1/p' "$TMP/index.html"
for p in goroutine profile heap allocs; do
	grep -qx "$p" "$TMP/profiles" || fail "the index does not list $p: $(grep -i unavailable "$TMP/profd.err")"
done

step "thread dump (goroutine?debug=2)"
[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "goroutine?debug=2: HTTP $(head -c 300 "$TMP/b")"
n=$(grep -c '^goroutine [0-9]* \[' "$TMP/b")
[ "$n" = 5 ] || fail "thread dump has $n threads, the demo target has 5: $(head -n 20 "$TMP/b")"
for f in worker-a worker-b idle-waiter pipe-reader; do
	grep -q "\"$f\"\]:" "$TMP/b" || fail "thread $f missing from the dump"
done
grep -q '^main(' "$TMP/b" || fail "the main thread's stack does not reach main: $(head -n 30 "$TMP/b")"
grep -q '^worker(' "$TMP/b" || fail "no worker thread's stack reaches worker()"
grep -A 12 '"idle-waiter"\]:' "$TMP/b" | sed 's/^/   | /'
# 6.1 has the sleepable task iterator (5.18+): blocked threads are read without being stopped
! grep -q 'thread dumps will stop every thread' "$TMP/profd.err" ||
	fail "profd fell back to stopping every thread on $(uname -r): $(grep 'thread dumps' "$TMP/profd.err")"
grep -q 'goroutine: .*read by a BPF task iterator without stopping them' "$TMP/index.html" ||
	fail "the index does not say thread dumps use the task iterator: $(grep 'goroutine:' "$TMP/index.html")"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index after the dump: HTTP $(head -c 300 "$TMP/b")"
unstopped=$(sed -n 's/.*goroutine: .* captured (\([0-9]*\) without stopping.*/\1/p' "$TMP/b")
echo "   read without stopping: ${unstopped:-?} of 5 threads (the two workers may be on a CPU)"
[ "${unstopped:-0}" -ge 3 ] ||
	fail "main, idle-waiter and pipe-reader block, yet ${unstopped:-no} threads were read without stopping: $(grep 'goroutine:' "$TMP/b")"

step "CPU profile of 5 s, and a heap window of 5 s meanwhile"
curl -s -o "$TMP/cpu.pb.gz" -w '%{http_code}' --max-time 120 "$BASE/profile?seconds=5" >"$TMP/cpu.code" &
cpu=$!
code=$(curl -s -o "$TMP/heap.pb.gz" -w '%{http_code}' --max-time 120 "$BASE/heap?seconds=5")
wait $cpu
[ "$(cat "$TMP/cpu.code")" = 200 ] || fail "profile?seconds=5: HTTP $(cat "$TMP/cpu.code"): $(head -c 300 "$TMP/cpu.pb.gz")"
[ "$code" = 200 ] || fail "heap?seconds=5: HTTP $code: $(head -c 300 "$TMP/heap.pb.gz")"
go tool pprof -top -nodecount=1000 "$TMP/cpu.pb.gz" >"$TMP/cpu.top" 2>&1 ||
	fail "CPU profile: go tool pprof rejects it: $(head -n 3 "$TMP/cpu.top")"
sed -n '/flat%/,$p' "$TMP/cpu.top" | head -n 7 | sed 's/^/   | /'
awk '$6 == "compare_scores" { ok = 1 } END { exit !ok }' "$TMP/cpu.top" ||
	fail "CPU profile: compare_scores (the demo's hot comparator) is missing"
raw "$TMP/heap.pb.gz" "heap window"
grep '^Comment: profd heap' "$TMP/heap.pb.gz.raw" | sed 's/^/   | /'
grep -q '^Comment: profd heap: .*returns: uretprobe' "$TMP/heap.pb.gz.raw" ||
	fail "the heap probes did not use classic uretprobes: $(grep '^Comment: profd heap' "$TMP/heap.pb.gz.raw")"
grep -q '^Comment: a 5 s window' "$TMP/heap.pb.gz.raw" || fail "the heap profile is not a 5 s window: $(grep '^Comment' "$TMP/heap.pb.gz.raw")"
in_locations "$TMP/heap.pb.gz.raw" handle_request || fail "heap window: no allocation of handle_request was sampled"

step "every profile on the index answers"
while read -r p; do
	case "$p" in
	profile | heap) echo "   $p: 200 (above)"; continue ;;
	esac
	code=$(http GET "/debug/pprof/$p")
	case "$code" in
	200)
		if [ "$(header Content-Type)" = application/octet-stream ]; then
			cp "$TMP/b" "$TMP/$p.pb.gz"
			raw "$TMP/$p.pb.gz" "$p"
		fi
		echo "   $p: 200, $(wc -c <"$TMP/b") bytes of $(header Content-Type)"
		;;
	501 | 503)
		# a documented refusal: the body says why
		[ -s "$TMP/b" ] || fail "$p: HTTP $code without a reason"
		echo "   $p: refused, HTTP $code: $(head -n 1 "$TMP/b")"
		;;
	*) fail "$p: HTTP $code: $(head -c 300 "$TMP/b")" ;;
	esac
done <"$TMP/profiles"
[ "$(http GET /debug/pprof/cmdline)" = 200 ] && grep -q demo_target "$TMP/b" || fail "cmdline"
[ "$(http GET /debug/pprof/symbol)" = 200 ] && grep -q '^num_symbols: 1' "$TMP/b" || fail "symbol"
echo "   cmdline, symbol: 200"

step "profiles served on the host but not here were said unavailable"
if [ -s "${PROFD_HOST_PROFILES:-}" ]; then
	echo "   host's index: $(tr '\n' ' ' <"$PROFD_HOST_PROFILES")"
	while read -r p; do
		grep -qx "$p" "$TMP/profiles" && continue
		grep -q 'warning: .*unavailable' "$TMP/profd.err" ||
			fail "$p is on the host's index but not here, and profd's log does not say why"
		echo "   $p: not served here; profd said: $(grep 'warning: .*unavailable' "$TMP/profd.err" | sed 's/^profd: [^ ]* //' | tr '\n' ' ')"
	done <"$PROFD_HOST_PROFILES"
else
	echo "   (profd's index on the host is unknown: not compared)"
fi

step "no libbpf or verifier output at the default log level"
kill -TERM "$PROFD_PID"
wait_profd_exit 20
[ "$PROFD_STATUS" = 0 ] || fail "profd exited with status $PROFD_STATUS after SIGTERM"
if grep -E 'libbpf|verifier|PROG LOAD LOG|processed [0-9]+ insns|^[0-9]+: \(' "$TMP/profd.err" >"$TMP/noise"; then
	fail "profd printed libbpf/verifier output at the default log level: $(head -n 5 "$TMP/noise")"
fi
echo "   profd's whole log:"
sed 's/^profd: [^ ]* /   | /' "$TMP/profd.err"
mv "$TMP/profd.err" "$TMP/profd-info.err"

step "at debug level: which BPF programs the kernel rejected"
start_profd --pid "$TARGET_PID" --heap-budget 100 --log-level debug
curl -s -o /dev/null --max-time 120 "$BASE/profile?seconds=1" &
cpu=$!
http GET '/debug/pprof/heap?seconds=1' >/dev/null
wait $cpu
kill -TERM "$PROFD_PID"
wait_profd_exit 20
sed -n "s/.*libbpf: prog '\([^']*\)': BPF program load failed: \(.*\)/\1: \2/p" "$TMP/profd.err" >"$TMP/rejected"
if [ -s "$TMP/rejected" ]; then
	sed 's/^/   rejected: /' "$TMP/rejected"
else
	echo "   none"
fi
grep -qE '^(on_sys_enter|on_sys_exit|on_exec):' "$TMP/rejected" &&
	fail "this kernel rejected a syscall tracepoint program (the fd or block profile): $(cat "$TMP/rejected")"
grep -q '^on_alloc_session:' "$TMP/rejected" &&
	fail "profd offered the uprobe-session program to a kernel without sessions (it should ask BTF first)"
grep -q 'attached' "$TMP/profd.err" || fail "the heap probes did not attach at debug level: $(grep -i 'heap' "$TMP/profd.err" | tail -n 3)"

step "growth: 16 MiB touched at a known site"
# the page-fault program on this kernel's layouts (CO-RE): it loads, reads the target's page
# tables and counts what a first touch maps (THP faults 2 MiB where the guest allows them)
if grep -qx growth "$TMP/profiles"; then
	mkfifo "$TMP/gin"
	exec 8<>"$TMP/gin"
	"$TARGETS/growth_touch" <&8 >"$TMP/gt.out" 2>&1 &
	gt=$!
	track "$gt"
	wait_for 30 grep -q '^ready' "$TMP/gt.out" || fail "growth_touch did not start: $(text_of "$TMP/gt.out")"
	start_profd --pid "$gt" --heap off --growth-rate 64K
	[ "$(http GET /debug/pprof/growth)" = 200 ] || fail "growth: HTTP $(head -c 300 "$TMP/b")"
	oks() { [ "$(grep -c '^ok' "$TMP/gt.out")" -gt 0 ]; }
	echo "touch 16" >&8
	wait_for 60 oks || fail "growth_touch did not touch: $(text_of "$TMP/gt.out")"
	[ "$(http GET '/debug/pprof/growth?debug=1')" = 200 ] || fail "growth?debug=1: HTTP $(head -c 300 "$TMP/b")"
	# the bytes of the records whose stack has touch_site (a record: "N: B [N: B] @ pcs", frames)
	got=$(awk '/^[0-9]+: [0-9]+ \[/ { b = $2; next } /\ttouch_site\+/ { t += b; b = 0 } END { print t + 0 }' "$TMP/b")
	grep -E '^# (Faults|HugeFaults|Sampled) = ' "$TMP/b" | sed 's/^/   | /'
	echo "   touch_site: $got bytes for 16 MiB touched"
	awk -v g="$got" 'BEGIN { e = 16 * 1048576; d = g - e; if (d < 0) d = -d; exit !(d <= e / 4) }' ||
		fail "growth: touch_site grew $got bytes, expected 16 MiB +-25%: $(head -n 12 "$TMP/b")"
else
	echo "   (no growth profile here: said unavailable above)"
fi
step "mutex: a contended pthread mutex, on the futex syscall tracepoints"
# the futex programs on this kernel (CO-RE, atomics, syscall tracepoints through tracefs): the
# waiters' delay is charged to the holder's unlocking function
if grep -qx mutex "$TMP/profiles"; then
	"$TARGETS/mutex_contend" 15 >"$TMP/mc.out" 2>&1 &
	mc=$!
	track "$mc"
	wait_for 30 grep -q '^ready' "$TMP/mc.out" || fail "mutex_contend did not start: $(text_of "$TMP/mc.out")"
	start_profd --pid "$mc" --heap off --mutex-rate 1
	[ "$(http GET /debug/pprof/mutex)" = 200 ] || fail "mutex: HTTP $(head -c 300 "$TMP/b")"
	kill -USR1 "$mc"
	wait_for 120 grep -q '^done' "$TMP/mc.out" || fail "mutex_contend did not finish: $(text_of "$TMP/mc.out")"
	[ "$(http GET '/debug/pprof/mutex?debug=1')" = 200 ] || fail "mutex?debug=1: HTTP $(head -c 300 "$TMP/b")"
	# the delay of the records whose stack has release_mutex ("delay count @ pcs", frames)
	got=$(awk '/^[0-9]+ [0-9]+ @/ { d = $1; next } /\trelease_mutex\+/ { t += d; d = 0 } END { print t + 0 }' "$TMP/b")
	want=$(awk '$1 == "mutex_wait_ns" { print $2 }' "$TMP/mc.out")
	echo "   release_mutex: $got ns charged; the waiters measured $want ns"
	awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(w > 0 && d <= w / 4) }' ||
		fail "mutex: release_mutex is charged $got ns, the waiters measured $want ns (+-25%): $(head -n 12 "$TMP/b")"
	kill -TERM "$PROFD_PID"
	wait_profd_exit 20
else
	echo "   (no mutex profile here: said unavailable above)"
fi
step "fd: 100 descriptors leaked at a known site"
# the syscall tracepoint programs on this kernel's verifier: creations with their stacks, closes
# (the churn site's 3550 must all be seen closed), the descriptors open at attach
if grep -qx fd "$TMP/profiles"; then
	"$TARGETS/fd_sites" "$TMP/fdgo" >"$TMP/fd.out" 2>&1 &
	fdp=$!
	track "$fdp"
	wait_for 30 grep -q '^ready' "$TMP/fd.out" || fail "fd_sites did not start: $(text_of "$TMP/fd.out")"
	start_profd --pid "$fdp" --heap off --growth off --fd always
	touch "$TMP/fdgo"
	wait_for 60 grep -q '^done' "$TMP/fd.out" || fail "fd_sites did not leak: $(text_of "$TMP/fd.out")"
	[ "$(http GET '/debug/pprof/fd?debug=1')" = 200 ] || fail "fd?debug=1: HTTP $(head -c 300 "$TMP/b")"
	leaked=$(grep -c $'^#\t0x[0-9a-f]*\tleak_site+' "$TMP/b")
	churned=$(grep -c $'^#\t0x[0-9a-f]*\tchurn_site+' "$TMP/b")
	grep -E '^# (Created|CloseCalls|Reconciled|Lost) = ' "$TMP/b" | sed 's/^/   | /'
	grep '^# Note = fd cost' "$TMP/b" | sed 's/^# Note = /   | /'
	echo "   leak_site: $leaked open, churn_site: $churned open"
	[ "$leaked" = 100 ] || fail "fd: leak_site has $leaked open descriptors, expected 100: $(head -n 20 "$TMP/b")"
	[ "$churned" = 0 ] || fail "fd: churn_site has $churned open descriptors, expected 0"
	grep -q '^# Reconciled = 0$' "$TMP/b" || fail "fd: closes were missed: $(grep '^# Reconciled' "$TMP/b")"
	[ "$(http GET /debug/pprof/fd)" = 200 ] || fail "fd: HTTP $(head -c 300 "$TMP/b")"
	cp "$TMP/b" "$TMP/fd.pb.gz"
	raw "$TMP/fd.pb.gz" "fd"
	in_locations "$TMP/fd.pb.gz.raw" leak_sockets || fail "fd: no stack through leak_sockets"
	kill -TERM "$PROFD_PID"
	wait_profd_exit 20
else
	echo "   (no fd profile here: said unavailable above)"
fi
step "oom: the OOM killer's victim leaves a heap snapshot (tracepoint oom:mark_victim)"
# the program on this kernel's tracepoint record (CO-RE: 6.1's mark_victim has only the pid);
# a cgroup v2 with a 64 MiB memory.max, which the guest mounts here, gets the leaking target
cg=/sys/fs/cgroup
mountpoint -q "$cg" || mount -t cgroup2 cgroup2 "$cg" 2>/dev/null
if grep -qw memory "$cg/cgroup.controllers" 2>/dev/null; then
	echo +memory >"$cg/cgroup.subtree_control"
	mkdir -p "$cg/profd-oom" "$TMP/snaps"
	echo $((64 << 20)) >"$cg/profd-oom/memory.max"
	"$TARGETS/oom_leak" leak >"$TMP/oom.out" 2>&1 &
	victim=$!
	track "$victim"
	wait_for 30 grep -q '^ready' "$TMP/oom.out" || fail "oom_leak did not start: $(text_of "$TMP/oom.out")"
	echo "$victim" >"$cg/profd-oom/cgroup.procs"
	start_profd --pid "$victim" --heap-budget 100 --heap-rate 64K --growth off --snapshot-dir "$TMP/snaps" \
		--snapshot-on oom,pressure
	grep -q 'snapshot-on oom: watching the OOM killer' "$TMP/profd.err" ||
		fail "the oom trigger did not start: $(grep -i 'snapshot\|unavailable' "$TMP/profd.err")"
	grep 'snapshot-on pressure: watching' "$TMP/profd.err" | sed 's/^profd: [^ ]* /   | /'
	kill -USR1 "$victim"
	wait_profd_exit 120
	[ "$PROFD_STATUS" = 3 ] || fail "profd exit status $PROFD_STATUS after its target's OOM kill, want 3"
	grep 'snapshot-on' "$TMP/profd.err" | sed 's/^profd: [^ ]* /   | /'
	f=$(ls "$TMP"/snaps/profd-heap-"$victim"-*.pb.gz 2>/dev/null | tail -n 1)
	[ -n "$f" ] || fail "no heap snapshot of the OOM victim $victim: $(grep -i 'oom\|snapshot' "$TMP/profd.err")"
	raw "$f" "the OOM snapshot"
	grep -q '^Comment: written by --snapshot-on oom: the OOM killer chose process' "$f.raw" ||
		fail "the snapshot was not written for the OOM kill: $(grep '^Comment' "$f.raw")"
	grep '^Comment' "$f.raw" | sed 's/^/   | /'
	in_locations "$f.raw" leak_site ||
		fail "the OOM snapshot has no sample of leak_site: $(sed -n '/^Samples/,/^Mappings/p' "$f.raw" | head -n 40)"
	rmdir "$cg/profd-oom" 2>/dev/null
else
	echo "   (no cgroup v2 memory controller in the guest: the trigger's start is checked only)"
	start_profd --pid "$TARGET_PID" --heap-budget 100 --snapshot-dir "$TMP" --snapshot-on oom
	grep -q 'snapshot-on oom: watching the OOM killer' "$TMP/profd.err" ||
		fail "the oom trigger did not start: $(grep -i 'snapshot\|unavailable' "$TMP/profd.err")"
	kill -TERM "$PROFD_PID"
	wait_profd_exit 20
fi
step "done"
