#!/usr/bin/env bash
# The main job end to end, on a fresh Debian/Ubuntu machine: sets everything up
# (scripts/setup.sh), then, in a new directory, does what an author does:
#   motivus new kmeans --lang rust   a project from the template
#   motivus build                    compile in the mvrc container (or on the host)
#   motivus test                     run the fixture cases against the package
#   motivus loopback                 a local stand-in for the Motivus cluster
#   python driver.py                 the getting-started guide's driver, run against it
# and prints the driver's result: the two-cluster labelling of the guide's ten points.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
export PATH="$ROOT/.venv/bin:$PATH"

WORK="${MOTIVUS_DEMO_DIR:-$(mktemp -d -t motivus-demo.XXXXXX)}"
PORT="${MOTIVUS_DEMO_PORT:-7070}"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

step "motivus new kmeans --lang rust --defaults   (in $WORK)"
cd "$WORK"
rm -rf kmeans
motivus new kmeans --lang rust --defaults
cd kmeans

step "motivus build"
motivus build

step "motivus test"
motivus test

step "motivus loopback --port $PORT"
motivus loopback --port "$PORT" > loopback.out 2> loopback.log &
LOOPBACK_PID=$!
trap 'kill -INT $LOOPBACK_PID 2>/dev/null; wait $LOOPBACK_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    if grep -q '^export WEBSOCKET_URI=' loopback.out 2>/dev/null; then break; fi
    if ! kill -0 "$LOOPBACK_PID" 2>/dev/null; then cat loopback.log >&2; exit 1; fi
    sleep 0.2
done
cat loopback.out
eval "$(grep '^export WEBSOCKET_URI=' loopback.out)"

step "python driver.py   (WEBSOCKET_URI=$WEBSOCKET_URI)"
python driver.py
