#!/usr/bin/env bash
# make dist: findmy-harvester, pact-bridge and pact-server for linux/amd64
# and linux/arm64, and the pact-findmy Debian package of each, into dist/.
#
# The build is of the committed HEAD, checked out into a clean clone
# ($DIST_SRC): the binaries then carry its commit (-buildvcs; the go command
# stamps no VCS information in a `git worktree`, whose .git is a file) and
# nothing uncommitted. It is reproducible: -trimpath, -buildvcs, fixed
# ldflags with an empty build id, and every time in the packages set to the
# commit's (SOURCE_DATE_EPOCH); scripts/dist-reproducible.sh checks it.
#
# arm64 needs cgo (mattn/go-sqlite3) and so Debian's cross compiler:
#   apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

DIST_DIR=${DIST_DIR:-$root/dist}
DIST_SRC=${DIST_SRC:-$root/.cache/dist-src}
ARCHES=${ARCHES:-amd64 arm64}
GO=${GO:-go}
commands=(findmy-harvester pact-bridge pact-server)

fail() { echo "dist: $*" >&2; exit 1; }

commit=$(git rev-parse --verify HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
	echo "dist: warning: uncommitted changes are not part of the build; it is of HEAD ${commit:0:12}" >&2
fi

# A clean clone of HEAD; hard links keep it cheap.
rm -rf "$DIST_SRC"
mkdir -p "$(dirname "$DIST_SRC")"
git clone --quiet --no-checkout "$root" "$DIST_SRC"
git -C "$DIST_SRC" -c advice.detachedHead=false checkout --quiet --detach "$commit"
# Tags are how a release is versioned; carry them over from the repository.
git -C "$DIST_SRC" fetch --quiet --tags "$root"

SOURCE_DATE_EPOCH=$(git -C "$DIST_SRC" log -1 --format=%ct "$commit")
export SOURCE_DATE_EPOCH

# The package version: the tag vX.Y.Z on HEAD gives X.Y.Z; otherwise the
# nearest earlier tag (or 0.0.0) +git, the commit time and hash, which sorts
# after that tag and before the next one.
if tag=$(git -C "$DIST_SRC" describe --tags --exact-match --match 'v[0-9]*' "$commit" 2>/dev/null); then
	VERSION=${tag#v}
else
	base=$(git -C "$DIST_SRC" describe --tags --abbrev=0 --match 'v[0-9]*' "$commit" 2>/dev/null || echo v0.0.0)
	stamp=$(TZ=UTC git -C "$DIST_SRC" log -1 --date=format-local:%Y%m%d%H%M%S --format=%cd "$commit")
	VERSION=${base#v}+git${stamp}.${commit:0:12}
fi
export VERSION

rm -rf "$DIST_DIR"
mkdir -p "$DIST_DIR"

for arch in $ARCHES; do
	case $arch in
	amd64) cc=${CC_amd64:-gcc} ;;
	arm64) cc=${CC_arm64:-aarch64-linux-gnu-gcc} ;;
	*) fail "no C cross compiler known for $arch" ;;
	esac
	command -v "$cc" >/dev/null || fail "$cc not found (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"
	out=$DIST_DIR/linux_$arch
	mkdir -p "$out"
	echo "== build linux/$arch ($cc)"
	# GOFLAGS is emptied so that a -buildvcs=false or -mod=… of the
	# environment cannot change what is built.
	(cd "$DIST_SRC" && env GOFLAGS= GOOS=linux GOARCH="$arch" CGO_ENABLED=1 CC="$cc" \
		"$GO" build -trimpath -buildvcs=true -ldflags='-s -w -buildid=' -o "$out/" \
		"${commands[@]/#/./cmd/}")
	for c in "${commands[@]}"; do
		info=$("$GO" version -m "$out/$c")
		grep -q "vcs.revision=$commit" <<<"$info" || fail "$out/$c does not carry commit $commit"
		grep -q 'vcs.modified=false' <<<"$info" || fail "$out/$c was built from a modified tree"
	done

	# The newest glibc symbol version the binaries need, for Depends.
	LIBC_MIN=$(for c in "${commands[@]}"; do readelf -W --dyn-syms "$out/$c"; done |
		grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
	[ -n "$LIBC_MIN" ] || fail "no glibc symbol version found in $out"
	export LIBC_MIN ARCH=$arch BIN_DIR=$out
	echo "== package pact-findmy $VERSION $arch (libc6 >= $LIBC_MIN)"
	(cd "$DIST_SRC" && GOFLAGS= "$GO" tool -modfile="$root/tools/go.mod" nfpm package \
		--config deploy/nfpm.yaml --packager deb --target "$DIST_DIR/") >/dev/null
done

(cd "$DIST_DIR" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
cat "$DIST_DIR/SHA256SUMS"
