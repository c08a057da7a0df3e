#!/usr/bin/env bash
# A private Docker engine for the tests of CoreService's docker backend: Debian's docker.io
# (dockerd 20.10 with its own containerd), everything it keeps under one state dir, answering only
# on a unix socket there. It never touches a system dockerd, /var/run/docker.sock, /var/lib/docker,
# /etc/docker (its key.json goes to the state dir too), iptables or net.ipv4.ip_forward, and it
# makes no bridge: containers use --network=host or --network=none only. No registry is reachable:
# make images with infra/docker/base-image.sh (docker import) and build FROM those.
#
#   infra/docker/dockerd.sh install            install docker.io (and what base-image.sh needs) if
#                                              missing (root + apt)
#   infra/docker/dockerd.sh start <state-dir>  install if needed, start dockerd, wait until
#                                              `docker info` answers (<= 30 s), print the socket path
#   infra/docker/dockerd.sh stop <state-dir>   stop it by its PID and wait for it (and its containerd)
#                                              to exit; unmount what it left; the state stays
#   infra/docker/dockerd.sh check              exit 0 if a private dockerd can be started here,
#                                              else say why (exit 3); installs nothing
#
# Layout of <state-dir>: docker.sock, dockerd.pid, dockerd.log, data/ (--data-root: images and
# containers, kept across stop/start), exec/ (--exec-root, with the managed containerd), key.json,
# docker-cli/ (DOCKER_CONFIG for clients). Containers' cgroups sit under a parent named after the
# state dir, so two private engines never share one. The docker client that matches the daemon is
# /usr/bin/docker (another one may come first on PATH; both speak API 1.41 to it).
# Exit codes: 0 ok, 1 failed, 2 bad usage, 3 cannot run here (not root, cannot install).
set -euo pipefail
SCRIPT=dockerd.sh
# shellcheck source=../lib/proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/proc.sh"
# shellcheck source=../lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/apt.sh"

PACKAGES=(docker.io busybox-static python3.11-minimal libpython3.11-stdlib)
DOCKER_CLI="${HUB_DOCKER_CLI:-/usr/bin/docker}"

usage() {
  echo "usage: infra/docker/dockerd.sh install | start <state-dir> | stop <state-dir> | check" >&2
  exit 2
}

missing_tools() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(dockerd)
  command -v containerd >/dev/null 2>&1 || missing+=(containerd)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  [ -x "$DOCKER_CLI" ] || missing+=("$DOCKER_CLI")
  [ -x /bin/busybox ] || missing+=(busybox)
  echo "${missing[*]}"
}

install_if_missing() {
  [ -z "$(missing_tools)" ] && return 0
  apt_install dockerd "${PACKAGES[@]}"
}

cannot_run() { # prints why a private dockerd cannot run here, or nothing
  if [ "$(id -u)" != 0 ]; then echo "dockerd needs root here (no rootless setup)"; return; fi
  local m
  m="$(missing_tools)"
  if [ -n "$m" ]; then echo "not installed: $m"; return; fi
  if ! grep -q cgroup /proc/self/mountinfo; then echo "no cgroup filesystem is mounted"; return; fi
}

