import { compare as comparePep440, valid as validPep440 } from '@renovatebot/pep440';
import type { FindingList } from '../findings';
import { type ArchiveManifest, KNOWN_MANIFEST_VERSIONS } from '../schema/archive-manifest';
import { isSpdxExpression } from '../schema/primitives';
import { sdkSatisfies } from '../versions/sdk-range';
import { isSemver } from '../versions/semver';
import { keyTypoFindings } from './key-typos';
import { joinRelative, normalizeRelative, type PluginFiles, parentDir } from './plugin-files';
import { pyprojectDependencies } from './pyproject';

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
  uvPyprojectSafe,
  manifestVersionKnown,
  versionIsSemver,
  predicatesKnown,
  licenseIsSpdx,
  authorInfo,
];
