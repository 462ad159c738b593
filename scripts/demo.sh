#!/usr/bin/env bash
# The main job end to end, on a fresh Debian/Ubuntu machine: sets everything up
# (scripts/setup.sh), then in a new directory makes a Rust k-means project from the template,
# and shows its validated configuration. Prints where the project is.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
export PATH="$ROOT/.venv/bin:$PATH"

WORK="${MOTIVUS_DEMO_DIR:-$(mktemp -d -t motivus-demo.XXXXXX)}"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

step "motivus new kmeans --lang rust --defaults  (in $WORK)"
cd "$WORK"
rm -rf kmeans
motivus new kmeans --lang rust --defaults
cd kmeans

step "motivus info"
motivus info
echo "project: $WORK/kmeans"
