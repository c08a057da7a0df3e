// Processes CoreService started, told apart from others that later got the same pid: a pid is
// recorded with its start time (/proc/<pid>/stat field 22), so a reused pid is never signalled.
import { readdirSync, readFileSync } from 'node:fs';

/** The kernel's start time of `pid` (clock ticks since boot), or undefined when it is gone or a zombie. */
export function processStart(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // no /proc (not Linux): fall back to "it exists"
    try {
      process.kill(pid, 0);
      return 'unknown';
    } catch {
      return undefined;
    }
  }
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ")".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}

/** Whether the process we recorded as (`pid`, `start`) is still that process and alive. */
export function isAlive(pid: number | undefined, start: string | undefined): boolean {
  if (!pid) return false;
  const now = processStart(pid);
  return now !== undefined && (start === undefined || now === start || now === 'unknown');
}

/** Signals the process group led by `pid` (plugins run in their own session), then the pid itself. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone: nothing to signal
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Whether any live process (not a zombie) is still in process group `pgid`: a replica's group
 * outlives its leader when the leader is a sandbox (bwrap) whose plugin is still shutting down.
 */
export function groupAlive(pgid: number): boolean {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const name of names) {
    if (name.charCodeAt(0) > 57) continue; // not a pid
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[2] === String(pgid) && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

/**
 * Stops a recorded process and its group: SIGTERM to the group, SIGKILL after `graceMs`; resolves
 * once the leader and every live member of its group are gone.
 */
export async function stopProcess(pid: number, start: string | undefined, graceMs: number): Promise<void> {
  if (!isAlive(pid, start)) return;
  signalGroup(pid, 'SIGTERM');
  const gone = () => !isAlive(pid, start) && !groupAlive(pid);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(25);
    if (gone()) return;
  }
  signalGroup(pid, 'SIGKILL');
  for (let i = 0; i < 200 && !gone(); i++) await sleep(25);
}
