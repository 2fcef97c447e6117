#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# profd's demo: starts the built-in demo target (a small threaded "service" that allocates,
# leaks a little, sorts through libc and blocks), attaches profd to it, and shows what profd
# serves: the index, a thread dump, a growth window, a heap window (live heap and allocations: the heap probes
# are attached for those seconds only) and a CPU profile taken meanwhile.
# Run as root (make demo). DEMO_KEEP=1 leaves both running and prints how to stop them.
set -u
cd "$(dirname "$0")/.."
O="${O:-build}"
PROFD="$O/profd"
TARGET="$O/tests/targets/demo_target"
tmp=$(mktemp -d /tmp/profd-demo.XXXXXX)
export PPROF_TMPDIR="$tmp/pprof"

for f in "$PROFD" "$TARGET"; do
	[ -x "$f" ] || { echo "demo: $f is not built; run: make demo" >&2; exit 1; }
done
if [ "$(id -u)" != 0 ]; then
	echo "demo: profd needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE): run it with sudo" >&2
	exit 1
fi

"$TARGET" >"$tmp/target.log" 2>&1 &
tpid=$!
"$PROFD" --pid "$tpid" --addr 127.0.0.1:0 --ready-file "$tmp/addr" >/dev/null 2>"$tmp/profd.log" &
ppid=$!
stop() {
	if [ "${DEMO_KEEP:-0}" = 1 ]; then
		echo
		echo "Left running: demo target pid $tpid, profd pid $ppid at http://$addr/debug/pprof/"
		echo "Stop them with: kill $ppid $tpid"
		return
	fi
	kill "$ppid" 2>/dev/null; wait "$ppid" 2>/dev/null
	kill "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null
	rm -rf "$tmp"
}
trap stop EXIT

for _ in $(seq 100); do
	[ -s "$tmp/addr" ] && break
	kill -0 "$ppid" 2>/dev/null || { cat "$tmp/profd.log" >&2; exit 1; }
	sleep 0.1
done
addr=$(cat "$tmp/addr")
base="http://$addr/debug/pprof"
section() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

echo "demo target: pid $tpid; profd serves $base/"
sed -n 's/^profd: [^ ]* //p' "$tmp/profd.log"
sleep 3 # let the target allocate and run for a moment

section "What profd serves for this process (the index, as text)" "curl -s $base/"
curl -s "$base/" | sed -e 's#</td><td>#\t#g' -e 's/<[^>]*>//g' -e '/^[[:space:]]*$/d' | sed -n '/profd:/,/Profile Descriptions/p' | grep -v 'Profile Descriptions'

section "Every thread's stack, Go goroutine-dump style (first 45 lines)" "curl -s '$base/goroutine?debug=2'"
curl -s "$base/goroutine?debug=2" | head -n 45

# Nothing is attached to the allocator until a heap request asks: a 5 s window attaches the
# probes for those seconds; a CPU profile taken meanwhile shows what they cost, as profd's.
curl -s -o "$tmp/cpu.pb.gz" "$base/profile?seconds=4" &
cpu=$!
# The growth profile (page faults by stack) over the same 5 s: memory the allocator never sees.
curl -s -o "$tmp/growth.pb.gz" -w '%{http_code}' "$base/growth?seconds=5" >"$tmp/growth.code" &
growth=$!
heap_code=$(curl -s -o "$tmp/heap.pb.gz" -w '%{http_code}' "$base/heap?seconds=5")
wait $cpu $growth
if [ "$heap_code" = 200 ]; then
	section "Live heap by allocation site, over a 5 s window: the leak is cache_session" \
		"go tool pprof -top -inuse_space '$base/heap?seconds=5'"
	go tool pprof -top -inuse_space "$tmp/heap.pb.gz" 2>&1 | grep -v '^Fetching\|^Saved' | head -n 16
	section "Allocations in the same window: the churn is handle_request" \
		"go tool pprof -top -sample_index=alloc_space '$base/allocs?seconds=5'"
	go tool pprof -top -sample_index=alloc_space "$tmp/heap.pb.gz" 2>&1 | grep -v '^Fetching\|^Saved' | head -n 16
else
	echo; echo "(heap profiles are unavailable here: HTTP $heap_code; see $tmp/profd.log)"
fi
if [ -s "$tmp/cpu.pb.gz" ]; then
	section "CPU profile for 4 seconds, taken while the heap probes were attached" \
		"go tool pprof -top '$base/profile?seconds=4'"
	go tool pprof -top "$tmp/cpu.pb.gz" 2>&1 | grep -v '^Fetching\|^Saved' | head -n 16
fi
if [ "$(cat "$tmp/growth.code")" = 200 ]; then
	section "Where resident memory grew over the same 5 s (first touches of new pages): an arena mapped outside malloc" \
		"go tool pprof -top -sample_index=growth '$base/growth?seconds=5'"
	go tool pprof -top -sample_index=growth "$tmp/growth.pb.gz" 2>&1 | grep -v '^Fetching\|^Saved' | head -n 24
else
	echo; echo "(growth profiles are unavailable here: HTTP $(cat "$tmp/growth.code"); see $tmp/profd.log)"
fi
echo
echo "Try it on your own process: sudo $PROFD --pid PID   (then open http://127.0.0.1:6060/debug/pprof/)"
