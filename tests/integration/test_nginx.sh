#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real nginx from Debian (master + 2 workers, its own instance on a free loopback port), driven
# by a bounded curl loop: profd --pid MASTER --children gives CPU samples of the workers labelled
# with their PIDs and process name, lists the three processes on the index, dumps them grouped
# by process, and follows a worker replaced by nginx -s reload.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (ptrace, BPF)"
command -v nginx >/dev/null || skip "nginx not installed (make deps installs nginx-light)"
need_go
export GOCACHE="$TMP/gocache" HOME="${HOME:-$TMP}"
mkdir -p "$PPROF_TMPDIR" "$TMP/nginx/logs"

port_free() { ! ss -Htln "sport = :$1" | grep -q .; }
port=""
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 20000))
	port_free $p && { port=$p; break; }
done
[ -n "$port" ] || fail "no free port found for nginx"
conf="$TMP/nginx/nginx.conf"
cat >"$conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $TMP/nginx/body;
	proxy_temp_path $TMP/nginx/proxy;
	fastcgi_temp_path $TMP/nginx/fastcgi;
	uwsgi_temp_path $TMP/nginx/uwsgi;
	scgi_temp_path $TMP/nginx/scgi;
	server {
		listen 127.0.0.1:$port;
		location / { return 200 "hello from nginx\n"; }
	}
}
EOF
nginx -t -c "$conf" -p "$TMP/nginx" >"$TMP/nginx.t" 2>&1 || fail "nginx -t: $(cat "$TMP/nginx.t")"
nginx -c "$conf" -p "$TMP/nginx" >"$TMP/nginx.out" 2>&1 &
master=$!
track $master
# nginx's workers: the master's children
workers() { pgrep -P "$master" -d ' ' || true; }
two_workers() { [ "$(workers | wc -w)" = 2 ]; }
serving() { curl -s --max-time 2 "http://127.0.0.1:$port/" | grep -q 'hello from nginx'; }
wait_for 15 two_workers || fail "nginx did not start two workers: $(text_of "$TMP/nginx.out") $(text_of "$TMP/nginx/logs/error.log")"
# nginx's workers outlive a killed master: its TERM stops them, and each is tracked as well
for w in $(workers); do track "$w"; done
stop_nginx() { send TERM "$master" && wait_for 5 gone "$master"; }
trap '_rc=$?; stop_nginx; (exit $_rc); cleanup' EXIT
wait_for 15 serving || fail "nginx does not answer on 127.0.0.1:$port: $(text_of "$TMP/nginx/logs/error.log")"
start_profd --pid "$master" --children
index_live() { # N: the index says N processes now
	[ "$(http GET /debug/pprof/)" = 200 ] &&
		[ "$(sed -n 's/.*: \([0-9]*\) process\(es\)\? now;.*/\1/p' "$TMP/b")" = "$1" ]
}
wait_for 20 index_live 3 || fail "the index does not list nginx's master and two workers: $(grep -E 'now|<tr>' "$TMP/b")"
for w in $(workers); do
	grep -q "<a href='?pid=$w'>$w</a></td><td>nginx</td>" "$TMP/b" || fail "the index lacks worker $w: $(grep '<tr>' "$TMP/b")"
done

echo "== CPU profile while two curl loops drive the workers"
load() { # a bounded loop: 4000 requests on one connection
	curl -s -o /dev/null "http://127.0.0.1:$port/[1-4000]" 2>/dev/null
}
curl -s -o "$TMP/cpu.pb.gz" -w '%{http_code}' --max-time 60 "$BASE/profile?seconds=5" >"$TMP/cpu.code" &
prof=$!
load &
l1=$!
load &
l2=$!
wait $prof
kill $l1 $l2 2>/dev/null
wait $l1 $l2 2>/dev/null
[ "$(cat "$TMP/cpu.code")" = 200 ] || fail "profile: HTTP $(cat "$TMP/cpu.code")"
go tool pprof -tags "$TMP/cpu.pb.gz" >"$TMP/tags" 2>&1 || fail "pprof -tags: $(cat "$TMP/tags")"
labelled=""
for w in $(workers); do
	awk -v w="$w" '$1 == "pid:" { on = 1; next } /^ *[a-z_]+: Total/ { on = 0 } on && $NF == w' "$TMP/tags" | grep -q . &&
		labelled="$labelled $w"
done
[ -n "$labelled" ] || fail "no CPU sample labelled with a worker's pid ($(workers)): $(cat "$TMP/tags")"
awk '$1 == "process:" { on = 1; next } /^ *[a-z_]+: Total/ { on = 0 } on && $NF == "nginx"' "$TMP/tags" | grep -q . ||
	fail "no sample has process=nginx: $(cat "$TMP/tags")"
echo "worker samples from:$labelled"

echo "== the thread dump, grouped by process"
[ "$(http GET '/debug/pprof/goroutine?debug=2')" = 200 ] || fail "dump: HTTP $(head -c 300 "$TMP/b")"
[ "$(grep -cE '^process [0-9]+ \(nginx\): [0-9]+ threads?$' "$TMP/b")" = 3 ] || fail "the dump does not group nginx's three processes: $(grep '^process' "$TMP/b")"
grep -qE 'epoll_wait|ngx_' "$TMP/b" || fail "no nginx frame in the dump: $(head -30 "$TMP/b")"

echo "== nginx -s reload replaces the workers; profd follows"
old=$(workers)
nginx -c "$conf" -p "$TMP/nginx" -s reload 2>"$TMP/reload.err" || fail "nginx -s reload: $(cat "$TMP/reload.err")"
replaced() { local w; two_workers || return 1; for w in $old; do ! alive "$w" || return 1; done; }
wait_for 20 replaced || fail "nginx did not replace its workers ($old -> $(workers))"
for w in $(workers); do track "$w"; done
new_listed() { local w; for w in $(workers); do index_lists_live "$w" || return 1; done; }
index_lists_live() { [ "$(http GET /debug/pprof/)" = 200 ] && grep -q "<a href='?pid=$1'>$1</a></td><td>nginx</td><td>[0-9]" "$TMP/b"; }
wait_for 20 new_listed || fail "the index does not list the new workers $(workers): $(grep '<tr>' "$TMP/b")"
alive "$PROFD_PID" || fail "profd exited when the workers were replaced"
kill -TERM "$PROFD_PID"
wait_profd_exit 10
[ "$PROFD_STATUS" = 0 ] || fail "profd exited $PROFD_STATUS on SIGTERM"
echo ok
