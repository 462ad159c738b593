#!/bin/bash
# mvcc build script: runs Emscripten and esbuild with what the kit decided (motivus_dev/
# toolchain/mvcc.py decides every rule: which build, which sources in which language, the
# loader around the glue; this script only compiles).
#
# Runs unchanged inside the mvcc image (/opt/motivus/toolchain/build.sh, project at /project,
# --network none) and on the host. Two steps, each its own run (`build.sh STEP`):
#   compile  the program: $MOTIVUS_OUT/module.wasm, glue.js (the Emscripten glue),
#            emscripten-version.txt, and module.data when the program preloads files
#   bundle   esbuild turns $MOTIVUS_OUT/bundle.js (the loader the kit assembled around the
#            glue) into module.js: 7-bit ASCII, no comments, minified when MOTIVUS_MINIFY=1,
#            with the banner of banner.txt
# Inputs (environment, see the build-script interface):
#   MOTIVUS_PROJECT, MOTIVUS_SOURCE, MOTIVUS_FILESYSTEM, MOTIVUS_NAME, MOTIVUS_VERSION,
#   MOTIVUS_PROFILE (release|debug), MOTIVUS_CFLAGS, MOTIVUS_LDFLAGS, MOTIVUS_OUT, MOTIVUS_CACHE,
#   MOTIVUS_SIMD (1: compile with wasm SIMD128, the automatic build only), MOTIVUS_KEEP_NAMES
#   (1: keep function names in the module, for a profile),
#   and the kit's decisions:
#   MOTIVUS_MAKEFILE  the Makefile whose `app` target builds the program, or empty
#   MOTIVUS_SOURCES   otherwise: `c:PATH` / `cpp:PATH` words, relative to the source
#                     directory, in link order
#   MOTIVUS_LINKER    c or cpp: emcc or em++ links
#   MOTIVUS_MINIFY    1 to minify the loader
#
# Two ways to build, as the platform's packager had:
# - With MOTIVUS_MAKEFILE: `make app` runs in the project directory with the platform's
#   variables (SOURCE_DIR, BUILD_DIR, FILESYSTEM_DIR, OBJ_DIR and objdir, PACKAGE =
#   NAME-VERSION, PACKAGE_NAME, PACKAGE_VERSION; paths relative to the project) and must leave
#   $(BUILD_DIR)/$(PACKAGE).js and .wasm (and .data if it preloads files).
# - Otherwise each of MOTIVUS_SOURCES is compiled to its own object file in
#   $MOTIVUS_CACHE/obj (with a dependency file), so a one-line change recompiles one file, and
#   they are linked into one program; the link is skipped when nothing it reads changed.
#
# Needs: emcc/em++ (Debian's emscripten: 3.1.69 in the image; a host may have another
# version), node with Debian's JS modules (NODE_PATH=/usr/share/nodejs), esbuild, GNU make for
# Makefile projects, and bash + coreutils.
set -euo pipefail

fail() {
    echo "mvcc: $*" >&2
    exit 2
}

STEP="${1:-compile}"
case "$STEP" in
    compile | bundle | __compile) ;;
    *) fail "unknown step '$STEP' (compile or bundle)" ;;
esac

SELF="${BASH_SOURCE[0]}"

: "${MOTIVUS_PROJECT:?mvcc: MOTIVUS_PROJECT is not set}"
: "${MOTIVUS_OUT:?mvcc: MOTIVUS_OUT is not set}"
: "${MOTIVUS_CACHE:?mvcc: MOTIVUS_CACHE is not set}"
MOTIVUS_SOURCE="${MOTIVUS_SOURCE:-.}"
MOTIVUS_FILESYSTEM="${MOTIVUS_FILESYSTEM:-}"
MOTIVUS_NAME="${MOTIVUS_NAME:-program}"
MOTIVUS_VERSION="${MOTIVUS_VERSION:-0.0.0}"
MOTIVUS_PROFILE="${MOTIVUS_PROFILE:-release}"
MOTIVUS_CFLAGS="${MOTIVUS_CFLAGS:-}"
MOTIVUS_LDFLAGS="${MOTIVUS_LDFLAGS:-}"
MOTIVUS_MAKEFILE="${MOTIVUS_MAKEFILE:-}"
MOTIVUS_SOURCES="${MOTIVUS_SOURCES:-}"
MOTIVUS_LINKER="${MOTIVUS_LINKER:-c}"
MOTIVUS_MINIFY="${MOTIVUS_MINIFY:-1}"

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
# Compile one source file (invoked by xargs below as: build.sh __compile LANG SOURCE OBJECT,
# LANG c or cpp). Reads the flags from the environment the parent exported.
if [ "$STEP" = "__compile" ]; then
    src="$3"
    obj="$4"
    mkdir -p "$(dirname "$obj")"
    if [ "$2" = c ]; then
        compiler="$EMCC"; std_flags="$MVCC_C_STD"
    else
        compiler="$EMXX"; std_flags="$MVCC_CXX_STD"
    fi
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

