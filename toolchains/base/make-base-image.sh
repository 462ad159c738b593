#!/bin/sh
# Make the Debian base image (`debian:trixie`; `debian:bookworm` too) of the Motivus toolchains when it cannot be pulled.
#
# Why: the toolchain Dockerfiles start `FROM debian:trixie`; on machines without an image
# registry that image is built here from the same Debian archive apt already uses
# (debootstrap --variant=minbase), then `docker import`ed. The rootfs tarball is cached so a
# second run (e.g. the next CI job) only pays for the import.
#
# Usage: make-base-image.sh [--force]
# Environment:
#   MOTIVUS_CACHE_DIR   cache directory (default /var/cache/motivus)
#   MOTIVUS_BASE_IMAGE  image to make (default debian:trixie, what both toolchains start FROM)
#   MOTIVUS_DEBIAN_MIRROR  archive URL (default: the first bookworm source in apt's config)
#   DOCKER              docker client (default: docker)
set -eu

IMAGE="${MOTIVUS_BASE_IMAGE:-debian:trixie}"
SUITE="${IMAGE#*:}"
CACHE_DIR="${MOTIVUS_CACHE_DIR:-/var/cache/motivus}"
TARBALL="$CACHE_DIR/base-$(echo "$IMAGE" | tr ':/' '--')-rootfs.tar"
DOCKER="${DOCKER:-docker}"
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

say() { echo "base-image: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Print the first archive URL that apt uses for suite $1 (deb822 .sources and one-line .list
# files; only the file names apt itself reads), "*" meaning any suite but -security ones (a
# Debian 12 host has no trixie source, and its mirror serves trixie too). Not hard-coded:
# mirrors differ per machine.
apt_mirror() {
    want="$1"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite="$want" '$1 == "deb" {
            i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i+1) == suite || (suite == "*" && $(i+1) !~ /-security$/)) { print $i; exit } }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Stanzas are separated by blank lines; keep a "deb" stanza whose Suites has $SUITE.
        awk -v suite="$want" 'BEGIN { RS = ""; FS = "\n" } {
            types = ""; uris = ""; suites = ""; enabled = "yes"
            for (n = 1; n <= NF; n++) {
                line = $n; if (line ~ /^#/) continue
                split(line, kv, ":"); key = tolower(kv[1]); val = substr(line, length(kv[1]) + 2)
                gsub(/^[ \t]+|[ \t]+$/, "", val)
                if (key == "types") types = val; else if (key == "uris") uris = val
                else if (key == "suites") suites = val; else if (key == "enabled") enabled = tolower(val)
            }
            if (enabled == "no" || (" " types " ") !~ / deb /) next
            ns = split(suites, s, /[ \t]+/)
            for (k = 1; k <= ns; k++) if (s[k] == suite || (suite == "*" && s[k] !~ /-security$/)) { split(uris, u, /[ \t]+/); print u[1]; exit }
        }' "$f"
    done
}

"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine answers (start one: scripts/docker-engine.sh start)"

if [ "$FORCE" = 0 ] && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
    say "$IMAGE already exists, nothing to do"
    exit 0
fi

if [ "$FORCE" = 0 ] && "$DOCKER" pull "$IMAGE" >/dev/null 2>&1; then
    say "pulled $IMAGE"
    exit 0
fi

start=$(date +%s)
if [ "$FORCE" = 1 ] || [ ! -s "$TARBALL" ]; then
    [ "$(id -u)" = 0 ] || die "making $IMAGE needs root (debootstrap): run 'sudo $0'"
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing: apt-get install -y debootstrap"
    MIRROR="${MOTIVUS_DEBIAN_MIRROR:-$(apt_mirror "$SUITE" | head -n 1)}"
    [ -n "$MIRROR" ] || MIRROR="$(apt_mirror '*' | head -n 1)"
    [ -n "$MIRROR" ] || die "no Debian '$SUITE' source in /etc/apt/sources.list(.d); set MOTIVUS_DEBIAN_MIRROR"
    mkdir -p "$CACHE_DIR"
    ROOTFS=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
    trap 'rm -rf "$ROOTFS" "$TARBALL.tmp"' EXIT INT TERM
    say "debootstrap --variant=minbase $SUITE from $MIRROR"
    debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 \
        || { tail -n 20 "$CACHE_DIR/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE_DIR/debootstrap.log)"; }
    # Drop apt lists and caches: the official image has none either, and they are large.
    rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb
    tar --numeric-owner -C "$ROOTFS" -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$ROOTFS"
    trap - EXIT INT TERM
    say "rootfs cached in $TARBALL ($(( $(date +%s) - start ))s)"
else
    say "using cached rootfs $TARBALL"
fi

"$DOCKER" import --change 'CMD ["bash"]' "$TARBALL" "$IMAGE" >/dev/null
say "made $IMAGE in $(( $(date +%s) - start ))s"
