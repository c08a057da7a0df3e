#!/usr/bin/env bash
# A private systemd user manager (`systemd --user`) for the tests of CoreService's systemd units, on
# a host whose PID 1 is not systemd (a container): no logind makes a user@.service for us, so this
# does by hand what logind and user@.service would do, for one throwaway system user:
#
#   - a runtime dir (XDG_RUNTIME_DIR) of the user's inside the state dir;
#   - a cgroup of the user's own (delegated: chowned to it) in every hierarchy systemd tracks
#     processes in (cgroup2 `unified` and v1 `name=systemd` on a hybrid host, or the cgroup2 root),
#     because a user manager makes its `init.scope` and its units' cgroups below its own cgroup and
#     fails with EACCES on `mkdir /sys/fs/cgroup/unified/init.scope` otherwise;
#   - a private mount namespace in which /run/systemd/system exists (a tmpfs over /run/systemd):
#     `systemd --user` refuses to start with "Trying to run as user instance, but the system has not
#     been booted with systemd." without it, and the host's /run/systemd is left alone. In it also
#     /run/systemd/unit-root (PID 1 makes it on a booted host; a unit with a mount namespace fails
#     with 226/NAMESPACE on `mkdir /run/systemd/unit-root` = EACCES without it), and
#     /run/user/<uid> as the runtime dir (a tmpfs over /run/user, the runtime dir bound on
#     /run/user/<uid>): systemd 252 takes InaccessiblePaths='s stand-ins from
#     /run/user/<uid>/systemd/inaccessible/, whatever XDG_RUNTIME_DIR says.
#
# No journald runs: units write their stdout/stderr to files (StandardOutput=append:…), and
# `journalctl --user` has nothing to show. `systemctl --user` answers (it prints `offline` for
# is-system-running, because the host was not booted with systemd, but start/stop/show work).
#
#   infra/systemd/user-manager.sh start <state-dir>  start the manager (as user $HUB_SYSTEMD_USER,
#                                                    default hub-systemd, made if missing); wait until
#                                                    `systemctl --user` answers (<= 20 s); print the
#                                                    runtime dir (XDG_RUNTIME_DIR for systemctl --user)
#   infra/systemd/user-manager.sh stop <state-dir>   stop it by its PID (SIGTERM: it stops its units),
#                                                    kill what is left in its cgroups, remove them
#   infra/systemd/user-manager.sh check              exit 0 if a user manager can be started here, else
#                                                    say why (exit 3)
#
# Layout of <state-dir>: run/ (XDG_RUNTIME_DIR: systemd/private, systemd/user/ for unit files),
# manager.pid, manager.log, cgroup (the delegated cgroup's name). Run systemctl as the user:
#   setpriv --reuid=U --regid=G --init-groups env XDG_RUNTIME_DIR=<state>/run systemctl --user …
# Exit codes: 0 ok, 1 failed, 2 bad usage, 3 cannot run here.
set -euo pipefail
SCRIPT=user-manager.sh
# shellcheck source=../lib/proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/proc.sh"

USER_NAME="${HUB_SYSTEMD_USER:-hub-systemd}"
SYSTEMD=/lib/systemd/systemd

usage() {
  echo "usage: infra/systemd/user-manager.sh start <state-dir> | stop <state-dir> | check" >&2
  exit 2
}

cannot_run() { # prints why a user manager cannot run here, or nothing
  if [ "$(id -u)" != 0 ]; then echo "needs root (to delegate a cgroup and make a mount namespace)"; return; fi
  [ -x "$SYSTEMD" ] || { echo "systemd is not installed ($SYSTEMD)"; return; }
  local t
  for t in systemctl unshare setpriv; do command -v "$t" >/dev/null 2>&1 || { echo "$t is not installed"; return; }; done
  [ -n "$(hierarchies)" ] || echo "no cgroup hierarchy systemd can use is mounted"
}

hierarchies() { # the cgroup mounts systemd tracks processes in
  if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then echo /sys/fs/cgroup; return; fi
  [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] && echo /sys/fs/cgroup/unified
  grep -q ' /sys/fs/cgroup/systemd cgroup .*name=systemd' /proc/self/mountinfo && echo /sys/fs/cgroup/systemd
  return 0
}


