#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# go tool pprof accepts what the pprof builder writes (pprof-compat.md 3.3, 4.3-4.5):
#  1. a profile symbolized by profd's real symbolizer (pprof_selfprof profiles its own stack):
#     -raw, -top and -traces print the known chain in order, mapping 1 is the executable with
#     [FN][FL][LN], nothing on stderr (no "Local symbolization failed"), and fetched over HTTP
#     pprof never POSTs to /debug/pprof/symbol;
#  2. an unsymbolized profile (sym = NULL): over HTTP pprof POSTs exactly its addresses to
#     /debug/pprof/symbol and shows the names it got back; with -symbolize=none it is silent;
#  3. the debug=1 count text parses with pprof's legacy parser at the same addresses.
source "$(dirname "$0")/lib.sh"
need_go

DRIVER="$B/tests/unit/pprof_selfprof"
[ -x "$DRIVER" ] || fail "$DRIVER not built (run make test-bins)"
mkdir -p "$PPROF_TMPDIR"
export GOFLAGS= GO111MODULE=off GOCACHE="$TMP/gocache"
PP=(go tool pprof)

# pprof_ok NAME ARGS...: runs go tool pprof, output in $TMP/NAME.out/.err; fails on a non-zero exit.
pprof_ok() {
	local name="$1"; shift
	"${PP[@]}" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || {
		cat "$TMP/$name.err" >&2
		fail "go tool pprof $* exited non-zero"
	}
}

no_stderr() { # NAME: go tool pprof printed nothing on stderr but its fetch progress lines
	if grep -Ev '^(Fetching profile over HTTP from |Saved profile in )' "$TMP/$1.err" >&2; then
		fail "go tool pprof ($1) printed the above on stderr"
	fi
}

# start_server PROFILE: serves PROFILE with pprof_accept_server; sets SRV_URL, log in $TMP/srv.log
start_server() {
	[ -x "$TMP/srv" ] || go build -o "$TMP/srv" "$ROOT/tests/integration/pprof_accept_server.go" ||
		fail "cannot build the test HTTP server"
	rm -f "$TMP/port"
	"$TMP/srv" "$1" "$TMP/port" 2>"$TMP/srv.log" &
	track $!
	SRV_PID=$!
	wait_for 20 test -s "$TMP/port" || fail "test HTTP server did not start"
	SRV_URL="http://127.0.0.1:$(cat "$TMP/port")/debug/pprof/profile"
}

stop_server() {
	kill "$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
}

# ---- 1. symbolized by profd ----
"$DRIVER" "$TMP/sym.pb.gz" "$TMP/sym.txt" || fail "pprof_selfprof failed (see above)"

pprof_ok raw -raw "$TMP/sym.pb.gz"
no_stderr raw
for f in selfprof_leaf selfprof_middle selfprof_outer main; do
	grep -Eq "M=1 $f [^ ]*pprof_selfprof\.c:[1-9]" "$TMP/raw.out" || {
		cat "$TMP/raw.out" >&2
		fail "-raw does not show $f with its file:line in mapping 1"
	}
done
grep -Eq "^1: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ $DRIVER [0-9a-f]{40} \[FN\]\[FL\]\[LN\]" "$TMP/raw.out" ||
	fail "mapping 1 is not the executable with its build id and [FN][FL][LN]: $(grep '^1: ' "$TMP/raw.out")"
grep -q 'libc.so.6 [0-9a-f]\{40\} \[FN\]' "$TMP/raw.out" || fail "libc's mapping is missing or not symbolized"
grep -q '^ *thread:\[selfprof\]$' "$TMP/raw.out" || fail "-raw does not show the sample's label thread:[selfprof]"
grep -q '^Comment: pprof_selfprof: stacks of itself, symbolized$' "$TMP/raw.out" || fail "-raw: comment missing"

pprof_ok top -top "$TMP/sym.pb.gz"
no_stderr top
grep -q '^File: pprof_selfprof$' "$TMP/top.out" || fail "-top: File: is not the executable (mapping[0])"
for f in selfprof_leaf selfprof_middle selfprof_outer main __libc_start_call_main; do
	grep -Eq " $f\$" "$TMP/top.out" || { cat "$TMP/top.out" >&2; fail "-top does not list $f"; }
