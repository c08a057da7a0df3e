import { compare as comparePep440, valid as validPep440 } from '@renovatebot/pep440';
import { parse as parseToml } from 'smol-toml';
import type { FindingList } from '../findings';
import { type ArchiveManifest, KNOWN_MANIFEST_VERSIONS } from '../schema/archive-manifest';
import { isSpdxExpression } from '../schema/primitives';
import { sdkSatisfies } from '../versions/sdk-range';
import { isSemver } from '../versions/semver';
import { keyTypoFindings } from './key-typos';
import { joinRelative, normalizeRelative, type PluginFiles } from './plugin-files';

/** Everything a lint rule may look at. */
export interface LintContext {
  manifest: ArchiveManifest;
  /** The manifest's file label in findings, e.g. `my-plugin/manifest.yaml`. */
  manifestFile: string;
  files: PluginFiles;
  findings: FindingList;
  /** The manifest as YAML read it, before the schema dropped unknown keys and filled defaults. */
  raw: unknown;
  /** Where the value at `path` sits, or with `key` true, the last key of `path` itself. */
  locate: (path: ReadonlyArray<PropertyKey>, key?: boolean) => { line: number; column: number };
  sdkVersion: string;
}

export type LintRule = (ctx: LintContext) => void | Promise<void>;

export const KNOWN_PREDICATES = ['docker_daemon', 'binary', 'python', 'gpu_count_min', 'os', 'arch'] as const;

const at = (ctx: LintContext, path: ReadonlyArray<PropertyKey>) => ({
  file: ctx.manifestFile,
  ...ctx.locate(path),
});

/** Error: an install entry whose Dockerfile or pyproject is not in the plugin (it could not install). */
const installFilesExist: LintRule = (ctx) => {
  ctx.manifest.install.forEach((spec, i) => {
    const wanted: Array<[string, string]> = [];
    if (spec.method === 'docker' && spec.dockerfile && !spec.image)
      wanted.push(['dockerfile', spec.dockerfile]);
    if (spec.method === 'uv' && spec.pyproject) wanted.push(['pyproject', spec.pyproject]);
    for (const [field, path] of wanted) {
      const direct = normalizeRelative(path);
      const inContext = joinRelative(spec.build_context, path);
      if (direct === undefined) {
        ctx.findings.error(
          'lint.path-escapes',
          `install[${i}].${field} "${path}" points outside the plugin`,
          at(ctx, ['install', i, field]),
        );
      } else if (!ctx.files.has(direct) && !(inContext && ctx.files.has(inContext))) {
        ctx.findings.error(
          'lint.install-file-missing',
          `install[${i}] (${spec.method}) needs ${field} "${path}", which is not in ${ctx.files.label}`,
          at(ctx, ['install', i, field]),
        );
      }
    }
  });
};

const sdkRangeIncludesCurrent: LintRule = (ctx) => {
  if (!sdkSatisfies(ctx.sdkVersion, ctx.manifest.requires_sdk)) {
    ctx.findings.warning(
      'lint.sdk-excluded',
      `requires_sdk "${ctx.manifest.requires_sdk}" excludes the current SDK ${ctx.sdkVersion}; hosts on that SDK will refuse to install it`,
      at(ctx, ['requires_sdk']),
    );
  }
};

const healthTimeoutReasonable: LintRule = (ctx) => {
  const t = ctx.manifest.health_check.timeout_seconds;
  if (t < 5 || t > 300) {
    ctx.findings.warning(
      'lint.health-timeout',
      `health_check.timeout_seconds is ${t}; use 5–300 s (too short fails slow starts, too long hides broken ones)`,
      at(ctx, ['health_check', 'timeout_seconds']),
    );
  }
};

const bundledSdkWheelCurrent: LintRule = (ctx) => {
  for (const path of ctx.files.list()) {
    const m = /^wheels\/magellon_sdk-([^-]+)-.*\.whl$/.exec(path);
    if (!m?.[1] || !validPep440(m[1])) continue;
    if (comparePep440(m[1], ctx.sdkVersion) < 0) {
      ctx.findings.warning(
        'lint.stale-sdk-wheel',
        `bundled ${path} is older than the current SDK ${ctx.sdkVersion}; rebuild it or drop it`,
        { file: `${ctx.files.label}/${path}` },
      );
    }
  }
};

const schemaFilesPresent: LintRule = (ctx) => {
  for (const field of ['input_schema', 'output_schema'] as const) {
    const path = normalizeRelative(ctx.manifest[field]);
    if (!path || !ctx.files.has(path)) {
      ctx.findings.warning(
        'lint.schema-missing',
        `${field} "${ctx.manifest[field]}" is not in ${ctx.files.label}; the UI cannot build its form`,
        at(ctx, [field]),
      );
    }
  }
};

/** What `[tool.uv.sources]` of a pyproject.toml says, read with a real TOML parser. */
export type UvSourcesResult =
  | { ok: true; external: string[] }
  | { ok: false; line: number; column: number; message: string };

