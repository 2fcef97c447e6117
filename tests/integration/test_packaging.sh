#!/usr/bin/env bash
# make install puts the binary, the man page and the units where they belong, and the hardened
# units (profd.service; the template profd@.service, as an instance) pass systemd-analyze verify.
source "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (apt-get install systemd)"
d="$TMP/root"
make -s -C "$ROOT" O="$B" install DESTDIR="$d" prefix=/usr >"$TMP/install.log" 2>&1 || fail "make install: $(cat "$TMP/install.log")"
for f in usr/sbin/profd usr/share/man/man8/profd.8 usr/lib/systemd/system/profd.service \
	usr/lib/systemd/system/profd@.service etc/default/profd; do
	[ -f "$d/$f" ] || fail "make install did not install /$f"
done
[ -x "$d/usr/sbin/profd" ] || fail "installed profd is not executable"
"$d/usr/sbin/profd" --version | grep -q '^profd [0-9]' || fail "installed profd --version"
grep -q '^ExecStart=/usr/sbin/profd$' "$d/usr/lib/systemd/system/profd.service" || fail "ExecStart does not use the prefix"
grep -q '^ExecStart=/usr/sbin/profd --unit %i$' "$d/usr/lib/systemd/system/profd@.service" || fail "the template's ExecStart is not profd --unit %i"
grep -q '^EnvironmentFile=/etc/profd/%i.env$' "$d/usr/lib/systemd/system/profd@.service" || fail "the template has no per-instance environment file"
for u in profd.service profd@.service; do
	grep -q '^NoNewPrivileges=yes' "$d/usr/lib/systemd/system/$u" || fail "$u is not hardened"
done
man -l "$d/usr/share/man/man8/profd.8" >/dev/null 2>&1 || fail "man page does not render"

# verify the units as installed, with ExecStart pointing into the staging root (the template as
# the instance profd@nginx.service)
for u in profd.service profd@.service; do
	as=${u/@./@nginx.}
	sed "s|^ExecStart=/usr/sbin/profd|ExecStart=$d/usr/sbin/profd|" "$d/usr/lib/systemd/system/$u" >"$TMP/$as"
	MANPATH="$d/usr/share/man" SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$TMP/$as" >"$TMP/verify.log" 2>&1 ||
		fail "systemd-analyze verify $as: $(cat "$TMP/verify.log")"
	[ ! -s "$TMP/verify.log" ] || fail "systemd-analyze verify $as warned: $(cat "$TMP/verify.log")"
done
echo ok
