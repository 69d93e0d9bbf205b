#!/usr/bin/env bash
# Prepares everything the VM integration test (internal/vmtest) needs that does not
# come from this repository: QEMU and busybox from Debian, plus a Debian kernel
# with Bluetooth modules and btvirt (virtual HCI controllers), unpacked into
# .cache/vm/base. CI runs it before `make test`; developers run it once.
#
#   scripts/vm/prepare.sh            install packages (root) and fetch the base
#   scripts/vm/prepare.sh --no-install   only fetch and unpack the base
#
# The base is keyed by the package versions below: change one and the next
# run rebuilds it; otherwise a run is a no-op.
set -euo pipefail

KERNEL_PKG=linux-image-6.1.0-56-amd64
KERNEL_VERSION=6.1.0-56-amd64
BLUEZ_PKG=bluez-test-tools
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
		sed -n '2,11p' "$0"
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
cp "$cache/unpack/usr/bin/btvirt" "$base/bin/btvirt"
# btvirt is dynamically linked against libc only.
for lib in $(ldd "$base/bin/btvirt" | awk '/=>/ {print $3} /^\t\// {print $1}'); do
	cp -L "$lib" "$base/lib/$(basename "$lib")"
done
cp /bin/busybox "$base/bin/busybox"
rm -rf "$cache/unpack" "$cache/debs" "$cache/download.log"
echo "$key" >"$base/.key"
echo "prepare.sh: base ready in $base" >&2
