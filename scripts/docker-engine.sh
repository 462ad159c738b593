#!/bin/sh
# Start, stop or query a Docker engine for the Motivus toolchains (CI and development).
#
#   scripts/docker-engine.sh start    install docker.io if needed, start dockerd if no engine
#                                     answers, wait until `docker info` works
#   scripts/docker-engine.sh stop     stop the engine, only if this script started it
#   scripts/docker-engine.sh status   say whether an engine answers (exit 0) or not (exit 1)
#
# Idempotent, non-interactive (CI runs it as root with no stdin). Environment:
#   MOTIVUS_DOCKERD_STATE  where the pidfile and log go (default /var/run/motivus-dockerd,
#                          or /tmp/motivus-dockerd when /var/run is not writable)
#   MOTIVUS_DOCKERD_TIMEOUT  seconds to wait for the engine (default 60)
#   MOTIVUS_DOCKERD_ARGS   extra dockerd arguments (e.g. --storage-driver=vfs)
set -eu

if [ -z "${MOTIVUS_DOCKERD_STATE:-}" ]; then
    if [ -w /var/run ]; then MOTIVUS_DOCKERD_STATE=/var/run/motivus-dockerd; else MOTIVUS_DOCKERD_STATE=/tmp/motivus-dockerd; fi
fi
STATE="$MOTIVUS_DOCKERD_STATE"
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"
TIMEOUT="${MOTIVUS_DOCKERD_TIMEOUT:-60}"

say() { echo "docker-engine: $*" >&2; }
die() { say "error: $*"; exit 1; }

# A client that talks to the engine: /usr/bin/docker (from docker.io) when present, since a
# newer client earlier on PATH may speak an API the packaged engine does not.
docker_cli() {
    if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker || true; fi
}

answers() {
    cli=$(docker_cli)
    [ -n "$cli" ] && timeout 10 "$cli" info >/dev/null 2>&1
}

our_pid() {
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = dockerd ] && echo "$pid"
}

install_docker() {
    [ -x /usr/sbin/dockerd ] && [ -n "$(docker_cli)" ] && return 0
    [ "$(id -u)" = 0 ] || die "docker.io is not installed and installing it needs root: sudo $0 start"
    say "installing docker.io with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null >/dev/null
    apt-get install -y -q --no-install-recommends docker.io </dev/null >/dev/null \
        || die "apt-get install docker.io failed"
}

# Wait until the engine answers, or dockerd (pid $1) dies, or the timeout passes.
wait_ready() {
    waited=0
    while ! answers; do
        if ! kill -0 "$1" 2>/dev/null; then return 1; fi
        [ "$waited" -ge "$TIMEOUT" ] && return 2
        sleep 1
        waited=$((waited + 1))
    done
    return 0
}

# Start dockerd with the given extra arguments; succeeds when the engine answers.
try_start() {
    mkdir -p "$STATE"
    say "starting dockerd $* (log: $LOG)"
    # setsid + no stdin: the daemon outlives this script and the CI step that ran it.
    # shellcheck disable=SC2086
    setsid /usr/sbin/dockerd ${MOTIVUS_DOCKERD_ARGS:-} "$@" </dev/null >>"$LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$PIDFILE"
    if wait_ready "$pid"; then
        say "engine ready (dockerd pid $pid, $(timeout 10 "$(docker_cli)" info --format '{{.Driver}}, cgroup v{{.CgroupVersion}}' 2>/dev/null || echo '?'))"
        return 0
    fi
    rc=$?
    kill "$pid" 2>/dev/null || true
    sleep 2
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
    [ "$rc" = 2 ] && say "dockerd did not answer within ${TIMEOUT}s"
    return 1
}

start() {
    if answers; then
        say "an engine already answers; nothing to start"
        return 0
    fi
    install_docker
    [ "$(id -u)" = 0 ] || die "starting dockerd needs root: sudo $0 start"
    if pid=$(our_pid); then
        say "dockerd (pid $pid) runs but does not answer yet; waiting"
        wait_ready "$pid" && return 0
        die "dockerd (pid $pid) does not answer; see $LOG"
    fi
    # A stale socket or pidfile from a killed daemon stops a new one from starting.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    # Default settings first (overlay2 works on this kind of machine); if that fails, fall
    # back to what works in restricted kernels: the vfs storage driver, then no iptables.
    try_start && return 0
    say "default settings failed (last lines of $LOG below); retrying with --storage-driver=vfs"
    tail -n 5 "$LOG" >&2 || true
    try_start --storage-driver=vfs && return 0
    try_start --storage-driver=vfs --iptables=false --bridge=none && return 0
    tail -n 20 "$LOG" >&2 || true
    die "could not start dockerd; see $LOG"
}

stop() {
    if ! pid=$(our_pid); then
        rm -f "$PIDFILE"
        say "no engine started by this script is running; nothing to stop"
        return 0
    fi
    say "stopping dockerd (pid $pid)"
    kill "$pid"
    waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$waited" -ge 30 ]; then
            say "dockerd did not stop within 30s; killing it"
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 1
        waited=$((waited + 1))
    done
    rm -f "$PIDFILE"
}

status() {
    if answers; then
        if pid=$(our_pid); then say "engine answers (started by this script, dockerd pid $pid)"
        else say "engine answers (not started by this script)"; fi
        return 0
    fi
    say "no engine answers"
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
