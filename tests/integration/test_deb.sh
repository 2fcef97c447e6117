#!/usr/bin/env bash
# make deb builds a Debian package that lintian accepts, that apt installs with the libraries
# shlibs found, that ships the binary, man page, unit and /etc/default/profd (a conffile), that
# leaves the unit disabled, and that purges without a trace. The machine ends as it began: the
# package is purged on every way out, and an existing profd install is never touched.
source "$(dirname "$0")/lib.sh"

for tool in dpkg-buildpackage dh lintian dpkg-deb apt-get; do
	command -v "$tool" >/dev/null ||
		skip "Debian packaging tools missing ($tool): make deps installs debhelper, dpkg-dev, lintian"
done
[ "$(id -u)" = 0 ] || skip "needs root (installs and purges the package)"
command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (apt-get install systemd)"

# One install of the package at a time on this machine (several work trees may run make test).
exec 9>/run/lock/profd-test-deb.lock
flock -w 120 9 || fail "another test_deb has held /run/lock/profd-test-deb.lock for 120 s"

# apt refuses every install while dpkg's journal says it was interrupted; make deps finishes it.
[ -z "$(find /var/lib/dpkg/updates -maxdepth 1 -type f -name '[0-9]*' 2>/dev/null | head -n 1)" ] ||
	fail "dpkg was interrupted on this machine (its journal is in /var/lib/dpkg/updates): make deps finishes it (dpkg --configure -a)"

status() { dpkg-query -W -f='${db:Status-Status}' profd 2>/dev/null; }
st=$(status)
[ -z "$st" ] || [ "$st" = not-installed ] ||
	fail "the profd package is already on this machine ($st); this test installs and purges it, so it leaves it alone: dpkg --purge profd to run it"

# Purge on every way out once an install has begun, even a half-done one; a timeout's TERM
# must run the EXIT trap too. A TERM can land while the dpkg under apt-get still holds its lock
# (running triggers): retry until it lets go, within the 10 s tests/run grants after a TERM.
installing=0
purge_if_installed() {
	[ $installing = 1 ] || return 0
	st=$(status)
	if [ -n "$st" ] && [ "$st" != not-installed ]; then
		wait_for 8 dpkg --purge profd || {
			dpkg --purge profd >"$TMP/purge-on-exit.log" 2>&1 ||
				echo "could not purge profd on exit: $(cat "$TMP/purge-on-exit.log")" >&2
		}
	fi
}
trap '_rc=$?; purge_if_installed; (exit $_rc); cleanup' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

version=$(cat "$ROOT/VERSION")
arch=$(dpkg --print-architecture)
deb="$B/profd_${version}_${arch}.deb"
rm -f "$deb"
make -s -C "$ROOT" O="$B" deb >"$TMP/deb.log" 2>&1 || fail "make deb: $(tail -n 30 "$TMP/deb.log")"
[ -f "$deb" ] || fail "make deb did not leave $deb: $(tail -n 5 "$TMP/deb.log")"

