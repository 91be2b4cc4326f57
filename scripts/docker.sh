#!/usr/bin/env bash
# Gives this machine a running Docker engine, for the system test tier.
#
# Usage: bash scripts/docker.sh   (as root; idempotent)
#
#   - `docker info` works already: nothing to do.
#   - dockerd (or the docker client) is missing: installs Debian's docker.io (and
#     iptables if missing) with apt-get.
#   - dockerd is not running: starts it in the background, detached from this
#     shell, logging to /var/log/haproxy-edge/dockerd.log, and waits until
#     `docker info` answers (at most ${HAPROXY_EDGE_DOCKERD_TIMEOUT:-60} s).
# Logs go to stderr.
set -euo pipefail

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
LOG_DIR=/var/log/haproxy-edge
LOG="$LOG_DIR/dockerd.log"
TIMEOUT="${HAPROXY_EDGE_DOCKERD_TIMEOUT:-60}"

log() { printf 'docker.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
docker_ok() { command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; }
dockerd_running() { pgrep -x dockerd >/dev/null 2>&1; }

if docker_ok; then
  log "docker engine is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
  exit 0
fi

[[ "$(id -u)" -eq 0 ]] || die "installing or starting dockerd needs root; run: sudo bash $0"

# One caller at a time sets up the engine; a concurrent one waits, then finds it running.
mkdir -p "$LOG_DIR"
exec 9>"$LOG_DIR/.docker-setup.lock"
flock -w $((TIMEOUT + 600)) 9 || die "another scripts/docker.sh still holds $LOG_DIR/.docker-setup.lock"
if docker_ok; then
  log "docker engine is running (started concurrently)"
  exit 0
fi

missing=()
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then missing+=(docker.io); fi
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
if ((${#missing[@]})); then
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2 </dev/null || die "apt-get update failed"
  apt-get install -y --no-install-recommends "${missing[@]}" >&2 </dev/null ||
    die "apt-get install ${missing[*]} failed"
  # The package may have started the daemon itself (sysvinit script).
  if docker_ok; then
    log "docker engine is running (started by the package)"
    exit 0
  fi
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd is still missing after installing docker.io"

if dockerd_running; then
  log "a dockerd process exists but does not answer yet; waiting for it"
else
  log "starting dockerd (log: $LOG)"
  printf '\n==== %s docker.sh: starting dockerd ====\n' "$(date -u +%FT%TZ)" >>"$LOG"
  # setsid + nohup: the daemon outlives this script and its session. It keeps no descriptor of ours or of
  # our caller (our lock, a CI log pipe that would then never reach end of file): all beyond 2 are closed.
  (
    for fd in /proc/self/fd/*; do
      fd="${fd##*/}"
      if ((fd > 2)); then exec {fd}>&-; fi
    done
    exec setsid nohup dockerd </dev/null >>"$LOG" 2>&1
  ) &
  pid=$!
fi

deadline=$((SECONDS + TIMEOUT))
until docker_ok; do
  if [[ -n "${pid:-}" ]] && ! kill -0 "$pid" 2>/dev/null && ! dockerd_running; then
    log "dockerd exited during startup; last lines of $LOG:"
    tail -n 30 "$LOG" >&2 || true
    die "dockerd did not start"
  fi
  if ((SECONDS >= deadline)); then
    log "last lines of $LOG:"
    tail -n 30 "$LOG" >&2 || true
    die "docker info did not answer within ${TIMEOUT} s"
  fi
  sleep 1
done
log "docker engine is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'), ready after $((SECONDS - deadline + TIMEOUT)) s)"
