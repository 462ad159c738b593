#!/bin/sh
# Make the debian:trixie (or MOTIVUS_BASE_IMAGE) base image when it cannot be pulled (see the script it runs).
# The implementation ships with the toolchains so that `motivus toolchain build` uses it too.
exec "$(dirname "$0")/../toolchains/base/make-base-image.sh" "$@"
