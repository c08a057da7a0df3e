// Upgrade and downgrade: the new version is fetched (from a registry, or read from an uploaded .mpn:
// the only difference between the two), verified, prepared, started and health-checked beside the
// old one, which keeps serving; the receipt switches to it in one durable rename; only
// then is the old version stopped and removed. Until that rename the old version is the installed
// and running one, whatever fails or is killed.
import { basename } from 'node:path';
import { compareVersions, isPrerelease, sdkSatisfies, upgradeVerdict } from '@magellon/hub-core';
import type { Registry } from './config';
import { trustRefusal } from './config';
import { InstallError } from './errors';
import {
  type ArchiveSource,
  type DownloadLimits,
  type InstallEvent,
  installVersionLocked,
  MAX_UPLOAD_BYTES,
  type Receipt,
  type RunOptions,
  readReceipt,
} from './install';
import { withPluginLock } from './lock';
import { checkPluginId } from './plugin-id';
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
  const { doc, registry } = await firstDocument(opts.hubs, opts.pluginId, {
    ...opts.lookup,
    pluginsDir: opts.pluginsDir,
  });
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

/** What every upgrade takes, wherever its archive comes from. */
interface UpgradeOptions {
  pluginsDir: string;
  pluginId: string;
  forceDowngrade?: boolean;
  onEvent?: (e: InstallEvent) => void;
  sdkVersion?: string;
  method?: string;
  run?: RunOptions;
}

/**
 * Moves an installed plugin to another version from the registries (the latest when `to` is not
 * given). A version that is not newer is refused unless `forceDowngrade`. Returns the old and new
 * receipts; with no `to` and the latest already installed, nothing is done and the result says it
 * is up to date.
 */
export async function upgradeFromHub(
  opts: UpgradeOptions & {
    hubs: readonly (string | Registry)[];
    to?: string;
    timeouts?: DownloadLimits;
    /** The archive the version must be (a lockfile's pin; see InstallOptions.pin). */
    pin?: { sha256: string; sizeBytes: number };
  },
): Promise<UpgradeResult> {
  return upgradeWith(opts, async () => {
    // The same walk as an install: the target comes from the first registry that has it and
    // whose trust mode admits it; the latest when no version is asked for.
    const resolved = await resolveInRegistries({
      registries: opts.hubs,
      pluginsDir: opts.pluginsDir,
      pluginId: opts.pluginId,
      version: opts.to,
      onEvent: opts.onEvent,
    });
    return {
      source: { from: 'registry', resolved },
      version: resolved.version,
      upToDateIfSame: opts.to === undefined,
    };
  });
}

/**
 * Moves an installed plugin to the version in an .mpn on this host (an upload: air-gapped sites
 * have no registry to ask). The archive must be this plugin's; the rest is as {@link upgradeFromHub}.
 */
export async function upgradeFromFile(
  opts: UpgradeOptions & {
    file: string;
    /** How messages name the archive (default: the file's name). */
    label?: string;
    maxBytes?: number;
  },
): Promise<UpgradeResult> {
  return upgradeWith(opts, async () => ({
    source: {
      from: 'file',
      file: opts.file,
      label: opts.label ?? basename(opts.file),
      maxBytes: opts.maxBytes ?? MAX_UPLOAD_BYTES,
    },
  }));
}

/**
 * The one upgrade pipeline, holding the plugin's lock: `pick` says where the archive comes from
 * (and its version, when that is known before any byte is fetched); the version rule is checked
 * as soon as the version is known, then the new version is verified, started and health-checked
 * beside the old one, which keeps running; the receipt switches only then, and the old version is
 * retired after the switch.
 */
async function upgradeWith(
  opts: UpgradeOptions & { timeouts?: DownloadLimits; pin?: { sha256: string; sizeBytes: number } },
  pick: () => Promise<{ source: ArchiveSource; version?: string; upToDateIfSame?: boolean }>,
): Promise<UpgradeResult> {
  checkPluginId(opts.pluginId);
  return withPluginLock(opts.pluginsDir, opts.pluginId, async () => {
    const from = readReceipt(opts.pluginsDir, opts.pluginId);
    if (!from) throw new InstallError('not-found', `${opts.pluginId} is not installed; install it first`);
    const { source, version, upToDateIfSame } = await pick();
    if (version !== undefined && upToDateIfSame && upgradeVerdict(from.version, version) === 'same')
      return { from, to: from, up_to_date: true };
    const admit = (target: string) => {
      const verdict = upgradeVerdict(from.version, target);
      if (verdict === 'same')
        throw new InstallError('already-installed', `${opts.pluginId} ${target} is already installed`);
      if (verdict === 'downgrade' && !opts.forceDowngrade) {
        throw new InstallError(
          'not-newer',
          `${target} is not newer than the installed ${from.version}; pass force_downgrade (--force-downgrade) to go back`,
        );
      }
    };
    // Known before the download (a registry's answer): refused before a byte is fetched.
    if (version !== undefined) admit(version);
    const to = await installVersionLocked(
      { ...opts, hubs: [], version },
      { replacing: from, source, admit: (manifest) => admit(manifest.version) },
    );
    return { from, to };
  });
}
