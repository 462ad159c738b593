#!/bin/sh
# mvrc build script: a wasm-bindgen crate to module.wasm + module.js (wasm-bindgen's own glue).
#
# Runs unchanged inside the mvrc image (/opt/motivus/toolchain/build.sh, project at /project)
# and on the host. Two steps, as Cargo users expect (`cargo fetch`, then an offline build):
#   build.sh fetch    with the network: resolve Cargo.lock if the crate has none, download
#                     every crate into the shared cache, make sure the wasm-bindgen CLI of the
#                     lock's wasm-bindgen version exists (built once per user with
#                     `cargo install --locked`). MOTIVUS_OFFLINE=1 does all this offline
#                     (vendor/, or what the cache already holds).
#   build.sh compile  without the network: cargo build --frozen, wasm-bindgen, wasm-opt.
# Inputs (environment): MOTIVUS_PROJECT, MOTIVUS_SOURCE, MOTIVUS_PROFILE (release|debug),
#   MOTIVUS_OUT, MOTIVUS_CACHE (this project's), MOTIVUS_SHARED_CACHE (the user's: cargo's
#   downloads and the built CLIs), MOTIVUS_CARGO_PROFILE_SET (the [profile.*] keys the crate
#   sets itself), MOTIVUS_SIMD (1: compile with wasm SIMD128), MOTIVUS_KEEP_NAMES (1: keep the
#   module's name section, for a profile), MOTIVUS_OFFLINE, MOTIVUS_CA_FILE
#   (a CA bundle for a TLS-inspecting proxy).
# Output: $MOTIVUS_OUT/module.wasm and $MOTIVUS_OUT/module.js (`--target no-modules` glue).
set -eu

fail() {
    echo "mvrc: $*" >&2
    exit 2
}

STEP="${1:-compile}"
: "${MOTIVUS_PROJECT:?mvrc: MOTIVUS_PROJECT is not set}"
: "${MOTIVUS_OUT:?mvrc: MOTIVUS_OUT is not set}"
: "${MOTIVUS_CACHE:?mvrc: MOTIVUS_CACHE is not set}"
: "${MOTIVUS_SHARED_CACHE:?mvrc: MOTIVUS_SHARED_CACHE is not set}"
MOTIVUS_SOURCE="${MOTIVUS_SOURCE:-.}"
MOTIVUS_PROFILE="${MOTIVUS_PROFILE:-release}"

CARGO_BIN="${MOTIVUS_CARGO:-cargo}"
RUSTC_BIN="${MOTIVUS_RUSTC:-rustc}"
WASM_OPT_BIN="${MOTIVUS_WASM_OPT:-wasm-opt}"
TARGET=wasm32-unknown-unknown
# What node 16 (V8 9.4, the platform's oldest worker) runs: wasm-opt may use these and no more.
NODE16_FEATURES="--mvp-features --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory --enable-simd --enable-multivalue"

command -v "$CARGO_BIN" >/dev/null 2>&1 || fail "cargo not found (motivus toolchain doctor names what to install)"
command -v "$RUSTC_BIN" >/dev/null 2>&1 || fail "rustc not found (motivus toolchain doctor names what to install)"

PROJECT="$(cd "$MOTIVUS_PROJECT" && pwd -P)"
CRATE="$(cd "$PROJECT/$MOTIVUS_SOURCE" 2>/dev/null && pwd -P)" ||
    fail "source directory '$MOTIVUS_SOURCE' does not exist in $PROJECT (motivus.yml build.source)"
[ -f "$CRATE/Cargo.toml" ] || fail "no Cargo.toml in $CRATE (motivus.yml build.source must point at the crate)"
mkdir -p "$MOTIVUS_OUT" "$MOTIVUS_CACHE" "$MOTIVUS_SHARED_CACHE/cargo" "$MOTIVUS_SHARED_CACHE/wasm-bindgen"
CACHE="$(cd "$MOTIVUS_CACHE" && pwd -P)"
SHARED="$(cd "$MOTIVUS_SHARED_CACHE" && pwd -P)"

# One download cache for every project of the user (registry index, .crate files, sources).
export CARGO_HOME="$SHARED/cargo"
export RUSTC="$RUSTC_BIN"
export CARGO_TERM_COLOR=never
export CARGO_INCREMENTAL=0
export SOURCE_DATE_EPOCH=0
# Where the crate has no Cargo.lock, resolve for this rustc (cargo >= 1.84).
export CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback
if [ -n "${MOTIVUS_CA_FILE:-}" ] && [ -r "$MOTIVUS_CA_FILE" ]; then
    export CARGO_HTTP_CAINFO="$MOTIVUS_CA_FILE"
