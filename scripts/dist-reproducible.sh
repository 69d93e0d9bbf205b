#!/usr/bin/env bash
# Shows that make dist is reproducible: builds dist/ (scripts/dist.sh), then
# builds again from another clone path into another directory with an empty
# Go build cache, and compares the sha256 of every binary and package.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

start=$SECONDS
scripts/dist.sh
first=$((SECONDS - start))

second=$(mktemp -d /tmp/pact-dist-again.XXXXXX)
trap 'chmod -R u+w "$second" 2>/dev/null; rm -rf "$second"' EXIT
echo "== second build in $second, empty GOCACHE"
start=$SECONDS
DIST_DIR=$second/dist DIST_SRC=$second/src GOCACHE=$second/gocache scripts/dist.sh >/dev/null
again=$((SECONDS - start))
echo "dist-reproducible: make dist took ${first} s with the build cache as it was, ${again} s with an empty one"

if ! diff -u dist/SHA256SUMS "$second/dist/SHA256SUMS"; then
	echo "dist-reproducible: FAIL: the two builds differ (above)" >&2
	exit 1
fi
echo "dist-reproducible: ok, $(wc -l <dist/SHA256SUMS) files identical in both builds"
