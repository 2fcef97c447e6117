# SPDX-License-Identifier: MIT
# Shared helpers for integration tests: start real targets and a real profd on port 0, wait on
# conditions with deadlines (never bare sleeps), and clean everything up on exit. The polling
# helpers use bash builtins only: on a slow host, process creation is what costs (a fork per
# poll or per thread turned one test's minutes into its time limit).
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
_t0=${EPOCHREALTIME//[!0-9]/}
_failing=0

# ---- what the test is doing, for tests/run's report when it outlives its time limit ----
# tests/run names a file in PROFD_TEST_STATE. It holds where $TMP and profd's log are, the last
# progress line, and the wait in course with its deadline: if the test is killed at its limit,
# the runner prints these and profd's log tail, then removes $TMP. Rewritten, with builtins
# only, whenever a wait starts or ends.
_step='' _wait_what='' _wait_since='' _wait_deadline='' _last_wait='' _gave_up=''

_state() {
	[ -n "${PROFD_TEST_STATE:-}" ] || return 0
	printf '%s\n' "tmp=$TMP" "profd_log=$TMP/profd.err" "step=$_step" "wait=$_wait_what" \
		"wait_since=$_wait_since" "wait_deadline=$_wait_deadline" "last_wait=$_last_wait" \
		>"$PROFD_TEST_STATE" 2>/dev/null
}
_state

# waiting WHAT SECONDS: the test now waits, up to SECONDS, for WHAT (one line); waited ends it.
# wait_for, start_profd, http and wait_profd_exit record their waits themselves; call these
# around any other step that can take long (a synchronous driver, a profile fetch).
waiting() {
	_wait_what=${1//$'\n'/ } _wait_since=$EPOCHSECONDS _wait_deadline=$((EPOCHSECONDS + $2))
	_state
}
waited() {
	[ -n "$_wait_what" ] && _last_wait="$_wait_what (over after $((EPOCHSECONDS - _wait_since)) s)"
	_wait_what='' _wait_since='' _wait_deadline=''
	_state
}

# stamp VAR: sets VAR to the milliseconds since the test started (no fork, unlike date)
stamp() {
	local now=${EPOCHREALTIME//[!0-9]/}
	printf -v "$1" '%d' $(((now - _t0) / 1000))
}

# progress MSG: prints MSG after the seconds since the test started, so that a log always shows
# how far the test got and how long each part took (tests/run shows the log's tail)
progress() {
	local ms
	stamp ms
	_step="$*"
	_state
	printf '[%4d.%d s] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}

# nap SECONDS: sleep without a fork (a read that times out on a FIFO nothing writes to)
mkfifo "$TMP/.nap" && exec {_nap_fd}<>"$TMP/.nap"
nap() {
	local REPLY
	read -r -t "$1" -u "$_nap_fd" || :
}

cleanup() {
	local rc=$? p
	# a script that stops on its own, with neither fail nor skip nor success, says so
	if [ $rc != 0 ] && [ $rc != 77 ] && [ $_failing = 0 ]; then
		echo "FAIL: the test script stopped with status $rc at: $BASH_COMMAND" >&2
		[ -z "$_step" ] || echo "    (last progress: $_step)" >&2
	fi
	for p in "${_pids[@]}"; do
		send KILL "$p"
	done
	for p in "${_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	cg_remove
	rm -rf "$TMP"
}
trap cleanup EXIT

# ---- memory cgroups a test creates (cg_make), removed at exit whatever happens ----
CGS=()
cg_remove() {
	local cg p n
	for cg in "${CGS[@]}"; do
		[ -d "$cg" ] || continue
		# only what this test started can be in it: kill it, wait until it is empty, remove it
		for n in $(seq 100); do
			read -r p <"$cg/cgroup.procs" 2>/dev/null || break
			[ -n "$p" ] || break
			kill -KILL "$p" 2>/dev/null
			sleep 0.05
		done
		rmdir "$cg" 2>/dev/null || echo "warning: cannot remove $cg: $(cat "$cg/cgroup.procs" 2>/dev/null | tr '\n' ' ')"
	done
	CGS=()
}

# memcg_find: where the memory controller is: sets CGV (v2 or v1), V2 and V1 (the mount points of
# the cgroup2 hierarchy and of the v1 one with the memory controller); false when neither has it
memcg_find() {
	local line pre post pf sf
	V2= V1= CGV=
	while read -r line; do
		pre=${line%% - *} post=${line#* - }
		read -r -a pf <<<"$pre"
		read -r -a sf <<<"$post"
		if [ "${sf[0]}" = cgroup2 ] && [ -z "$V2" ]; then
			V2=${pf[4]}
		elif [ "${sf[0]}" = cgroup ] && [[ ",${sf[2]}," == *,memory,* ]]; then
			V1=${pf[4]}
		fi
	done </proc/self/mountinfo
	if [ -n "$V2" ] && grep -qw memory "$V2/cgroup.subtree_control" 2>/dev/null; then
		CGV=v2
	elif [ -n "$V1" ]; then
		CGV=v1
	else
		return 1
	fi
}

# cg_make NAME MIB: a memory cgroup (after memcg_find) with that limit and no swap; sets CG
cg_make() {
	if [ $CGV = v2 ]; then
		CG="$V2/profd-test-$$-$1"
		mkdir "$CG" || fail "cannot create $CG"
		CGS+=("$CG")
		echo $(($2 << 20)) >"$CG/memory.max" || fail "cannot set $CG/memory.max"
		[ ! -e "$CG/memory.swap.max" ] || echo 0 >"$CG/memory.swap.max"
	else
		CG="$V1/profd-test-$$-$1"
		mkdir "$CG" || fail "cannot create $CG"
		CGS+=("$CG")
		echo $(($2 << 20)) >"$CG/memory.limit_in_bytes" || fail "cannot set $CG/memory.limit_in_bytes"
		[ ! -e "$CG/memory.memsw.limit_in_bytes" ] || echo $(($2 << 20)) >"$CG/memory.memsw.limit_in_bytes" 2>/dev/null
	fi
}
cg_join() { # PID: moves it into CG
	echo "$1" >"$CG/cgroup.procs" || fail "cannot move process $1 into $CG"
}

# fail MSG: says where and why the test failed, what it last waited for in vain, and profd's state
fail() {
	local i=1
	_failing=1
	# name the test's own line, also when a helper of this file called fail
	while [ "${BASH_SOURCE[i]##*/}" = lib.sh ] && [ $((i + 1)) -lt ${#BASH_SOURCE[@]} ]; do
		i=$((i + 1))
	done
	echo "FAIL (${BASH_SOURCE[i]##*/}:${BASH_LINENO[i - 1]}): ${*:-(no reason given)}" >&2
	[ -z "$_gave_up" ] || echo "    the wait that gave up: $_gave_up" >&2
	if [ -s "$TMP/profd.err" ]; then
		echo "--- profd's last log lines:" >&2
		tail -n 15 "$TMP/profd.err" >&2
	fi
	if [ -n "${PROFD_PID:-}" ] && ! alive "$PROFD_PID"; then
		wait "$PROFD_PID" 2>/dev/null
		echo "--- profd is no longer running (exit status $?)" >&2
	fi
	exit 1
}

skip() {
	_failing=1
	echo "$*"
	exit 77
}

# text_of FILE: the file's text for a message, or says that it is empty or missing (a message
# must never end in an empty quote)
text_of() {
	if [ -s "$1" ]; then
		cat "$1"
	elif [ -e "$1" ]; then
		echo "(${1##*/} is empty)"
	else
		echo "(no ${1##*/})"
	fi
}

# PIDs wrap at pid_max (32768 here), and a target that churns threads goes through them in
# seconds: a tracked process that has ended (bash reaps its children at once) may have left its
# PID to another process, or to a thread of the target. Its start time tells them apart.
declare -A _started=() # tracked PID -> its start time (field 22 of /proc/PID/stat)

# track PID: kill it at exit; proc_state, alive, gone and send tell it from a later PID owner
track() {
	local line='' f
	# /proc//stat would be the kernel's own stat file: a missing PID is the caller's bug
	[[ "$1" =~ ^[0-9]+$ ]] || fail "track: '$1' is not a PID"
	_pids+=("$1")
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null
	[ -n "$line" ] || return 0
	read -r -a f <<<"${line##*) }"
	_started[$1]=${f[19]}
}

# send SIGNAL PID: kill -SIGNAL PID if PID still is that process (for a tracked PID: the one
# that was tracked); a signal to a PID that has ended could hit whoever has the PID now
send() {
	proc_state "$2" && kill -"$1" "$2" 2>/dev/null
}

# proc_state PID: sets PROC_STATE to PID's state letter (R, S, D, T, t, Z...); false if PID is
# gone, or, for a tracked PID, if it now names another process. Reads /proc/PID/stat with
# builtins (the name may hold spaces: the other fields follow ") ").
proc_state() {
	local line='' f
	PROC_STATE=''
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null
	[ -n "$line" ] || return 1
	read -r -a f <<<"${line##*) }"
	[ -z "${_started[$1]:-}" ] || [ "${f[19]}" = "${_started[$1]}" ] || return 1
	PROC_STATE=${f[0]}
}

# alive PID: PID exists and is not a zombie (an unreaped child still answers kill -0)
alive() {
	proc_state "$1" && [ "$PROC_STATE" != Z ]
}

# gone PID: PID has exited (or is a zombie)
gone() {
	! alive "$1"
}

# wait_for [-m WHAT] SECONDS CMD...: retries CMD every 50 ms until it succeeds or SECONDS pass.
# Records the wait (WHAT, or the command line) for the runner; when it gives up, fail names it.
wait_for() {
	local what=
	if [ "$1" = -m ]; then
		what=$2
		shift 2
	fi
	local secs=$1 deadline=$((SECONDS + $1))
	shift
	[ -n "$what" ] || what="$*"
	waiting "$what" "$secs"
	while ! "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			_gave_up="$what (after $secs s)"
			waited
			return 1
		fi
		nap 0.05
	done
	_gave_up=
	waited
	return 0
}

_runs() { # pid binary: the process runs the binary (test -ef follows /proc/PID/exe; a main
	# thread that already exited has no exe, so a live thread's is asked too)
	local t
	[ /proc/"$1"/exe -ef "$2" ] && return 0
	for t in /proc/"$1"/task/*; do
		[ "$t/exe" -ef "$2" ] && return 0
	done
	return 1
}

# start_target NAME [ARGS...]: runs a test program, sets TARGET_PID; returns once the process
# runs the program. ($! is the forked shell: on a loaded host a profd started at once attached
# to "bash" before the exec.)
start_target() {
	local bin="$TARGETS/$1"; shift
	[ -x "$bin" ] || fail "test program $bin not built (run make test-bins)"
	"$bin" "$@" >"$TMP/target.out" 2>&1 &
	TARGET_PID=$!
	track "$TARGET_PID"
	wait_for -m "pid $TARGET_PID to exec ${bin##*/}" 10 _runs "$TARGET_PID" "$bin" ||
		fail "pid $TARGET_PID did not start ${bin##*/}: $(text_of "$TMP/target.out")"
}

_ready_or_gone() { # pid file
	[ -s "$2" ] || gone "$1"
}

# wait_ready PID READY_FILE LOG [SECONDS]: waits (default 20 s) until the profd PID, started
# with --ready-file READY_FILE, has written it; fails saying whether it is still starting or
# exited (with its status), and what it logged to LOG.
wait_ready() {
	local pid=$1 rf=$2 log=$3 secs=${4:-20}
	wait_for -m "profd (pid $pid) to write its ready file ${rf##*/}" "$secs" _ready_or_gone "$pid" "$rf"
	[ -s "$rf" ] && return 0
	_gave_up=
	if alive "$pid"; then
		fail "profd (pid $pid) did not become ready within $secs s; its log: $(text_of "$log")"
	fi
	wait "$pid"
	fail "profd (pid $pid) exited with status $? before it was ready; its log: $(text_of "$log")"
}

# start_profd ARGS...: starts profd on 127.0.0.1:0 with a ready file; sets PROFD_PID and ADDR.
start_profd() {
	local rf="$TMP/ready.$RANDOM"
	"$PROFD" --addr 127.0.0.1:0 --ready-file "$rf" "$@" >"$TMP/profd.out" 2>"$TMP/profd.err" &
	PROFD_PID=$!
	track "$PROFD_PID"
	wait_ready "$PROFD_PID" "$rf" "$TMP/profd.err"
	read -r ADDR <"$rf"
	BASE="http://$ADDR/debug/pprof"
}

# wait_profd_exit [SECONDS]: waits (default 10 s) for profd to end; sets PROFD_STATUS to its
# exit status, or "still-running". Not in a subshell: only the parent shell can wait for it.
wait_profd_exit() {
	wait_for -m "profd (pid $PROFD_PID) to exit" "${1:-10}" gone "$PROFD_PID"
	if alive "$PROFD_PID"; then
		PROFD_STATUS=still-running
		return
	fi
	_gave_up=
	wait "$PROFD_PID"
	PROFD_STATUS=$?
}

# http METHOD PATH [curl args...]: writes headers to $TMP/h, body to $TMP/b, prints status.
http() {
	local m="$1" p="$2" rc; shift 2
	waiting "HTTP $m $p" 120
	curl -s -o "$TMP/b" -D "$TMP/h" -X "$m" --max-time 120 "$@" "http://$ADDR$p" -w '%{http_code}'
	rc=$?
	waited
	# no HTTP status at all: say why (7 refused, 52 empty reply, 56 reset, 28 timeout)
	[ $rc = 0 ] || echo "curl: exit $rc for $m $p" >&2
	return $rc
}

header() { # header NAME: value of a response header from the last http call
	grep -i "^$1:" "$TMP/h" | head -n 1 | cut -d' ' -f2- | tr -d '\r'
}

# no_thread_stopped PID: true if no thread of PID is in tracing/stopped state and none is traced.
# One grep over every thread's status file, not a fork per thread: a thread that exits during
# the scan is skipped (grep -s), not counted as stopped.
no_thread_stopped() {
	! grep -sqE '^(State:[[:space:]]+[tT] |TracerPid:[[:space:]]*[1-9])' /proc/"$1"/task/*/status
}

# show_stopped_threads PID: lists the threads of PID that no_thread_stopped objects to
show_stopped_threads() {
	grep -sHE '^(State:[[:space:]]+[tT] |TracerPid:[[:space:]]*[1-9])' /proc/"$1"/task/*/status |
		sed 's|^/proc/[0-9]*/task/\([0-9]*\)/status:|thread \1: |'
}

need_go() {
	command -v go >/dev/null 2>&1 || skip "go is not installed (apt-get install golang-go): go tool pprof is the reference client"
}