/**
 * Path sources in `[tool.uv.sources]` that point outside the plugin: they will not exist after
 * extraction. `dir` is the pyproject's folder inside the plugin ('' for the root), since uv reads
 * paths relative to it. A file that is not TOML comes back with the parser's line and column.
 */
export function externalUvSources(pyproject: string, dir = ''): UvSourcesResult {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(pyproject);
  } catch (err) {
    const e = err as { line?: number; column?: number; message?: string };
    const message = (String(e.message ?? err).split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    return { ok: false, line: e.line ?? 1, column: e.column ?? 1, message };
  }
  const table = (v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const sources = table(table(table(doc.tool)?.uv)?.sources) ?? {};
  const external: string[] = [];
  for (const value of Object.values(sources)) {
    // A source is a table, or a list of tables with markers.
    for (const source of Array.isArray(value) ? value : [value]) {
      const p = table(source)?.path;
      if (typeof p !== 'string') continue;
      const local = p.replace(/^file:\/\//, '');
      if (/^[/~]/.test(local) || /^[A-Za-z]:/.test(local) || joinRelative(dir, local) === undefined)
        external.push(p);
    }
  }
  return { ok: true, external };
}

const uvSourcesInside: LintRule = async (ctx) => {
  for (const spec of ctx.manifest.install) {
    if (spec.method !== 'uv' || !spec.pyproject) continue;
    const path = normalizeRelative(spec.pyproject);
    if (!path || !ctx.files.has(path)) continue;
    const file = `${ctx.files.label}/${path}`;
    const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    const result = externalUvSources((await ctx.files.read(path)).toString('utf8'), dir);
    if (!result.ok) {
      ctx.findings.error(
        'lint.invalid-pyproject',
        `${path} is not valid TOML (${result.message}); uv cannot install from it`,
        { file, line: result.line, column: result.column },
      );
      continue;
    }
    for (const source of result.external) {
      ctx.findings.warning(
        'lint.external-uv-source',
        `[tool.uv.sources] points at "${source}", outside the plugin; it will not exist after install — bundle a wheel under wheels/ instead`,
        { file },
      );
    }
  }
};

const manifestVersionKnown: LintRule = (ctx) => {
  if (!(KNOWN_MANIFEST_VERSIONS as readonly string[]).includes(ctx.manifest.manifest_version)) {
    ctx.findings.warning(
      'lint.newer-manifest-version',
      `manifest_version "${ctx.manifest.manifest_version}" is newer than this hub knows (${KNOWN_MANIFEST_VERSIONS.join(', ')}); unknown fields are ignored`,
      at(ctx, ['manifest_version']),
    );
  }
};

const versionIsSemver: LintRule = (ctx) => {
  if (!isSemver(ctx.manifest.version)) {
    ctx.findings.warning(
      'lint.version-not-semver',
      `version "${ctx.manifest.version}" is not SemVer; the hub catalog only accepts SemVer such as 1.2.0`,
      at(ctx, ['version']),
    );
  }
};

const predicatesKnown: LintRule = (ctx) => {
  ctx.manifest.install.forEach((spec, i) => {
    spec.requires.forEach((pred, j) => {
      for (const key of Object.keys(pred)) {
        if (!(KNOWN_PREDICATES as readonly string[]).includes(key)) {
          ctx.findings.warning(
            'lint.unknown-predicate',
            `install[${i}].requires[${j}] "${key}" is not a known predicate (${KNOWN_PREDICATES.join(', ')}); hosts will treat it as unmet`,
            at(ctx, ['install', i, 'requires', j]),
          );
        }
      }
    });
  });
};

const licenseIsSpdx: LintRule = (ctx) => {
  const license = ctx.manifest.license;
  if (license && !isSpdxExpression(license)) {
    ctx.findings.warning(
      'lint.license-not-spdx',
      `license "${license}" is not an SPDX identifier; the hub catalog requires one`,
      at(ctx, ['license']),
    );
  }
};

const authorInfo: LintRule = (ctx) => {
  const m = ctx.manifest;
  if (m.tags.length === 0)
    ctx.findings.info(
      'lint.no-tags',
      'no tags: people searching the hub will not find it by topic',
      at(ctx, []),
    );
  if (!m.description.trim()) ctx.findings.info('lint.no-description', 'no description', at(ctx, []));
  if (!m.author.trim()) ctx.findings.info('lint.no-author', 'no author', at(ctx, []));
};

/** A warning at each unknown key that is one or two edits from a known one (unknown keys are ignored). */
const keysSpelledRight: LintRule = (ctx) => {
  ctx.findings.items.push(...keyTypoFindings(ctx.raw, ctx.manifestFile, ctx.locate));
};

/** The author's checks, run on a source dir and on an archive alike. */
export const LINT_RULES: readonly LintRule[] = [
  keysSpelledRight,
  installFilesExist,
  sdkRangeIncludesCurrent,
  healthTimeoutReasonable,
  bundledSdkWheelCurrent,
  schemaFilesPresent,
  uvSourcesInside,
  manifestVersionKnown,
  versionIsSemver,
  predicatesKnown,
  licenseIsSpdx,
  authorInfo,
];