# --- what is in it: exactly these files, every unit in packaging/, with these modes
dpkg-deb -c "$deb" >"$TMP/contents" || fail "dpkg-deb -c $deb"
awk '$1 !~ /^d/ { print $6 }' "$TMP/contents" | sed 's|^\./|/|' | sort >"$TMP/files"
{
	printf '%s\n' /etc/default/profd /usr/sbin/profd /usr/share/man/man8/profd.8.gz \
		/usr/share/doc/profd/copyright /usr/share/doc/profd/changelog.gz /usr/share/doc/profd/README.md.gz
	for u in "$ROOT"/packaging/*.service; do echo "/lib/systemd/system/$(basename "$u")"; done
} | sort >"$TMP/expected"
diff -u "$TMP/expected" "$TMP/files" >"$TMP/files.diff" ||
	fail "the package's files differ from the expected ones (- missing, + unexpected): $(cat "$TMP/files.diff")"
grep -q '^-rwxr-xr-x root/root .* \./usr/sbin/profd$' "$TMP/contents" || fail "/usr/sbin/profd is not 0755 root: $(grep sbin/profd "$TMP/contents")"
grep -q '^-rw-r--r-- root/root .* \./etc/default/profd$' "$TMP/contents" || fail "/etc/default/profd is not 0644 root"
dpkg-deb -x "$deb" "$TMP/x"
cmp -s "$TMP/x/etc/default/profd" "$ROOT/packaging/profd.env" || fail "/etc/default/profd is not packaging/profd.env"
grep -q '^ExecStart=/usr/sbin/profd$' "$TMP/x/lib/systemd/system/profd.service" || fail "the packaged unit's ExecStart is not /usr/sbin/profd"

# --- control fields: Depends is what shlibs computed: a package for every library profd links
[ "$(dpkg-deb -f "$deb" Package)" = profd ] || fail "Package is not profd"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version $(dpkg-deb -f "$deb" Version) is not VERSION's $version"
[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "Architecture is not $arch"
depends=$(dpkg-deb -f "$deb" Depends)
# shellcheck disable=SC2016 # a literal ${: a substvar left unsubstituted
case "$depends" in *'${'*) fail "Depends has an unsubstituted variable: $depends" ;; esac
dep_names=$(tr ',|' '\n' <<<"$depends" | awk 'NF { print $1 }')
for re in 'libbpf[0-9].*' 'libdw[0-9].*' 'libmicrohttpd[0-9].*' 'libc6'; do
	grep -qxE "$re" <<<"$dep_names" || fail "Depends has no $re: $depends"
done
multiarch=$(dpkg-architecture -q DEB_HOST_MULTIARCH)
needed=$(objdump -p "$TMP/x/usr/sbin/profd" | awk '$1 == "NEEDED" { print $2 }')
[ -n "$needed" ] || fail "objdump found no NEEDED libraries in the packaged profd"
for so in $needed; do
	owners=$(dpkg -S "*/$multiarch/$so" 2>/dev/null |
		sed -n "s|^\([^:]*\)\(:[^:]*\)\?: /\(usr/\)\?lib/$multiarch/$so\$|\1|p" | sort -u)
	[ -n "$owners" ] || fail "no installed package owns $so, which profd links"
	grep -qxFf <(echo "$owners") <<<"$dep_names" ||
		fail "Depends names none of the packages that provide $so ($owners): $depends"
done

# --- lintian: no errors (warnings are shown in the log)
lintian --fail-on error "$deb" >"$TMP/lintian.log" 2>&1 || fail "lintian: $(cat "$TMP/lintian.log")"
! grep -q '^E: ' "$TMP/lintian.log" || fail "lintian errors: $(cat "$TMP/lintian.log")"
echo "lintian:"; sed 's/^/  /' "$TMP/lintian.log"

# --- before installing: nothing of the package's may be here already (it would be overwritten,
# then removed by the purge), and a picture of where the install and purge write
while read -r f; do
	[ ! -e "$f" ] || fail "$f exists but belongs to no profd package (make install with prefix=/usr?); this test would overwrite it"
done <"$TMP/files"
snapshot() {
	{
		find /etc/systemd /etc/default /lib/systemd/system /usr/sbin /usr/share/man/man8 \
			/var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked 2>/dev/null
		find /usr/share/doc -maxdepth 1
		ls /var/lib/dpkg/info/profd.* 2>/dev/null
	} | sort
}
snapshot >"$TMP/before"

# Offline by construction: make deps installed every dependency, and this test installs nothing else.
apt-get -s install --no-install-recommends "$deb" >"$TMP/apt-sim.log" 2>&1 || fail "apt-get -s install: $(cat "$TMP/apt-sim.log")"
others=$(awk '$1 == "Inst" && $2 != "profd" { print $2 }' "$TMP/apt-sim.log" | tr '\n' ' ')
[ -z "$others" ] || fail "installing the package would also install $others: run make deps first"
grep -q '^Inst profd ' "$TMP/apt-sim.log" || fail "apt-get -s would not install profd: $(cat "$TMP/apt-sim.log")"

