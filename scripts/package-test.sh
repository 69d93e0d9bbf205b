#!/usr/bin/env bash
# The Debian package tested for real (run as root on a Debian 12 machine; CI
# runs it after make test):
#   1. make dist twice and compare every sha256 (scripts/dist-reproducible.sh);
#   2. dpkg -i the amd64 package; check files, owners, the pact user;
#   3. systemd-analyze verify (and security --offline) on each installed unit;
#   4. --version of each installed binary (the real commit) and
#      pact-bridge simulate from /usr/bin;
#   5. dpkg -r keeps /var/lib/pact and /etc/default; dpkg -P erases them and
#      leaves nothing but the pact user and group (docs/deploy.md);
#   6. the arm64 binaries under qemu-aarch64-static: --version, simulate.
# Any failed check stops the script with "package-test: FAIL: ...".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DEBIAN_FRONTEND=noninteractive

fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
[ "$(id -u)" = 0 ] || fail "run as root (dpkg -i, adduser)"

commands=(findmy-harvester pact-bridge pact-server)
units=(findmy-harvester@.service pact-node.service pact-server.service)
commit=$(git rev-parse HEAD)

if [ "${SKIP_DIST:-}" != 1 ]; then
	step "make dist, twice"
	scripts/dist-reproducible.sh
fi
deb=$(ls dist/pact-findmy_*_amd64.deb)
deb_arm64=$(ls dist/pact-findmy_*_arm64.deb)
version=$(dpkg-deb -f "$deb" Version)
[ "$(dpkg-deb -f "$deb_arm64" Architecture)" = arm64 ] || fail "$deb_arm64 is not Architecture: arm64"
[ "$(dpkg-deb -f "$deb_arm64" Version)" = "$version" ] || fail "the arm64 and amd64 packages' versions differ"

if dpkg -s pact-findmy >/dev/null 2>&1; then
	step "purging an earlier pact-findmy"
	dpkg -P pact-findmy
fi
getent passwd pact >/dev/null && had_user=1 || had_user=0

# What the file system holds before: after purge, it must hold the same.
snapshot() {
	find /etc /usr /var/lib /opt -xdev \
		-path /var/lib/dpkg -prune -o -path /var/lib/apt -prune -o -path /var/lib/systemd -prune \
		-o -path /etc/ld.so.cache -prune -o -path /var/lib/postgresql -prune -o -print 2>/dev/null | LC_ALL=C sort
}
before=$(mktemp) after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
snapshot >"$before"

step "dpkg -i $deb"
if ! dpkg -i "$deb"; then
	apt-get install -f -y -qq || fail "dependencies of $deb"
fi
[ "$(dpkg-query -W -f '${Status}' pact-findmy)" = "install ok installed" ] || fail "pact-findmy is not installed"

step "files, owners, user"
for c in "${commands[@]}"; do
	[ -x "/usr/bin/$c" ] || fail "/usr/bin/$c missing"
	# No file capabilities: the units give them as ambient capabilities.
	[ -z "$(getcap "/usr/bin/$c")" ] || fail "/usr/bin/$c has file capabilities: $(getcap "/usr/bin/$c")"
done
for u in "${units[@]}"; do
	[ -f "/usr/lib/systemd/system/$u" ] || fail "unit $u missing"
done
for f in findmy-harvester pact-node pact-server; do
	[ -f "/etc/default/$f" ] || fail "/etc/default/$f missing"
	grep -qx "/etc/default/$f" /var/lib/dpkg/info/pact-findmy.conffiles || fail "/etc/default/$f is not a conffile"
done
for d in README.md deploy.md node.md api.md; do
	[ -f "/usr/share/doc/pact-findmy/$d" ] || fail "/usr/share/doc/pact-findmy/$d missing"
done
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd pact) || fail "no pact user"
[ "$uid" -lt 1000 ] || fail "pact is not a system user (uid $uid)"
[ "$home" = /var/lib/pact ] || fail "pact's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "pact's shell is $shell"
getent group pact >/dev/null || fail "no pact group"
[ "$(stat -c '%U:%G %a' /var/lib/pact)" = "pact:pact 700" ] || fail "/var/lib/pact is $(stat -c '%U:%G %a' /var/lib/pact)"

step "systemd-analyze verify"
# verify exits 0 on many problems (unknown keys, bad values) and only prints
# them: any output fails the check.
for u in pact-node.service pact-server.service findmy-harvester@0.service; do
	out=$(systemd-analyze verify "$u" 2>&1) || fail "systemd-analyze verify $u: $out"
	[ -z "$out" ] || fail "systemd-analyze verify $u: $out"
	echo "$u: verified"
done
for u in "${units[@]}"; do
	# Exposure 0-100 (shown as 0.0-10.0); the units score about 1 to 2.
	systemd-analyze security --offline=true --threshold=30 "/usr/lib/systemd/system/$u" >/dev/null 2>&1 ||
		fail "$u: systemd-analyze security exposure above 3.0: $(systemd-analyze security --offline=true "/usr/lib/systemd/system/$u" 2>&1 | tail -n 1)"
	systemd-analyze security --offline=true "/usr/lib/systemd/system/$u" 2>&1 | tail -n 1