fi
unset RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER CARGO_BUILD_TARGET CARGO_ENCODED_RUSTFLAGS CARGO_TARGET_DIR 2>/dev/null || true

NET_FLAG=""
if [ "${MOTIVUS_OFFLINE:-0}" = 1 ]; then NET_FLAG="--offline"; fi

cd "$CRATE"
LOCK="$(dirname "$("$CARGO_BIN" locate-project --workspace --message-format plain)")/Cargo.lock" ||
    fail "cargo cannot read $CRATE/Cargo.toml (see above)"

# The version of a package in the lock: `lock_version wasm-bindgen`.
lock_version() {
    awk -v want="$1" '$1 == "name" && $3 == "\"" want "\"" { found = 1; next }
        found && $1 == "version" { gsub(/"/, "", $3); print $3; exit }
        /^\[\[package\]\]/ { found = 0 }' "$LOCK"
}

# The wasm-bindgen CLI of version $1: the image's, one built earlier into the shared cache, or
# (on the host) a `wasm-bindgen` on PATH that says the same version.
cli_of() {
    for candidate in "/opt/motivus/wasm-bindgen/$1/bin/wasm-bindgen" "$SHARED/wasm-bindgen/$1/bin/wasm-bindgen"; do
        if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
    if command -v wasm-bindgen >/dev/null 2>&1 && [ "$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $1" ]; then
        command -v wasm-bindgen
        return 0
    fi
    return 1
}

# The wasm-bindgen version a new lock holds: the image's CLI (its ENV), on the host a
# wasm-bindgen on PATH, else the version the image carries (the newest CLI whose own lock
# builds with rustc 1.85; keep it equal to the Dockerfile's MOTIVUS_WASM_BINDGEN_VERSION).
held_version() {
    if [ -n "${MOTIVUS_WASM_BINDGEN_DEFAULT:-}" ]; then
        echo "$MOTIVUS_WASM_BINDGEN_DEFAULT"
    elif command -v wasm-bindgen >/dev/null 2>&1; then
        wasm-bindgen --version | sed -n 's/^wasm-bindgen \([0-9][0-9.]*\).*/\1/p'
    else
        echo 0.2.108
    fi
}

# Resolve a lock for a crate that has none. The wasm-bindgen CLI must match the crate's
# version exactly, and the newest CLIs do not build with this rustc: so resolve first with
# wasm-bindgen held at the version whose CLI is at hand (or built once), in a copy of the
# crate, and keep that lock if the real manifest accepts it; else resolve plainly.
resolve_lock() {
    held="$(held_version)"
    if [ -n "$held" ]; then
        copy="$(mktemp -d)"
        tar -C "$CRATE" --exclude=./target --exclude=./.motivus --exclude=./build --exclude=./.git -cf - . | tar -C "$copy" -xf -
        sed -E -e 's/^(wasm-bindgen[[:space:]]*=[[:space:]]*")[^"]*"/\1='"$held"'"/' \
               -e 's/^(wasm-bindgen[[:space:]]*=[[:space:]]*\{.*version[[:space:]]*=[[:space:]]*")[^"]*"/\1='"$held"'"/' \
               "$CRATE/Cargo.toml" >"$copy/Cargo.toml"
        if (cd "$copy" && "$CARGO_BIN" generate-lockfile $NET_FLAG >/dev/null 2>&1) && [ -f "$copy/Cargo.lock" ]; then
            cp "$copy/Cargo.lock" "$LOCK"
            if "$CARGO_BIN" metadata --locked $NET_FLAG --format-version 1 >/dev/null 2>&1; then
                rm -rf "$copy"
                echo "mvrc: resolved Cargo.lock (wasm-bindgen held at $held, the CLI at hand)" >&2
                return 0
            fi
            rm -f "$LOCK"
        fi
        rm -rf "$copy"
    fi
    "$CARGO_BIN" generate-lockfile $NET_FLAG || offline_hint
    echo "mvrc: resolved Cargo.lock" >&2
}

offline_hint() {
    if [ -n "$NET_FLAG" ]; then
        fail "a crate is missing for an offline build (named above): build once with the network to fill the download cache, or vendor the crates (cargo vendor, then commit vendor/ and the .cargo/config.toml it prints)"
    fi
    fail "cargo could not resolve or download the crates (see above): check the names and versions in Cargo.toml, and the network"
}

fetch() {
    if [ ! -f "$LOCK" ]; then
        resolve_lock
    fi
    "$CARGO_BIN" fetch --locked $NET_FLAG || offline_hint
    version="$(lock_version wasm-bindgen)"
    [ -n "$version" ] || fail "the crate does not depend on wasm-bindgen (add wasm-bindgen to [dependencies]: Motivus calls its #[wasm_bindgen] main)"
    if cli_of "$version" >/dev/null; then
        return 0
    fi
    [ -z "$NET_FLAG" ] || fail "the wasm-bindgen CLI $version is not at hand offline: build once with the network, or pin wasm-bindgen = \"=$(held_version)\""
    echo "mvrc: building the wasm-bindgen CLI $version (once per version, kept in the user's cache)" >&2
    work="$(mktemp -d "$SHARED/wasm-bindgen/.build.XXXXXX")"
    if ! CARGO_TARGET_DIR="$work/target" "$CARGO_BIN" install --locked --quiet wasm-bindgen-cli --version "$version" \
            --root "$work/root" --bin wasm-bindgen; then
        rm -rf "$work"
        fail "could not build the wasm-bindgen CLI $version with $("$RUSTC_BIN" --version) (see above): use a wasm-bindgen whose CLI builds here: set wasm-bindgen = \"=$(held_version)\" in Cargo.toml and delete Cargo.lock"
    fi
    mv -T "$work/root" "$SHARED/wasm-bindgen/$version" 2>/dev/null || true  # another build won the race
    rm -rf "$work"
}

# The kit's profile defaults apply only where the crate's own [profile.*] is silent: the kit
# passes the keys the crate sets in MOTIVUS_CARGO_PROFILE_SET (cargo's environment variables
# would otherwise override Cargo.toml).
default_profile() {  # default_profile ENV_VAR KEY VALUE
    case " ${MOTIVUS_CARGO_PROFILE_SET:-} " in
        *" $2 "*) ;;
        *) export "$1=$3" ;;
    esac
}

