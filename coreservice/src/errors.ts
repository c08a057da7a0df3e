import { escapeControl } from '@magellon/hub-core/text';
/** Why an operation failed, with the HTTP status the admin API answers and the CLI's exit code. */
export type InstallErrorCode =
  | 'not-found' // 404: unknown plugin or version
  | 'bad-request' // 400: a request that does not make sense (a replica count out of bounds)
  | 'bad-archive' // 400: unsafe archive, bad manifest, checksums that do not match
  | 'wrong-plugin' // 400: the archive's manifest names another plugin or version
  | 'already-installed' // 409
  | 'not-newer' // 400: an upgrade to a version that is not newer, without force_downgrade
  | 'incompatible' // 422: the plugin's requires_sdk does not admit this platform's SDK
  | 'busy' // 409 / exit 3: another operation on this plugin is in progress
  | 'hub-unreachable' // 502: the hub could not be read
  | 'checksum-mismatch' // 502: the download is not what the hub said (fail closed)
  | 'download-failed' // 502: timeouts, resets, a body longer or shorter than announced
  | 'unhealthy' // 502: the plugin did not start or pass its health check in time
  | 'untrusted' // 403: the registry's trust mode does not admit this plugin
  | 'unsupported' // 409: an action this plugin's backend cannot do (pause on a process)
  | 'name-conflict' // 409: another installed plugin's settings variables would have the same name
  | 'backend-failed' // 500: the backend could not prepare, start or stop the plugin
  | 'unreadable-record' // 500: a record CoreService keeps (a receipt) is garbled or not its plugin's
  | 'ambiguous-backend' // 409: a dispatch to a category of several backends, none pinned nor named
  | 'plugin-unavailable' // 502: the plugin's namespace was asked for and no replica of it is healthy
  // The registry's signed metadata (TUF) refused what it served; nothing is installed:
  | 'unsigned-registry' // 403: a registry with no pinned root, not explicitly accepted unsigned
  | 'metadata-expired' // 502: its timestamp, snapshot, targets or root has expired (a frozen hub or mirror)
  | 'metadata-rollback' // 502: its metadata is older than what this CoreService already saw from it
  | 'metadata-unsigned' // 502: signatures below threshold, by a key the root does not name, or not over these bytes
  | 'metadata-mismatch' // 502: documents from different revisions, or one that disagrees with the signed targets
  | 'target-unsigned'; // 502: the document or archive is in no signed targets (or not signed by the plugin's authors)

const STATUS: Record<InstallErrorCode, number> = {
  'not-found': 404,
  'bad-request': 400,
  'bad-archive': 400,
  'wrong-plugin': 400,
  'already-installed': 409,
  'not-newer': 400,
  incompatible: 422,
  busy: 409,
  'hub-unreachable': 502,
  'checksum-mismatch': 502,
  'download-failed': 502,
  unhealthy: 502,
  untrusted: 403,
  unsupported: 409,
  'name-conflict': 409,
  'backend-failed': 500,
  'unreadable-record': 500,
  'ambiguous-backend': 409,
  'plugin-unavailable': 502,
  'unsigned-registry': 403,
  'metadata-expired': 502,
  'metadata-rollback': 502,
  'metadata-unsigned': 502,
  'metadata-mismatch': 502,
  'target-unsigned': 502,
};

/** The refusals of a registry's signed metadata (trust.ts): each is named, and nothing is installed. */
export const METADATA_REFUSALS: ReadonlySet<InstallErrorCode> = new Set<InstallErrorCode>([
  'unsigned-registry',
  'metadata-expired',
  'metadata-rollback',
  'metadata-unsigned',
  'metadata-mismatch',
  'target-unsigned',
]);

export class InstallError extends Error {
  readonly status: number;
  /** Whether trying again may help (a 5xx, a reset). */
  retryable = false;
  constructor(
    readonly code: InstallErrorCode,
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = 'InstallError';
    this.status = STATUS[code];
  }

  retryIf(yes: boolean): this {
    this.retryable = yes;
    return this;
  }
}

/**
 * A rollback or cleanup step that failed: what the caller does next (rethrow its own error, go on
 * with the other steps) does not change, but the failure is said on stderr, escaped, never lost.
 */
export function logCleanupFailure(what: string, err: unknown): void {
  const why = err instanceof Error ? err.message : String(err);
  console.error(`coreservice: ${escapeControl(`${what}: ${why}`)}`);
}
