// Upgrade and downgrade: the new version is fetched, verified, prepared, started and health-checked
// beside the old one, which keeps serving; the receipt switches to it in one durable rename; only
// then is the old version stopped and removed. Until that rename the old version is the installed
// and running one, whatever fails or is killed.
import { compareVersions, isPrerelease, sdkSatisfies, upgradeVerdict } from '@magellon/hub-core';
import type { Registry } from './config';
import { trustRefusal } from './config';
import { InstallError } from './errors';
import {
  type DownloadLimits,
  type InstallEvent,
  installVersionLocked,
  type Receipt,
  type RunOptions,
  readReceipt,
} from './install';
import { withPluginLock } from './lock';
import { firstDocument, type LookupOptions, resolveInRegistries } from './registries';

export interface VersionChoice {
  version: string;
  verdict: 'upgrade' | 'same' | 'downgrade';
  yanked: boolean;
  /** Why it was yanked, when it was. */
  yank_reason?: string;
  /** A pre-release (`2.0.0-rc.1`): never the default target of an upgrade while a release exists. */
  prerelease: boolean;
  /** Whether the registry's trust mode admits it (an upgrade to it is refused otherwise). */
  trusted: boolean;
  /** Why the registry's trust mode refuses it, when it does. */
  trust_refusal?: string;
  /** The SDK versions it runs with (its requires_sdk). */
  requires_sdk: string;
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
  /** Bounds and cache for the registry requests (the admin listing's). */
  lookup?: LookupOptions;
}): Promise<UpgradeChoices> {
  const receipt = readReceipt(opts.pluginsDir, opts.pluginId);
  if (!receipt) throw new InstallError('not-found', `${opts.pluginId} is not installed`);
  const { doc, registry } = await firstDocument(opts.hubs, opts.pluginId, opts.lookup);
  return {
    installed: receipt.version,
    hub: registry.url,
    latest: doc.latest_version,
    versions: [...doc.versions]
      .map((v): VersionChoice => {
        const refusal = trustRefusal(registry, opts.pluginId, v.tier);
        return {
          version: v.version,
          verdict: upgradeVerdict(receipt.version, v.version),
          yanked: Boolean(v.yanked),
          ...(v.yanked ? { yank_reason: v.yanked.reason } : {}),
          prerelease: isPrerelease(v.version),
          trusted: refusal === undefined,
          ...(refusal ? { trust_refusal: refusal } : {}),
          requires_sdk: v.requires_sdk,
          ...(opts.sdkVersion ? { compatible: sdkSatisfies(opts.sdkVersion, v.requires_sdk) } : {}),
          published_at: v.published_at,
        };
      })
      .sort((a, b) => compareVersions(b.version, a.version)),
  };
}

export interface UpgradeChoices {
  installed: string;
  hub: string;
  latest: string | null;
  versions: VersionChoice[];
}

/** Why a newer version is not the one offered. */
export type SkipReason = 'yanked' | 'requires_sdk' | 'trust' | 'prerelease';

/** Magellon's "Update available" chip: the version to offer, and the newer ones passed over and why. */
export interface UpdateOffer {
  available: string | null;
  hub: string;
  skipped: { version: string; reason: SkipReason; detail: string }[];
}

/**
 * The rule for what to offer: the newest version newer than the installed one that is not yanked,
 * that the registry's trust mode admits, whose requires_sdk admits the platform's SDK (when one is
 * configured) and that is no pre-release (unless a pre-release is installed). Every newer version
 * passed over on the way is named with its reason.
 */
export function updateOffer(choices: UpgradeChoices, sdkVersion?: string): UpdateOffer {
  const skipped: UpdateOffer['skipped'] = [];
  const onPrerelease = isPrerelease(choices.installed);
  for (const v of choices.versions) {
    if (v.verdict !== 'upgrade') break; // newest first: the rest are not newer
    const why: [SkipReason, string] | undefined = v.yanked
      ? ['yanked', `yanked: ${v.yank_reason ?? 'no reason given'}`]
      : !v.trusted
        ? ['trust', v.trust_refusal ?? "the registry's trust mode refuses it"]
        : v.compatible === false
          ? [
              'requires_sdk',
              `requires_sdk ${v.requires_sdk} does not admit the platform's SDK ${sdkVersion ?? ''}`.trim(),
            ]
          : v.prerelease && !onPrerelease
            ? ['prerelease', 'a pre-release; upgrade to it by naming it']
            : undefined;
    if (!why) return { available: v.version, hub: choices.hub, skipped };
    skipped.push({ version: v.version, reason: why[0], detail: why[1] });
  }
  return { available: null, hub: choices.hub, skipped };
}

/** What an upgrade did: the old and new receipts; `up_to_date` when the latest was already installed. */
export interface UpgradeResult {
  from: Receipt;
  to: Receipt;
  /** Set when no version was asked for and the latest is the installed one: nothing was done. */
  up_to_date?: true;
}

/**
 * Moves an installed plugin to another version (the latest when `to` is not given). A version that
 * is not newer is refused unless `forceDowngrade`. Returns the old and new receipts; with no `to`
 * and the latest already installed, nothing is done and the result says it is up to date.
 */
export async function upgradeFromHub(opts: {
  pluginsDir: string;
  hubs: readonly (string | Registry)[];
  pluginId: string;
  to?: string;
  forceDowngrade?: boolean;
  onEvent?: (e: InstallEvent) => void;
  timeouts?: DownloadLimits;
  sdkVersion?: string;
  method?: string;
  run?: RunOptions;
}): Promise<UpgradeResult> {
  return withPluginLock(opts.pluginsDir, opts.pluginId, async () => {
    const from = readReceipt(opts.pluginsDir, opts.pluginId);
    if (!from) throw new InstallError('not-found', `${opts.pluginId} is not installed; install it first`);
    // The same walk as an install: the target comes from the first registry that has it and
    // whose trust mode admits it; the latest when no version is asked for.
    const resolved = await resolveInRegistries({
      registries: opts.hubs,
      pluginId: opts.pluginId,
      version: opts.to,
      onEvent: opts.onEvent,
    });
    const target = resolved.version;
    const verdict = upgradeVerdict(from.version, target);
    if (verdict === 'same' && opts.to === undefined) return { from, to: from, up_to_date: true };
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
    const to = await installVersionLocked({ ...opts, version: target }, { replacing: from, resolved });
    return { from, to };
  });
}
