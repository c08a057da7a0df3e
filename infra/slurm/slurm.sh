#!/usr/bin/env bash
# A private one-node Slurm cluster for the tests of CoreService's slurm backend: Debian's slurm-wlm
# (22.05) and munge, with a munged of its own (own socket and key), a slurm.conf of its own (found
# through SLURM_CONF, never /etc/slurm), slurmctld and slurmd listening on free ports of 127.0.0.1
# only, and every state, spool, pid and log file under one state dir. It never talks to a system
# slurm or munge (their sockets, ports and files are not used).
#
#   infra/slurm/slurm.sh install            install slurm-wlm and munge if missing (root + apt)
#   infra/slurm/slurm.sh start <state-dir>  install if needed, start munged, slurmctld -D -i and
#                                           slurmd -D, wait until sinfo shows the node idle (<= 30 s),
#                                           print the path of slurm.conf (export it as SLURM_CONF)
#   infra/slurm/slurm.sh stop <state-dir>   cancel the cluster's jobs, stop the daemons by their PIDs
#                                           and wait for them to exit; the state dir stays
#   infra/slurm/slurm.sh check              exit 0 if the cluster can be started here, else say why
#                                           (exit 3); installs nothing
#
# Accounting is off (no slurmdbd): `sacct` says so; ask `squeue` and `scontrol show job` instead
# (a finished job stays visible there for MinJobAge=300 s). Jobs run as the submitting user, in
# processes tracked by proctrack/linuxproc (no cgroups are needed).
# Exit codes: 0 ok, 1 failed, 2 bad usage, 3 cannot run here (not root, cannot install).
set -euo pipefail
SCRIPT=slurm.sh
# shellcheck source=../lib/proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/proc.sh"
# shellcheck source=../lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/apt.sh"

PACKAGES=(slurm-wlm munge)

usage() {
  echo "usage: infra/slurm/slurm.sh install | start <state-dir> | stop <state-dir> | check" >&2
  exit 2
}

missing_tools() {
  local missing=() t
  for t in slurmctld slurmd sinfo sbatch squeue scontrol scancel munged mungekey; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  echo "${missing[*]}"
}

install_if_missing() {
  [ -z "$(missing_tools)" ] && return 0
  apt_install slurm "${PACKAGES[@]}"
}

cannot_run() { # prints why the cluster cannot run here, or nothing
  # slurmd must run as root to start jobs as their users (SlurmdUser=root).
  if [ "$(id -u)" != 0 ]; then echo "slurmd needs root here"; return; fi
  local m
  m="$(missing_tools)"
  if [ -n "$m" ]; then echo "not installed: $m"; return; fi
  command -v python3 >/dev/null 2>&1 || echo "python3 (to pick free ports) is missing"
}

