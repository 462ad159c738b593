#!/bin/bash
# mvcc build script: compiles a C/C++ project with Emscripten into module.wasm + module.js.
#
# Runs unchanged inside the mvcc image (/opt/motivus/toolchain/build.sh, project at /project,
# --network none) and on the host. Inputs (environment, see the build-script interface):
#   MOTIVUS_PROJECT, MOTIVUS_SOURCE, MOTIVUS_LANG (c|cpp), MOTIVUS_NAME, MOTIVUS_VERSION,
#   MOTIVUS_PROFILE (release|debug), MOTIVUS_CFLAGS, MOTIVUS_LDFLAGS, MOTIVUS_OUT, MOTIVUS_CACHE
# Outputs: $MOTIVUS_OUT/module.wasm and $MOTIVUS_OUT/module.js, the final loader: the
# Emscripten glue and the Motivus wrapper (loader_js/common.js + c.js) in one classic script.
#
# Every *.c / *.cc / *.cpp / *.cxx file under the source directory is compiled to its own
# object file in $MOTIVUS_CACHE/obj (with a dependency file), so a one-line change recompiles
# one file; the link and the bundling are skipped when nothing they read changed.
# Skipped when searching for sources: hidden directories (.motivus, .git), the project's
# build/ directory (packages), and the filesystem directory (it is data, packed by the kit).
#
# Needs Debian's pinned tools: emscripten 3.1.6 (emcc/em++, its clang 14 and binaryen), node
# with Debian's JS modules (NODE_PATH=/usr/share/nodejs), esbuild, and bash + findutils.
set -euo pipefail

fail() {
    echo "mvcc: $*" >&2
    exit 2
}

SELF="${BASH_SOURCE[0]}"
SCRIPT_DIR="$(cd "$(dirname "$SELF")" && pwd -P)"

: "${MOTIVUS_PROJECT:?mvcc: MOTIVUS_PROJECT is not set}"
: "${MOTIVUS_OUT:?mvcc: MOTIVUS_OUT is not set}"
: "${MOTIVUS_CACHE:?mvcc: MOTIVUS_CACHE is not set}"
MOTIVUS_SOURCE="${MOTIVUS_SOURCE:-.}"
MOTIVUS_FILESYSTEM="${MOTIVUS_FILESYSTEM:-}"
MOTIVUS_LANG="${MOTIVUS_LANG:-cpp}"
MOTIVUS_NAME="${MOTIVUS_NAME:-program}"
MOTIVUS_VERSION="${MOTIVUS_VERSION:-0.0.0}"
MOTIVUS_PROFILE="${MOTIVUS_PROFILE:-release}"
MOTIVUS_CFLAGS="${MOTIVUS_CFLAGS:-}"
MOTIVUS_LDFLAGS="${MOTIVUS_LDFLAGS:-}"

EMCC="${MOTIVUS_EMCC:-emcc}"
EMXX="${MOTIVUS_EMXX:-em++}"
ESBUILD="${MOTIVUS_ESBUILD:-esbuild}"
EM_VERSION_FILE="${MOTIVUS_EM_VERSION_FILE:-/usr/share/emscripten/emscripten-version.txt}"

# emcc runs node tools that need Debian's JS modules (acorn); a node from elsewhere does not
# look in /usr/share/nodejs by itself.
export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"
export SOURCE_DATE_EPOCH=0
export LC_ALL=C
export TZ=UTC
# Emscripten's cache: Debian ships every system library prebuilt in a frozen, read-only
# cache (/usr/share/emscripten/cache, FROZEN_CACHE=True), and emcc never writes to it, so the
# build works for any uid with --network none. Pointing EM_CACHE elsewhere would make emcc
# rebuild libc/libc++ from source (minutes), so EM_CACHE is deliberately left alone.
unset EM_CACHE

