#!/usr/bin/env bash
# Sets up this checkout on a Debian/Ubuntu machine (Debian 12 and 13, Ubuntu 24.04): the
# distribution packages the kit and its tests use (scripts/apt-packages.txt, by name: the
# toolchain images carry the exact compiler versions, the host takes its distribution's), a
# virtualenv with the kit in .venv, a running Docker engine and the toolchain images.
# Idempotent and non-interactive; safe to run again.
#
# Environment: MOTIVUS_PYTHON (interpreter for the venv, default python3),
#              MOTIVUS_SKIP_IMAGES=1 (do not build the toolchain images).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

packages() {  # the package lines of the given files, comments and blanks dropped
    sed -e 's/#.*//' -e 's/[[:space:]]//g' "$@" | grep -v '^$'
}

missing_packages() {  # the package names that are not installed yet
    local name
    while read -r name; do
        case "$(dpkg-query -W -f='${Status}' "$name" 2>/dev/null || true)" in
            "install ok installed") continue ;;
        esac
        echo "$name"
    done
}

say "system packages"
mapfile -t wanted < <(packages scripts/apt-packages.txt | missing_packages)
if [ "${#wanted[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q </dev/null
    $SUDO apt-get install -y -q --no-install-recommends "${wanted[@]}" </dev/null
    # Debian's docker-registry starts a registry on every interface (port 5000) when systemd
    # runs; the kit only needs the program (its tests start one on 127.0.0.1 and stop it), so
    # a registry this set-up just installed is not left running.
    if printf '%s\n' "${wanted[@]}" | grep -qx 'docker-registry' && command -v systemctl >/dev/null 2>&1 \
            && [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
    fi
    # The same for Debian's PostgreSQL: the tests start throw-away clusters of their own.
    if printf '%s\n' "${wanted[@]}" | grep -qx 'postgresql' && command -v systemctl >/dev/null 2>&1 \
            && [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
    fi
else
    echo "all installed"
fi

# Loaders and the worker pool need node >= 18 (Debian 12 and Ubuntu 24.04 ship it).
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 18 ]; then
    echo "node >= 18 is needed (found: $(node --version 2>/dev/null || echo none)); this distribution's" \
         "nodejs is too old: use Debian 12 or Ubuntu 24.04 or newer" >&2
    exit 1
fi

# motivus profile fetches its flame-graph viewer (speedscope) with npm, once per user.
# Debian's nodejs comes without it; a node from elsewhere (NodeSource's) carries its own and
# conflicts with Debian's npm package, so it is installed only when there is none.
if ! command -v npm >/dev/null 2>&1; then
    say "npm"
    $SUDO apt-get install -y -q --no-install-recommends npm </dev/null
fi

say "python virtualenv (.venv)"
PY="${MOTIVUS_PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip </dev/null
.venv/bin/python -m pip install -q -e '.[test]' </dev/null
.venv/bin/motivus --version

say "docker engine"
bash scripts/docker-engine.sh start

if [ "${MOTIVUS_SKIP_IMAGES:-0}" != 1 ] && .venv/bin/motivus toolchain --help >/dev/null 2>&1 \
        && .venv/bin/motivus toolchain list >/dev/null 2>&1; then
    say "toolchain images"
    .venv/bin/motivus toolchain build
fi
