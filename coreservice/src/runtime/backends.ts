// Which backend serves an install method: one factory per method, each backend made once per
// process. The docker, systemd and slurm backends join here; nothing else in CoreService names a
// backend's class.
import type { InstallMethod } from '@magellon/hub-core';
import { InstallError, logCleanupFailure } from '../errors';
import type { Backend, VersionRef } from './backend';
import { DockerBackend } from './docker';
import type { HostFacts } from './host';
import { ProcessBackend } from './process';
import { SlurmBackend } from './slurm';
import { type SystemdManager, SystemdSupervised } from './systemd';
import { UvBackend } from './uv';

/** The systemd manager that supervises process and uv replicas (`supervisor: systemd`), if any. */
let systemd: SystemdManager | undefined;
const supervised = (b: Backend): Backend => (systemd ? new SystemdSupervised(b, systemd) : b);

const FACTORIES: Partial<Record<InstallMethod, () => Backend>> = {
  subprocess: () => supervised(new ProcessBackend()),
  uv: () => supervised(new UvBackend()),
  docker: () => new DockerBackend(),
  slurm: () => new SlurmBackend(),
};

const made = new Map<InstallMethod, Backend>();

/** Runs process and uv replicas as units of `manager` (runtime/systemd.ts); undefined: CoreService supervises. */
export function superviseWithSystemd(manager: SystemdManager | undefined): void {
  systemd = manager;
  made.clear();
}

/** The backend of `method`, or undefined when this CoreService has none. */
export function knownBackend(method: InstallMethod): Backend | undefined {
  const known = made.get(method);
  if (known) return known;
  const make = Object.hasOwn(FACTORIES, method) ? FACTORIES[method] : undefined;
  if (!make) return undefined;
  const backend = make();
  made.set(method, backend);
  return backend;
}

const missing = (method: InstallMethod) => `the ${method} backend is not part of this CoreService yet`;

/** Why `method` cannot run here (no such backend in this CoreService, or the host lacks what it needs). */
export function backendUnavailable(method: InstallMethod, host: HostFacts): string | undefined {
  const b = knownBackend(method);
  return b ? b.unavailable(host) : missing(method);
}

/** The backend of `method`; `unsupported` (409) when this CoreService has none. */
export function backendFor(method: InstallMethod): Backend {
  const b = knownBackend(method);
  if (!b) throw new InstallError('unsupported', missing(method));
  return b;
}

/** Every backend this CoreService has (doctor asks each for what it left). */
export function allBackends(): Backend[] {
  return (Object.keys(FACTORIES) as InstallMethod[]).flatMap((m) => knownBackend(m) ?? []);
}

/**
 * Removes a version wherever a backend holds anything of it, stopping what still runs: for a
 * version no receipt names (a crash left it), whose backend is not known.
 */
export async function removeEverywhere(ref: VersionRef): Promise<void> {
  for (const b of allBackends())
    await b
      .remove(ref)
      .catch((e: unknown) =>
        logCleanupFailure(`removing ${ref.pluginId} ${ref.version} from the ${b.method} backend`, e),
      );
}
