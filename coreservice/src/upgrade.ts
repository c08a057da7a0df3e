// Upgrade and downgrade: the new version is fetched, verified and put beside the old one; the
// receipt switches to it in one durable rename; only then is the old version removed. Until that
// rename, the old version is the installed one, whatever fails or is killed.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { compareVersions, type PluginDocument, sdkSatisfies, upgradeVerdict } from '@magellon/hub-core';
import { InstallError } from './errors';
import { fetchPluginDocument } from './hub-client';
import { type InstallEvent, installVersionLocked, type Receipt, readReceipt } from './install';
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
  hubs: readonly string[];
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
  hubs: readonly string[],
  id: string,
): Promise<{ doc: PluginDocument; hub: string }> {
  for (const hub of hubs) {
    const doc = await fetchPluginDocument(hub, id);
    if (doc) return { doc, hub };
  }
  throw new InstallError('not-found', `no hub has a plugin "${id}" (asked ${hubs.join(', ')})`);
}

/**
 * Moves an installed plugin to another version (the latest when `to` is not given). A version that
 * is not newer is refused unless `forceDowngrade`. Returns the old and new receipts.
 */
export async function upgradeFromHub(opts: {
  pluginsDir: string;
  hubs: readonly string[];
  pluginId: string;
  to?: string;
  forceDowngrade?: boolean;
  onEvent?: (e: InstallEvent) => void;
  timeouts?: { idleMs?: number; totalMs?: number };
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
    const to = await installVersionLocked({ ...opts, version: target });
    // The receipt now names the new version: the old one is no longer installed.
    rmSync(join(opts.pluginsDir, opts.pluginId, from.version), { recursive: true, force: true });
    return { from, to };
  });
}