done
grep -Eq '^ +70ms +50(\.00)?% .* selfprof_leaf$' "$TMP/top.out" || fail "-top: selfprof_leaf is not 70ms flat"

# the chain in order, leaf first, in the labelled sample
pprof_ok traces -traces "$TMP/sym.pb.gz"
chain=$(awk '/thread: +selfprof/ {on = 1; next} on && /^-----/ {exit} on {print $NF}' "$TMP/traces.out" |
	tr '\n' ' ')
# the driver takes its own stack with backtrace(); a sanitizer build wraps that in an interceptor
chain=${chain#__interceptor_backtrace }
case "$chain" in
"selfprof_leaf selfprof_middle selfprof_outer main "*) ;;
*) fail "-traces: labelled stack is '$chain'" ;;
esac

# over HTTP: everything symbolized, so no POST to /symbol and nothing on stderr
start_server "$TMP/sym.pb.gz"
pprof_ok http_sym -raw "$SRV_URL"
no_stderr http_sym
grep -q 'M=1 selfprof_leaf ' "$TMP/http_sym.out" || fail "over HTTP: selfprof_leaf missing"
grep -q '^GET /debug/pprof/profile' "$TMP/srv.log" || fail "the test server saw no profile request"
if grep -q 'symbol' "$TMP/srv.log"; then
	cat "$TMP/srv.log" >&2
	fail "go tool pprof asked /debug/pprof/symbol for a fully symbolized profile"
fi
stop_server

# ---- 2. unsymbolized (sym = NULL) ----
"$DRIVER" --unsymbolized "$TMP/raw.pb.gz" || fail "pprof_selfprof --unsymbolized failed"
pprof_ok none -symbolize=none -top "$TMP/raw.pb.gz"
no_stderr none
start_server "$TMP/raw.pb.gz"
pprof_ok http_raw -raw "$SRV_URL"
no_stderr http_raw
posted=$(sed -n 's|^POST /debug/pprof/symbol ||p' "$TMP/srv.log")
[ -n "$posted" ] || { cat "$TMP/srv.log" >&2; fail "no POST to /debug/pprof/symbol for an unsymbolized profile"; }
# the addresses pprof asked for are exactly the locations' (pc - 1), each once
want=$(sed -n 's/^ *[0-9]*: \(0x[0-9a-f]*\) M=1 .*/\1/p' "$TMP/http_raw.out" | sort -u | tr '\n' '+')
got=$(echo "$posted" | tr '+' '\n' | sort -u | tr '\n' '+')
[ "$want" = "$got" ] || fail "POSTed addresses '$got' differ from the locations '$want'"
n=$(grep -c 'M=1 sym_0x' "$TMP/http_raw.out")
[ "$n" -ge 4 ] || fail "names from /symbol not applied ($n locations named)"
stop_server

# ---- 3. debug=1 count text through pprof's legacy parser ----
grep -q '^goroutine profile: total 14$' "$TMP/sym.txt" || fail "count text header: $(head -n 1 "$TMP/sym.txt")"
grep -Eq $'^#\t0x[0-9a-f]+\tselfprof_leaf\\+0x[0-9a-f]+\t+[^ ]*pprof_selfprof\\.c:[0-9]+$' "$TMP/sym.txt" ||
	fail "count text has no frame line for selfprof_leaf"
pprof_ok legacy -raw -symbolize=none "$TMP/sym.txt"
# (the same run as the symbolized profile: ASLR moves the unsymbolized run elsewhere)
legacy_addrs=$(sed -n 's/^ *[0-9]*: \(0x[0-9a-f]*\) M=.*/\1/p' "$TMP/legacy.out" | sort -u | tr '\n' '+')
sym_addrs=$(sed -n 's/^ *[0-9]*: \(0x[0-9a-f]*\) M=.*/\1/p' "$TMP/raw.out" | sort -u | tr '\n' '+')
[ "$legacy_addrs" = "$sym_addrs" ] || fail "legacy parser addresses '$legacy_addrs' differ from '$sym_addrs'"
echo "ok: go tool pprof $(go version | cut -d' ' -f3) accepts symbolized, unsymbolized and debug=1 profiles"
