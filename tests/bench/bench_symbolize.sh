#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Symbolization speed, side by side: profd's symbolizer, addr2line -f -i, llvm-symbolizer and
# eu-addr2line -f -i on the same 10,000 addresses (fixed seed), on libc.so.6 with libc6-dbg (many
# compile units, separate compressed debug info) and on a generated -g -O2 program that is one
# giant compile unit with nested inlines. Cold = a fresh process (profd: plus its in-process
# cold pass); warm = profd's second pass in the same process. Also checks that profd's inline
# chains agree with addr2line's. Prints numbers and ratios; asserts nothing.
# Each cold figure is the median of ROUNDS (default 7) runs, the tools taking turns, so that a
# drift in this VM's speed hits all of them alike.
#   O=build [ROUNDS=7] tests/bench/bench_symbolize.sh [naddrs]
set -eu
cd "$(dirname "$0")/../.."
O="${O:-build}"
N="${1:-10000}"
ROUNDS="${ROUNDS:-7}"
make -s O="$O" "$O/tests/bench/bench_symbolize"
DRV="$O/tests/bench/bench_symbolize"
W="$(mktemp -d /tmp/profd-bench-sym.XXXXXX)"
BIG_PID=
cleanup() {
	if [ -n "$BIG_PID" ]; then kill "$BIG_PID" 2>/dev/null || true; wait "$BIG_PID" 2>/dev/null || true; fi
	rm -rf "$W"
}
trap cleanup EXIT

# Runs a command (stdout to a file); prints "wall_ms cpu_ms" (cpu = user + sys: on a busy
# machine it says more than wall time).
timed() {
	local out="$1"; shift
	local TIMEFORMAT='%3R %3U %3S' t
	t=$( { time "$@" > "$out" 2>/dev/null; } 2>&1 ) || true
	echo "$t" | tail -n 1 | awk '{ printf "%.1f %.1f", $1 * 1000, ($2 + $3) * 1000 }'
}

# Median of the "wall cpu" lines on stdin, field by field.
median_pair() {
	sort -n -k2 | awk '{ w[NR] = $1; c[NR] = $2 } END { m = int((NR + 1) / 2); printf "%.1f %.1f", w[m], c[m] }'
}

# N addresses inside the functions nm lists for the symbol file, fixed seed.
pick_addrs() {
	nm -S --defined-only "$1" 2>/dev/null | awk '$3 ~ /^[tTwW]$/ && $2 != "" { print $1, $2 }' |
		awk -v n="$N" 'function hex(h,  v, i) { v = 0; h = tolower(h)
		                  for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
		                  return v }
		BEGIN { srand(42) } { a[NR] = hex($1); s[NR] = hex($2) }
		END { for (i = 0; i < n; i++) { k = int(rand() * NR) + 1; sz = s[k]; if (sz < 1) sz = 1
		      printf "0x%x\n", a[k] + int(rand() * sz) } }'
}

# addr2line-style output (address line, then name/file:line pairs) normalized for diffing.
normalize() {
	sed -E -e 's/ \(discriminator [0-9]+\)//' -e 's/^0x0*([0-9a-f]+)$/0x\1/' "$1"
}

