import type { Command } from './command';

/** What `hub --help` lists. Each command's module (and the domain library) loads only when it runs. */
export interface CommandEntry {
  name: string;
  summary: string;
  group: 'Authoring' | 'Catalog';
  load(): Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'scaffold',
    summary: 'create a runnable plugin skeleton',
    group: 'Authoring',
    load: async () => (await import('./scaffold')).scaffoldCommand,
  },
  {
    name: 'lint',
    summary: "run the author's checks on a plugin dir or a packed .mpn",
    group: 'Authoring',
    load: async () => (await import('./lint')).lintCommand,
  },
  {
    name: 'test',
    summary: "lint, run the plugin's own tests, then install and start it in a throw-away CoreService",
    group: 'Authoring',
    load: async () => (await import('./test')).testCommand,
  },
  {
    name: 'pack',
    summary: 'pack a plugin dir into <plugin_id>-<version>.mpn (reproducibly)',
    group: 'Authoring',
    load: async () => (await import('./pack')).packCommand,
  },
  {
    name: 'publish',
    summary: 'propose a new version to the catalog: pack, lint, entry, branch and pull request',
    group: 'Authoring',
    load: async () => (await import('./publish')).publishCommand,
  },
  {
    name: 'yank',
    summary: 'propose yanking a published version (a pull request that adds yanked:)',
    group: 'Authoring',
    load: async () => (await import('./yank')).yankCommand,
  },
  {
    name: 'validate',
    summary: 'check every catalog entry (and its archive) and print all findings',
    group: 'Catalog',
    load: async () => (await import('./validate')).validateCommand,
  },
  {
    name: 'build',
    summary: 'write the /v1 JSON documents and the archives layout the API and site serve',
    group: 'Catalog',
    load: async () => (await import('./build')).buildCommand,
  },
  {
    name: 'serve',
    summary: 'validate, build and serve the /v1 API and archives on one port',
    group: 'Catalog',
    load: async () => (await import('./serve')).serveCommand,
  },
  {
    name: 'verify',
    summary: 'check a catalog pull request in git: entries, archives, immutability, tier, a real install',
    group: 'Catalog',
    load: async () => (await import('./verify')).verifyCommand,
  },
  {
    name: 'upload',
    summary: 'push a build to an S3 or R2 bucket (skipping what is there, never changing an archive)',
    group: 'Catalog',
    load: async () => (await import('./upload')).uploadCommand,
  },
  {
    name: 'mirror',
    summary:
      "copy a running hub's documents and archives into a dir hub serve serves (incremental, verified)",
    group: 'Catalog',
    load: async () => (await import('./mirror')).mirrorCommand,
  },
  {
    name: 'keys',
    summary: "make, rotate and use the keys that sign the hub's TUF metadata",
    group: 'Catalog',
    load: async () => (await import('./keys')).keysCommand,
  },
];