# ---------------------------------------------------------------------------------------
# Compile one source file (invoked by xargs below as: build.sh __compile SOURCE OBJECT).
# Reads the flags from the environment the parent exported.
if [ "${1:-}" = "__compile" ]; then
    src="$2"
    obj="$3"
    mkdir -p "$(dirname "$obj")"
    case "$src" in
        *.c) compiler="$EMCC"; std_flags="$MVCC_C_STD" ;;
        *) compiler="$EMXX"; std_flags="$MVCC_CXX_STD" ;;
    esac
    # Word splitting of the flag strings is intended (they are lists of flags).
    # shellcheck disable=SC2086
    # The compiler's messages are kept next to the object and repeated when it is reused, so
    # that a warning does not vanish after the build that first printed it.
    status=0
    "$compiler" $std_flags $MVCC_COMPILE_FLAGS -MMD -MF "$obj.d.tmp" -MT "$obj" \
        -c "$src" -o "$obj.tmp" 2>"$obj.log.tmp" || status=$?
    cat "$obj.log.tmp" >&2
    [ "$status" = 0 ] || exit "$status"
    mv -f "$obj.log.tmp" "$obj.log"
    mv -f "$obj.d.tmp" "$obj.d"
    mv -f "$obj.tmp" "$obj"
    exit 0
fi

command -v "$EMCC" >/dev/null 2>&1 || fail "emcc not found (install the Debian package 'emscripten')"
command -v "$ESBUILD" >/dev/null 2>&1 || fail "esbuild not found (install the Debian package 'esbuild')"
[ -f "$EM_VERSION_FILE" ] || fail "no $EM_VERSION_FILE: is Debian's emscripten 3.1.6 installed?"
EM_VERSION="$(cat "$EM_VERSION_FILE")"

# The Motivus wrapper: next to this script in the image (/opt/motivus/toolchain/loader_js),
# in the kit's sources when the script runs from a checkout (toolchains/mvcc ->
# motivus_dev/loader_js), or in an installed kit (motivus_dev/_data/toolchains/mvcc ->
# motivus_dev/loader_js).
LOADER_JS=""
for candidate in "${MOTIVUS_LOADER_JS:-}" "$SCRIPT_DIR/loader_js" "$SCRIPT_DIR/../../motivus_dev/loader_js" \
    "$SCRIPT_DIR/../../../loader_js"; do
    if [ -n "$candidate" ] && [ -f "$candidate/common.js" ] && [ -f "$candidate/c.js" ]; then
        LOADER_JS="$(cd "$candidate" && pwd -P)"
        break
    fi
done
[ -n "$LOADER_JS" ] || fail "loader sources (common.js, c.js) not found next to $SELF: the toolchain is incomplete"

case "$MOTIVUS_LANG" in
    c | cpp) ;;
    *) fail "MOTIVUS_LANG is '$MOTIVUS_LANG'; the mvcc toolchain builds c or cpp" ;;
esac
case "$MOTIVUS_NAME" in
    *[!A-Za-z0-9._-]* | "") fail "package name '$MOTIVUS_NAME' may only use letters, digits, '.', '_' and '-'" ;;
esac

PROJECT="$(cd "$MOTIVUS_PROJECT" && pwd -P)"
SRC_DIR="$(cd "$PROJECT/$MOTIVUS_SOURCE" 2>/dev/null && pwd -P)" ||
    fail "source directory '$MOTIVUS_SOURCE' does not exist in $PROJECT (motivus.yml build.source)"
mkdir -p "$MOTIVUS_OUT" "$MOTIVUS_CACHE"
CACHE="$(cd "$MOTIVUS_CACHE" && pwd -P)"
OUT="$(cd "$MOTIVUS_OUT" && pwd -P)"
for p in "$PROJECT" "$CACHE" "$OUT"; do
    case "$p" in
        *[[:space:]]*) fail "the path '$p' contains whitespace, which the compiler flags cannot carry; move the project" ;;
    esac
done
FS_DIR=""
if [ -n "$MOTIVUS_FILESYSTEM" ] && [ -d "$PROJECT/$MOTIVUS_FILESYSTEM" ]; then
    FS_DIR="$(cd "$PROJECT/$MOTIVUS_FILESYSTEM" && pwd -P)"
fi

# --- flags -------------------------------------------------------------------------------
case "$MOTIVUS_PROFILE" in
    release)
        OPT_FLAGS="-O2 -g0"
        LINK_PROFILE_FLAGS="-O2 -g0 -sASSERTIONS=0"
        ;;
    debug)
        # No DWARF (it would carry paths and bloat the package); assertions and stack
        # checks give readable failures instead.
        OPT_FLAGS="-O0 -g0"
        LINK_PROFILE_FLAGS="-O0 -g0 -sASSERTIONS=1 -sSTACK_OVERFLOW_CHECK=2"
        ;;
    *) fail "unknown MOTIVUS_PROFILE '$MOTIVUS_PROFILE' (use release or debug)" ;;