set_paths() {
  [ -n "${1:-}" ] || usage
  mkdir -p "$1"
  STATE="$(cd "$1" && pwd -P)"
  CONF="$STATE/slurm.conf"
  MUNGE_SOCK="$STATE/munge/munge.sock"
  if [ ${#MUNGE_SOCK} -gt 100 ]; then
    echo "slurm.sh: state dir path too long for a unix socket: $STATE" >&2
    exit 2
  fi
  export SLURM_CONF="$CONF"
}

environ_has() { # pid, NAME=value
  local vars=()
  mapfile -d '' vars <"/proc/$1/environ" 2>/dev/null || return 1
  local v
  for v in "${vars[@]}"; do [ "$v" = "$2" ] && return 0; done
  return 1
}
# The PID in a pid file, if that process is alive and is ours: munged by its socket on the command
# line, slurmctld/slurmd by SLURM_CONF=<our conf> in their environment.
munged_pid() {
  local pid
  pid="$(cat "$STATE/munge/munged.pid" 2>/dev/null || true)"
  if alive "$pid" && cmdline_has "$pid" "--socket=$MUNGE_SOCK"; then echo "$pid"; fi
}
slurm_pid() { # name
  local pid
  pid="$(cat "$STATE/$1.pid" 2>/dev/null || true)"
  if alive "$pid" && environ_has "$pid" "SLURM_CONF=$CONF"; then echo "$pid"; fi
}
node_state() { sinfo -h -N -o '%t' 2>/dev/null | head -n 1; }


stepd_pids() { # slurmstepd processes started by our slurmd (they inherit its SLURM_CONF)
  local p
  for p in /proc/[0-9]*; do
    if cmdline_has "${p#/proc/}" "slurmstepd" && environ_has "${p#/proc/}" "SLURM_CONF=$CONF"; then
      echo "${p#/proc/}"
    fi
  done
}

stop_cluster() {
  local ctld slurmd munged i left p
  ctld="$(slurm_pid slurmctld)"
  slurmd="$(slurm_pid slurmd)"
  munged="$(munged_pid)"
  # Jobs outlive slurmd (their slurmstepd is a daemon of its own): cancel them while the cluster runs.
  local jobs=()
  if [ -n "$ctld" ] && [ -n "$slurmd" ]; then mapfile -t jobs < <(squeue -h -o %A 2>/dev/null || true); fi
  if [ ${#jobs[@]} -gt 0 ]; then
    scancel --quiet "${jobs[@]}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [ -z "$(squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null | head -n 1)" ] && break
      sleep 0.1
    done
  fi
  stop_pid "$slurmd" 15
  stop_pid "$ctld" 15
  left="$(stepd_pids)"
  for p in $left; do
    echo "slurm.sh: stopping leftover slurmstepd PID $p" >&2
    stop_pid "$p" 5
  done
  stop_pid "$munged" 10
  rm -f "$STATE/slurmctld.pid" "$STATE/slurmd.pid"
}

free_ports() { # two free TCP ports on 127.0.0.1
  python3 -I -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
'
}

write_config() {
  local node="$1" cpus="$2" ctld_port="$3" slurmd_port="$4" mem
  # Half the host's memory (MiB), so that jobs may ask for memory (--mem) as a lab's would.
  mem="$(awk '/^MemTotal:/ { print int($2 / 2048) }' /proc/meminfo)"
  local cluster
  cluster="hub$(printf '%s' "$STATE" | sha256sum | cut -c1-8)"
  rm -rf "$STATE/ctld" "$STATE/spool"
  mkdir -p "$STATE/ctld" "$STATE/spool" "$STATE/log"
  : >"$STATE/plugstack.conf"
  cat >"$CONF" <<CONF
# Written by infra/slurm/slurm.sh: a private one-node cluster on 127.0.0.1.
ClusterName=$cluster
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
# Bind to the configured addresses (127.0.0.1), not to every address of the host.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
PlugStackConfig=$STATE/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=300
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=${mem:-1} State=UNKNOWN
PartitionName=hub Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

case "${1:-}" in
  install)
    install_if_missing
    ;;
  check)
    why="$(cannot_run)"
    if [ -n "$why" ]; then echo "slurm.sh: $why" >&2; exit 3; fi
    ;;
  start)
    set_paths "${2:-}"
    if [ -n "$(slurm_pid slurmctld)" ] && [ -n "$(slurm_pid slurmd)" ] && [ "$(node_state)" = idle ]; then
      echo "$CONF"
      exit 0
    fi
    install_if_missing
    why="$(cannot_run)"
    if [ -n "$why" ]; then echo "slurm.sh: $why" >&2; exit 3; fi
    stop_cluster 2>/dev/null || true
    started=$(date +%s%N)
    # munge: clients of every user must reach the socket, so the dirs on its path are searchable.
    chmod 755 "$STATE"
    mkdir -p "$STATE/munge"
    chmod 755 "$STATE/munge"
    [ -s "$STATE/munge/munge.key" ] || mungekey --create --keyfile="$STATE/munge/munge.key"
    chmod 600 "$STATE/munge/munge.key"
    setsid munged --foreground --socket="$MUNGE_SOCK" --key-file="$STATE/munge/munge.key" \
      --pid-file="$STATE/munge/munged.pid" --seed-file="$STATE/munge/munged.seed" \
      --log-file="$STATE/munge/munged.log" </dev/null >"$STATE/munge/munged.out" 2>&1 &
    munge_launcher=$!
    for ((i = 0; i < 100; i++)); do
      [ -S "$MUNGE_SOCK" ] && [ -n "$(munged_pid)" ] && break
      alive "$munge_launcher" || break
      sleep 0.1
    done
    if [ -z "$(munged_pid)" ] || [ ! -S "$MUNGE_SOCK" ]; then
      echo "slurm.sh: munged did not start; $STATE/munge/munged.out says:" >&2
      tail -n 5 "$STATE/munge/munged.out" >&2 || true
      stop_pid "$munge_launcher" 5
      exit 1
    fi
    node="$(hostname -s)"
    cpus="$(slurmd -C 2>/dev/null | sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' | head -n 1)"
    [ -n "$cpus" ] || cpus="$(nproc)"
    read -r ctld_port slurmd_port < <(free_ports)
    write_config "$node" "$cpus" "$ctld_port" "$slurmd_port"
    setsid slurmctld -D -i </dev/null >"$STATE/log/slurmctld.out" 2>&1 &
    ctld_launcher=$!
    setsid slurmd -D -N "$node" </dev/null >"$STATE/log/slurmd.out" 2>&1 &
    slurmd_launcher=$!
    for ((i = 0; i < 300; i++)); do
      if [ "$(node_state)" = idle ]; then
        echo "slurm.sh: slurmctld PID $ctld_launcher (port $ctld_port), slurmd PID $slurmd_launcher (port $slurmd_port): node $node idle after $((($(date +%s%N) - started) / 1000000)) ms" >&2
        echo "$CONF"
        exit 0
      fi
      if ! alive "$ctld_launcher" || ! alive "$slurmd_launcher"; then break; fi
      sleep 0.1
    done
    echo "slurm.sh: node $node did not become idle within 30 s (sinfo: $(node_state)); last log lines:" >&2
    tail -n 4 "$STATE"/log/*.out "$STATE"/log/*.log >&2 || true
    stop_pid "$slurmd_launcher" 10
    stop_pid "$ctld_launcher" 10
    stop_cluster
    exit 1
    ;;
  stop)
    set_paths "${2:-}"
    stop_cluster
    ;;
  *)
    usage
    ;;
esac
