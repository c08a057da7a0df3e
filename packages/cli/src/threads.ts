import { useEntryWorkers } from '@magellon/hub-core/node';

/**
 * Lets the catalog be read on every core. The compiled build ships the reader thread as
 * dist/entry-reader.js beside its chunks; run from TypeScript sources (tests), there is none.
 */
export function enableEntryThreads(): void {
  if (import.meta.url.endsWith('.js')) useEntryWorkers(new URL('./entry-reader.js', import.meta.url));
}
