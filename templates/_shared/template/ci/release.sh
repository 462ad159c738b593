#!/usr/bin/env bash
# Release: build in the toolchain container, run the fixture cases, publish the version.
# .github/workflows/release.yml calls this script; any other CI system can call it as it is
# (it needs Python with the Motivus Dev Kit installed, and a Docker engine unless
# MOTIVUS_TOOLCHAIN=host).
#   MOTIVUS_PERSONAL_ACCESS_TOKEN  the publishing token (from the CI's secret store)
#   MOTIVUS_MARKETPLACE_URL        the marketplace (default: the hosted one)
#   RELEASE_TAG                    optional: the tag being released, must be v<package.version>
#   MOTIVUS_IMAGE_CACHE            optional: a directory the CI keeps between runs, where the
#                                  toolchain image is saved (a fresh runner otherwise builds it)
#   MOTIVUS_TOOLCHAIN_REGISTRY     optional: host:port of a registry your team filled with
#                                  `motivus toolchain push --registry`; tried before a build
set -euo pipefail
cd "$(dirname "$0")/.."

: "${MOTIVUS_PERSONAL_ACCESS_TOKEN:?set MOTIVUS_PERSONAL_ACCESS_TOKEN from your CI secret store}"

version=$(motivus info --field package.version)
tag="${RELEASE_TAG:-${GITHUB_REF_NAME:-}}"
if [ -n "$tag" ] && [ "$tag" != "v$version" ]; then
  echo "release tag $tag does not match package.version $version in motivus.yml" >&2
  exit 1
fi

image_tar=""
if [ -n "${MOTIVUS_IMAGE_CACHE:-}" ] && [ "${MOTIVUS_TOOLCHAIN:-docker}" = docker ]; then
  compiler=$(motivus info --field build.compiler)
  image=$(motivus toolchain list --json | python3 -c "import json, sys
print(next(i['image'] for i in json.load(sys.stdin)['images'] if i['pinned'] and i['toolchain'] == '$compiler'))")
  image_tar="$MOTIVUS_IMAGE_CACHE/$(printf '%s' "$image" | tr '/:' '__').tar"
  if [ -f "$image_tar" ]; then
    docker load -i "$image_tar" >/dev/null
  fi
fi

# A missing toolchain image is built from the kit's Dockerfile by the build itself.
motivus build --toolchain "${MOTIVUS_TOOLCHAIN:-docker}"
if [ -n "$image_tar" ] && [ ! -f "$image_tar" ]; then
  mkdir -p "$MOTIVUS_IMAGE_CACHE"
  docker save "$image" -o "$image_tar"
fi
motivus test --toolchain "${MOTIVUS_TOOLCHAIN:-docker}"
motivus push --json
