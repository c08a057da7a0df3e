#!/usr/bin/env bash
# bubblewrap, which CoreService uses to isolate plugins when it is not root and `hub verify` uses to
# contain the install smoke test: Debian's `bubblewrap` package.
#
#   infra/sandbox/bubblewrap.sh check    install if needed (root + apt), then prove it can make
#                                        user and PID namespaces here
#
# Exit codes: 0 ok, 1 failed, 3 cannot install (not root, or no apt-get).
set -euo pipefail

case "${1:-}" in
  check)
    if ! command -v bwrap >/dev/null 2>&1; then
      if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "bubblewrap.sh: bwrap is not installed and cannot be (needs root and apt-get)" >&2
        exit 3
      fi
      echo "bubblewrap.sh: installing bubblewrap (Debian package)" >&2
      log="${TMPDIR:-/tmp}/hub-bubblewrap-apt.log"
      if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap; } >"$log" 2>&1; then
        echo "bubblewrap.sh: apt-get install failed; see $log" >&2
        exit 1
      fi
    fi
    if ! out=$(bwrap --unshare-user --unshare-pid --ro-bind / / --proc /proc --dev /dev -- true 2>&1); then
      echo "bubblewrap.sh: bwrap cannot make user and PID namespaces here: $out" >&2
      exit 1
    fi
    ;;
  *)
    echo "usage: infra/sandbox/bubblewrap.sh check" >&2
    exit 2
    ;;
esac