# --- bundle ------------------------------------------------------------------------------
# The loader the kit assembled (bundle.js, banner.txt), minified into module.js.
if [ "$STEP" = bundle ]; then
    command -v "$ESBUILD" >/dev/null 2>&1 || fail "esbuild not found (install the Debian package 'esbuild')"
    OUT="$(cd "$MOTIVUS_OUT" && pwd -P)"
    for f in bundle.js banner.txt module.wasm; do
        [ -f "$OUT/$f" ] || fail "no $OUT/$f: the compile step and the kit make it before this step"
    done
    ESBUILD_FLAGS=""
    if [ "$MOTIVUS_MINIFY" = 1 ]; then ESBUILD_FLAGS="--minify"; fi
    rm -f "$OUT/module.js"
    # shellcheck disable=SC2086
    "$ESBUILD" $ESBUILD_FLAGS --loader=js --charset=ascii --legal-comments=none --log-level=warning \
        --banner="$(cat "$OUT/banner.txt")" <"$OUT/bundle.js" >"$OUT/module.js.tmp"
    mv -f "$OUT/module.js.tmp" "$OUT/module.js"
    data=""
    if [ -f "$OUT/module.data" ]; then data=" and module.data ($(wc -c <"$OUT/module.data") bytes)"; fi
    echo "mvcc: wrote $OUT/module.wasm ($(wc -c <"$OUT/module.wasm") bytes) and module.js ($(wc -c <"$OUT/module.js") bytes)$data" >&2
    exit 0
fi

command -v "$EMCC" >/dev/null 2>&1 || fail "emcc not found (install the Debian package 'emscripten')"
[ -f "$EM_VERSION_FILE" ] || fail "no $EM_VERSION_FILE: is Debian's emscripten installed?"
EM_VERSION="$(cat "$EM_VERSION_FILE")"

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
# What the bundle step makes from this step's outputs is stale from here on.
rm -f "$OUT/module.js" "$OUT/bundle.js" "$OUT/banner.txt"
FS_DIR=""
if [ -n "$MOTIVUS_FILESYSTEM" ] && [ -d "$PROJECT/$MOTIVUS_FILESYSTEM" ]; then
    FS_DIR="$(cd "$PROJECT/$MOTIVUS_FILESYSTEM" && pwd -P)"
fi
PACKAGE="$MOTIVUS_NAME-$MOTIVUS_VERSION"

MAKEFILE="$MOTIVUS_MAKEFILE"

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

