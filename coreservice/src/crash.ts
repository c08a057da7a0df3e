// Crash points for the kill -9 tests: with MAGELLON_CORESERVICE_CRASH_AT=<stage>, CoreService kills
// itself with SIGKILL at that stage of an install or upgrade, exactly as an operator's kill -9 or a
// power cut would, so the tests can check what a restart makes of it. Unset, this does nothing.
export type CrashStage = 'download' | 'verify' | 'prepare' | 'health' | 'switch';

export function crashPoint(stage: CrashStage): void {
  if (process.env.MAGELLON_CORESERVICE_CRASH_AT !== stage) return;
  process.stderr.write(`coreservice: crash point "${stage}" reached; killing itself (SIGKILL)\n`);
  process.kill(process.pid, 'SIGKILL');
}
