#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the whole test suite: static checks, unit,
# component and integration tests with the real toolchains and Docker engine. Stops the
# Docker engine afterwards if setup had to start it. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Stop the Docker engine at the end only if it was not running before: leave what we found.
engine_was_running=0
if bash scripts/docker-engine.sh status >/dev/null 2>&1; then engine_was_running=1; fi
if [ "$engine_was_running" = 0 ]; then trap 'bash scripts/docker-engine.sh stop || true' EXIT; fi

bash scripts/setup.sh

# The marketplace's S3 tests run SeaweedFS, built from its Go module once per machine
# (scripts/seaweedfs.sh; about 7 minutes on 2 cores, then cached): a go of the machine's own
# is kept (it fetches the toolchain the module needs), else Debian's.
if ! command -v go >/dev/null 2>&1; then
    printf '\033[1m==> go\033[0m\n' >&2
    SUDO=""; if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get install -y -q --no-install-recommends golang-go </dev/null
fi
printf '\033[1m==> SeaweedFS (the S3 server of the marketplace tests)\033[0m\n' >&2
bash scripts/seaweedfs.sh >/dev/null

printf '\033[1m==> static checks\033[0m\n' >&2
.venv/bin/ruff check motivus_dev motivus tests scripts
.venv/bin/mypy

printf '\033[1m==> JavaScript tests (node --test)\033[0m\n' >&2
node --test tests/js/

printf '\033[1m==> tests\033[0m\n' >&2
# pytest exits 5 when it collected no test: that is a failure here too.
.venv/bin/python -m pytest -p no:cacheprovider "$@"
