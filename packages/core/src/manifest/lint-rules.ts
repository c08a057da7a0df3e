import { compare as comparePep440, valid as validPep440 } from '@renovatebot/pep440';
import type { FindingCode } from '../finding-codes';
import type { FindingList } from '../findings';
import { wouldBeEntryFindings } from '../node/entry-for-archive';
import { type ArchiveManifest, KNOWN_MANIFEST_VERSIONS } from '../schema/archive-manifest';
import { sdkSatisfies } from '../versions/sdk-range';
import { keyTypoFindings } from './key-typos';
import { joinRelative, normalizeRelative, type PluginFiles, parentDir } from './plugin-files';
import { pyprojectDependencies } from './pyproject';
import { type PlaceholderField, TEMPLATE_PLACEHOLDERS } from './template-placeholders';
import { UV_LOCK_FILE, uvLockProblems } from './uv-lock';

/** Everything a lint rule may look at. */
export interface LintContext {
  manifest: ArchiveManifest;
  /** The manifest's file label in findings, e.g. `my-plugin/manifest.yaml`. */
  manifestFile: string;
  files: PluginFiles;
  /** A source dir, or an archive (whose safety the strict archive check has already judged). */
  origin: 'dir' | 'archive';
  findings: FindingList;
  /** The manifest as YAML read it, before the schema dropped unknown keys and filled defaults. */
  raw: unknown;
  /** Where the value at `path` sits, or with `key` true, the last key of `path` itself. */
  locate: (path: ReadonlyArray<PropertyKey>, key?: boolean) => { line: number; column: number };
  /** The scalar at `path` exactly as the manifest's text writes it. */
  written: (path: ReadonlyArray<PropertyKey>) => string | undefined;
  sdkVersion: string;
}

export type LintRule = (ctx: LintContext) => void | Promise<void>;

/**
 * Findings an author may leave while iterating, which the catalog refuses: a warning where the author
 * lints and packs (`hub lint`, `hub pack`), an error where the plugin is published (`hub publish`,
 * `hub verify`; see LintOptions.purpose). Their messages say that publish and verify refuse them.
 */
export const PUBLISH_BLOCKING: ReadonlySet<FindingCode> = new Set<FindingCode>(['lint.placeholder']);

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

/** The pyproject.toml files the manifest's uv install entries name, as paths inside the plugin. */
export function uvPyprojects(manifest: ArchiveManifest, has: (path: string) => boolean): string[] {
  const paths = new Set<string>();
  for (const spec of manifest.install) {
    if (spec.method !== 'uv' || !spec.pyproject) continue;
    // The installer reads it from the plugin's root; lint also accepts it inside build_context.
    for (const path of [normalizeRelative(spec.pyproject), joinRelative(spec.build_context, spec.pyproject)])
      if (path && has(path)) paths.add(path);
  }
  return [...paths];
}

/**
 * A uv entry's pyproject.toml: TOML, dependencies that are plain requirements from an index, no
 * [tool.uv] indexes, find-links, URL or git sources (errors), and path sources inside the plugin (a warning).
 * In an archive the errors are already the strict check's (archive.unsafe-dependency).
 */
const uvPyprojectSafe: LintRule = async (ctx) => {
  for (const path of uvPyprojects(ctx.manifest, (p) => ctx.files.has(p))) {
    const file = `${ctx.files.label}/${path}`;
    const read = pyprojectDependencies((await ctx.files.read(path)).toString('utf8'), parentDir(path));
    if (ctx.origin === 'dir') {
      for (const r of read.refusals) {
        if (r.kind === 'toml') {
          ctx.findings.error('lint.invalid-pyproject', `${path} is ${r.message}; uv cannot install from it`, {
            file,
            line: r.line,
            column: r.column,
          });
        } else {
          ctx.findings.error(
            'lint.unsafe-dependency',
            `${r.message}; the hub refuses to pack or install it`,
            { file, line: r.line },
          );
        }
      }
    }
    for (const source of read.externalSources) {
      ctx.findings.warning(
        'lint.external-uv-source',
        `[tool.uv.sources] points at "${source}", outside the plugin; it will not exist after install — bundle a wheel under wheels/ instead`,
        { file },
      );
    }
  }
};

/**
 * A uv entry's uv.lock (beside its pyproject.toml), which CoreService installs exactly: refused
 * sources, names, versions or hashes (lint.unsafe-lock), or a lock that disagrees with the
 * pyproject (lint.stale-lock) are errors, since install refuses them; dependencies without a lock
 * are a warning (lint.no-lock): each install then resolves them anew.
 */
