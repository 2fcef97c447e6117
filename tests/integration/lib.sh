# SPDX-License-Identifier: MIT
# Shared helpers for integration tests: start real targets and a real profd on port 0, wait on
# conditions with deadlines (never bare sleeps), and clean everything up on exit.
# Usage: source "$(dirname "$0")/lib.sh"

set -u
ROOT="${PROFD_TEST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
O="${O:-build}"
case "$O" in /*) B="$O" ;; *) B="$ROOT/$O" ;; esac
PROFD="$B/profd"
TARGETS="$B/tests/targets"
TMP="$(mktemp -d /tmp/profd-test.XXXXXX)"
export PPROF_TMPDIR="$TMP/pprof"
_pids=()

cleanup() {
	local p
	for p in "${_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	for p in "${_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [ -s "$TMP/profd.err" ]; then
		echo "--- profd's last log lines:" >&2
		tail -n 15 "$TMP/profd.err" >&2
	fi
	if [ -n "${PROFD_PID:-}" ] && ! kill -0 "$PROFD_PID" 2>/dev/null; then
		wait "$PROFD_PID" 2>/dev/null
		echo "--- profd is no longer running (exit status $?)" >&2
	fi
	exit 1
}

skip() {
	echo "$*"
	exit 77
}

# track PID: kill it at exit
track() {
	_pids+=("$1")
}

# wait_for SECONDS CMD...: retries CMD every 50 ms until it succeeds or the deadline passes.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.05
	done
	return 0
}

# start_target NAME [ARGS...]: runs a test program, sets TARGET_PID.
start_target() {
	local bin="$TARGETS/$1"; shift
	[ -x "$bin" ] || fail "test program $bin not built (run make test-bins)"
	"$bin" "$@" >"$TMP/target.out" 2>&1 &
	TARGET_PID=$!
	track "$TARGET_PID"
}

# start_profd ARGS...: starts profd on 127.0.0.1:0 with a ready file; sets PROFD_PID and ADDR.
start_profd() {
	local rf="$TMP/ready.$RANDOM"
	"$PROFD" --addr 127.0.0.1:0 --ready-file "$rf" "$@" >"$TMP/profd.out" 2>"$TMP/profd.err" &
	PROFD_PID=$!
	track "$PROFD_PID"
	if ! wait_for 20 test -s "$rf"; then
		cat "$TMP/profd.err" >&2
		fail "profd did not become ready within 20 s"
	fi
	ADDR=$(cat "$rf")
	BASE="http://$ADDR/debug/pprof"
}

# wait_profd_exit [SECONDS]: waits (default 10 s) for profd to end; sets PROFD_STATUS to its
# exit status, or "still-running". Not in a subshell: only the parent shell can wait for it.
wait_profd_exit() {
	local deadline=$((SECONDS + ${1:-10}))
	while kill -0 "$PROFD_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
		# a zombie child still answers kill -0: check its state
		[ "$(sed 's/.*) //' /proc/"$PROFD_PID"/stat 2>/dev/null | cut -d' ' -f1)" = Z ] && break
		sleep 0.05
	done
	if [ "$(sed 's/.*) //' /proc/"$PROFD_PID"/stat 2>/dev/null | cut -d' ' -f1)" != Z ] &&
		kill -0 "$PROFD_PID" 2>/dev/null; then
		PROFD_STATUS=still-running
		return
	fi
	wait "$PROFD_PID"
	PROFD_STATUS=$?
}

# http METHOD PATH [curl args...]: writes headers to $TMP/h, body to $TMP/b, prints status.
http() {
	local m="$1" p="$2" rc; shift 2
	curl -s -o "$TMP/b" -D "$TMP/h" -X "$m" --max-time 120 "$@" "http://$ADDR$p" -w '%{http_code}'
	rc=$?
	# no HTTP status at all: say why (7 refused, 52 empty reply, 56 reset, 28 timeout)
	[ $rc = 0 ] || echo "curl: exit $rc for $m $p" >&2
	return $rc
}

header() { # header NAME: value of a response header from the last http call
	grep -i "^$1:" "$TMP/h" | head -n 1 | cut -d' ' -f2- | tr -d '\r'
}

# no_thread_stopped PID: true if no thread of PID is in tracing/stopped state and none is traced.
# A thread that exits while it is being checked is skipped, not counted as stopped.
no_thread_stopped() {
	local t st tracer
	for t in /proc/"$1"/task/*; do
		st=$(sed 's/.*) //' "$t/stat" 2>/dev/null | cut -d' ' -f1)
		case "$st" in t|T) return 1 ;; esac
		tracer=$(sed -n 's/^TracerPid:[[:space:]]*//p' "$t/status" 2>/dev/null)
		[ -z "$tracer" ] || [ "$tracer" = 0 ] || return 1
	done
	return 0
}

need_go() {
	command -v go >/dev/null 2>&1 || skip "go is not installed (apt-get install golang-go): go tool pprof is the reference client"
}
