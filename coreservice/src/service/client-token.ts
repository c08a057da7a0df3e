// Per-plugin client tokens: a token that opens one plugin's namespace (/plugins/<id>/…) and
// nothing else, for the applications that call a plugin through CoreService without holding the
// admin token. Made (or replaced) by POST /admin/plugins/<id>/client-token, answered once; only its
// sha256 is kept, in the plugin's home (0600, layout.ts), so it goes with an uninstall.
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { clientTokenFile, pluginHome } from '../layout';
import { clientTokenSchema, readRecord, recordValue, writeRecord } from '../records';
import { newToken, sameToken } from './token';

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** Makes a new client token for the plugin, replacing the one it had; answers it (the only time it is seen). */
export function rotateClientToken(pluginsDir: string, id: string): { token: string; created_at: string } {
  const token = newToken();
  const created_at = new Date().toISOString();
  writeRecord(clientTokenFile(pluginHome(pluginsDir, id)), clientTokenSchema, {
    sha256: hashOf(token),
    created_at,
  });
  return { token, created_at };
}

/** Revokes the plugin's client token (its namespace then opens to the admin token only). */
export function revokeClientToken(pluginsDir: string, id: string): void {
  rmSync(clientTokenFile(pluginHome(pluginsDir, id)), { force: true });
}

/** Whether `token` is this plugin's client token (compared in constant time; false when it has none). */
export function isClientToken(pluginsDir: string, id: string, token: string): boolean {
  const kept = recordValue(readRecord(clientTokenFile(pluginHome(pluginsDir, id)), clientTokenSchema));
  return kept !== undefined && sameToken(hashOf(token), kept.sha256);
}
