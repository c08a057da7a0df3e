import { parse, prerelease, SemVer } from 'semver';
import { remembered } from '../text/remembered';

/** True when `v` is a strict SemVer 2.0.0 string: no `v` prefix, no loose forms; pre-releases and build metadata allowed. */
export const isSemver = remembered((v: string): boolean => {
  const parsed = parse(v, { loose: false });
  if (!parsed || !/^\d/.test(v)) return false;
  const build = parsed.build.length > 0 ? `+${parsed.build.join('.')}` : '';
  return `${parsed.version}${build}` === v;
});

/** True when `v` has a pre-release part (`1.2.0-rc.1`). */
export function isPrerelease(v: string): boolean {
  return (prerelease(v) ?? []).length > 0;
}

/** SemVer precedence: negative if a < b; build metadata is ignored, as SemVer says. */
export function compareVersions(a: string, b: string): number {
  return parsed(a).compare(parsed(b));
}

const parsedCache = new Map<string, SemVer>();

/** Parses once per distinct string: listings compare the same few version strings many times. */
function parsed(v: string): SemVer {
  let p = parsedCache.get(v);
  if (!p) {
    p = new SemVer(v);
    if (parsedCache.size >= 10_000) parsedCache.clear();
    parsedCache.set(v, p);
  }
  return p;
}

/** Sorts versions newest first (the order every listing uses). */
export function sortVersionsDescending<T>(items: readonly T[], version: (t: T) => string): T[] {
  return [...items].sort((x, y) => compareVersions(version(y), version(x)));
}

export interface VersionState {
  version: string;
  yanked?: unknown;
}

/**
 * The version a client gets by default: the highest non-yanked release.
 * When a plugin has only pre-releases (e.g. a first beta), the highest non-yanked
 * pre-release, so a new plugin is still installable; undefined when every version is yanked.
 */
export function latestVersion(versions: readonly VersionState[]): string | undefined {
  const live = versions.filter((v) => !v.yanked).map((v) => v.version);
  const releases = live.filter((v) => !isPrerelease(v));
  const pool = releases.length > 0 ? releases : live;
  let best: string | undefined;
  for (const v of pool) if (best === undefined || compareVersions(v, best) > 0) best = v;
  return best;
}

export type UpgradeVerdict = 'upgrade' | 'same' | 'downgrade';

/** How moving from `installed` to `target` should be described to an admin. */
export function upgradeVerdict(installed: string, target: string): UpgradeVerdict {
  const c = compareVersions(target, installed);
  return c > 0 ? 'upgrade' : c === 0 ? 'same' : 'downgrade';
}
