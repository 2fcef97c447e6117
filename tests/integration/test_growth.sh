#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The growth profile (/debug/pprof/growth): where resident memory grew, by stack, from page faults
# alone. Nothing is attached before the first growth request (no raw tracepoint link in profd's
# fdinfo); growth?seconds=N holds only the growth of its window; 64 MiB touched at a known site
# (built -O2 without frame pointers) shows there as 64 MiB +-15% in growth/bytes, through
# go tool pprof; THP-backed growth too (2 MiB faults); memory that is only reused shows almost
# nothing; debug=1 is gperftools' growthz text; --growth-idle detaches; a Go program, whose heap
# profile profd refuses, shows the Go function that grows memory.
source "$(dirname "$0")/lib.sh"
[ -n "${KEEP_TMP:-}" ] && trap - EXIT

[ "$(id -u)" = 0 ] || skip "needs root (BPF)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR"
MiB=1048576

# the target reads commands on a fifo (an asynchronous command's stdin would be /dev/null)
mkfifo "$TMP/in"
exec 9<>"$TMP/in"
"$TARGETS/growth_touch" <&9 >"$TMP/target.out" 2>&1 &
TARGET_PID=$!
track "$TARGET_PID"
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "growth_touch did not start: $(cat "$TMP/target.out")"

# lines_above PATTERN N: the target has printed more than N lines matching PATTERN
lines_above() {
	[ "$(grep -c "$1" "$TMP/target.out")" -gt "$2" ]
}

# cmd LINE: sends a command and waits (deadline 60 s) for its "ok"
cmd() {
	local before
	before=$(grep -c '^ok' "$TMP/target.out")
	echo "$1" >&9
	wait_for 60 lines_above '^ok' "$before" || fail "target did not do '$1': $(tail -n 3 "$TMP/target.out")"
}

