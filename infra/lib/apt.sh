# Sourced by the infra scripts: installs Debian packages for a test service, quietly, without
# letting their postinst scripts start system services.
#
#   apt_install <script name> <package>...
#
# Needs root and apt-get: otherwise it says so and exits 3 ("cannot run here"). The install's
# output goes to ${TMPDIR:-/tmp}/hub-<script name>-apt.log, named on failure (exit 3). While it
# runs, a policy-rc.d that refuses every service start is in place, unless one already is (another
# run's, or the host's own), and only the one made here is removed afterwards.
apt_install() {
  local name="$1"
  shift
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "$name: cannot install $* (needs root and apt-get)" >&2
    exit 3
  fi
  echo "$name: installing $*" >&2
  local log="${TMPDIR:-/tmp}/hub-$name-apt.log"
  local policy_rc_d=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy_rc_d=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc_d" && chmod +x "$policy_rc_d"
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  local ok=1
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
    --no-install-recommends "$@"; } >"$log" 2>&1 || ok=0
  if [ -n "$policy_rc_d" ]; then rm -f "$policy_rc_d" && trap - EXIT; fi
  if [ "$ok" = 0 ]; then
    echo "$name: apt-get install failed; see $log" >&2
    exit 3
  fi
}
