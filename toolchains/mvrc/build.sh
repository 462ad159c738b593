#!/bin/sh
# mvrc build script: compiles a wasm-bindgen style Rust crate to an optimised wasm32 module.
#
# Runs unchanged inside the mvrc image (/opt/motivus/toolchain/build.sh, project at /project,
# --network none) and on the host. Inputs (environment, see the build-script interface):
#   MOTIVUS_PROJECT, MOTIVUS_SOURCE, MOTIVUS_PROFILE (release|debug), MOTIVUS_OUT, MOTIVUS_CACHE,
#   MOTIVUS_CARGO_PROFILE_SET (the [profile.*] keys the crate's Cargo.toml sets itself)
# Output: $MOTIVUS_OUT/module.wasm (describe exports still present; the kit reads them).
#
# Needs Debian's pinned tools: /usr/bin/cargo + /usr/bin/rustc (1.63) with the wasm32 std
# (libstd-rust-dev-wasm32), the crate sources under /usr/share/cargo/registry (librust-*-dev),
# and wasm-opt (binaryen). Crates are only ever read from that registry: the build is offline.
set -eu

fail() {
    echo "mvrc: $*" >&2
    exit 2
}

: "${MOTIVUS_PROJECT:?mvrc: MOTIVUS_PROJECT is not set}"
: "${MOTIVUS_OUT:?mvrc: MOTIVUS_OUT is not set}"
: "${MOTIVUS_CACHE:?mvrc: MOTIVUS_CACHE is not set}"
MOTIVUS_SOURCE="${MOTIVUS_SOURCE:-.}"
MOTIVUS_PROFILE="${MOTIVUS_PROFILE:-release}"

CARGO_BIN="${MOTIVUS_CARGO:-/usr/bin/cargo}"
RUSTC_BIN="${MOTIVUS_RUSTC:-/usr/bin/rustc}"
WASM_OPT_BIN="${MOTIVUS_WASM_OPT:-wasm-opt}"
REGISTRY="${MOTIVUS_CRATE_REGISTRY:-/usr/share/cargo/registry}"
TARGET=wasm32-unknown-unknown

[ -x "$CARGO_BIN" ] || fail "cargo not found at $CARGO_BIN (install the Debian package 'cargo')"
[ -x "$RUSTC_BIN" ] || fail "rustc not found at $RUSTC_BIN (install the Debian package 'rustc')"
[ -d "$REGISTRY" ] || fail "no crate registry at $REGISTRY (install librust-wasm-bindgen-dev librust-serde-json-dev)"
command -v "$WASM_OPT_BIN" >/dev/null 2>&1 || fail "wasm-opt not found (install the Debian package 'binaryen')"

# Normalise the project path so that remapping matches what rustc sees.
PROJECT="$(cd "$MOTIVUS_PROJECT" && pwd -P)"
CRATE="$(cd "$PROJECT/$MOTIVUS_SOURCE" 2>/dev/null && pwd -P)" ||
    fail "source directory '$MOTIVUS_SOURCE' does not exist in $PROJECT (motivus.yml build.source)"
[ -f "$CRATE/Cargo.toml" ] || fail "no Cargo.toml in $CRATE (motivus.yml build.source must point at the crate)"

mkdir -p "$MOTIVUS_OUT" "$MOTIVUS_CACHE"
CACHE="$(cd "$MOTIVUS_CACHE" && pwd -P)"

# Cargo reads its configuration from CARGO_HOME: replace crates-io by the Debian registry
# (a 'directory' source) so that resolution and builds never touch the network.
export CARGO_HOME="$CACHE/cargo-home"
mkdir -p "$CARGO_HOME"
cat >"$CARGO_HOME/config.toml" <<EOF
[source.crates-io]
replace-with = "debian-registry"

[source.debian-registry]
directory = "$REGISTRY"

[net]
offline = true
EOF

export RUSTC="$RUSTC_BIN"
export CARGO_TARGET_DIR="$CACHE/target"
export SOURCE_DATE_EPOCH=0
export CARGO_INCREMENTAL=0
export CARGO_TERM_COLOR=never
unset RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER CARGO_BUILD_TARGET CARGO_ENCODED_RUSTFLAGS 2>/dev/null || true

