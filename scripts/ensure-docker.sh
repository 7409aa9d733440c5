#!/usr/bin/env bash
# ensure-docker.sh — make sure a Docker engine answers on this machine.
#
#   scripts/ensure-docker.sh            # exit 0 once `docker info` answers
#
# Idempotent and safe to run concurrently:
#   1. `docker info` already answers            -> exit 0 at once.
#   2. `dockerd` is missing                     -> apt-get install docker.io
#      (apt-get update only if the first install attempt fails).
#   3. no dockerd process is running            -> start one in the background
#      (plain `dockerd` with its defaults: docker0, iptables; no systemd
#      needed), logging to /var/log/socklab-dockerd.log.
#   4. wait up to SOCKLAB_DOCKER_WAIT seconds (default 30) for `docker info`.
# Steps 2-4 run under an exclusive flock, so a second caller that arrives while
# dockerd is starting waits for the first one instead of starting a second
# dockerd. Failure is one line on stderr and a non-zero exit status:
#   1 = cannot start (not root, install failed, dockerd died or timed out)
#   2 = bad usage

set -euo pipefail

LOG=${SOCKLAB_DOCKERD_LOG:-/var/log/socklab-dockerd.log}
LOCK=${SOCKLAB_DOCKERD_LOCK:-/run/lock/socklab-dockerd.lock}
WAIT=${SOCKLAB_DOCKER_WAIT:-30}

die() { echo "ensure-docker: $*" >&2; exit 1; }
say() { echo "ensure-docker: $*" >&2; }

if [[ $# -gt 0 ]]; then
    echo "usage: $0   (no arguments; env: SOCKLAB_DOCKER_WAIT, SOCKLAB_DOCKERD_LOG)" >&2
    exit 2
fi

engine_answers() { docker info >/dev/null 2>&1; }

# Fast path: nothing to do (no lock, no root needed).
if command -v docker >/dev/null 2>&1 && engine_answers; then
    exit 0
fi

[[ $(id -u) -eq 0 ]] || die "the Docker engine does not answer and starting it needs root (run: sudo $0)"

mkdir -p "$(dirname "$LOCK")" "$(dirname "$LOG")"
exec 9>"$LOCK"
flock -w $((WAIT + 120)) 9 || die "timed out waiting for another ensure-docker run (lock $LOCK)"

# Someone else may have finished the job while we waited for the lock.
if command -v docker >/dev/null 2>&1 && engine_answers; then
    exit 0
fi

# --- install -------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    say "installing Debian's docker.io with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -q --no-install-recommends docker.io >>"$LOG" 2>&1; }
    if ! apt_install; then
        say "install failed with the current package lists; running apt-get update"
        apt-get update -q >>"$LOG" 2>&1 || die "apt-get update failed (see $LOG)"
        apt_install || die "apt-get install docker.io failed (see $LOG)"
    fi
    command -v dockerd >/dev/null 2>&1 || die "docker.io is installed but dockerd is not on PATH"
fi

# --- start -----------------------------------------------------------------
dockerd_pid() {
    # The pid of a live dockerd, from its pid file or the process table.
    local pid=""
    if [[ -s /var/run/docker.pid ]]; then
        pid=$(<"/var/run/docker.pid")
        if [[ -n $pid && -d /proc/$pid && $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]]; then
            echo "$pid"; return 0
        fi
    fi
    pid=$(pgrep -x -o dockerd 2>/dev/null || true)
    [[ -n $pid ]] && { echo "$pid"; return 0; }
    return 1
}

if pid=$(dockerd_pid); then
    say "dockerd is already running (pid $pid); waiting for it to answer"
    started=0
else
    say "starting dockerd (log: $LOG)"
    {
        echo "---- $(date -Is) socklab ensure-docker starting dockerd ----"
    } >>"$LOG"
    # setsid + nohup: the engine outlives this script and its terminal. No
    # descriptor but 0-2 may leak into dockerd (fd 9 is our lock; a caller's
    # `flock FILE make test` holds another): any lock it inherited would be
    # held for as long as the engine runs.
    (
        for fd in /proc/$BASHPID/fd/*; do
            n=${fd##*/}
            if (( n > 2 )); then eval "exec $n>&-"; fi
        done
        exec setsid nohup dockerd >>"$LOG" 2>&1 </dev/null
    ) &
    pid=$!
    started=1
fi

deadline=$((SECONDS + WAIT))
while ! engine_answers; do
    if ! kill -0 "$pid" 2>/dev/null && ! pid=$(dockerd_pid); then
        # The process we watched is gone: report the engine's own last words.
        reason=$(grep -E 'level=(fatal|error)|failed to start|Error' "$LOG" 2>/dev/null | tail -n 1 | cut -c1-240 || true)
        die "dockerd exited before answering${reason:+: $reason} (see $LOG)"
    fi
    if ((SECONDS >= deadline)); then
        if ((started)); then
            die "dockerd (pid $pid) started but did not answer within ${WAIT}s (see $LOG)"
        fi
        die "dockerd (pid $pid) is running but did not answer within ${WAIT}s (see $LOG)"
    fi
    sleep 0.25
done

say "Docker engine is up ($(docker version --format 'server {{.Server.Version}}' 2>/dev/null || echo 'server ?'))"
exit 0
