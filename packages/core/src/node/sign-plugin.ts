// `hub keys sign-plugin`: an author (re)signs every current version of their plugin — say when
// registering their key — writing `plugins/<id>/signed-targets.json` in a catalog dir. Only archives
// that pass the build's own checks (size, sha256, safe unzip, manifest ↔ entry) are signed.
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Finding } from '../findings';
import { hasErrors } from '../findings';
import { signedTargetsPath, versionArchiveKey } from '../layout';
import { readSignedTargets } from './author-signing';
import { checkCatalogArchives } from './check-archives';
import { loadCatalog } from './load-catalog';
import { readKeyFile, type SignPluginOptions, signPluginTargets, TufError, type TufTarget } from './tuf';

export interface SignedPlugin {
  file: string;
  version: number;
  targets: TufTarget[];
  /** Versions whose archives are at https URLs: signed as their entries say, not checked here. */
  remote: string[];
}

/**
 * Signs every version of `pluginId` in the catalog at `catalogDir` with the author key in `keyFile`:
 * signed-targets.json gets (or replaces) each archive's target and its version goes up by one.
 * Refuses (`findings`) when the plugin has no versions or an archive fails its checks.
 */
export async function signPluginVersions(
  catalogDir: string,
  pluginId: string,
  keyFile: string,
  opts: SignPluginOptions & { displayFrom?: string } = {},
): Promise<{ ok: true; signed: SignedPlugin } | { ok: false; findings: Finding[] }> {
  const key = readKeyFile(keyFile);
  const catalog = await loadCatalog(catalogDir, { displayFrom: opts.displayFrom });
  if (!catalog.source) return { ok: false, findings: catalog.findings };
  const entries = catalog.entries.filter((e) => e.entry.plugin_id === pluginId);
  if (entries.length === 0) {
    throw new TufError(
      `the catalog at ${catalogDir} has no versions of plugin ${pluginId}`,
      'tuf.bad-option',
    );
  }
  const findings = await checkCatalogArchives(catalog.root, entries, { displayFrom: opts.displayFrom });
  if (hasErrors(findings)) return { ok: false, findings };
  const targets = entries.map((e) => ({
    path: versionArchiveKey(pluginId, e.entry.version),
    length: e.entry.archive.size_bytes,
    sha256: e.entry.archive.sha256,
  }));
  const previous = readSignedTargets(catalog.source, pluginId);
  if (!previous.ok && !previous.missing)
    return { ok: false, findings: previous.finding ? [previous.finding] : [] };
  const text = signPluginTargets(pluginId, previous.ok ? previous.bytes : undefined, targets, key, opts);
  const file = join(catalog.root, signedTargetsPath(pluginId));
  // Never through a link: the file is replaced in place, as a regular file of the catalog.
  const fd = openSync(
    file,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return {
    ok: true,
    signed: {
      file,
      version: (JSON.parse(text) as { signed: { version: number } }).signed.version,
      targets,
      remote: entries.filter((e) => !e.entry.archive.url.startsWith('/')).map((e) => e.entry.version),
    },
  };
}