done

# check_version NAME OUTPUT: the line names the commit HEAD, the Go version
# and the package's version source (a tag or the Go pseudo-version).
check_version() {
	local name=$1 out=$2
	echo "$out"
	case $out in
	"$name v"*" commit $commit "*" go1."*) ;;
	*) fail "$name --version: want a version, commit $commit and the Go version; got: $out" ;;
	esac
	case $out in *modified*) fail "$name --version: built from a modified tree: $out" ;; esac
}
check_simulate() {
	local out=$1
	grep -Eq '^[1-9][0-9]* of [0-9]+ devices were told they were exposed' <<<"$out" ||
		fail "pact-bridge simulate: no device told it was exposed: $(tail -n 3 <<<"$out")"
	grep -E 'devices were told' <<<"$out"
}

step "installed binaries"
for c in "${commands[@]}"; do
	check_version "$c" "$("/usr/bin/$c" --version)"
done
check_simulate "$(cd /tmp && /usr/bin/pact-bridge simulate 2>/dev/null)"

step "pact-server from /usr/bin as pact, with its unit's data directory"
# What pact-server.service runs (systemd would create the directory).
install -d -o pact -g pact -m 0700 /var/lib/pact/server
runuser -u pact -- /usr/bin/pact-server serve --data /var/lib/pact/server --addr 127.0.0.1:18090 \
	>/tmp/package-test-server.log 2>&1 &
server_pid=$!
key=""
for _ in $(seq 1 50); do
	if key=$({ exec 3<>/dev/tcp/127.0.0.1/18090 && printf 'GET /.well-known/pact/batch-key HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && cat <&3; } 2>/dev/null); then
		break
	fi
	sleep 0.2
done
kill "$server_pid" && wait "$server_pid" || true
head -n 1 <<<"$key" | grep -q '^HTTP/1.[01] 200' || fail "pact-server gave no batch key: $key $(cat /tmp/package-test-server.log)"
for f in $(ls -A /var/lib/pact/server); do
	[ "$(stat -c '%U %a' "/var/lib/pact/server/$f")" = "pact 600" ] || fail "/var/lib/pact/server/$f is $(stat -c '%U %a' "/var/lib/pact/server/$f"), not pact 600"
done
echo "batch key served; /var/lib/pact/server: $(ls -A /var/lib/pact/server | tr '\n' ' ')"
rm -f /tmp/package-test-server.log

step "systemctl enable offline, then remove: data and settings stay"
systemctl enable pact-node.service >/dev/null 2>&1 || fail "systemctl enable pact-node.service"
[ -L /etc/systemd/system/multi-user.target.wants/pact-node.service ] || fail "enable made no link"
runuser -u pact -- sh -c 'umask 077; echo contact-log >/var/lib/pact/device.db' || fail "pact cannot write /var/lib/pact"
dpkg -r pact-findmy
for c in "${commands[@]}"; do [ ! -e "/usr/bin/$c" ] || fail "/usr/bin/$c left after remove"; done
[ "$(cat /var/lib/pact/device.db)" = contact-log ] || fail "remove lost /var/lib/pact/device.db"
[ -f /etc/default/pact-node ] || fail "remove deleted /etc/default/pact-node (a conffile, kept until purge)"

step "purge: everything goes but the pact user and group"
dpkg -P pact-findmy
[ ! -e /var/lib/pact ] || fail "purge left /var/lib/pact"
[ ! -e /etc/systemd/system/multi-user.target.wants/pact-node.service ] || fail "purge left the enable link"
snapshot >"$after"
if ! diff -u "$before" "$after"; then
	fail "purge left the paths above"
fi
getent passwd pact >/dev/null || [ "$had_user" = 0 ] || fail "purge removed a pact user that existed before"
getent passwd pact >/dev/null || fail "the pact user is gone, though docs/deploy.md says it stays"
echo "left, as documented: $(getent passwd pact)"

step "arm64 under qemu-aarch64-static"
qemu=/usr/bin/qemu-aarch64-static
[ -x "$qemu" ] || fail "$qemu missing (apt-get install qemu-user-static)"
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || fail "no arm64 loader (apt-get install libc6-arm64-cross)"
for c in "${commands[@]}"; do
	bin=dist/linux_arm64/$c
	readelf -h "$bin" | grep -q 'Machine:.*AArch64' || fail "$bin is not an arm64 executable"
	check_version "$c" "$("$qemu" -L /usr/aarch64-linux-gnu "$bin" --version)"
done
check_simulate "$(cd /tmp && "$qemu" -L /usr/aarch64-linux-gnu "$root/dist/linux_arm64/pact-bridge" simulate 2>/dev/null)"

echo "package-test: ok ($version, amd64 installed and purged, arm64 run under qemu)"
