#!/usr/bin/env bash
# Release: build in the toolchain container, run the fixture cases, publish the version.
# .github/workflows/release.yml calls this script; any other CI system can call it as it is
# (it needs Python with the Motivus Dev Kit installed, and a Docker engine unless
# MOTIVUS_TOOLCHAIN=host).
#   MOTIVUS_PERSONAL_ACCESS_TOKEN  the publishing token (from the CI's secret store)
#   MOTIVUS_MARKETPLACE_URL        the marketplace (default: the hosted one)
#   RELEASE_TAG                    optional: the tag being released, must be v<package.version>
set -euo pipefail
cd "$(dirname "$0")/.."

: "${MOTIVUS_PERSONAL_ACCESS_TOKEN:?set MOTIVUS_PERSONAL_ACCESS_TOKEN from your CI secret store}"

version=$(motivus info --field package.version)
tag="${RELEASE_TAG:-${GITHUB_REF_NAME:-}}"
if [ -n "$tag" ] && [ "$tag" != "v$version" ]; then
  echo "release tag $tag does not match package.version $version in motivus.yml" >&2
  exit 1
fi

motivus build --toolchain "${MOTIVUS_TOOLCHAIN:-docker}"
motivus test --toolchain "${MOTIVUS_TOOLCHAIN:-docker}"
motivus push --json