# Paths of the project and the cache differ between the container and the host: remap both
# (the later, more specific cache prefix wins when the cache lives inside the project).
RUSTFLAGS="--remap-path-prefix=$PROJECT=/project --remap-path-prefix=$CACHE=/cache --remap-path-prefix=$REGISTRY=/registry"
export RUSTFLAGS

# The kit's profile defaults apply only where the crate's own [profile.*] is silent: the
# kit passes the keys the crate sets in MOTIVUS_CARGO_PROFILE_SET (cargo's environment
# variables would otherwise override Cargo.toml).
default_profile() {  # default_profile ENV_VAR KEY VALUE
    case " ${MOTIVUS_CARGO_PROFILE_SET:-} " in
        *" $2 "*) ;;
        *) export "$1=$3" ;;
    esac
}

if [ "$MOTIVUS_PROFILE" = "release" ]; then
    # Small, stripped output. panic=abort is the only strategy wasm32-unknown-unknown has;
    # the panic hook still runs before the abort, so a hook (src/motivus.rs) reports it.
    # opt-level s, not z: z also stops the inlining of small iterator closures, which made
    # the k-means template 2.8x slower (benchmarks/bench_compute.py: 3.9 s vs 1.4 s) for no
    # size gain after wasm-opt (86,444 vs 86,326 bytes). The template's Cargo.toml says s too.
    default_profile CARGO_PROFILE_RELEASE_OPT_LEVEL opt-level s
    default_profile CARGO_PROFILE_RELEASE_LTO lto true
    default_profile CARGO_PROFILE_RELEASE_CODEGEN_UNITS codegen-units 1
    default_profile CARGO_PROFILE_RELEASE_PANIC panic abort
    default_profile CARGO_PROFILE_RELEASE_DEBUG debug 0
    default_profile CARGO_PROFILE_RELEASE_STRIP strip symbols
    default_profile CARGO_PROFILE_RELEASE_INCREMENTAL incremental false
    PROFILE_ARGS="--release"
    PROFILE_DIR=release
elif [ "$MOTIVUS_PROFILE" = "debug" ]; then
    default_profile CARGO_PROFILE_DEV_DEBUG debug 0
    default_profile CARGO_PROFILE_DEV_INCREMENTAL incremental false
    PROFILE_ARGS=""
    PROFILE_DIR=debug
else
    fail "unknown MOTIVUS_PROFILE '$MOTIVUS_PROFILE' (use release or debug)"
fi

cd "$CRATE"
ARTIFACTS="$CACHE/artifacts.json"
# Diagnostics are rendered to stderr as cargo prints them; artifacts come as JSON on stdout.
# shellcheck disable=SC2086
"$CARGO_BIN" build --offline --lib --target "$TARGET" $PROFILE_ARGS \
    --message-format=json-render-diagnostics >"$ARTIFACTS"

WASM="$(grep '"reason":"compiler-artifact"' "$ARTIFACTS" |
    grep -o '"filenames":\["[^"]*\.wasm"' | tail -n 1 | sed 's/^"filenames":\["//; s/"$//')"
if [ -z "$WASM" ] || [ ! -f "$WASM" ]; then
    fail "cargo produced no .wasm: the crate needs [lib] crate-type = [\"cdylib\"] in Cargo.toml"
fi
# The artifact path is reported with the real cache path; it is under $CARGO_TARGET_DIR.
case "$WASM" in
    "$CARGO_TARGET_DIR/$TARGET/$PROFILE_DIR/"*) ;;
    *) fail "unexpected artifact path $WASM" ;;
esac

TMP_OUT="$MOTIVUS_OUT/module.wasm.tmp"
if [ "$MOTIVUS_PROFILE" = "release" ]; then
    # -O3 keeps exports (the kit needs __wbindgen_describe_*) and custom sections; on an
    # opt-level s module it is as small as -Oz and keeps the speed.
    "$WASM_OPT_BIN" -O3 --strip-debug --strip-producers "$WASM" -o "$TMP_OUT"
else
    cp "$WASM" "$TMP_OUT"
fi
mv -f "$TMP_OUT" "$MOTIVUS_OUT/module.wasm"
echo "mvrc: wrote $MOTIVUS_OUT/module.wasm ($(wc -c <"$MOTIVUS_OUT/module.wasm") bytes)" >&2
