#!/bin/sh
# A stand-in build script for the executor tests: follows the build-script interface (reads
# MOTIVUS_* only, writes into $MOTIVUS_OUT) and reports what it saw, including the network
# interfaces (only "lo" when the network is off). A package named "fail" makes it fail like a compiler.
set -eu
if [ "${MOTIVUS_NAME:-}" = "fail" ]; then
    echo "probe.c:1:1: error: expected ';' (a fake compiler error)" >&2
    exit 3
fi
mkdir -p "$MOTIVUS_OUT"
{
    echo "uid=$(id -u)"
    echo "gid=$(id -g)"
    echo "name=$MOTIVUS_NAME"
    echo "version=$MOTIVUS_VERSION"
    echo "source=$MOTIVUS_SOURCE"
    echo "profile=$MOTIVUS_PROFILE"
    echo "home_in_cache=$(case "$HOME" in "$MOTIVUS_CACHE"/*) echo yes ;; *) echo no ;; esac)"
    echo "out_in_project=$(case "$MOTIVUS_OUT" in "$MOTIVUS_PROJECT"/*) echo yes ;; *) echo no ;; esac)"
    echo "interfaces=$(ls /sys/class/net | tr '\n' ' ')"
    echo "docker_socket=$(test -e /var/run/docker.sock && echo present || echo absent)"
} >"$MOTIVUS_OUT/probe.txt"
echo "probe: project=$MOTIVUS_PROJECT"
id -u
