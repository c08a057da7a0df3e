#!/usr/bin/env bash
# Headless Chromium for the site's browser tests: Debian's `chromium` package, driven by
# playwright-core (which never downloads a browser here).
#
#   infra/chromium/chromium.sh path    install if needed (root + apt), then print the executable's path
#
# Exit codes: 0 ok, 1 failed, 3 cannot install (not root, or no apt-get).
set -euo pipefail

find_chromium() {
  for c in "${HUB_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

case "${1:-}" in
  path)
    if find_chromium; then exit 0; fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      echo "chromium.sh: chromium is not installed and cannot be (needs root and apt-get)" >&2
      exit 3
    fi
    echo "chromium.sh: installing chromium (Debian package)" >&2
    log="${TMPDIR:-/tmp}/hub-chromium-apt.log"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } >"$log" 2>&1; then
      echo "chromium.sh: apt-get install failed; see $log" >&2
      exit 1
    fi
    find_chromium || { echo "chromium.sh: installed, but no chromium executable found" >&2; exit 1; }
    ;;
  *)
    echo "usage: infra/chromium/chromium.sh path" >&2
    exit 2
    ;;
esac
