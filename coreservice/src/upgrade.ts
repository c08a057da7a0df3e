// Upgrade and downgrade: the new version is fetched, verified, prepared, started and health-checked
// beside the old one, which keeps serving; the receipt switches to it in one durable rename; only
// then is the old version stopped and removed. Until that rename the old version is the installed
// and running one, whatever fails or is killed.
import { compareVersions, type PluginDocument, sdkSatisfies, upgradeVerdict } from '@magellon/hub-core';
import { asRegistry, type Registry } from './config';
import { InstallError } from './errors';
import { fetchPluginDocument } from './hub-client';
import {
  type InstallEvent,
  installVersionLocked,
  type Receipt,
  type RunOptions,
  readReceipt,
} from './install';
import { withPluginLock } from './lock';

export interface VersionChoice {
  version: string;
  verdict: 'upgrade' | 'same' | 'downgrade';
  yanked: boolean;
  /** Whether its requires_sdk admits the platform's SDK version (when one is configured). */
  compatible?: boolean;
  published_at: string;
}

/** Every version the first hub that knows the plugin offers, newest first, measured against what is installed. */
export async function listUpgrades(opts: {
  pluginsDir: string;
  hubs: readonly (string | Registry)[];
  pluginId: string;
  sdkVersion?: string;
}): Promise<{ installed: string; hub: string; latest: string | null; versions: VersionChoice[] }> {
  const receipt = readReceipt(opts.pluginsDir, opts.pluginId);
  if (!receipt) throw new InstallError('not-found', `${opts.pluginId} is not installed`);
  const { doc, hub } = await firstHubWith(opts.hubs, opts.pluginId);
  return {
    installed: receipt.version,
    hub,
    latest: doc.latest_version,
    versions: [...doc.versions]
      .map((v) => ({
        version: v.version,
        verdict: upgradeVerdict(receipt.version, v.version),
        yanked: Boolean(v.yanked),
        ...(opts.sdkVersion ? { compatible: sdkSatisfies(opts.sdkVersion, v.requires_sdk) } : {}),
        published_at: v.published_at,
      }))
      .sort((a, b) => compareVersions(b.version, a.version)),
  };
}

async function firstHubWith(
  hubs: readonly (string | Registry)[],
  id: string,
): Promise<{ doc: PluginDocument; hub: string }> {
  let unreachable: InstallError | undefined;
  for (const { url } of hubs.map(asRegistry)) {
    try {
      const doc = await fetchPluginDocument(url, id);
      if (doc) return { doc, hub: url };
    } catch (err) {
      if (!(err instanceof InstallError) || err.code !== 'hub-unreachable') throw err;
      unreachable ??= err;
    }
  }
  if (unreachable) throw unreachable;
  throw new InstallError(
    'not-found',
    `no hub has a plugin "${id}" (asked ${hubs.map((h) => asRegistry(h).url).join(', ')})`,
  );
}

/**
 * Moves an installed plugin to another version (the latest when `to` is not given). A version that
 * is not newer is refused unless `forceDowngrade`. Returns the old and new receipts.
 */
export async function upgradeFromHub(opts: {
  pluginsDir: string;
  hubs: readonly (string | Registry)[];
  pluginId: string;
  to?: string;
  forceDowngrade?: boolean;
  onEvent?: (e: InstallEvent) => void;
  timeouts?: { idleMs?: number; totalMs?: number };
  sdkVersion?: string;
  method?: string;
  run?: RunOptions;
}): Promise<{ from: Receipt; to: Receipt }> {
  return withPluginLock(opts.pluginsDir, opts.pluginId, async () => {
    const from = readReceipt(opts.pluginsDir, opts.pluginId);
    if (!from) throw new InstallError('not-found', `${opts.pluginId} is not installed; install it first`);
    const { doc } = await firstHubWith(opts.hubs, opts.pluginId);
    const target = opts.to ?? doc.latest_version ?? undefined;
    if (!target) throw new InstallError('not-found', `${opts.pluginId} has no version to upgrade to`);
    const verdict = upgradeVerdict(from.version, target);
    if (verdict === 'same')
      throw new InstallError('already-installed', `${opts.pluginId} ${target} is already installed`);
    if (verdict === 'downgrade' && !opts.forceDowngrade) {
      throw new InstallError(
        'not-newer',
        `${target} is not newer than the installed ${from.version}; pass force_downgrade (--force-downgrade) to go back`,
      );
    }
    // The new version is verified, started and health-checked beside the old one, which keeps
    // running; the receipt switches only then, and the old version is retired after the switch.
    const to = await installVersionLocked({ ...opts, version: target }, { replacing: from });
    return { from, to };
  });
}