compare_chains() {
	# $1 ours, $2 addr2line, $3 object: count addresses whose whole frame list agrees; where
	# addr2line differs, ask llvm-symbolizer whether profd's files and lines are right
	local obj="$3"
	awk 'FNR == 1 { f++ } /^0x/ { key = $0; next } { if (f == 1) a[key] = a[key] "|" $0; else b[key] = b[key] "|" $0 }
	     END { same = 0; total = 0; inl = 0
	           for (k in b) { total++; if (a[k] == b[k]) { same++; if (gsub(/\|/, "|", b[k]) > 2) inl++ }
	                          else { print k > "/dev/stderr"; if (shown++ < 3) printf "    differs at %s:\n      profd     %s\n      addr2line %s\n", k, a[k], b[k] } }
	           printf "    inline chains: %d of %d addresses identical to addr2line (%d of them with inline frames)\n", same, total, inl }' \
		<(normalize "$1") <(normalize "$2") 2> "$1.differs"
	[ -s "$1.differs" ] || return 0
	# file:line of every frame, innermost first, from profd and from llvm-symbolizer
	llvm-symbolizer --obj="$obj" < "$1.differs" 2>/dev/null |
		awk 'BEGIN { RS = ""; FS = "\n" } { s = ""; for (i = 2; i <= NF; i += 2) { l = $i; sub(/:[0-9]+$/, "", l); s = s "|" l } print s }' > "$1.llvm"
	normalize "$1" | awk -v list="$1.differs" '/^0x/ { key = $0; n = 0; s[key] = ""; next }
		{ if (++n % 2 == 0) s[key] = s[key] "|" $0 }
		END { while ((getline k < list) > 0) print s[k] }' > "$1.ours.lines"
	paste -d'\t' "$1.ours.lines" "$1.llvm" | awk -F'\t' '{ t++; if ($1 == $2) ok++ }
		END { printf "    of the %d that differ, llvm-symbolizer agrees with profd'"'"'s files and lines on %d\n", t, ok }'
}

run_case() {
	local label="$1" pid="$2" obj="$3" symfile="$4"
	local addrs="$W/$label.addrs"
	pick_addrs "$symfile" > "$addrs"
	echo "== $label: $(wc -l < "$addrs") addresses in $obj"
	local line t_proc t_a2l t_llvm t_eu r
	: > "$W/$label.t_proc"; : > "$W/$label.t_a2l"; : > "$W/$label.t_llvm"
	for ((r = 0; r < ROUNDS; r++)); do
		WARM_ROUNDS=0 timed "$W/$label.drv0" "$DRV" "$pid" "$obj" "$addrs" >> "$W/$label.t_proc"; echo >> "$W/$label.t_proc"
		timed "$W/$label.llvm" llvm-symbolizer --obj="$obj" < "$addrs" >> "$W/$label.t_llvm"; echo >> "$W/$label.t_llvm"
		timed "$W/$label.a2l" addr2line -a -f -i -C -e "$obj" < "$addrs" >> "$W/$label.t_a2l"; echo >> "$W/$label.t_a2l"
	done
	t_proc=$(median_pair < "$W/$label.t_proc")
	t_llvm=$(median_pair < "$W/$label.t_llvm")
	t_a2l=$(median_pair < "$W/$label.t_a2l")
	timed "$W/$label.drv" "$DRV" "$pid" "$obj" "$addrs" "$W/$label.profd" > /dev/null
	line=$(cat "$W/$label.drv")
	field() { echo "$line" | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }
	t_eu=$(timed "$W/$label.eu" timeout 30 eu-addr2line -f -i -e "$obj" < "$addrs")
	printf "    %-44s %12s %12s\n" "(median of $ROUNDS runs, taking turns)" "wall ms" "cpu ms"
	printf "    %-44s %12s %12s\n" "profd cold, whole process" $t_proc
	printf "    %-44s %12s %12s\n" "profd cold, in process (load+index+1 pass, 1 run)" - "$(field cold_ms)"
	printf "    %-44s %12s %12s\n" "addr2line -f -i -C" $t_a2l
	printf "    %-44s %12s %12s\n" "llvm-symbolizer" $t_llvm
	printf "    %-44s %12s %12s\n" "eu-addr2line -f -i (1 run, killed at 30 s)" $t_eu
	printf "    profd warm: %s ns/addr (%s addr/s) from the result cache; %s ns/addr (%s addr/s) indexes only\n" \
		"$(field warm_ns_per_addr)" "$(field warm_addr_per_s)" "$(field index_ns_per_addr)" "$(field index_addr_per_s)"
	echo "$t_proc $t_llvm $t_a2l $t_eu" | awk '{
		printf "    cold ratios (cpu): llvm-symbolizer/profd %.1fx (target >= 2x), addr2line/profd %.1fx, eu-addr2line/profd %.1fx%s\n",
		       $4 / $2, $6 / $2, $8 / $2, ($7 >= 30000 ? " (eu-addr2line killed: more)" : "") }'
	echo "    driver: $line"
	compare_chains "$W/$label.profd" "$W/$label.a2l" "$obj"
}

# 1. libc.so.6 as mapped in the driver itself, debug info from libc6-dbg via build id.
LIBC=$(readlink -f /lib/x86_64-linux-gnu/libc.so.6)
ID=$(readelf -n "$LIBC" | awk '/Build ID/ { print $3 }')
LIBC_DBG="/usr/lib/debug/.build-id/${ID:0:2}/${ID:2}.debug"
if [ -r "$LIBC_DBG" ]; then
	run_case libc self "$LIBC" "$LIBC_DBG"
else
	echo "== libc: SKIPPED: $LIBC_DBG missing (install libc6-dbg)"
fi

# 2. One giant compile unit: thousands of functions with two levels of always-inline helpers.
NF=3000
{
	echo '#include <stdio.h>'
	echo '#include <unistd.h>'
	echo 'typedef int (*fn_t)(int);'
	for ((i = 0; i < NF; i++)); do
		cat <<EOC
static inline __attribute__((always_inline)) int inner_$i(int x) { return x * $((i % 97 + 3)) + (x >> 3); }
static inline __attribute__((always_inline)) int middle_$i(int x) { int s = 0; for (int k = 0; k < (x & 7); k++) s += inner_$i(x + k) ^ k; return s; }
__attribute__((noinline)) int fn_$i(int x) { return middle_$i(x) + (x & 1 ? middle_$i(x >> 1) : inner_$i(x)); }
EOC
	done
	echo 'fn_t table[] = {'
	for ((i = 0; i < NF; i++)); do echo "fn_$i,"; done
	echo '};'
	echo 'int main(int argc, char **argv) { volatile int s = 0; for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++) s += table[i](argc + (int)i);'
	echo '  printf("ready %d\n", s & 1); fflush(stdout); for (;;) pause(); }'
} > "$W/big.c"
gcc -O2 -g -o "$W/big" "$W/big.c"
mkfifo "$W/big.out"
"$W/big" > "$W/big.out" &
BIG_PID=$!
read -r _ < "$W/big.out"
run_case bigcu "$BIG_PID" "$W/big" "$W/big"
