#!/usr/bin/env bash
# Prepares everything the VM integration test (internal/vmtest) needs that does not
# come from this repository: QEMU and busybox from Debian, plus a Debian kernel
# with Bluetooth modules, unpacked into .cache/vm/base, and btvirt (virtual HCI
# controllers) built from Debian's BlueZ source with scripts/vm/btdev-ext-adv.patch
# into .cache/vm/btvirt-5.66-<patch hash>. CI runs it before `make test`;
# developers run it once.
#
#   scripts/vm/prepare.sh            install packages (root) and fetch the base
#   scripts/vm/prepare.sh --no-install   only fetch and unpack the base
#
# The base is keyed by the package versions below, btvirt by its source's
# hash and its patch: change one and the next run rebuilds that part;
# otherwise a run is a no-op.
set -euo pipefail

KERNEL_PKG=linux-image-6.1.0-56-amd64
KERNEL_VERSION=6.1.0-56-amd64
BLUEZ_PKG=bluez-test-tools
# btvirt is built from this source, not taken from $BLUEZ_PKG: Debian's
# 5.66 build copies extended advertising data into a report buffer sized for
# 31 bytes and dies on the 48-byte native frame version 2 (docs/vm-test.md).
BLUEZ_SRC_URL=http://deb.debian.org/debian/pool/main/b/bluez/bluez_5.66.orig.tar.xz
BLUEZ_SRC_SHA256=a231fb9d151780edf6d2536c81914e2dbd3daa36b68f486badaf98a7f34021e4
# Module load order matters: each module must follow its dependencies, and
# btvirt needs the AF_ALG ones for its crypto even though the kernel does not.
MODULES="lib/crc16 net/rfkill/rfkill crypto/ecc crypto/ecdh_generic net/bluetooth/bluetooth drivers/bluetooth/hci_vhci crypto/af_alg crypto/algif_hash crypto/algif_skcipher crypto/cmac crypto/ecb"

root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$root/.cache/vm"
install=1
for arg in "$@"; do
	case "$arg" in
	--no-install) install=0 ;;
	-h | --help)
		sed -n '2,13p' "$0"
		exit 0
		;;
	*)
		echo "prepare.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done

if [ "$install" = 1 ]; then
	missing=""
	command -v qemu-system-x86_64 >/dev/null || missing="$missing qemu-system-x86"
	command -v curl >/dev/null || missing="$missing curl"
	command -v patch >/dev/null || missing="$missing patch"
	command -v gcc >/dev/null || missing="$missing gcc"
	# btvirt is linked statically: it needs libc.a.
	[ -n "$(gcc -print-file-name=libc.a 2>/dev/null | grep /)" ] || missing="$missing libc6-dev"
	# The guest has no libc for busybox: only the static build will do.
	linkage=$(ldd /bin/busybox 2>&1 || true)
	case "$linkage" in
	*"not a dynamic"*) ;;
	*) missing="$missing busybox-static" ;;
	esac
	if [ -n "$missing" ]; then
		echo "prepare.sh: installing$missing" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $missing >/dev/null
	fi
fi

