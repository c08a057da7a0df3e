# Sourced by the infra scripts: processes by PID, with bash built-ins only (a fork costs ~10 ms on
# these machines). A script sets SCRIPT (its name) for the messages.

alive() { # pid: alive, and not a zombie waiting for PID 1 to reap it (an exited process)
  local stat
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
  stat="${stat##*) }"
  [ "${stat:0:1}" != Z ]
}

cmdline_has() { # pid, text: whether the process's command line holds text
  local args=()
  mapfile -d '' args <"/proc/$1/cmdline" 2>/dev/null || return 1
  [[ " ${args[*]} " == *"$2"* ]]
}

stop_pid() { # pid, seconds: SIGTERM, wait, then SIGKILL (and FORCED=1)
  local pid="$1" i
  alive "$pid" || return 0
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < $2 * 10; i++)); do alive "$pid" || return 0; sleep 0.1; done
  echo "${SCRIPT:-infra}: PID $pid did not exit in $2 s; killing it" >&2
  FORCED=1
  kill -9 "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do alive "$pid" || return 0; sleep 0.1; done
}