esac

# Paths differ between the container (/project) and the host: remap the project and the
# cache so that __FILE__ and any recorded path are the same in both. Clang 14 ignores
# SOURCE_DATE_EPOCH, so the date macros are pinned by hand.
export MVCC_C_STD="-std=gnu17"
export MVCC_CXX_STD="-std=gnu++17"
export MVCC_COMPILE_FLAGS="$OPT_FLAGS -I$SRC_DIR -ffile-prefix-map=$PROJECT=/project -ffile-prefix-map=$CACHE=/cache -Wno-builtin-macro-redefined -D__DATE__=\"Jan_01_1970\" -D__TIME__=\"00:00:00\" -D__TIMESTAMP__=\"Thu_Jan_01_00:00:00_1970\" $MOTIVUS_CFLAGS"

LINK_FLAGS="$LINK_PROFILE_FLAGS -sMODULARIZE=1 -sEXPORT_NAME=MotivusModule -sEXIT_RUNTIME=1 -sINVOKE_RUN=0 \
-sEXPORTED_RUNTIME_METHODS=FS,callMain -sFORCE_FILESYSTEM=1 -sALLOW_MEMORY_GROWTH=1 \
-sENVIRONMENT=worker,node -sNODEJS_CATCH_EXIT=0 -sNODEJS_CATCH_REJECTION=0 $MOTIVUS_LDFLAGS"

OBJ_DIR="$CACHE/obj/$MOTIVUS_PROFILE"
LINK_DIR="$CACHE/link/$MOTIVUS_PROFILE"
# A change of compiler or flags invalidates every object file.
COMPILE_STAMP="emscripten $EM_VERSION | $MVCC_C_STD | $MVCC_CXX_STD | $MVCC_COMPILE_FLAGS"
if [ ! -f "$OBJ_DIR/flags.txt" ] || [ "$(cat "$OBJ_DIR/flags.txt")" != "$COMPILE_STAMP" ]; then
    rm -rf "$OBJ_DIR"
    mkdir -p "$OBJ_DIR"
    printf '%s' "$COMPILE_STAMP" >"$OBJ_DIR/flags.txt"
fi
mkdir -p "$LINK_DIR"

# --- sources -----------------------------------------------------------------------------
prune=(-name '.*' -o -path "$PROJECT/build")
if [ -n "$FS_DIR" ] && [ "$FS_DIR" != "$SRC_DIR" ]; then
    prune+=(-o -path "$FS_DIR")
fi
sources=()
while IFS= read -r -d '' f; do
    sources+=("$f")
done < <(find "$SRC_DIR" -mindepth 1 \( -type d \( "${prune[@]}" \) -prune \) -o \
    -type f \( -name '*.c' -o -name '*.cc' -o -name '*.cpp' -o -name '*.cxx' \) -print0 | sort -z)

[ "${#sources[@]}" -gt 0 ] || fail "no C/C++ sources (*.c, *.cc, *.cpp, *.cxx) in $SRC_DIR (motivus.yml build.source)"

has_cxx=0
objects=()
stale=()
for src in "${sources[@]}"; do
    case "$src" in
        *[[:space:]]*) fail "source path '$src' contains whitespace; rename it" ;;
    esac
    rel="${src#"$SRC_DIR"/}"
    case "$src" in *.c) ;; *) has_cxx=1 ;; esac
    obj="$OBJ_DIR/$rel.o"
    objects+=("$obj")
    # Up to date when the object exists and is newer than every file its depfile names.
    up_to_date=1
    if [ ! -f "$obj" ] || [ ! -f "$obj.d" ]; then
        up_to_date=0
    else
        # The depfile is "OBJ: SRC HDR ... \" lines; drop the target and the continuations.
        # shellcheck disable=SC2013
        for dep in $(sed -e '1s/^[^:]*://' -e 's/\\$//' "$obj.d"); do
            if [ ! -e "$dep" ] || [ "$dep" -nt "$obj" ]; then
                up_to_date=0
                break
            fi
        done
    fi
    if [ "$up_to_date" = 0 ]; then
        stale+=("$src" "$obj")
    elif [ -s "$obj.log" ]; then
        cat "$obj.log" >&2
    fi
done

if [ "$MOTIVUS_LANG" = "cpp" ]; then has_cxx=1; fi
LINKER="$EMCC"
if [ "$has_cxx" = 1 ]; then LINKER="$EMXX"; fi

