#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (Apache-2.0), the S3-compatible server the marketplace's S3 tests
# and benchmarks run, from its Go module, once per machine, and prints the binary's path.
#
# `go install module@version` refuses this module (its go.mod has replace directives), so the
# module is downloaded, copied somewhere writable and built there. Measured here: about 8.5 min
# on 2 cores, 2.1 GB of modules and 1.9 GB of build cache, a 233 MB binary. The binary is kept
# in MOTIVUS_TOOLS_DIR (default ~/.cache/motivus-dev/tools) under the version's name, so later
# runs take it at once; the modules and build cache stay in Go's own caches.
#
# A line at least every 10 s while it builds (go's own -v lines, and a heartbeat).
set -euo pipefail
VERSION="v0.0.0-20261109003541-7506e5f91cd6"
MODULE="github.com/seaweedfs/seaweedfs"
TOOLS="${MOTIVUS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/motivus-dev/tools}"
OUT="$TOOLS/seaweedfs-$VERSION/weed"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ -x "$OUT" ] && "$OUT" version >/dev/null 2>&1; then
    echo "$OUT"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "go is needed to build SeaweedFS: install it (apt-get install golang-go) and run again" >&2
    exit 1
fi
# The module names the Go version it needs (go.mod: go 1.26.6); go >= 1.21 fetches that
# toolchain from the module proxy by itself. An older go (Debian 12 has 1.19) fetches it as
# the module it is published as, and the build uses that.
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
GO=go
go_minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
if [ -n "$go_minor" ] && [ "$go_minor" -lt 21 ]; then
    say "go $(go env GOVERSION) cannot fetch newer toolchains: fetching go 1.26.6 as a module"
    toolchain="$(go mod download -json "golang.org/toolchain@v0.0.1-go1.26.6.$(go env GOOS)-$(go env GOARCH)" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    GO="$toolchain/bin/go"
    chmod +x "$GO" "$toolchain"/pkg/tool/*/* 2>/dev/null || true
fi

say "SeaweedFS $VERSION: downloading the module"
json="$("$GO" mod download -json "$MODULE@$VERSION")"
dir="$(printf '%s' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "go mod download did not give the module's directory:" >&2
    printf '%s\n' "$json" >&2
    exit 1
fi

work="$(mktemp -d)"
heartbeat=""
cleanup() {
    if [ -n "$heartbeat" ]; then kill "$heartbeat" 2>/dev/null || true; fi
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"

say "SeaweedFS: building weed (several minutes on 2 cores)"
start=$SECONDS
( while sleep 10; do echo "    still building weed ($((SECONDS - start)) s)" >&2; done ) &
heartbeat=$!
mkdir -p "$(dirname "$OUT")"
(cd "$work/src" && "$GO" build -v -o "$OUT.partial" ./weed 2>&1 | sed -u 's/^/    /' >&2)
mv "$OUT.partial" "$OUT"
say "SeaweedFS: built in $((SECONDS - start)) s: $("$OUT" version 2>/dev/null | head -1)"
echo "$OUT"
