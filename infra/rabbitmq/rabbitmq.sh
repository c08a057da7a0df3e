#!/usr/bin/env bash
# A private RabbitMQ broker for the tests of plugin liveness over the broker: Debian's
# rabbitmq-server, everything it keeps under one state dir, listening on 127.0.0.1 only, on ports
# picked free at start, with an Erlang port mapper (epmd) of its own on a private port. It never
# touches a system broker (/var/lib/rabbitmq, /etc/rabbitmq, the default ports 5672/25672/4369).
# A postinst that started a system broker anyway is stopped by PID after the install.
#
#   infra/rabbitmq/rabbitmq.sh install            install rabbitmq-server (and python3-pika, for the
#                                                 tests' plugins) if missing (root + apt)
#   infra/rabbitmq/rabbitmq.sh start <state-dir>  install if needed, start the broker, wait until it
#                                                 answers AMQP (<= 60 s), print its amqp:// URL (the
#                                                 same port and password as before in the same dir)
#   infra/rabbitmq/rabbitmq.sh stop <state-dir>   stop it and its epmd by their PIDs and wait
#   infra/rabbitmq/rabbitmq.sh check              exit 0 if a private broker can be started here,
#                                                 else say why (exit 3); installs nothing
#
# Layout of <state-dir>: url (the amqp:// URL with its user and random password), rabbitmq.conf,
# enabled_plugins (none), rabbitmq-env.conf (empty: the system's is not read), mnesia/ (data),
# log/, rabbit.pid (the VM), launcher.pid (the server script), epmd.pid, broker.log (the server's console). The broker runs as the rabbitmq
# user, so the state dir is theirs.
# Exit codes: 0 ok, 1 failed, 2 bad usage, 3 cannot run here (not root, cannot install).
set -euo pipefail
SCRIPT=rabbitmq.sh
# shellcheck source=../lib/proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/proc.sh"
# shellcheck source=../lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/apt.sh"

SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server

usage() {
  echo "usage: infra/rabbitmq/rabbitmq.sh install | start <state-dir> | stop <state-dir> | check" >&2
  exit 2
}

missing_tools() {
  local missing=()
  [ -x "$SERVER" ] || missing+=(rabbitmq-server)
  command -v epmd >/dev/null 2>&1 || missing+=(epmd)
  command -v setpriv >/dev/null 2>&1 || missing+=(setpriv)
  # The tests' plugins announce on the broker as the Magellon SDK does, with pika.
  /usr/bin/python3 -c 'import pika' >/dev/null 2>&1 || missing+=(python3-pika)
  echo "${missing[*]}"
}

# A postinst may start the system broker despite policy-rc.d (or one was running already, started
# by that postinst): stop the broker whose data is the system's, and the system epmd, by PID.
stop_system_broker() {
  local p pid
  for p in /proc/[0-9]*; do
    pid="${p#/proc/}"
    if cmdline_has "$pid" "/var/lib/rabbitmq/mnesia"; then
      echo "rabbitmq.sh: stopping the system broker PID $pid (its install started it)" >&2
      stop_pid "$pid" 30
    fi
  done
  for p in /proc/[0-9]*; do
    pid="${p#/proc/}"
    if cmdline_has "$pid" "epmd -daemon"; then
      echo "rabbitmq.sh: stopping the system epmd PID $pid" >&2
      stop_pid "$pid" 5
    fi
  done
}

install_if_missing() {
  [ -z "$(missing_tools)" ] && return 0
  apt_install rabbitmq rabbitmq-server util-linux python3-pika
  stop_system_broker
}

cannot_run() { # prints why a private broker cannot run here, or nothing
  if [ "$(id -u)" != 0 ]; then echo "the private broker needs root here (it runs as the rabbitmq user)"; return; fi
  local m
  m="$(missing_tools)"
  if [ -n "$m" ]; then echo "not installed: $m"; return; fi
  if ! id rabbitmq >/dev/null 2>&1; then echo "no rabbitmq user"; return; fi
}

set_paths() {
  [ -n "${1:-}" ] || usage
  mkdir -p "$1"
  STATE="$(cd "$1" && pwd -P)"
}

free_port() { # a TCP port nothing listens on at 127.0.0.1 now, other than the ones given ($@), below
  # the ephemeral range: a port from inside it could be taken by any outgoing connection before the
  # broker binds it (tests run many at once).
  local port low
  low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true)"
  [ "${low:-0}" -gt 21000 ] 2>/dev/null || low=32768
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % (low - 20000)))
    case " $* " in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "rabbitmq.sh: no free port found" >&2
  exit 1
}

our_pid() { # pidfile, text: the PID in pidfile if that process is alive and its command line holds text
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  if alive "$pid" && cmdline_has "$pid" "$2"; then echo "$pid"; fi
}

answers() { # port: the broker accepts a connection and speaks AMQP 0-9-1 (Connection.Start)
  local reply
  reply="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "AMQP\0\0\x09\x01" >&3; head -c 8 <&3 | od -An -tx1' _ "$1" 2>/dev/null || true)"
  [[ "$reply" == " 01 00 00"* ]]
}

FORCED=0

stop_broker() {
  local pid lpid epid
  # The Erlang VM (its PID file, written by the server), the shell script that started it, epmd.
  pid="$(our_pid "$STATE/rabbit.pid" "$STATE/mnesia")"
  lpid="$(our_pid "$STATE/launcher.pid" "$SERVER")"
  epid="$(our_pid "$STATE/epmd.pid" "epmd")"
  stop_pid "$pid" 30
  stop_pid "$lpid" 5
  stop_pid "$epid" 5
  rm -f "$STATE/rabbit.pid" "$STATE/launcher.pid" "$STATE/epmd.pid"
}

