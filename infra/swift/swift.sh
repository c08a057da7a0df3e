#!/usr/bin/env bash
# A real S3 endpoint on loopback for the storage tests: OpenStack Swift (Debian packages) with its
# s3api middleware and tempauth, one replica, all servers on 127.0.0.1.
#
#   infra/swift/swift.sh start    install if needed (root + apt), start, wait until healthy, then print
#                                 endpoint=http://127.0.0.1:PORT key=test:tester secret=testing
#   infra/swift/swift.sh stop     stop what start started (by the PIDs it recorded)
#   infra/swift/swift.sh status   print the endpoint line if healthy, else exit 1
#
# State lives in $HUB_SWIFT_DIR (default ${TMPDIR:-/tmp}/hub-swift); the proxy listens on
# $HUB_SWIFT_PORT (default 18080; 8080 is the hub's). Exit codes: 0 ok, 1 failed, 3 cannot install.
set -euo pipefail
# shellcheck source=../lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/apt.sh"

DIR="${HUB_SWIFT_DIR:-${TMPDIR:-/tmp}/hub-swift}"
PORT="${HUB_SWIFT_PORT:-18080}"
MC_PORT="${HUB_SWIFT_MEMCACHED_PORT:-$((PORT + 1))}"
LINE="endpoint=http://127.0.0.1:${PORT} key=test:tester secret=testing"
PACKAGES=(swift swift-proxy swift-account swift-container swift-object memcached)

healthy() { curl -fsS --max-time 2 "http://127.0.0.1:${PORT}/healthcheck" >/dev/null 2>&1; }

install_if_missing() {
  local missing=()
  command -v swift-proxy-server >/dev/null 2>&1 || missing+=(swift swift-proxy)
  command -v swift-account-server >/dev/null 2>&1 || missing+=(swift-account)
  command -v swift-container-server >/dev/null 2>&1 || missing+=(swift-container)
  command -v swift-object-server >/dev/null 2>&1 || missing+=(swift-object)
  command -v memcached >/dev/null 2>&1 || missing+=(memcached)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_install swift "${PACKAGES[@]}" curl
}

write_config() {
  rm -rf "$DIR/etc" "$DIR/srv"
  mkdir -p "$DIR/etc" "$DIR/srv/node/d1" "$DIR/run" "$DIR/log"
  cat >"$DIR/etc/swift.conf" <<CONF
[swift-hash]
swift_hash_path_suffix = hub-test
swift_hash_path_prefix = hub-test
[storage-policy:0]
name = Policy-0
default = yes
CONF
  local server port
  for pair in account:6202 container:6201 object:6200; do
    server="${pair%%:*}"
    port="${pair##*:}"
    (cd "$DIR/etc" && swift-ring-builder "$server.builder" create 8 1 1 >/dev/null &&
      swift-ring-builder "$server.builder" add "r1z1-127.0.0.1:${port}/d1" 1 >/dev/null &&
      swift-ring-builder "$server.builder" rebalance >/dev/null 2>&1 || true)
    cat >"$DIR/etc/$server-server.conf" <<CONF
[DEFAULT]
devices = $DIR/srv/node
mount_check = false
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = root
swift_dir = $DIR/etc
log_level = WARNING
[pipeline:main]
pipeline = $server-server
[app:$server-server]
use = egg:swift#$server
CONF
  done
  cat >"$DIR/etc/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PORT
workers = 0
user = root
swift_dir = $DIR/etc
log_level = WARNING
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:s3api]
use = egg:swift#s3api
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
CONF
}

start_one() { # name, command...
  local name="$1"
  shift
  nohup "$@" >"$DIR/log/$name.log" 2>&1 &
  echo $! >"$DIR/run/$name.pid"
}

stop_all() {
  local pid
  for f in "$DIR"/run/*.pid; do
    [ -e "$f" ] || continue
    pid="$(cat "$f")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

case "${1:-}" in
  start)
    if healthy; then echo "$LINE"; exit 0; fi
    install_if_missing
    stop_all 2>/dev/null || true
    write_config
    start_one memcached memcached -u root -l 127.0.0.1 -p "$MC_PORT" -U 0
    for server in account container object; do
      start_one "$server" "swift-$server-server" "$DIR/etc/$server-server.conf"
    done
    start_one proxy swift-proxy-server "$DIR/etc/proxy-server.conf"
    for _ in $(seq 1 300); do
      if healthy; then echo "$LINE"; exit 0; fi
      sleep 0.1
    done
    echo "swift.sh: Swift did not become healthy in 30 s; logs in $DIR/log:" >&2
    tail -n 5 "$DIR"/log/*.log >&2 || true
    stop_all
    exit 1
    ;;
  stop)
    stop_all
    ;;
  status)
    if healthy; then echo "$LINE"; else echo "swift.sh: not running (http://127.0.0.1:${PORT}/healthcheck)" >&2; exit 1; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