set_paths() {
  [ -n "${1:-}" ] || usage
  mkdir -p "$1"
  STATE="$(cd "$1" && pwd -P)"
  RUNDIR="$STATE/run"
  PIDFILE="$STATE/manager.pid"
  CGROUP="hub-systemd-$(printf '%s' "$STATE" | sha256sum | cut -c1-12)"
  if [ ${#RUNDIR} -gt 80 ]; then
    echo "user-manager.sh: state dir path too long for unix sockets: $STATE" >&2
    exit 2
  fi
}

as_user() { setpriv --reuid="$UID_" --regid="$GID_" --init-groups env -i PATH=/usr/bin:/bin HOME="$STATE/home" XDG_RUNTIME_DIR="$RUNDIR" "$@"; }
answers() { as_user systemctl --user list-units --no-pager --no-legend init.scope >/dev/null 2>&1; }

manager_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if alive "$pid" && cmdline_has "$pid" "systemd --user"; then echo "$pid"; fi
}

stop_manager() {
  local pid h i p
  pid="$(manager_pid)"
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then echo "user-manager.sh: PID $pid did not exit in 15 s; killing it" >&2; kill -9 "$pid" 2>/dev/null || true; fi
  fi
  # Whatever is left in its cgroups (a unit's process it could not stop) goes; then the cgroups.
  for h in $(hierarchies); do
    [ -d "$h/$CGROUP" ] || continue
    for ((i = 0; i < 3; i++)); do
      while IFS= read -r p; do kill -9 "$p" 2>/dev/null || true; done < <(find "$h/$CGROUP" -name cgroup.procs -exec cat {} + 2>/dev/null)
      find "$h/$CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null && break
      sleep 0.2
    done
    [ -d "$h/$CGROUP" ] && echo "user-manager.sh: could not remove $h/$CGROUP" >&2
  done
  rm -f "$PIDFILE"
  return 0
}

case "${1:-}" in
  check)
    why="$(cannot_run)"
    if [ -n "$why" ]; then echo "user-manager.sh: $why" >&2; exit 3; fi
    ;;
  start)
    set_paths "${2:-}"
    why="$(cannot_run)"
    if [ -n "$why" ]; then echo "user-manager.sh: $why" >&2; exit 3; fi
    # Two test files may start managers at once: the one that loses the race (or finds /etc/passwd
    # locked) tries again and finds the user made.
    for ((i = 0; i < 50; i++)); do
      id -u "$USER_NAME" >/dev/null 2>&1 && break
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$USER_NAME" 2>/dev/null ||
        sleep 0.2
    done
    id -u "$USER_NAME" >/dev/null 2>&1 || { echo "user-manager.sh: could not create user $USER_NAME" >&2; exit 3; }
    UID_="$(id -u "$USER_NAME")" GID_="$(id -g "$USER_NAME")"
    if [ -n "$(manager_pid)" ] && answers; then echo "$RUNDIR"; exit 0; fi
    stop_manager 2>/dev/null || true
    mkdir -p /run/user
    chmod 755 "$STATE"
    mkdir -p "$RUNDIR/systemd/user" "$STATE/home"
    chown -R "$UID_:$GID_" "$RUNDIR" "$STATE/home"
    chmod 700 "$RUNDIR"
    echo "$CGROUP" >"$STATE/cgroup"
    moves=""
    for h in $(hierarchies); do
      mkdir -p "$h/$CGROUP"
      chown -R "$UID_:$GID_" "$h/$CGROUP"
      moves+="echo \$\$ > '$h/$CGROUP/cgroup.procs' && "
    done
    started=$(date +%s%N)
    # Its own session (a test runner's signals to its group do not reach it) and mount namespace.
    setsid unshare --mount --propagation private sh -c "
      ${moves} mount -t tmpfs -o mode=755 tmpfs /run/systemd && mkdir /run/systemd/system /run/systemd/unit-root &&
      mount -t tmpfs -o mode=755 tmpfs /run/user && mkdir /run/user/$UID_ && mount --bind '$RUNDIR' /run/user/$UID_ &&
      echo \$\$ > '$PIDFILE' &&
      exec setpriv --reuid=$UID_ --regid=$GID_ --init-groups env -i PATH=/usr/bin:/bin HOME='$STATE/home' \
        XDG_RUNTIME_DIR='$RUNDIR' $SYSTEMD --user --log-target=console --log-level=info" \
      </dev/null >"$STATE/manager.log" 2>&1 &
    launcher=$!
    for ((i = 0; i < 200; i++)); do
      if answers; then
        echo "user-manager.sh: systemd --user PID $(cat "$PIDFILE") (uid $UID_) answers in $RUNDIR after $((($(date +%s%N) - started) / 1000000)) ms" >&2
        echo "$RUNDIR"
        exit 0
      fi
      alive "$launcher" || break
      sleep 0.1
    done
    echo "user-manager.sh: systemd --user did not answer within 20 s; last lines of $STATE/manager.log:" >&2
    tail -n 8 "$STATE/manager.log" >&2 || true
    stop_manager
    exit 1
    ;;
  stop)
    set_paths "${2:-}"
    stop_manager
    ;;
  *)
    usage
    ;;
esac