compile() {
    command -v "$WASM_OPT_BIN" >/dev/null 2>&1 || fail "wasm-opt not found (install binaryen)"
    [ -f "$LOCK" ] || fail "no Cargo.lock: run the fetch step first"
    version="$(lock_version wasm-bindgen)"
    cli="$(cli_of "$version")" || fail "no wasm-bindgen CLI $version: run the fetch step first"

    export CARGO_TARGET_DIR="$CACHE/target"
    # reference-types is on by default since rustc 1.82, and wasm-bindgen would then keep JS
    # values in an externref table: node 16 cannot load that. Off, it uses its JS heap.
    # Paths differ between the container and the host: remap them so both give the same bytes.
    # SIMD128 (the kit decides: motivus.yml build.simd) lets LLVM vectorise loops as it does
    # natively with SSE2; node 16 and current browsers run it.
    SIMD_FLAG=""
    if [ "${MOTIVUS_SIMD:-0}" = 1 ]; then SIMD_FLAG="-C target-feature=+simd128"; fi
    RUSTFLAGS="-C target-feature=-reference-types $SIMD_FLAG --remap-path-prefix=$PROJECT=/project --remap-path-prefix=$CACHE=/cache --remap-path-prefix=$CARGO_HOME=/cargo-home"
    export RUSTFLAGS
    if [ "$MOTIVUS_PROFILE" = "release" ]; then
        # opt-level 3 (cargo's own release default): with SIMD128 it ran the k-means template
        # 1.6x faster than opt-level s (docs/benchmarks.md); z also stops the inlining of
        # small iterator closures. panic=abort is the only strategy wasm32-unknown-unknown has; the panic hook
        # (console_error_panic_hook) still reports the message before the abort.
        default_profile CARGO_PROFILE_RELEASE_OPT_LEVEL opt-level 3
        default_profile CARGO_PROFILE_RELEASE_LTO lto true
        default_profile CARGO_PROFILE_RELEASE_CODEGEN_UNITS codegen-units 1
        default_profile CARGO_PROFILE_RELEASE_PANIC panic abort
        default_profile CARGO_PROFILE_RELEASE_DEBUG debug 0
        default_profile CARGO_PROFILE_RELEASE_STRIP strip symbols
        # A profile names functions: the crate's own strip setting yields for that build.
        if [ "${MOTIVUS_KEEP_NAMES:-0}" = 1 ]; then export CARGO_PROFILE_RELEASE_STRIP=none; fi
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

    ARTIFACTS="$CACHE/artifacts.json"
    # shellcheck disable=SC2086
    "$CARGO_BIN" build --frozen --lib --target "$TARGET" $PROFILE_ARGS \
        --message-format=json-render-diagnostics >"$ARTIFACTS" || {
        status=$?
        grep -q '"reason":"build-finished","success":false' "$ARTIFACTS" 2>/dev/null || offline_hint
        exit "$status"
    }
    WASM="$(grep '"reason":"compiler-artifact"' "$ARTIFACTS" |
        grep -o '"filenames":\["[^"]*\.wasm"' | tail -n 1 | sed 's/^"filenames":\["//; s/"$//')"
    if [ -z "$WASM" ] || [ ! -f "$WASM" ]; then
        fail "cargo produced no .wasm: the crate needs [lib] crate-type = [\"cdylib\"] in Cargo.toml"
    fi
    case "$WASM" in
        "$CARGO_TARGET_DIR/$TARGET/$PROFILE_DIR/"*) ;;
        *) fail "unexpected artifact path $WASM" ;;
    esac

    work="$CACHE/bindgen"
    rm -rf "$work"
    mkdir -p "$work"
    # The std in the distribution is built with reference-types on, and the module's
    # target_features section says so; wasm-bindgen reads that section to choose externref.
    # Nothing of ours uses it (the code walk in the kit checks the result), so drop the section.
    # shellcheck disable=SC2086
    # wasm-opt writes the name section only when told to keep debug information (-g).
    NAMES_FLAG=""
    if [ "${MOTIVUS_KEEP_NAMES:-0}" = 1 ]; then NAMES_FLAG="-g"; fi
    "$WASM_OPT_BIN" $NODE16_FEATURES $NAMES_FLAG --enable-reference-types --strip-target-features "$WASM" -o "$work/input.wasm"
    "$cli" --target no-modules --no-typescript --out-name module --out-dir "$work" "$work/input.wasm"
    if [ "$MOTIVUS_PROFILE" = "release" ]; then
        # shellcheck disable=SC2086
        STRIP_FLAG="--strip-debug"  # DWARF and the name section
        if [ "${MOTIVUS_KEEP_NAMES:-0}" = 1 ]; then STRIP_FLAG="--strip-dwarf"; fi
        "$WASM_OPT_BIN" $NODE16_FEATURES -O3 $NAMES_FLAG $STRIP_FLAG --strip-producers "$work/module_bg.wasm" -o "$work/module.wasm"
    else
        cp "$work/module_bg.wasm" "$work/module.wasm"
    fi
    mv -f "$work/module.js" "$MOTIVUS_OUT/module.js"
    mv -f "$work/module.wasm" "$MOTIVUS_OUT/module.wasm"
    rm -rf "$work"
    echo "mvrc: wrote $MOTIVUS_OUT/module.wasm ($(wc -c <"$MOTIVUS_OUT/module.wasm") bytes) with wasm-bindgen $version" >&2
}

# `motivus bench --native`: the harness crate the kit wrote in $CACHE/native (the project's
# crate as an rlib, with cargo's release defaults for this machine), built offline and run
# MOTIVUS_NATIVE_RUNS times on $CACHE/native/params.json.
native() {
    harness="$CACHE/native"
    [ -f "$harness/Cargo.toml" ] || fail "no $harness/Cargo.toml: the kit writes the harness before this step"
    export CARGO_TARGET_DIR="$CACHE/native-target"
    echo "motivus-native: compiler: $("$RUSTC_BIN" --version)"
    "$CARGO_BIN" build --release --offline --manifest-path "$harness/Cargo.toml" ||
        fail "the crate did not build natively (see above): --native needs a crate that also builds for this machine"
    "$CARGO_TARGET_DIR/release/motivus-native" "$harness/params.json" "${MOTIVUS_NATIVE_RUNS:-5}" "$harness/result.json"
}

case "$STEP" in
    fetch) fetch ;;
    compile) compile ;;
    native) native ;;
    *) fail "unknown step '$STEP' (fetch, compile or native)" ;;
esac