# build_btvirt DIR builds btvirt into DIR/btvirt: only the sources the
# upstream Makefile.tools lists for it, compiled with gcc and a minimal
# config.h, without ./configure and its build dependencies (D-Bus, GLib,
# udev), and linked statically for the guest, which has no libc.
build_btvirt() {
	dir=$1
	tarball="$cache/$(basename "$BLUEZ_SRC_URL")"
	if [ ! -f "$tarball" ] || ! echo "$BLUEZ_SRC_SHA256  $tarball" | sha256sum -c --status; then
		echo "prepare.sh: fetching $BLUEZ_SRC_URL" >&2
		curl -fsSL -o "$tarball.part" "$BLUEZ_SRC_URL"
		if ! echo "$BLUEZ_SRC_SHA256  $tarball.part" | sha256sum -c --status; then
			echo "prepare.sh: $BLUEZ_SRC_URL does not have SHA-256 $BLUEZ_SRC_SHA256" >&2
			rm -f "$tarball.part"
			exit 1
		fi
		mv "$tarball.part" "$tarball"
	fi
	work="$cache/btvirt-build.$$"
	rm -rf "$work"
	mkdir -p "$work"
	tar -xJf "$tarball" -C "$work"
	src="$work/bluez-5.66"
	patch -s -d "$src" -p1 <"$root/scripts/vm/btdev-ext-adv.patch"
	printf '#define VERSION "5.66"\n#define HAVE_GETRANDOM 1\n' >"$src/config.h"
	# The library's headers are included as <bluetooth/*.h>.
	mkdir -p "$src/lib/bluetooth"
	for h in "$src"/lib/*.h; do
		cp "$h" "$src/lib/bluetooth/"
	done
	(cd "$src" && gcc -O2 -static -I. -Ilib -include config.h -o btvirt \
		emulator/main.c emulator/serial.c emulator/server.c emulator/vhci.c \
		emulator/btdev.c emulator/bthost.c emulator/smp.c emulator/phy.c \
		emulator/amp.c emulator/le.c \
		src/shared/queue.c src/shared/util.c src/shared/crypto.c src/shared/ecc.c \
		src/shared/io-mainloop.c src/shared/timeout-mainloop.c src/shared/mainloop.c \
		src/shared/mainloop-notify.c lib/bluetooth.c lib/hci.c 2>"$work/gcc.log") || {
		cat "$work/gcc.log" >&2
		echo "prepare.sh: building btvirt failed" >&2
		exit 1
	}
	mkdir -p "$dir.tmp.$$"
	cp "$src/btvirt" "$dir.tmp.$$/btvirt"
	# Renamed into place whole: a concurrent run sees all of it or none,
	# and a run that finished first keeps its copy.
	mv -T "$dir.tmp.$$" "$dir" 2>/dev/null || rm -rf "$dir.tmp.$$"
	rm -rf "$work"
	echo "prepare.sh: btvirt ready in $dir" >&2
}

# The directory's name carries the patch's hash, so that a changed patch
# builds a new btvirt beside the one other checkouts sharing .cache use.
patch_hash=$(sha256sum "$root/scripts/vm/btdev-ext-adv.patch" | cut -c1-12)
btvirt_dir="$cache/btvirt-5.66-$patch_hash"
if [ ! -x "$btvirt_dir/btvirt" ]; then
	mkdir -p "$cache"
	build_btvirt "$btvirt_dir"
fi

key="$KERNEL_PKG $BLUEZ_PKG $MODULES v1"
base="$cache/base"
if [ -f "$base/.key" ] && [ "$(cat "$base/.key")" = "$key" ]; then
	exit 0
fi

echo "prepare.sh: fetching $KERNEL_PKG and $BLUEZ_PKG into $cache" >&2
rm -rf "$cache/debs" "$cache/unpack" "$base"
mkdir -p "$cache/debs" "$cache/unpack" "$base/modules" "$base/bin" "$base/lib"
# apt-get download as root warns that it cannot drop to the _apt user;
# the warning is noise, a failure is not.
if ! (cd "$cache/debs" && apt-get download -qq "$KERNEL_PKG" "$BLUEZ_PKG" 2>"$cache/download.log"); then
	grep -v unsandboxed "$cache/download.log" >&2
	echo "prepare.sh: apt-get download $KERNEL_PKG $BLUEZ_PKG failed (run apt-get update first?)" >&2
	exit 1
fi
for pkg in "$KERNEL_PKG" "$BLUEZ_PKG"; do
	deb=$(ls "$cache"/debs/"${pkg}"_*.deb 2>/dev/null | head -n 1)
	if [ -z "$deb" ]; then
		echo "prepare.sh: $pkg was not downloaded" >&2
		exit 1
	fi
	dpkg-deb -x "$deb" "$cache/unpack"
done

cp "$cache/unpack/boot/vmlinuz-$KERNEL_VERSION" "$base/vmlinuz"
order=""
for m in $MODULES; do
	name="$(basename "$m").ko"
	src="$cache/unpack/lib/modules/$KERNEL_VERSION/kernel/$m.ko"
	if [ -f "$src.xz" ]; then
		xz -dc "$src.xz" >"$base/modules/$name"
	else
		cp "$src" "$base/modules/$name"
	fi
	order="$order$name
"
done
printf '%s' "$order" >"$base/modules/order"
# Debian's unpatched btvirt and its libc stay in the base, unused by the
# test (it takes build_btvirt's), so that the base's key and the bases
# already cached stay valid.
cp "$cache/unpack/usr/bin/btvirt" "$base/bin/btvirt"
# btvirt is dynamically linked against libc only.
for lib in $(ldd "$base/bin/btvirt" | awk '/=>/ {print $3} /^\t\// {print $1}'); do
	cp -L "$lib" "$base/lib/$(basename "$lib")"
done
cp /bin/busybox "$base/bin/busybox"
rm -rf "$cache/unpack" "$cache/debs" "$cache/download.log"
echo "$key" >"$base/.key"
echo "prepare.sh: base ready in $base" >&2