# links: profd's BPF links on the page-fault tracepoint (raw tracepoint links, in fdinfo)
links() {
	grep -l '^tp_name:[[:space:]]*page_fault_user' /proc/"$PROFD_PID"/fdinfo/* 2>/dev/null | wc -l
}
attached() { [ "$(links)" -gt 0 ]; }
detached() { [ "$(links)" = 0 ]; }
attaches() { grep -c 'page-fault tracepoint for process [0-9]* attached' "$TMP/profd.err"; }
attached_more_than() { [ "$(attaches)" -gt "$1" ] && attached; }
# the index's growth line says a ?seconds=N window is open (its start is taken by then)
window_open() { [ "$(http GET /debug/pprof/)" = 200 ] && grep -q 'growth: .* window open' "$TMP/b"; }

# value FILE FUNC [flat|cum]: growth/bytes of FUNC in go tool pprof -top (0 if absent)
value() {
	go tool pprof -top -sample_index=growth -unit=B -nodecount=1000 "$1" 2>/dev/null |
		awk -v f="$2" -v col="${3:-flat}" '$6 == f { v = (col == "cum") ? $4 : $1; sub(/B$/, "", v); print v; found = 1; exit }
			END { if (!found) print 0 }'
}
within() { # actual expected percent
	awk -v a="$1" -v e="$2" -v p="$3" 'BEGIN { d = a - e; if (d < 0) d = -d; exit !(d <= e * p / 100) }'
}
check() { # file func expected percent [flat|cum]
	local v
	v=$(value "$1" "$2" "${5:-flat}")
	within "$v" "$3" "$4" || fail "$2 growth = $v bytes in $(basename "$1"), expected $3 +-$4%"
	echo "ok: $2 growth = $v (expected $3 +-$4%)"
}
below() { # file func bytes
	local v
	v=$(value "$1" "$2")
	awk -v a="$v" -v b="$3" 'BEGIN { exit !(a < b) }' || fail "$2 growth = $v bytes in $(basename "$1"), expected below $3"
	echo "ok: $2 growth = $v (below $3)"
}
absent() { # file func
	[ "$(value "$1" "$2")" = 0 ] || fail "$2 has growth $(value "$1" "$2") in $(basename "$1"), expected none"
}
raw_ok() { # file: go tool pprof -raw accepts it; the text in FILE.raw
	go tool pprof -raw "$1" >"$1.raw" 2>&1 || fail "pprof -raw rejects $(basename "$1"): $(head -n 5 "$1.raw")"
	grep -q '^PeriodType: growth bytes' "$1.raw" || fail "$(basename "$1"): period type is not growth/bytes: $(grep -i period "$1.raw")"
	grep -q 'pagefaults/count growth/bytes' "$1.raw" || fail "$(basename "$1"): sample types: $(grep -A1 '^Samples' "$1.raw")"
}

# 32 KiB between samples: about 2048 samples for 64 MiB of 4 KiB first touches, so +-15% is more
# than six standard deviations of the estimate
start_profd --pid "$TARGET_PID" --growth-rate 32K --growth-idle 8s --log-level debug

echo "== nothing attached before the first growth request"
[ "$(http GET /debug/pprof/)" = 200 ] || fail "index"
grep -q 'growth: Nothing attached (--growth demand)' "$TMP/b" || fail "the index does not say nothing is attached: $(grep -i growth "$TMP/b")"
grep -q 'Where resident memory grew: first touches of new pages, by stack' "$TMP/b" ||
	fail "the index does not describe the growth profile: $(grep -i growth "$TMP/b")"
cmd "reuse 8 1" # grows at reuse_setup before anything is attached: never seen
detached || fail "$(links) page-fault links before any growth request"
grep -q 'page-fault tracepoint for process [0-9]* attached' "$TMP/profd.err" && fail "attached before any growth request"

echo "== growth?seconds=4: only the growth of its window"
n0=$(attaches)
curl -s -o "$TMP/w.pb.gz" -w '%{http_code}' --max-time 60 "$BASE/growth?seconds=4" >"$TMP/w.code" &
w=$!
wait_for 30 attached_more_than "$n0" || fail "the window did not attach the tracepoint"
wait_for 30 window_open || fail "the index does not show the window open: $(grep 'growth:' "$TMP/b")"
cmd "touch 64"
wait $w
[ "$(cat "$TMP/w.code")" = 200 ] || fail "growth?seconds=4: HTTP $(cat "$TMP/w.code"): $(head -c 300 "$TMP/w.pb.gz")"
raw_ok "$TMP/w.pb.gz"
check "$TMP/w.pb.gz" touch_site $((64 * MiB)) 15
absent "$TMP/w.pb.gz" reuse_setup
grep -Eq '^Comment: a [4-9] s window: the growth of that window only' "$TMP/w.pb.gz.raw" || fail "the window's profile does not say what it holds"
wait_for 15 detached || fail "tracepoint still attached ($(links) links) after the window ended"

echo "== a request without seconds starts tracking"
n0=$(attaches)
[ "$(http GET /debug/pprof/growth)" = 200 ] || fail "growth: HTTP $(cat "$TMP/b")"
attached_more_than "$n0" || fail "a growth request did not start tracking"
go tool pprof -raw "$TMP/b" 2>/dev/null | grep -q '^Comment: growth tracking started at .* by this request' ||
	fail "the first profile does not say tracking started"

echo "== memory only reused shows almost nothing"
cmd "reuse 32 10" # 32 MiB grown at reuse_setup, then rewritten ten times at reuse_site
[ "$(http GET /debug/pprof/growth)" = 200 ] || fail "growth after reuse"
cp "$TMP/b" "$TMP/r.pb.gz"
raw_ok "$TMP/r.pb.gz"
check "$TMP/r.pb.gz" reuse_setup $((32 * MiB)) 15
below "$TMP/r.pb.gz" reuse_site $((1 * MiB))
# cumulative: the window's growth, tracked then, is still there, and said to be
check "$TMP/r.pb.gz" touch_site $((64 * MiB)) 15
grep -q '^Comment: this profile adds up the 2 periods profd tracked' "$TMP/r.pb.gz.raw" ||
	fail "the profile does not say it adds up tracking periods: $(grep '^Comment' "$TMP/r.pb.gz.raw")"
grep -q 'periods profd tracked' "$TMP/w.pb.gz.raw" && fail "the first window says it adds up periods"
grep -q '^Comment: growth tracking since .* it stops after 8s without a growth request' "$TMP/r.pb.gz.raw" ||
	fail "the profile does not say since when it tracks: $(grep '^Comment' "$TMP/r.pb.gz.raw")"

grep -q '^Comment: cost: the page-fault program takes about [0-9]* ns of the target.s time per fault' "$TMP/r.pb.gz.raw" ||
	fail "the profile does not say what the program costs: $(grep '^Comment' "$TMP/r.pb.gz.raw")"
[ "$(http GET /debug/pprof/)" = 200 ] && grep -q 'growth: .*Cost: about [0-9]* ns per fault of the target' "$TMP/b" ||
	fail "the index does not say what the growth profile costs: $(grep 'growth:' "$TMP/b")"

echo "== a window while tracking holds only its own growth"
curl -s -o "$TMP/w2.pb.gz" -w '%{http_code}' --max-time 60 "$BASE/growth?seconds=3" >"$TMP/w2.code" &
w=$!
wait_for 30 window_open || fail "the index does not show the window open"
cmd "touch 32"
wait $w
[ "$(cat "$TMP/w2.code")" = 200 ] || fail "growth?seconds=3: HTTP $(cat "$TMP/w2.code")"
check "$TMP/w2.pb.gz" touch_site $((32 * MiB)) 15
absent "$TMP/w2.pb.gz" reuse_setup

echo "== transparent huge pages: 2 MiB faults weighed as such"
# a window does not extend the tracking: a request without seconds does
n0=$(attaches)
[ "$(http GET /debug/pprof/growth)" = 200 ] || fail "growth before thp"
attached || fail "not attached after a growth request"
cmd "thp 64"
huge=$(grep '^ok huge' "$TMP/target.out" | tail -n 1 | awk '{ print $3 }')
echo "the kernel backed $huge KiB of 65536 with huge pages ($(cat /sys/kernel/mm/transparent_hugepage/enabled))"
[ "$(http GET /debug/pprof/growth)" = 200 ] || fail "growth after thp"
cp "$TMP/b" "$TMP/t.pb.gz"
# huge pages or not, the estimate is of what the faults mapped
check "$TMP/t.pb.gz" thp_site $((64 * MiB)) 15
if [ "${huge:-0}" -gt 0 ]; then
	[ "$(http GET '/debug/pprof/growth?debug=1')" = 200 ] || fail "growth?debug=1"
	n=$(sed -n 's/^# HugeFaults = //p' "$TMP/b")
	[ "${n:-0}" -ge $((huge / 2048)) ] || fail "$huge KiB of huge pages but $n faults weighed 2 MiB"
	echo "ok: $n faults weighed 2 MiB"
fi

echo "== debug=1: gperftools' growthz text"
[ "$(http GET '/debug/pprof/growth?debug=1')" = 200 ] || fail "growth?debug=1"
head -n 1 "$TMP/b" | grep -Eq '^heap profile: [0-9]+: [0-9]+ \[ *[0-9]+: [0-9]+\] @ growthz$' || fail "debug=1 header: $(head -n 1 "$TMP/b")"
grep -q $'^#\t0x[0-9a-f]*\ttouch_site+0x[0-9a-f]*\t.*growth_touch.c:[0-9]*$' "$TMP/b" || fail "debug=1 has no touch_site frame"
grep -q '^# Note = growth tracking since' "$TMP/b" || fail "debug=1 does not say since when it tracks"
grep -q '^# Rate = 32768$' "$TMP/b" || fail "debug=1 does not give the rate"
# pprof reads the text too (a legacy profile: it symbolizes it through /debug/pprof/symbol)
go tool pprof -top -unit=B "$BASE/growth?debug=1" >"$TMP/text.top" 2>&1 || fail "pprof cannot read the growthz text: $(head -n 3 "$TMP/text.top")"
grep -q 'touch_site' "$TMP/text.top" || fail "pprof reads no touch_site from the growthz text: $(head "$TMP/text.top")"

echo "== --growth-idle ends the tracking"
wait_for 30 detached || fail "still attached 30 s after the last request (--growth-idle 8s)"
grep -q 'page-fault tracepoint for process [0-9]* detached: no request for --growth-idle' "$TMP/profd.err" || fail "idle detach not logged"
index_says() { [ "$(http GET /debug/pprof/)" = 200 ] && grep -q "$1" "$TMP/b"; }
wait_for 10 index_says 'growth: Nothing attached' || fail "index after idle detach: $(grep 'growth:' "$TMP/b")"
kill -TERM "$PROFD_PID"
wait_profd_exit 10
[ "$PROFD_STATUS" = 0 ] || fail "profd did not shut down cleanly: $PROFD_STATUS"
echo quit >&9
wait "$TARGET_PID"

echo "== a Go program: no heap profile, but its growth"
mkdir -p "$TMP/gosrc"
cat >"$TMP/gosrc/main.go" <<'GO'
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

var kept [][]byte

//go:noinline
func grow(mib int) {
	b := make([]byte, mib<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = byte(i)
	}
	kept = append(kept, b)
}

func main() {
	fmt.Printf("ready %d\n", os.Getpid())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 2 && f[0] == "grow" {
			n, _ := strconv.Atoi(f[1])
			grow(n)
		}
		fmt.Println("ok")
	}
}
GO
(cd "$TMP/gosrc" && GO111MODULE=off GOFLAGS= go build -o "$TMP/goprog" main.go) >"$TMP/gobuild.out" 2>&1 ||
	skip "go build failed: $(tail -1 "$TMP/gobuild.out")"
: >"$TMP/target.out"
"$TMP/goprog" <&9 >"$TMP/target.out" 2>&1 &
GO_PID=$!
track "$GO_PID"
wait_for 10 grep -q '^ready' "$TMP/target.out" || fail "the Go program did not start"
start_profd --pid "$GO_PID" --growth-rate 32K --log-level debug
[ "$(http GET /debug/pprof/heap)" = 404 ] || fail "heap of a Go program: HTTP $(head -c 200 "$TMP/b"), expected 404 (refused)"
grep -q 'heap profiles are unavailable: .*Go program' "$TMP/profd.err" || fail "profd does not say why it has no heap profile"
[ "$(http GET /debug/pprof/growth)" = 200 ] || fail "growth of a Go program: HTTP $(head -c 200 "$TMP/b")"
cmd "grow 64"
[ "$(http GET /debug/pprof/growth)" = 200 ] || fail "growth of a Go program"
cp "$TMP/b" "$TMP/go.pb.gz"
raw_ok "$TMP/go.pb.gz"
# the first touches are in main.grow (or the runtime clearing memory for it): cum
check "$TMP/go.pb.gz" main.grow $((64 * MiB)) 15 cum
kill -0 "$GO_PID" || fail "the Go program died"
echo ok
