// Makes a plugin of a catalog dir author-signed, as its author would: a key (hub keys generate
// --author), the signing block in owners.yaml, and signed-targets.json over every version.
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signPluginVersions } from '../src/node/sign-plugin';
import { generateRoleKey, signingYaml } from '../src/node/tuf';

/** A fresh author key in its own temp dir (0700): its file and public half. */
export function authorKey(): { file: string; keyid: string; public: string } {
  const { key, file } = generateRoleKey(join(mkdtempSync(join(tmpdir(), 'hub-author-')), 'keys'), 'author');
  return { file, keyid: key.keyid, public: key.keyval.public };
}

/** Adds `signing` (one key) to plugins/<id>/owners.yaml; with `sign`, also signs every version. */
export async function makeAuthorSigned(
  catalogDir: string,
  id: string,
  opts: { sign?: boolean } = {},
): Promise<{ file: string; keyid: string; public: string }> {
  const key = authorKey();
  appendFileSync(join(catalogDir, 'plugins', id, 'owners.yaml'), `${signingYaml([key])}\n`);
  if (opts.sign ?? true) {
    const signed = await signPluginVersions(catalogDir, id, key.file);
    if (!signed.ok) throw new Error(`test bug: ${id} could not be signed: ${signed.findings[0]?.message}`);
  }
  return key;
}
