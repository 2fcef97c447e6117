#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What profd costs a real service: Debian's redis-server (jemalloc) under redis-benchmark
# (-t set,get), with profd in the modes a user would run, in interleaved rounds (one round of
# every configuration, then the next round), medians, ratios against no profd:
#   none         redis alone
#   demand       profd's default (--heap demand) with a heap request every 15 s, as a scraper
#   growth       the growth profile kept active (a growth request every 15 s), when profd has it
#   inuse-100    --heap inuse --heap-budget 100: the honest cost of tracking every call
#   inuse        --heap inuse with the default budget: when the probes were paused, and why
# During each round with profd a CPU profile runs, and the share of its samples that profd's
# probe machinery took is printed (the frame named "profd: allocator probe", when profd names it).
#   ROUNDS=3 (default)  REQUESTS=200000 (per redis-benchmark run)  CONFIGS="none demand ..."
# Needs root and redis-server (make deps-bench). Never asserts: it reports.
set -u
cd "$(dirname "$0")/../.."
O="${O:-build}"
PROFD="$O/profd"
ROUNDS="${ROUNDS:-3}"
REQUESTS="${REQUESTS:-200000}"
CONFIGS="${CONFIGS:-none demand growth inuse-100 inuse}"
WORK=$(mktemp -d /tmp/profd-bench-redis.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
	{ echo "redis-server is not installed (make deps-bench)"; exit 77; }
[ -x "$PROFD" ] || { echo "build first: make O=$O"; exit 77; }
command -v go >/dev/null || { echo "go (for go tool pprof) is not installed"; exit 77; }
export GOCACHE="$WORK/gocache" HOME="${HOME:-$WORK}" PPROF_TMPDIR="$WORK/pprof"

wait_file() { # file regex seconds
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

redis-server --port 0 --unixsocket "$WORK/redis.sock" --save '' --appendonly no --dir "$WORK" \
	>"$WORK/redis.log" 2>&1 &
REDIS=$!
PIDS+=($REDIS)
wait_file "$WORK/redis.log" '[Rr]eady to accept connections' 20 || { echo "redis did not start"; exit 1; }
echo "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*malloc=\([^ ]*\).*/\1, \2/p') pid $REDIS"

# growth exists in this build?
"$PROFD" --help | grep -q 'growth' || CONFIGS=${CONFIGS//growth/}

start_profd() { # args...
	rm -f "$WORK/ready"
	"$PROFD" --pid "$REDIS" --addr 127.0.0.1:0 --ready-file "$WORK/ready" --log-level debug "$@" \
		>/dev/null 2>"$WORK/profd.err" &
	PROFD_PID=$!
	PIDS+=($PROFD_PID)
	wait_file "$WORK/ready" . 30 || { echo "profd did not start: $(tail -3 "$WORK/profd.err")"; exit 1; }
	BASE="http://$(cat "$WORK/ready")/debug/pprof"
}

# scraper PROFILE: asks for it now and every 15 s until killed
scraper() {
	while :; do
		curl -s -o /dev/null --max-time 60 "$BASE/$1"
		sleep 15
	done
}

bench_once() { # -> requests per second, SET and GET averaged
	redis-benchmark -s "$WORK/redis.sock" -t set,get -n "$REQUESTS" -d 64 -q --csv 2>/dev/null |
		awk -F'"' '/^"(SET|GET)"/ { s += $4; n++ } END { if (n) printf "%.0f\n", s / n; else print "-" }'
}

# probe_share FILE: % of the CPU profile's samples under profd's probe frame
probe_share() {
	go tool pprof -top -cum -nodecount=10000 "$1" 2>/dev/null |
		awk '/ profd: allocator probe$/ { sub(/%/, "", $5); print $5; found = 1; exit } END { if (!found) print 0 }'
}

one_round() { # config -> appends "config rps share extra" to results
	local c=$1 rps share=- extra="" scr="" cpu=""
	case $c in
	none) ;;
	demand) start_profd ;;
	growth) start_profd ;;
	inuse-100) start_profd --heap inuse --heap-budget 100 ;;
	inuse) start_profd --heap inuse ;;
	esac
	case $c in
	demand) scraper heap & scr=$! ;;
	growth) scraper growth & scr=$! ;;
	esac
	[ -n "$scr" ] && PIDS+=($scr)
	if [ $c != none ]; then
		curl -s -o "$WORK/cpu.pb.gz" --max-time 120 "$BASE/profile?seconds=10" &
		cpu=$!
	fi
	rps=$(bench_once)
	if [ -n "$cpu" ]; then
		wait $cpu
		share=$(probe_share "$WORK/cpu.pb.gz")
	fi
	[ -n "$scr" ] && kill $scr 2>/dev/null
	if [ $c = inuse ]; then
		local t0 tp
		t0=$(grep -m1 -E 'heap probes of process [0-9]+( \([^)]*\))? attached' "$WORK/profd.err" | sed -E 's/^profd: [0-9-]+T([0-9:.]+)Z.*/\1/')
		tp=$(grep -m1 'heap probes paused at' "$WORK/profd.err" | sed -E 's/^profd: [0-9-]+T([0-9:.]+)Z.*/\1/')
		if [ -n "$tp" ]; then
			extra="paused $(awk -v a="$t0" -v b="$tp" 'BEGIN { split(a, x, ":"); split(b, y, ":");
				printf "%.2f", (y[1] * 3600 + y[2] * 60 + y[3]) - (x[1] * 3600 + x[2] * 60 + x[3]) }') s after attach: $(grep -m1 'heap probes paused at' "$WORK/profd.err" | sed 's/.*: the allocator/the allocator/; s/; they may.*//')"
		else
			extra="never paused"
		fi
	fi
	if [ $c != none ]; then
		kill -TERM $PROFD_PID 2>/dev/null
		wait $PROFD_PID 2>/dev/null
	fi
	echo "$c $rps $share $extra" >>"$WORK/results"
	printf '  %-10s %9s req/s  probe share %5s%%  %s\n' "$c" "$rps" "$share" "$extra"
}

for ((r = 1; r <= ROUNDS; r++)); do
	echo "round $r"
	for c in $CONFIGS; do one_round "$c"; done
done

echo
echo "medians over $ROUNDS rounds (ratio: throughput against redis alone):"
base=$(awk '$1 == "none" { print $2 }' "$WORK/results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
for c in $CONFIGS; do
	m=$(awk -v c="$c" '$1 == c { print $2 }' "$WORK/results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	s=$(awk -v c="$c" '$1 == c { print $3 }' "$WORK/results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	printf '  %-10s %9s req/s  %5sx  profd probe share of CPU samples: %s%%\n' "$c" "$m" \
		"$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.2f", a / b }')" "$s"
done