# Relative paths in MOTIVUS_CFLAGS/LDFLAGS (-Iinclude, -Llib) are relative to the sources.
cd "$SRC_DIR"

if [ "${#stale[@]}" -gt 0 ]; then
    echo "mvcc: compiling $((${#stale[@]} / 2)) of ${#sources[@]} source file(s)" >&2
    jobs="$(nproc 2>/dev/null || echo 2)"
    # xargs exits 123 when a compile fails; the compiler already printed its messages.
    if ! printf '%s\0' "${stale[@]}" | xargs -0 -n 2 -P "$jobs" bash "$SELF" __compile; then
        rm -f "$OUT/module.wasm" "$OUT/module.js"
        echo "mvcc: compilation failed" >&2
        exit 1
    fi
fi

# --- link + bundle -----------------------------------------------------------------------
LINK_STAMP="emscripten $EM_VERSION | $LINKER | $LINK_FLAGS | $MOTIVUS_NAME | $MOTIVUS_VERSION | ${objects[*]}"
relink=0
if [ ! -f "$OUT/module.wasm" ] || [ ! -f "$OUT/module.js" ] || [ ! -f "$LINK_DIR/stamp.txt" ] ||
    [ "$(cat "$LINK_DIR/stamp.txt")" != "$LINK_STAMP" ]; then
    relink=1
else
    for f in "${objects[@]}" "$LOADER_JS/common.js" "$LOADER_JS/c.js" "$SELF"; do
        if [ "$f" -nt "$OUT/module.js" ] || [ "$f" -nt "$OUT/module.wasm" ]; then
            relink=1
            break
        fi
    done
fi

if [ "$relink" = 0 ]; then
    echo "mvcc: up to date" >&2
    exit 0
fi

# Old outputs go first: a failure below must not leave them looking current.
rm -f "$LINK_DIR/stamp.txt" "$LINK_DIR/glue.js" "$LINK_DIR/glue.wasm" "$OUT/module.wasm" "$OUT/module.js"
echo "mvcc: linking ${#objects[@]} object file(s)" >&2
# shellcheck disable=SC2086
if ! "$LINKER" "${objects[@]}" $LINK_FLAGS -o "$LINK_DIR/glue.js"; then
    rm -f "$OUT/module.wasm" "$OUT/module.js"
    echo "mvcc: link failed" >&2
    exit 1
fi

# One classic script: the glue's CommonJS/AMD export lines see undefined module/exports/
# define parameters, so nothing leaks into (or depends on) the worker's globals.
JS_NAME="$(printf '%s' "$MOTIVUS_NAME" | sed 's/[^A-Za-z0-9._-]//g')"
JS_VERSION="$(printf '%s' "$MOTIVUS_VERSION" | sed 's/[^A-Za-z0-9.+_-]//g')"
{
    printf '(function (module, exports, define) {\n'
    printf 'var MOTIVUS_PROGRAM = "%s";\n' "$JS_NAME"
    cat "$LOADER_JS/common.js"
    printf '\n'
    cat "$LINK_DIR/glue.js"
    printf '\n'
    cat "$LOADER_JS/c.js"
    printf '\n})(undefined, undefined, undefined);\n'
} >"$LINK_DIR/bundle.js"

if [ "$MOTIVUS_PROFILE" = "release" ]; then
    ESBUILD_FLAGS="--minify"
else
    ESBUILD_FLAGS=""
fi
# shellcheck disable=SC2086
"$ESBUILD" $ESBUILD_FLAGS --loader=js --charset=ascii --legal-comments=none \
    --banner="/* $JS_NAME $JS_VERSION: Motivus mvcc loader (emscripten $EM_VERSION); motivus-loader:reusable */" \
    <"$LINK_DIR/bundle.js" >"$LINK_DIR/module.js.tmp"

cat "$LINK_DIR/glue.wasm" >"$OUT/module.wasm.tmp"
mv -f "$OUT/module.wasm.tmp" "$OUT/module.wasm"
mv -f "$LINK_DIR/module.js.tmp" "$OUT/module.js"
printf '%s' "$LINK_STAMP" >"$LINK_DIR/stamp.txt"
echo "mvcc: wrote $OUT/module.wasm ($(wc -c <"$OUT/module.wasm") bytes) and module.js ($(wc -c <"$OUT/module.js") bytes)" >&2
