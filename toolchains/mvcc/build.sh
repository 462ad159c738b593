#!/bin/bash
# mvcc build script: builds a C/C++ project with Emscripten into module.wasm + module.js.
#
# Runs unchanged inside the mvcc image (/opt/motivus/toolchain/build.sh, project at /project,
# --network none) and on the host. Inputs (environment, see the build-script interface):
#   MOTIVUS_PROJECT, MOTIVUS_SOURCE, MOTIVUS_FILESYSTEM, MOTIVUS_LANG (c|cpp), MOTIVUS_NAME,
#   MOTIVUS_VERSION, MOTIVUS_PROFILE (release|debug), MOTIVUS_CFLAGS, MOTIVUS_LDFLAGS,
#   MOTIVUS_OUT, MOTIVUS_CACHE
# Outputs: $MOTIVUS_OUT/module.wasm and $MOTIVUS_OUT/module.js, the final loader (the
# Emscripten glue and the Motivus wrapper, loader_js/common.js + c.js, in one classic script),
# and $MOTIVUS_OUT/module.data when the program preloads files (--preload-file).
#
# Two ways to build, as the platform's packager had:
# - The project has a Makefile (GNUmakefile, makefile or Makefile, the one make reads) with an
#   `app` target: `make app` runs in the project directory with the platform's variables
#   (SOURCE_DIR, BUILD_DIR, FILESYSTEM_DIR, OBJ_DIR and objdir, PACKAGE = NAME-VERSION,
#   PACKAGE_NAME, PACKAGE_VERSION; paths relative to the project) and must leave
#   $(BUILD_DIR)/$(PACKAGE).js and .wasm (and .data if it preloads files).
# - Otherwise every *.c / *.cc / *.cpp / *.cxx file under the source directory is compiled to
#   its own object file in $MOTIVUS_CACHE/obj (with a dependency file), so a one-line change
#   recompiles one file, and they are linked into one program; the link and the bundling are
#   skipped when nothing they read changed. Skipped when searching for sources: hidden
#   directories (.motivus, .git), the project's build/ directory (packages), and the
#   filesystem directory (it is data, packed by the kit).
#
# Needs: emcc/em++ (Debian's emscripten: 3.1.69 in the image; a host may have another
# version), node with Debian's JS modules (NODE_PATH=/usr/share/nodejs), esbuild, GNU make for
# Makefile projects, and bash + findutils.
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
[ -f "$EM_VERSION_FILE" ] || fail "no $EM_VERSION_FILE: is Debian's emscripten installed?"
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
PACKAGE="$MOTIVUS_NAME-$MOTIVUS_VERSION"

# The Makefile make would read (GNUmakefile, makefile, Makefile, in make's order), when it has
# the platform's `app` target: then `make app` builds the program, not the automatic build.
MAKEFILE=""
for candidate in GNUmakefile makefile Makefile; do
    if [ -f "$PROJECT/$candidate" ]; then
        if grep -Eq '^app[[:space:]]*:' "$PROJECT/$candidate"; then MAKEFILE="$candidate"; fi
        break
    fi
done