set_paths() {
  [ -n "${1:-}" ] || usage
  mkdir -p "$1"
  STATE="$(cd "$1" && pwd -P)"
  SOCK="$STATE/docker.sock"
  PIDFILE="$STATE/dockerd.pid"
  EXEC="$STATE/exec"
  # A unix socket path holds at most 107 bytes; containerd's lives deeper than docker's.
  if [ ${#EXEC} -gt 70 ]; then
    echo "dockerd.sh: state dir path too long for unix sockets (keep it under ~60 characters): $STATE" >&2
    exit 2
  fi
  export DOCKER_CONFIG="$STATE/docker-cli"
}

our_pid() { # pidfile, text: the PID in pidfile if that process is alive and its command line holds text
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  if alive "$pid" && cmdline_has "$pid" "$2"; then echo "$pid"; fi
}
answers() { "$DOCKER_CLI" -H "unix://$SOCK" info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

FORCED=0

stop_engine() {
  local pid cpid p
  pid="$(our_pid "$PIDFILE" "unix://$SOCK")"
  cpid="$(our_pid "$EXEC/containerd/containerd.pid" "$EXEC/containerd/")"
  # A test engine's containers need no grace: kill them, or dockerd waits --shutdown-timeout for each.
  if [ -n "$pid" ]; then
    local running=()
    mapfile -t running < <("$DOCKER_CLI" -H "unix://$SOCK" ps -q 2>/dev/null || true)
    if [ ${#running[@]} -gt 0 ]; then "$DOCKER_CLI" -H "unix://$SOCK" kill "${running[@]}" >/dev/null 2>&1 || true; fi
  fi
  # dockerd stops its containers and its containerd on SIGTERM.
  stop_pid "$pid" 30
  stop_pid "$cpid" 10
  if [ "$FORCED" = 1 ]; then
    # Killed, not stopped: container shims may still be attached to this engine's containerd.
    for p in /proc/[0-9]*; do
      if cmdline_has "${p#/proc/}" "-address $EXEC/containerd/containerd.sock"; then
        echo "dockerd.sh: stopping leftover shim PID ${p#/proc/}" >&2
        stop_pid "${p#/proc/}" 5
      fi
    done
  fi
  # What dockerd leaves mounted even after a clean exit (exec/netns/default), deepest first.
  awk -v s="$STATE/" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while IFS= read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "dockerd.sh: could not unmount $m" >&2
  done
  for p in /sys/fs/cgroup/*/"$CGROUP_PARENT"; do if [ -d "$p" ]; then rmdir "$p" 2>/dev/null || true; fi; done
  rm -f "$PIDFILE" "$SOCK"
}

case "${1:-}" in
  install)
    install_if_missing
    ;;
  check)
    why="$(cannot_run)"
    if [ -n "$why" ]; then echo "dockerd.sh: $why" >&2; exit 3; fi
    ;;
  start)
    set_paths "${2:-}"
    CGROUP_PARENT="hub-docker-$(printf '%s' "$STATE" | sha256sum | cut -c1-12)"
    if [ -n "$(our_pid "$PIDFILE" "unix://$SOCK")" ] && answers; then echo "$SOCK"; exit 0; fi
    install_if_missing
    why="$(cannot_run)"
    if [ -n "$why" ]; then echo "dockerd.sh: $why" >&2; exit 3; fi
    stop_engine 2>/dev/null || true
    mkdir -p "$STATE/data" "$EXEC" "$DOCKER_CONFIG"
    # The daemon's own settings file (not /etc/docker/daemon.json); its trust key stays here too,
    # not in /etc/docker/key.json (20.10 names that setting only in the file).
    printf '{"deprecated-key-path": "%s"}\n' "$STATE/key.json" >"$STATE/daemon.json"
    started=$(date +%s%N)
    # setsid: its own session, so a test runner's signals to its group do not reach it; stopped by PID.
    setsid dockerd \
      --config-file "$STATE/daemon.json" \
      --data-root "$STATE/data" \
      --exec-root "$EXEC" \
      --pidfile "$PIDFILE" \
      -H "unix://$SOCK" \
      --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
      --userland-proxy=false \
      --cgroup-parent "$CGROUP_PARENT" \
      --shutdown-timeout 5 \
      --log-level warn \
      </dev/null >"$STATE/dockerd.log" 2>&1 &
    launcher=$!
    for ((i = 0; i < 300; i++)); do
      if answers; then
        echo "dockerd.sh: dockerd PID $(cat "$PIDFILE") answers on $SOCK after $((($(date +%s%N) - started) / 1000000)) ms" >&2
        echo "$SOCK"
        exit 0
      fi
      alive "$launcher" || break
      sleep 0.1
    done
    echo "dockerd.sh: dockerd did not answer on $SOCK within 30 s; last lines of $STATE/dockerd.log:" >&2
    tail -n 8 "$STATE/dockerd.log" >&2 || true
    stop_pid "$launcher" 10
    stop_engine
    exit 1
    ;;
  stop)
    set_paths "${2:-}"
    CGROUP_PARENT="hub-docker-$(printf '%s' "$STATE" | sha256sum | cut -c1-12)"
    stop_engine
    ;;
  *)
    usage
    ;;
esac