case "${1:-}" in
  install)
    install_if_missing
    ;;
  check)
    why="$(cannot_run)"
    if [ -n "$why" ]; then echo "rabbitmq.sh: $why" >&2; exit 3; fi
    ;;
  start)
    set_paths "${2:-}"
    if [ -f "$STATE/url" ] && [ -n "$(our_pid "$STATE/rabbit.pid" "$STATE/mnesia")" ] && answers "$(cat "$STATE/port")"; then
      cat "$STATE/url"
      exit 0
    fi
    install_if_missing
    why="$(cannot_run)"
    if [ -n "$why" ]; then echo "rabbitmq.sh: $why" >&2; exit 3; fi
    stop_broker 2>/dev/null || true
    # Started again in the same state dir: the same port and password, so clients can reconnect.
    PORT="$(cat "$STATE/port" 2>/dev/null || true)"
    PASSWORD="$(sed -n 's#^amqp://hub:\([0-9a-f]*\)@.*#\1#p' "$STATE/url" 2>/dev/null || true)"
    if [ -z "$PORT" ] || [ -z "$PASSWORD" ] || (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      PORT="$(free_port)"
      PASSWORD="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    fi
    # A broker that dies while starting (a port taken between choosing and binding it) is started
    # again on new ports, at most three times; one that stays up but never answers is not.
    for attempt in 1 2 3; do
    if [ "$attempt" -gt 1 ]; then
      echo "rabbitmq.sh: the broker exited while starting (attempt $((attempt - 1))); last lines of $STATE/broker.log:" >&2
      tail -n 4 "$STATE/broker.log" >&2 || true
      stop_broker
      PORT="$(free_port)"
    fi
    DIST_PORT="$(free_port "$PORT")"
    EPMD_PORT="$(free_port "$PORT" "$DIST_PORT")"
    NODE="hub-rmq-$$-$RANDOM@localhost"
    mkdir -p "$STATE/mnesia" "$STATE/log"
    printf '%s\n' "$PORT" >"$STATE/port"
    printf 'amqp://hub:%s@127.0.0.1:%s/\n' "$PASSWORD" "$PORT" >"$STATE/url"
    chmod 600 "$STATE/url"
    # The broker's own settings: its first boot makes this user; the system's files are not read.
    cat >"$STATE/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$PORT
default_user = hub
default_pass = $PASSWORD
default_vhost = /
default_user_tags.administrator = true
loopback_users = none
log.console = true
log.console.level = warning
log.file = false
CONF
    printf '[].\n' >"$STATE/enabled_plugins"
    : >"$STATE/rabbitmq-env.conf"
    chown -R rabbitmq:rabbitmq "$STATE/mnesia" "$STATE/log" "$STATE/rabbitmq.conf" "$STATE/enabled_plugins" "$STATE/rabbitmq-env.conf"
    chown rabbitmq:rabbitmq "$STATE"
    chmod 700 "$STATE"
    export ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1
    # A port mapper of its own (the broker would otherwise start or join the shared one on 4369).
    setsid setpriv --reuid rabbitmq --regid rabbitmq --init-groups -- epmd -port "$EPMD_PORT" -address 127.0.0.1 \
      </dev/null >"$STATE/epmd.log" 2>&1 &
    echo $! >"$STATE/epmd.pid"
    started=$(date +%s%N)
    # setsid: its own session, so a test runner's signals to its group do not reach it; stopped by
    # PID (the VM's, from rabbit.pid, then the server script's, launcher.pid).
    setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME="$STATE" \
      ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
      RABBITMQ_NODENAME="$NODE" \
      RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$PORT" RABBITMQ_DIST_PORT="$DIST_PORT" \
      RABBITMQ_MNESIA_BASE="$STATE/mnesia" RABBITMQ_LOG_BASE="$STATE/log" \
      RABBITMQ_CONFIG_FILE="$STATE/rabbitmq.conf" RABBITMQ_CONF_ENV_FILE="$STATE/rabbitmq-env.conf" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$STATE/enabled_plugins" RABBITMQ_PID_FILE="$STATE/rabbit.pid" \
      RABBITMQ_ADVANCED_CONFIG_FILE="$STATE/advanced.config" \
      setpriv --reuid rabbitmq --regid rabbitmq --init-groups -- "$SERVER" \
      </dev/null >"$STATE/broker.log" 2>&1 &
    launcher=$!
    echo "$launcher" >"$STATE/launcher.pid"
    for ((i = 0; i < 600; i++)); do
      if answers "$PORT"; then
        echo "rabbitmq.sh: broker PID $(cat "$STATE/rabbit.pid" 2>/dev/null) answers AMQP on 127.0.0.1:$PORT after $((($(date +%s%N) - started) / 1000000)) ms" >&2
        cat "$STATE/url"
        exit 0
      fi
      alive "$launcher" || break
      sleep 0.1
    done
    alive "$launcher" && break
    done
    if alive "$launcher"; then
      echo "rabbitmq.sh: the broker did not answer on 127.0.0.1:$PORT within 60 s; last lines of $STATE/broker.log:" >&2
    else
      echo "rabbitmq.sh: the broker exited while starting, three times on different ports; last lines of $STATE/broker.log (its crash dump, if any, is in $STATE/log):" >&2
    fi
    tail -n 8 "$STATE/broker.log" >&2 || true
    stop_broker
    exit 1
    ;;
  stop)
    set_paths "${2:-}"
    stop_broker
    ;;
  *)
    usage
    ;;
esac