# Outputs of the program build, copied to $OUT below: GLUE_JS, GLUE_WASM, and GLUE_DATA (the
# Emscripten file package of --preload-file, or empty).
GLUE_JS=""
GLUE_WASM=""
GLUE_DATA=""

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
        rm -f "$OUT/module.wasm" "$OUT/glue.js" "$OUT/module.data"
        echo "mvcc: make app failed" >&2
        exit 1
    fi
    GLUE_JS="$build_dir/$PACKAGE.js"
    GLUE_WASM="$build_dir/$PACKAGE.wasm"
    for f in "$GLUE_JS" "$GLUE_WASM"; do
        [ -f "$f" ] || fail "make app left no \$(BUILD_DIR)/$(basename "$f"): the app target must link the program with emcc -o \$(BUILD_DIR)/\$(PACKAGE).js (the platform's contract; PACKAGE is $PACKAGE)"
    done
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
    # SIMD128 lets clang vectorise loops as it does natively with SSE2 (the C++ template's
    # k-means kernel 1.3x faster with it, docs/benchmarks.md); node 16 and current browsers
    # run it.
    if [ "${MOTIVUS_SIMD:-0}" = 1 ]; then
        OPT_FLAGS="$OPT_FLAGS -msimd128"
        LINK_PROFILE_FLAGS="$LINK_PROFILE_FLAGS -msimd128"
    fi
    if [ "${MOTIVUS_KEEP_NAMES:-0}" = 1 ]; then LINK_PROFILE_FLAGS="$LINK_PROFILE_FLAGS --profiling-funcs"; fi

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

    local objects=() stale=() word lang rel src obj up_to_date dep
    local -a words
    read -r -a words <<<"$MOTIVUS_SOURCES"
    [ "${#words[@]}" -gt 0 ] || fail "MOTIVUS_SOURCES is empty: the kit names the sources to compile"
    for word in "${words[@]}"; do
        lang="${word%%:*}"
        rel="${word#*:}"
        src="$SRC_DIR/$rel"
        [ -f "$src" ] || fail "no source $rel in $(project_relative "$SRC_DIR")"
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
            stale+=("$lang" "$src" "$obj")
        elif [ -s "$obj.log" ]; then
            cat "$obj.log" >&2
        fi
    done
    # Which files make the program: with several main()s, the list shows why the link fails.
    echo "mvcc: no Makefile with an 'app' target: building ${#words[@]} source file(s) of $(project_relative "$SRC_DIR"): $(for w in "${words[@]}"; do printf '%s ' "${w#*:}"; done)" >&2

    local linker="$EMCC"
    if [ "$MOTIVUS_LINKER" = cpp ]; then linker="$EMXX"; fi

    # Relative paths in MOTIVUS_CFLAGS/LDFLAGS (-Iinclude, -Llib) are relative to the sources.
    cd "$SRC_DIR"

    if [ "${#stale[@]}" -gt 0 ]; then
        echo "mvcc: compiling $((${#stale[@]} / 3)) of ${#words[@]} source file(s)" >&2
        local jobs
        jobs="$(nproc 2>/dev/null || echo 2)"
        # xargs exits 123 when a compile fails; the compiler already printed its messages.
        if ! printf '%s\0' "${stale[@]}" | xargs -0 -n 3 -P "$jobs" bash "$SELF" __compile; then
            rm -f "$OUT/module.wasm" "$OUT/glue.js"
            echo "mvcc: compilation failed" >&2
            exit 1
        fi
    fi

    GLUE_JS="$link_dir/glue.js"
    GLUE_WASM="$link_dir/glue.wasm"
    local link_stamp="emscripten $EM_VERSION | $linker | $LINK_FLAGS | $MOTIVUS_NAME | $MOTIVUS_VERSION | ${objects[*]}"
    if [ -f "$GLUE_JS" ] && [ -f "$GLUE_WASM" ] && [ -f "$link_dir/stamp.txt" ] &&
        [ "$(cat "$link_dir/stamp.txt")" = "$link_stamp" ]; then
        local relink=0
        for f in "${objects[@]}"; do
            if [ "$f" -nt "$GLUE_JS" ]; then relink=1; break; fi
        done
        if [ "$relink" = 0 ]; then
            if [ "${#stale[@]}" = 0 ]; then echo "mvcc: up to date" >&2; fi
            return 0
        fi
    fi
    # Old outputs go first: a failure below must not leave them looking current.
    rm -f "$link_dir/stamp.txt" "$GLUE_JS" "$GLUE_WASM" "$OUT/module.wasm" "$OUT/glue.js"
    echo "mvcc: linking ${#objects[@]} object file(s)" >&2
    # shellcheck disable=SC2086
    if ! "$linker" "${objects[@]}" $LINK_FLAGS -o "$GLUE_JS"; then
        rm -f "$OUT/module.wasm" "$OUT/glue.js"
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

# The compile step's outputs, for the kit's loader and the bundle step.
rm -f "$OUT/module.wasm" "$OUT/glue.js" "$OUT/module.data" "$OUT/module.js" "$OUT/bundle.js" "$OUT/banner.txt"
cp "$GLUE_WASM" "$OUT/module.wasm.tmp"
cp "$GLUE_JS" "$OUT/glue.js.tmp"
if [ -n "$GLUE_DATA" ]; then
    cp "$GLUE_DATA" "$OUT/module.data.tmp"
    mv -f "$OUT/module.data.tmp" "$OUT/module.data"
fi
printf '%s\n' "$EM_VERSION" >"$OUT/emscripten-version.txt"
mv -f "$OUT/module.wasm.tmp" "$OUT/module.wasm"
mv -f "$OUT/glue.js.tmp" "$OUT/glue.js"
