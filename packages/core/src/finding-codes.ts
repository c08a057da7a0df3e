/**
 * Every finding code the hub can report, with the one-line meaning shown in docs/finding-codes.md.
 * This object is the single list: `FindingCode` is derived from it, `Finding.code` must be one of
 * them, and a test fails when a code has no fixture asserting where it is reported.
 */
export const FINDING_CODES = {
  // YAML files (catalog entries, maintainers.yaml, owners.yaml, manifests)
  'yaml.syntax': 'the file is not valid YAML',
  'yaml.duplicate-key': 'a mapping has the same key twice',
  'yaml.alias':
    'the file uses anchors, aliases or merge keys (on scalars too), which are refused (this also defuses alias bombs)',
  'yaml.not-mapping': 'the document is not a mapping of fields',
  'yaml.too-large': 'the file is larger than its byte limit and was not parsed',
  // Other files the hub parses
  'json.syntax': 'a JSON file is not valid JSON',

  // Catalog entries: schema shape and field values
  'entry.unknown-field': 'a field the catalog schema does not know (check its spelling)',
  'entry.missing-field': 'a required field is missing',
  'entry.invalid-type': 'a field has the wrong type (a list where a string belongs, …)',
  'entry.invalid-value': 'a field value breaks a schema rule not covered by a more specific code',
  'entry.invalid-slug': 'plugin_id, category, backend_id, a tag or a replacement is not a lowercase slug',
  'entry.invalid-semver': 'version is not strict SemVer 2.0.0',
  'entry.invalid-sha256': 'archive.sha256 is not 64 lowercase hex characters',
  'entry.invalid-tier': 'tier is neither "verified" nor "community"',
  'entry.invalid-archive-id': 'archive_id is not a lowercase UUID v7',
  'entry.invalid-sdk-range': 'requires_sdk is not a PEP 440 specifier set such as ">=2.1,<3.0"',
  'entry.invalid-license': 'license is not an SPDX identifier or expression',
  'entry.invalid-date': 'published_at or yanked.at is not an ISO 8601 date-time with an offset',
  'entry.invalid-url': 'archive.url or homepage is neither hub-relative nor an absolute https URL',
  'entry.yanked-before-published': 'yanked.at is earlier than published_at',
  'entry.unknown-replacement': 'deprecated.replacement names a plugin that is not in the catalog',
  'entry.control-character':
    'a text field holds a control character (C0, DEL, C1; tab and newline only in description and reasons) or a bidirectional control (U+202A–U+202E, U+2066–U+2069, LRM, RLM, ALM)',
  'entry.reserved-id': 'plugin_id is a name the catalog site uses for its own pages (categories, publish, …)',

  // maintainers.yaml
  'maintainers.unknown-field': 'a field maintainers.yaml does not know',
  'maintainers.missing-field': 'a required field of maintainers.yaml is missing',
  'maintainers.invalid-type': 'a maintainers.yaml field has the wrong type',
  'maintainers.invalid-value': 'a maintainers.yaml value is invalid (a GitHub login, an empty list)',
  'maintainers.control-character': 'a maintainers.yaml value holds a control or bidirectional character',

  // plugins/<plugin_id>/owners.yaml
  'owners.unknown-field': 'a field owners.yaml does not know',
  'owners.missing-field': 'a required field of owners.yaml is missing',
  'owners.invalid-type': 'an owners.yaml field has the wrong type',
  'owners.invalid-value':
    'an owners.yaml value is invalid (a GitHub login, a login listed twice, an empty list)',
  'owners.control-character': 'an owners.yaml value holds a control or bidirectional character',
  'owners.bad-signing-key':
    'a signing key’s keyid is not the TUF key id of its public key (sha256 of the canonical JSON of the key)',

  // Where files are
  'path.plugin-id-mismatch': 'plugin_id disagrees with the entry’s folder plugins/<plugin_id>/',
  'path.version-mismatch': 'version disagrees with the entry’s file name <version>.yaml',
  'path.bad-layout': 'a file or folder is not where catalog entries go',
  'path.not-regular-file': 'a FIFO, socket or device sits where a file is expected; it is never read',
  'path.outside-tree':
    'a symbolic link whose real path leaves the tree it was found in; its target is never read',

  // The catalog as a whole
  'catalog.not-found': 'the directory given is not a catalog (it has no plugins/ folder)',
  'catalog.plugin-sources':
    'the directory holds a plugin’s sources (manifest.yaml), not a catalog: run hub lint on it',
  'catalog.unreadable': 'a catalog file or folder cannot be read (permissions, I/O error)',
  'catalog.duplicate-version': 'two entries of one plugin have the same SemVer precedence',
  'catalog.archive-url-reused': 'two entries point at the same archive URL',
  'catalog.archive-id-reused': 'two entries carry the same archive_id',
  'catalog.asset-name-collision':
    'two files under assets/ have names that collide after Unicode case folding and normalization (a macOS or Windows checkout keeps one)',
  'catalog.no-maintainers': 'there is no maintainers.yaml, so nobody may set tier "verified"',
  'catalog.no-owners': 'a plugin has entries but no owners.yaml, so only maintainers may change it (warning)',
  'catalog.unsigned-version':
    'a version of an author-signed plugin (owners.yaml has signing) is missing from its signed-targets.json or listed with another size or sha256, or another plugin’s archive name falls under its signed paths',
  'catalog.bad-author-signature':
    'an author-signed plugin’s signed-targets.json is not TUF targets metadata signed by the threshold of the keys owners.yaml lists, or it has expired',

  // A pull request against the catalog (`hub verify`): what may change once published, and who may say "verified"
  'verify.version-deleted': 'a published version’s entry is deleted (yank it instead)',
  'verify.published-changed':
    'a published entry changes a field other than yanked and deprecated (sha256, size, URL, …)',
  'verify.archive-replaced': 'an archive file that is already published is replaced or deleted',
  'verify.tier-not-allowed':
    'tier "verified" is set or kept by an author who is not a maintainer, and no maintainer approved',
  'verify.maintainers-not-allowed': 'maintainers.yaml is changed by someone who is not a maintainer',
  'verify.maintainers-changed':
    'maintainers.yaml adds or removes maintainers: a reviewer must look (warning)',
  'verify.not-owner':
    'a pull request adds, yanks, deprecates or changes a version of a plugin, or changes its owners.yaml, and its author is not an owner (no owner or maintainer approved)',
  'verify.new-plugin-owner':
    'a pull request adds a new plugin without a plugins/<plugin_id>/owners.yaml that names its author',
  'verify.owners-changed':
    'a plugin’s owners.yaml adds or removes owners, or changes its author signing keys: a reviewer must look (warning)',
  'verify.unsigned-version':
    'a pull request adds a version of an author-signed plugin without a newer signed-targets.json listing its archive (size and sha256)',
  'verify.bad-author-signature':
    'a pull request’s signed-targets.json does not verify with the author keys of the BASE owners.yaml (say, the hub signed it)',
  'verify.outside-catalog':
    'a catalog pull request changes files outside the catalog (workflows, scripts, the hub’s code): a maintainer must review it',
  'verify.download-failed': 'an https archive could not be downloaded (status, timeout, size cap)',
  'verify.install-failed':
    'the new version does not install and pass its health check in a throw-away CoreService',

  // An entry's archive, checked against the entry
  'archive.missing': 'the hub-relative archive is not in the catalog',
  'archive.bad-url': 'archive.url has a malformed percent-escape or leaves assets/ once decoded',
  'archive.size-mismatch': 'size_bytes differs from the archive file’s size',
  'archive.sha256-mismatch': 'sha256 differs from the archive file’s sha256',
  'archive.entry-mismatch': 'the archive’s manifest disagrees with the entry (plugin_id, version, …)',
  // An archive's contents, checked on their own
  'archive.no-manifest': 'the archive has no manifest.yaml at its root',
  'archive.plugin-yaml-differs': 'plugin.yaml (the legacy alias) differs from manifest.yaml',
  'archive.no-archive-id': 'the archive’s manifest has no archive_id',
  'archive.placeholder-archive-id': 'the archive’s manifest carries the placeholder archive_id',
  'archive.unlisted-file': 'a file in the archive is not listed in file_checksums',
  'archive.checksum-mismatch': 'a file differs from its file_checksums entry',
  'archive.missing-file': 'file_checksums lists a file that is not in the archive',
  'archive.unsafe-dependency':
    'a uv entry’s pyproject.toml lists a dependency that is not a plain requirement from an index (an option, a URL or path, a control character, …), names indexes, find-links, or URL or git sources in [tool.uv], or cannot be read; install and the catalog refuse the archive',

  // The zip container (the safe reader refuses the archive)
  'zip.not-found': 'the archive cannot be opened or is not a regular file',
  'zip.corrupt': 'the archive is not a readable zip, or an entry fails its CRC-32',
  'zip.path-traversal': 'an entry name climbs out of the extraction root with ".."',
  'zip.absolute-path': 'an entry name is an absolute or drive-letter path',
  'zip.backslash': 'an entry name contains a backslash',
  'zip.invalid-name':
    'an entry name is empty, too long, not UTF-8, or has control, format or bidi characters',
  'zip.symlink': 'an entry is a symbolic link',
  'zip.special-file': 'an entry is a device, FIFO or socket',
  'zip.duplicate-entry': 'two entries have the same name',
  'zip.case-collision': 'two entry names collide after Unicode case folding and normalization',
  'zip.path-conflict': 'an entry is a file where another needs a directory',
  'zip.too-many-entries': 'the archive has more entries than the limit',
  'zip.entry-too-large': 'an entry is larger than the per-entry limit',
  'zip.too-large': 'the archive, or everything it inflates to, is larger than the limit',
  'zip.compression-ratio': 'an entry inflates more than the ratio limit allows (zip bomb)',
  'zip.total-ratio':
    'all entries together inflate to more than 100 times the archive’s size (and over 64 MiB): many small bombs',
  'zip.size-mismatch': 'an entry holds more or fewer bytes than it declares',
  'zip.encrypted': 'an entry is encrypted',
  'zip.unsupported-compression': 'an entry uses a compression method other than stored or deflate',
  'zip.entry-missing': 'an entry that was asked for is not in the archive',
  'zip.destination-not-empty': 'the extraction target exists and is not an empty directory',
  'zip.unowned-bytes':
    'bytes no entry owns: data before the first local header (a prepended script) or a gap between records',
  'zip.overlapping-entries':
    'two entries share or reach into the same bytes, or one reaches into the central directory (overlap bomb)',
  'zip.header-mismatch':
    'a local header disagrees with its central record (name, method, flags, CRC, sizes, extra fields)',
  'zip.descriptor-mismatch': 'a data descriptor is missing, malformed or disagrees with the central record',
  'zip.bad-directory':
    'the end record and central directory are inconsistent: decoy or hidden records, lying offset, size or count, ambiguous end record',
  'zip.ambiguous-name': 'an extra field renames the entry for some tools (Info-ZIP Unicode Path)',
  'zip.directory-has-data': 'a directory entry carries data',
  'zip.unportable-name':
    'an entry name Windows cannot hold: < > : " | ? *, a trailing dot or space, a device name such as CON or NUL',

  // Plugin source dirs and archives: the author's checks (`hub lint`)
  'lint.not-found': 'the plugin dir or archive does not exist',
  'lint.no-manifest': 'the plugin dir has no manifest.yaml (or legacy plugin.yaml)',
  'lint.path-escapes': 'an install path points outside the plugin',
  'lint.install-file-missing': 'an install entry’s Dockerfile or pyproject is not in the plugin',
  'lint.sdk-excluded': 'requires_sdk excludes the current SDK',
  'lint.health-timeout': 'health_check.timeout_seconds is under 5 s or over 300 s',
  'lint.stale-sdk-wheel': 'a bundled magellon_sdk wheel is older than the current SDK',
  'lint.schema-missing': 'input_schema or output_schema is not in the plugin',
  'lint.external-uv-source': 'pyproject.toml’s [tool.uv.sources] points outside the plugin',
  'lint.invalid-pyproject': 'a pyproject.toml named by a uv install entry is not valid TOML',
  'lint.unsafe-dependency':
    'a uv entry’s pyproject.toml lists a dependency that is not a plain requirement from an index (an option such as --index-url, a URL or path, a control character, …), or its [tool.uv] names indexes, find-links, or URL or git sources',
  'lint.no-lock':
    'a uv entry’s pyproject.toml has dependencies but no uv.lock beside it: each install resolves them anew (warning)',
  'lint.unsafe-lock':
    'a uv entry’s uv.lock is not TOML, or names a package from a git, URL or path source, a bad name, version or hash, or a dependency it does not list; CoreService refuses to install from it',
  'lint.stale-lock':
    'a uv entry’s uv.lock disagrees with its pyproject.toml: a dependency missing from the lock, or a locked version its specifier does not admit; CoreService refuses it (run uv lock)',
  'lint.misspelled-key': 'an unknown manifest key is one or two edits from a known one (did you mean …?)',
  'lint.newer-manifest-version': 'manifest_version is newer than this hub knows',
  'lint.unknown-predicate': 'an install predicate this hub does not know',
  'lint.placeholder':
    'description or author still holds the placeholder text hub scaffold wrote: a warning in hub lint and hub pack, an error in hub publish and hub verify',
  'lint.unquoted-boolean':
    'an unquoted YAML 1.1 boolean (no, off, yes, …) where the manifest means a string, such as restart_policy: no; quote it (warning)',
  'lint.no-tags': 'no tags (info)',

  // Archive manifests: schema shape
  'manifest.not-mapping': 'manifest.yaml is not a mapping at its top level',
  'manifest.missing-field': 'a required manifest field is missing',
  'manifest.invalid-type': 'a manifest field has the wrong type',
  'manifest.invalid-value': 'a manifest value breaks a schema rule',
  'manifest.invalid-slug': 'plugin_id, category, backend_id or a tag is not a lowercase slug',
  'manifest.invalid-semver':
    'version is empty (SemVer itself is the catalog’s rule: hub lint reports entry.invalid-semver)',
  'manifest.invalid-sha256': 'a file_checksums value is not 64 lowercase hex characters',
  'manifest.invalid-archive-id': 'archive_id is not a lowercase UUID v7',
  'manifest.invalid-sdk-range': 'requires_sdk is not a PEP 440 specifier set',
  'manifest.invalid-url': 'homepage is not a string',

  // `hub pack`
  'pack.not-a-dir': 'the path given to pack is not a directory',
  'pack.no-manifest': 'the plugin dir has no manifest',
  'pack.invalid-manifest': 'the plugin’s manifest is invalid',
  'pack.exists': 'the output archive exists and --force was not given',
  'pack.write-failed': 'the archive could not be written',
  'pack.unsafe-archive': 'the packed archive fails the hub’s own checks',
  'pack.unsafe-name': 'plugin_id or version cannot be part of a file name (a "/", "..", a leading dot, …)',
  'pack.link-outside': 'a symbolic link leaves the plugin dir (pass --follow-links to pack its target)',
  'pack.link-loop': 'a symbolic link loops, or leads back into a folder that contains it',
  'pack.out-not-file': '--out names a device, FIFO or socket, which pack never replaces',
  'pack.out-is-dir': 'the --out path is a directory (the plugin dir itself, or any other)',
  'pack.out-parent-missing': 'the folder --out writes into does not exist (or is not a folder)',
  'pack.out-in-source': 'the --out path lies inside the plugin dir being packed',
  'pack.file-changed': 'a plugin file changed, vanished or stopped being a regular file while packing',

  // Files and folders the hub was asked to read or write
  'io.not-found': 'a file or folder does not exist',
  'io.not-a-directory': 'a path that must be a folder is a file (or passes through one)',
  'io.is-a-directory': 'a path that must be a file is a folder',
  'io.permission-denied': 'a file or folder cannot be read or written: permission denied',
  'io.link-loop': 'a path is a loop of symbolic links',
  'io.no-space': 'the disk or quota is full',
  'io.exists': 'the path already exists',
  'io.not-writable':
    'a place that refuses writes: a read-only file system, or a folder such as /proc or /sys',
  'io.error': 'any other input/output error',

  // The command line itself
  'cli.usage': 'the command line is wrong (an unknown option, a missing argument); exit code 2',
  'cli.internal': 'an unexpected error inside hub (a bug); HUB_DEBUG=1 shows where',

  // `hub build`
  'build.bad-out': 'the output dir holds the catalog, sits inside it, or was not made by hub build',
  'build.write-failed': 'the output could not be written',
} as const satisfies Record<string, string>;

/** A stable finding code: tools, docs and CI rely on these strings. */
export type FindingCode = keyof typeof FINDING_CODES;

/** Whether a string is a known finding code. */
export function isFindingCode(code: string): code is FindingCode {
  return Object.hasOwn(FINDING_CODES, code);
}
