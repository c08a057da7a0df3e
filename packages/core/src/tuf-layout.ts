// Where a hub's signed TUF metadata lives, runtime-free so the API (Node and Worker) serves
// exactly the files `hub build --tuf-keys` writes (see node/tuf.ts for how they are made).

/** The metadata dir in a build, and its path under the API's root URL: `/tuf/metadata/<file>`. */
export const TUF_METADATA_DIR = 'tuf/metadata';

/**
 * A metadata file the hub serves: `N.root.json`, `N.snapshot.json`, `N.targets.json`, the delegated
 * roles `N.hub.json`, its hash bins `N.hub-bin-<hex>.json` and `N.plugin-<plugin_id>.json` (a catalog
 * slug), `root.json`, `timestamp.json`.
 */
export const TUF_METADATA_FILE =
  /^(?:[1-9][0-9]{0,9}\.(?:root|snapshot|targets|hub|hub-bin-[0-9a-f]{1,4}|plugin-[a-z0-9._-]{1,100})|root|timestamp)\.json$/;