# A path as make sees it from the project directory: relative when inside the project, so that
# the command lines (and any path the compiler records) are the same in the container and on
# the host.
project_relative() {
    case "$1" in
        "$PROJECT") printf '.' ;;
        "$PROJECT"/*) printf '%s' "${1#"$PROJECT"/}" ;;
        *) printf '%s' "$1" ;;
    esac
}

# Outputs of the program build, for the bundling below: GLUE_JS, GLUE_WASM, and GLUE_DATA (the
# Emscripten file package of --preload-file, or empty). BUNDLE_REUSABLE: whether the loader
# may run more than one task per worker (only for glue this script linked itself).
GLUE_JS=""
GLUE_WASM=""
GLUE_DATA=""
BUNDLE_REUSABLE=0

# ---------------------------------------------------------------------------------------
# A project with its own Makefile: `make app`, with the platform's variables.
make_build() {
    local build_dir="$CACHE/make/build" obj_dir="$CACHE/make/obj" fs_rel
    fs_rel="${MOTIVUS_FILESYSTEM:-filesystem}"
    if [ -n "$FS_DIR" ]; then fs_rel="$(project_relative "$FS_DIR")"; fi
    command -v make >/dev/null 2>&1 || fail "$MAKEFILE has an 'app' target, but make is not installed (apt-get install -y make)"
    # Objects of another emscripten (the image's and the host's share the project's cache) are
    # not up to date whatever their times say: make would link them as they are.
    if [ ! -f "$CACHE/make/compiler.txt" ] || [ "$(cat "$CACHE/make/compiler.txt")" != "emscripten $EM_VERSION" ]; then
        rm -rf "$obj_dir" "$build_dir"
        mkdir -p "$CACHE/make"
        printf 'emscripten %s' "$EM_VERSION" >"$CACHE/make/compiler.txt"
    fi
    mkdir -p "$build_dir" "$obj_dir"
    # The platform's `app` target writes these; old ones must not pass for new ones.
    rm -f "$build_dir/$PACKAGE.js" "$build_dir/$PACKAGE.wasm" "$build_dir/$PACKAGE.data"
    [ -z "$MOTIVUS_CFLAGS$MOTIVUS_LDFLAGS" ] ||
        echo "mvcc: warning: build.cflags and build.ldflags are not used: the Makefile sets the flags" >&2
    echo "mvcc: $MAKEFILE has an 'app' target: running make app" >&2
    # OBJ_DIR is the platform's name; its example Makefiles spell it objdir. make is run
    # serially: Makefiles written for `make dist` need not be safe with -j.
    if ! (cd "$PROJECT" && make --no-print-directory -f "$MAKEFILE" app \
        SOURCE_DIR="$(project_relative "$SRC_DIR")" \
        BUILD_DIR="$(project_relative "$build_dir")" \
        FILESYSTEM_DIR="$fs_rel" \
        OBJ_DIR="$(project_relative "$obj_dir")" \
        objdir="$(project_relative "$obj_dir")" \
        PACKAGE="$PACKAGE" PACKAGE_NAME="$MOTIVUS_NAME" PACKAGE_VERSION="$MOTIVUS_VERSION" >&2); then
        rm -f "$OUT/module.wasm" "$OUT/module.js" "$OUT/module.data"
        echo "mvcc: make app failed" >&2
        exit 1
    fi
    GLUE_JS="$build_dir/$PACKAGE.js"
    GLUE_WASM="$build_dir/$PACKAGE.wasm"
    for f in "$GLUE_JS" "$GLUE_WASM"; do
        [ -f "$f" ] || fail "make app left no \$(BUILD_DIR)/$(basename "$f"): the app target must link the program with emcc -o \$(BUILD_DIR)/\$(PACKAGE).js (the platform's contract; PACKAGE is $PACKAGE)"
    done
    # Only a classic program can run inside the loader (as the platform's adapter runs it).
    if grep -q 'readyPromiseResolve' "$GLUE_JS"; then
        fail "make app linked with -sMODULARIZE: the loader runs a classic Emscripten program; drop -sMODULARIZE (and -sEXPORT_ES6) from the app target"
    fi
    if grep -q 'import\.meta' "$GLUE_JS"; then
        fail "make app built an ES module (-sEXPORT_ES6 or a .mjs output): the loader runs a classic script; drop it from the app target"
    fi
    if [ -f "$build_dir/$PACKAGE.data" ]; then GLUE_DATA="$build_dir/$PACKAGE.data"; fi
    echo "mvcc: make app built $PACKAGE.js and $PACKAGE.wasm${GLUE_DATA:+ and $PACKAGE.data}" >&2
}

# ---------------------------------------------------------------------------------------
# Without a Makefile: every C/C++ source of the source directory, one program.
automatic_build() {
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
    # cache so that __FILE__ and any recorded path are the same in both. The date macros are
    # pinned by hand (clang before 18 ignores SOURCE_DATE_EPOCH).
    export MVCC_C_STD="-std=gnu17"
    export MVCC_CXX_STD="-std=gnu++17"
    export MVCC_COMPILE_FLAGS="$OPT_FLAGS -I$SRC_DIR -ffile-prefix-map=$PROJECT=/project -ffile-prefix-map=$CACHE=/cache -Wno-builtin-macro-redefined -D__DATE__=\"Jan_01_1970\" -D__TIME__=\"00:00:00\" -D__TIMESTAMP__=\"Thu_Jan_01_00:00:00_1970\" $MOTIVUS_CFLAGS"

    # A classic program (not -sMODULARIZE): the loader runs its glue inside a function once
    # per task, as the platform's adapter does, so both build kinds share one loader.
    # STACK_SIZE: emscripten 3.1.27 cut the default stack from 5 MB to 64 KB, which programs
    # written for the platform's 3.1.6 overflow (the C template's arrays on the stack do), so
    # the kit keeps 5 MB (older versions have it by default and no such setting);
    # build.ldflags can set another.
    local stack_flag="-sSTACK_SIZE=5242880"
    if [ "$(printf '%s\n%s\n' "$EM_VERSION" 3.1.27 | sort -V | head -n 1)" != 3.1.27 ]; then stack_flag=""; fi
    LINK_FLAGS="$LINK_PROFILE_FLAGS $stack_flag -sEXIT_RUNTIME=1 -sINVOKE_RUN=0 \
-sEXPORTED_RUNTIME_METHODS=FS -sFORCE_FILESYSTEM=1 -sALLOW_MEMORY_GROWTH=1 \
-sENVIRONMENT=worker,node -sNODEJS_CATCH_EXIT=0 -sNODEJS_CATCH_REJECTION=0 $MOTIVUS_LDFLAGS"

    local obj_dir="$CACHE/obj/$MOTIVUS_PROFILE" link_dir="$CACHE/link/$MOTIVUS_PROFILE"
    # A change of compiler or flags invalidates every object file.
    local compile_stamp="emscripten $EM_VERSION | $MVCC_C_STD | $MVCC_CXX_STD | $MVCC_COMPILE_FLAGS"
    if [ ! -f "$obj_dir/flags.txt" ] || [ "$(cat "$obj_dir/flags.txt")" != "$compile_stamp" ]; then
        rm -rf "$obj_dir"
        mkdir -p "$obj_dir"
        printf '%s' "$compile_stamp" >"$obj_dir/flags.txt"
    fi
    mkdir -p "$link_dir"

    local prune=(-name '.*' -o -path "$PROJECT/build")
    if [ -n "$FS_DIR" ] && [ "$FS_DIR" != "$SRC_DIR" ]; then
        prune+=(-o -path "$FS_DIR")
    fi
    local sources=() f
    while IFS= read -r -d '' f; do
        sources+=("$f")
    done < <(find "$SRC_DIR" -mindepth 1 \( -type d \( "${prune[@]}" \) -prune \) -o \
        -type f \( -name '*.c' -o -name '*.cc' -o -name '*.cpp' -o -name '*.cxx' \) -print0 | sort -z)

    [ "${#sources[@]}" -gt 0 ] || fail "no C/C++ sources (*.c, *.cc, *.cpp, *.cxx) in $SRC_DIR (motivus.yml build.source)"

    local has_cxx=0 objects=() stale=() src rel obj up_to_date dep
    for src in "${sources[@]}"; do
        case "$src" in
            *[[:space:]]*) fail "source path '$src' contains whitespace; rename it" ;;
        esac
        rel="${src#"$SRC_DIR"/}"
        case "$src" in *.c) ;; *) has_cxx=1 ;; esac
        obj="$obj_dir/$rel.o"
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
    # Which files make the program: with several main()s, the list shows why the link fails.
    echo "mvcc: no Makefile with an 'app' target: building ${#sources[@]} source file(s) of $(project_relative "$SRC_DIR"): $(for s in "${sources[@]}"; do printf '%s ' "${s#"$SRC_DIR"/}"; done)" >&2

    if [ "$MOTIVUS_LANG" = "cpp" ]; then has_cxx=1; fi
    local linker="$EMCC"
    if [ "$has_cxx" = 1 ]; then linker="$EMXX"; fi

    # Relative paths in MOTIVUS_CFLAGS/LDFLAGS (-Iinclude, -Llib) are relative to the sources.
    cd "$SRC_DIR"

    if [ "${#stale[@]}" -gt 0 ]; then
        echo "mvcc: compiling $((${#stale[@]} / 2)) of ${#sources[@]} source file(s)" >&2
        local jobs
        jobs="$(nproc 2>/dev/null || echo 2)"
        # xargs exits 123 when a compile fails; the compiler already printed its messages.
        if ! printf '%s\0' "${stale[@]}" | xargs -0 -n 2 -P "$jobs" bash "$SELF" __compile; then
            rm -f "$OUT/module.wasm" "$OUT/module.js"
            echo "mvcc: compilation failed" >&2
            exit 1
        fi
    fi

    GLUE_JS="$link_dir/glue.js"
    GLUE_WASM="$link_dir/glue.wasm"
    BUNDLE_REUSABLE=1
    local link_stamp="emscripten $EM_VERSION | $linker | $LINK_FLAGS | $MOTIVUS_NAME | $MOTIVUS_VERSION | ${objects[*]}"
    if [ -f "$GLUE_JS" ] && [ -f "$GLUE_WASM" ] && [ -f "$link_dir/stamp.txt" ] &&
        [ "$(cat "$link_dir/stamp.txt")" = "$link_stamp" ]; then
        local relink=0
        for f in "${objects[@]}"; do
            if [ "$f" -nt "$GLUE_JS" ]; then relink=1; break; fi
        done
        if [ "$relink" = 0 ]; then return 0; fi
    fi
    # Old outputs go first: a failure below must not leave them looking current.
    rm -f "$link_dir/stamp.txt" "$GLUE_JS" "$GLUE_WASM" "$OUT/module.wasm" "$OUT/module.js"
    echo "mvcc: linking ${#objects[@]} object file(s)" >&2
    # shellcheck disable=SC2086
    if ! "$linker" "${objects[@]}" $LINK_FLAGS -o "$GLUE_JS"; then
        rm -f "$OUT/module.wasm" "$OUT/module.js"
        echo "mvcc: link failed" >&2
        exit 1
    fi
    printf '%s' "$link_stamp" >"$link_dir/stamp.txt"
}

if [ -n "$MAKEFILE" ]; then
    make_build
else
    automatic_build
fi

# --- bundle ------------------------------------------------------------------------------
# The loader: common.js, the glue inside `motivusProgram(Module)` (called once per task: a
# fresh runtime and filesystem each time, as the platform's adapter does with its start()),
# then c.js, in one classic script. The glue's own names (FS, callMain, ...) are handed out
# from inside that scope: a build with ASSERTIONS turns Module.FS and the like into traps.
# CommonJS/AMD export lines in the glue see undefined module/exports/define.
JS_NAME="$(printf '%s' "$MOTIVUS_NAME" | sed 's/[^A-Za-z0-9._-]//g')"
JS_VERSION="$(printf '%s' "$MOTIVUS_VERSION" | sed 's/[^A-Za-z0-9.+_-]//g')"
BANNER="/* $JS_NAME $JS_VERSION: Motivus mvcc loader (emscripten $EM_VERSION)"
if [ "$BUNDLE_REUSABLE" = 1 ]; then BANNER="$BANNER; motivus-loader:reusable"; fi
BANNER="$BANNER */"
DATA_PACKAGE="null"
if [ -n "$GLUE_DATA" ]; then DATA_PACKAGE="\"$JS_NAME-$JS_VERSION.data\""; fi
BUNDLE_STAMP="$BANNER | $DATA_PACKAGE | $MOTIVUS_PROFILE"
BUNDLE_DIR="$CACHE/bundle"
mkdir -p "$BUNDLE_DIR"
if [ -z "$GLUE_DATA" ] && [ -f "$OUT/module.wasm" ] && [ -f "$OUT/module.js" ] && [ ! -e "$OUT/module.data" ] &&
    [ -f "$BUNDLE_DIR/stamp.txt" ] && [ "$(cat "$BUNDLE_DIR/stamp.txt")" = "$BUNDLE_STAMP" ]; then
    uptodate=1
    for f in "$GLUE_JS" "$GLUE_WASM" "$LOADER_JS/common.js" "$LOADER_JS/c.js" "$SELF"; do
        if [ "$f" -nt "$OUT/module.js" ] || [ "$f" -nt "$OUT/module.wasm" ]; then uptodate=0; break; fi
    done
    if [ "$uptodate" = 1 ]; then
        echo "mvcc: up to date" >&2
        exit 0
    fi