const uvLockMatches: LintRule = async (ctx) => {
  for (const path of uvPyprojects(ctx.manifest, (p) => ctx.files.has(p))) {
    const pyproject = pyprojectDependencies((await ctx.files.read(path)).toString('utf8'), parentDir(path));
    if (pyproject.refusals.length > 0) continue;
    const lockPath = joinRelative(parentDir(path), UV_LOCK_FILE);
    const has = lockPath !== undefined && ctx.files.has(lockPath);
    const text = has ? (await ctx.files.read(lockPath)).toString('utf8') : undefined;
    for (const p of uvLockProblems(pyproject, text)) {
      const where = { file: `${ctx.files.label}/${p.file === 'lock' ? lockPath : path}`, line: p.line };
      if (p.code === 'lint.no-lock') ctx.findings.warning(p.code, `${path} has ${p.message}`, where);
      else ctx.findings.error(p.code, p.message, where);
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

const tagsInfo: LintRule = (ctx) => {
  if (ctx.manifest.tags.length === 0)
    ctx.findings.info(
      'lint.no-tags',
      'no tags: people searching the hub will not find it by topic',
      at(ctx, []),
    );
};

/**
 * Errors wherever the catalog would refuse the entry `hub publish` writes from this manifest (a
 * version that is not SemVer, a license that is not SPDX, no description or author, a reserved
 * plugin_id, …): the very checks publish and verify run, with their entry.* codes, at the manifest's lines.
 */
const catalogAcceptsEntry: LintRule = (ctx) => {
  const locator = { locate: ctx.locate, written: ctx.written };
  ctx.findings.items.push(...wouldBeEntryFindings(ctx.manifest, ctx.manifestFile, locator));
};

/** Whitespace runs as one space, as the catalog entry shows text. */
const oneLine = (s: string) => s.trim().replace(/\s+/g, ' ');

/** A field that still holds the scaffold template's placeholder text (publish-blocking). */
const placeholdersReplaced: LintRule = (ctx) => {
  for (const field of Object.keys(TEMPLATE_PLACEHOLDERS) as PlaceholderField[]) {
    if (oneLine(ctx.manifest[field]) !== TEMPLATE_PLACEHOLDERS[field]) continue;
    ctx.findings.warning(
      'lint.placeholder',
      `${field} is still the placeholder hub scaffold wrote ("${TEMPLATE_PLACEHOLDERS[field]}"); replace it — hub publish and hub verify refuse it`,
      at(ctx, [field]),
    );
  }
};

/** The value at `path` of a parsed document, own properties only (keys are data). */
function valueAt(data: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur = data;
  for (const seg of path) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

/** Paths of every boolean in a parsed YAML document. */
function booleanPaths(data: unknown): PropertyKey[][] {
  const found: PropertyKey[][] = [];
  const stack: Array<[unknown, PropertyKey[]]> = [[data, []]];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (typeof node === 'boolean') found.push(path);
    else if (Array.isArray(node)) for (const [i, v] of node.entries()) stack.push([v, [...path, i]]);
    else if (typeof node === 'object' && node !== null && !(node instanceof Date))
      for (const [k, v] of Object.entries(node)) stack.push([v, [...path, k]]);
  }
  return found.reverse();
}

/**
 * A YAML 1.1 boolean (`no`, `off`, `yes`, …) where the manifest means a string, which the schema
 * turned back into one (`restart_policy: no` is the policy "no"): other readers may not, so quote it.
 * Where a boolean cannot stand for a string, the schema's own error says the same (schemaFindings).
 */
const booleansQuoted: LintRule = (ctx) => {
  for (const path of booleanPaths(ctx.raw)) {
    const meant = valueAt(ctx.manifest, path);
    if (typeof meant !== 'string') continue;
    const written = ctx.written(path) ?? String(valueAt(ctx.raw, path));
    const last = path.at(-1);
    const key = typeof last === 'string' ? `${last}: ` : '';
    const taken = meant === written ? '' : `, taken as "${meant}"`;
    ctx.findings.warning(
      'lint.unquoted-boolean',
      `\`${written}\` is read as a boolean${taken}; quote it: ${key}"${meant}"`,
      at(ctx, path),
    );
  }
};

/** A warning at each unknown key that is one or two edits from a known one (unknown keys are ignored). */
const keysSpelledRight: LintRule = (ctx) => {
  ctx.findings.items.push(...keyTypoFindings(ctx.raw, ctx.manifestFile, ctx.locate));
};

/** The author's checks, run on a source dir and on an archive alike. */
export const LINT_RULES: readonly LintRule[] = [
  keysSpelledRight,
  catalogAcceptsEntry,
  placeholdersReplaced,
  booleansQuoted,
  installFilesExist,
  sdkRangeIncludesCurrent,
  healthTimeoutReasonable,
  bundledSdkWheelCurrent,
  schemaFilesPresent,
  uvPyprojectSafe,
  uvLockMatches,
  manifestVersionKnown,
  predicatesKnown,
  tagsInfo,
];