installing=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" >"$TMP/apt.log" 2>&1 ||
	fail "apt-get install $deb: $(tail -n 20 "$TMP/apt.log")"
[ "$(status)" = installed ] || fail "profd is not installed after apt-get install (status $(status))"

# --- as installed
[ "$(/usr/sbin/profd --version)" = "profd $version" ] || fail "/usr/sbin/profd --version says '$(/usr/sbin/profd --version 2>&1)'"
# the package's build (Debian's flags and hardening, stripped) really works: a thread dump
start_target demo_target
wait_for 20 sh -c "/usr/sbin/profd stacks --pid $TARGET_PID >'$TMP/stacks' 2>'$TMP/stacks.err' &&
	grep -q '^waiter(' '$TMP/stacks'" ||
	fail "the installed profd's thread dump lacks the demo target's waiter(): $(cat "$TMP/stacks.err" "$TMP/stacks")"
conffiles=$(dpkg-query -W -f='${Conffiles}' profd)
[[ "$conffiles" =~ (^|$'\n')\ /etc/default/profd\ [0-9a-f]{32}($|$'\n') ]] ||
	fail "/etc/default/profd is not a conffile: '$conffiles'"
[ "$(man -w 8 profd 2>/dev/null)" = /usr/share/man/man8/profd.8.gz ] || fail "man -w 8 profd: '$(man -w 8 profd 2>&1)'"
# Not enabled: no symlink anywhere, and is-enabled says disabled, which is what makes the
# postinst's deb-systemd-invoke decline to start it on a machine that runs systemd.
enabled=$(systemctl is-enabled profd.service 2>&1)
[ "$enabled" = disabled ] || fail "profd.service is '$enabled' after install, not disabled"
links=$(find /etc/systemd -name 'profd*')
[ -z "$links" ] || fail "install enabled the unit: $links"
# On removal the prerm stops a running profd (debhelper's snippet; --no-start would drop it).
grep -q "deb-systemd-invoke stop 'profd.service'" /var/lib/dpkg/info/profd.prerm ||
	fail "the prerm does not stop profd.service on removal: $(cat /var/lib/dpkg/info/profd.prerm)"
SYSTEMD_LOG_LEVEL=warning systemd-analyze verify /lib/systemd/system/profd.service >"$TMP/verify.log" 2>&1 ||
	fail "systemd-analyze verify: $(cat "$TMP/verify.log")"
[ ! -s "$TMP/verify.log" ] || fail "systemd-analyze verify warned: $(cat "$TMP/verify.log")"
# the template, as the instance profd@nginx.service
cp "/lib/systemd/system/profd@.service" "$TMP/profd@nginx.service"
SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$TMP/profd@nginx.service" >"$TMP/verify.log" 2>&1 ||
	fail "systemd-analyze verify profd@nginx.service: $(cat "$TMP/verify.log")"
[ ! -s "$TMP/verify.log" ] || fail "systemd-analyze verify profd@nginx.service warned: $(cat "$TMP/verify.log")"

# --- purge: nothing it installed remains, and nothing it touched differs
dpkg --purge profd >"$TMP/purge.log" 2>&1 || fail "dpkg --purge profd: $(cat "$TMP/purge.log")"
installing=0
st=$(status)
[ -z "$st" ] || [ "$st" = not-installed ] || fail "profd is '$st' after purge"
while read -r f; do
	[ ! -e "$f" ] || fail "$f is still there after purge"
done <"$TMP/files"
snapshot >"$TMP/after"
diff -u "$TMP/before" "$TMP/after" >"$TMP/snapshot.diff" || fail "install + purge left changes: $(cat "$TMP/snapshot.diff")"
echo ok