fi
rm -f "$BUNDLE_DIR/stamp.txt" "$OUT/module.wasm" "$OUT/module.js" "$OUT/module.data"
{
    printf '(function (module, exports, define) {\n'
    printf 'var MOTIVUS_PROGRAM = "%s";\n' "$JS_NAME"
    printf 'var MOTIVUS_DATA_PACKAGE = %s;\n' "$DATA_PACKAGE"
    cat "$LOADER_JS/common.js"
    printf '\nfunction motivusProgram(Module) {\n'
    cat "$GLUE_JS"
    printf '\n;return {\n'
    printf '  module: Module,\n'
    printf '  FS: typeof FS !== "undefined" ? FS : null,\n'
    printf '  callMain: typeof callMain === "function" ? callMain : null,\n'
    printf '  stringOnStack: typeof stringToUTF8OnStack === "function" ? stringToUTF8OnStack :\n'
    printf '    typeof allocateUTF8OnStack === "function" ? allocateUTF8OnStack : null\n'
    printf '};\n}\n'
    cat "$LOADER_JS/c.js"
    printf '\n})(undefined, undefined, undefined);\n'
} >"$BUNDLE_DIR/bundle.js"

if [ "$MOTIVUS_PROFILE" = "release" ]; then
    ESBUILD_FLAGS="--minify"
else
    ESBUILD_FLAGS=""
fi
# shellcheck disable=SC2086
"$ESBUILD" $ESBUILD_FLAGS --loader=js --charset=ascii --legal-comments=none --log-level=warning \
    --banner="$BANNER" <"$BUNDLE_DIR/bundle.js" >"$BUNDLE_DIR/module.js.tmp"

cat "$GLUE_WASM" >"$OUT/module.wasm.tmp"
mv -f "$OUT/module.wasm.tmp" "$OUT/module.wasm"
if [ -n "$GLUE_DATA" ]; then
    cat "$GLUE_DATA" >"$OUT/module.data.tmp"
    mv -f "$OUT/module.data.tmp" "$OUT/module.data"
fi
mv -f "$BUNDLE_DIR/module.js.tmp" "$OUT/module.js"
printf '%s' "$BUNDLE_STAMP" >"$BUNDLE_DIR/stamp.txt"
echo "mvcc: wrote $OUT/module.wasm ($(wc -c <"$OUT/module.wasm") bytes) and module.js ($(wc -c <"$OUT/module.js") bytes)${GLUE_DATA:+ and module.data ($(wc -c <"$OUT/module.data") bytes)}" >&2
