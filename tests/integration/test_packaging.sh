#!/usr/bin/env bash
# make install puts the binary, the man page and the unit where they belong, and the hardened
# unit passes systemd-analyze verify.
source "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (apt-get install systemd)"
d="$TMP/root"
make -s -C "$ROOT" O="$B" install DESTDIR="$d" prefix=/usr >"$TMP/install.log" 2>&1 || fail "make install: $(cat "$TMP/install.log")"
for f in usr/sbin/profd usr/share/man/man8/profd.8 usr/lib/systemd/system/profd.service etc/default/profd; do
	[ -f "$d/$f" ] || fail "make install did not install /$f"
done
[ -x "$d/usr/sbin/profd" ] || fail "installed profd is not executable"
"$d/usr/sbin/profd" --version | grep -q '^profd [0-9]' || fail "installed profd --version"
grep -q '^ExecStart=/usr/sbin/profd$' "$d/usr/lib/systemd/system/profd.service" || fail "ExecStart does not use the prefix"
grep -q '^NoNewPrivileges=yes' "$d/usr/lib/systemd/system/profd.service" || fail "unit is not hardened"
man -l "$d/usr/share/man/man8/profd.8" >/dev/null 2>&1 || fail "man page does not render"

# verify the unit as installed, with its ExecStart pointing into the staging root
sed "s|^ExecStart=/usr/sbin/profd|ExecStart=$d/usr/sbin/profd|" "$d/usr/lib/systemd/system/profd.service" >"$TMP/profd.service"
MANPATH="$d/usr/share/man" SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$TMP/profd.service" >"$TMP/verify.log" 2>&1 ||
	fail "systemd-analyze verify: $(cat "$TMP/verify.log")"
[ ! -s "$TMP/verify.log" ] || fail "systemd-analyze verify warned: $(cat "$TMP/verify.log")"
echo ok
