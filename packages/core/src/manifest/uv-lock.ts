// A uv entry's `uv.lock` (the file `uv lock` writes next to pyproject.toml): the exact set of
// packages an install reproduces, each pinned to a version and to the sha256 of its files. Read
// with a real TOML parser and accepted only when every package comes from a registry (the root
// project itself excepted: `source = { virtual = "." }` or `{ editable = "." }`), with a PEP 503
// name, a PEP 440 version and `sha256:<64 hex>` hashes. The packages an install needs are found by
// walking `dependencies` edges from the root project, each edge's environment marker carried along
// (a package reached several ways is installed where any of them applies). CoreService turns the
// result into a requirements file of its own (`lockedRequirementsText`) for pip `--require-hashes`;
// `hub lint` checks the same lock against the pyproject (`lockDisagreements`).
import { satisfies, valid as validPep440 } from '@renovatebot/pep440';
import { parse as parseToml } from 'smol-toml';
import { escapeControl } from '../text/escape';
import { type PyprojectDependencies, type PyprojectDependency, pyprojectDependencies } from './pyproject';
import { type Marker, markerText, normalizePackageName, parseRequirement } from './requirement';

/** The name of the lock file uv writes beside pyproject.toml. */
export const UV_LOCK_FILE = 'uv.lock';
/** A uv.lock larger than this is refused unread (large real ones are a few hundred KB). */
export const MAX_UV_LOCK_BYTES = 4 * 1024 * 1024;
/** Lock format versions this reader knows. */
const LOCK_VERSIONS = [1];
/** A package reached by more marker paths than this is refused (no real lock comes near it). */
const MAX_MARKER_TERMS = 64;

/** One package an install needs, exactly as the lock pins it. */
export interface LockedPackage {
  /** PEP 503 normalised. */
  name: string;
  version: string;
  /** Where it applies (canonical PEP 508 marker text); absent: everywhere. */
  marker?: string;
  /** `sha256:<hex>` of every file the lock lists for this version (wheels, then the sdist). */
  hashes: string[];
  /** The sha256 of its wheels only (hex), for the record. */
  wheelHashes: string[];
}

/** Why a lock is refused, at a 1-based line when it can be found. */
export interface LockRefusal {
  line: number;
  message: string;
}

export type UvLockRead =
  | {
      ok: true;
      /** The root project's normalised name. */
      root: string;
      /** What the root project depends on, directly (normalised names), and `requires-dist` when recorded. */
      rootDependencies: string[];
      rootRequiresDist?: { name: string; specifier: string }[];
      /** Every package of the lock by normalised name, with its versions. */
      versions: Map<string, string[]>;
      /** What an install needs: the graph from the root, sorted by name. */
      packages: LockedPackage[];
    }
  | { ok: false; refusals: LockRefusal[]; reason: string };

type Table = Record<string, unknown>;
const table = (v: unknown): Table | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) ? (v as Table) : undefined;
const own = (t: Table | undefined, key: string): unknown => (t && Object.hasOwn(t, key) ? t[key] : undefined);
const quoted = (s: string) => `"${escapeControl(s.length > 100 ? `${s.slice(0, 100)}…` : s)}"`;

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?$/;
const VERSION = /^[A-Za-z0-9.!+_-]{1,100}$/;
const HASH = /^sha256:[0-9a-f]{64}$/;

interface RawPackage {
  name: string;
  version: string;
  line: number;
  root: boolean;
  edges: { name: string; version?: string; marker?: Marker; extras: string[] }[];
  optional: Map<string, RawPackage['edges']>;
  hashes: string[];
  wheelHashes: string[];
  requiresDist?: { name: string; specifier: string }[];
}

/** The line of the `[[package]]` whose name is `name` (best effort), else 1. */
function packageLine(text: string, name: string): number {
  const lines = text.split('\n');
  let inPackage = 0;
  for (const [i, l] of lines.entries()) {
    if (/^\s*\[\[\s*package\s*\]\]/.test(l)) inPackage = i + 1;
    else if (inPackage && new RegExp(`^\\s*name\\s*=\\s*["']${name.replace(/[.]/g, '\\.')}["']`).test(l))
      return inPackage;
  }
  return 1;
}

/** A marker string of the lock, parsed strictly and in canonical form, or a reason. */
function readMarker(value: unknown): { marker?: Marker; problem?: string } {
  if (value === undefined) return {};
  if (typeof value !== 'string') return { problem: 'a marker that is not a string' };
  const read = parseRequirement(`x ; ${value}`);
  if (!read.ok || !read.requirement.marker)
    return { problem: `the marker ${quoted(value)} (${read.ok ? 'empty' : read.reason})` };
  return { marker: read.requirement.marker };
}

type Problem = (line: number, message: string) => void;

/** A package's dependency list (`dependencies`, or one extra's): each edge checked, bad ones reported. */
function readEdges(value: unknown, line: number, what: string, problem: Problem): RawPackage['edges'] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problem(line, `${what} is not a list`);
    return [];
  }
  return value.flatMap((d) => {
    const t = table(d);
    const name = own(t, 'name');
    if (typeof name !== 'string' || !NAME.test(name)) {
      problem(line, `a dependency ${what} is ${quoted(String(name))}, which is not a package name`);
      return [];
    }
    const v = own(t, 'version');
    if (v !== undefined && (typeof v !== 'string' || !VERSION.test(v))) {
      problem(line, `the dependency ${quoted(name)} ${what} has a version that is not one`);
      return [];
    }
    const m = readMarker(own(t, 'marker'));
    if (m.problem) {
      problem(line, `the dependency ${quoted(name)} ${what} has ${m.problem}`);
      return [];
    }
    const extra = own(t, 'extra');
    const extras = Array.isArray(extra)
      ? extra.filter((e): e is string => typeof e === 'string' && NAME.test(e))
      : [];
    return [
      {
        name: normalizePackageName(name),
        ...(typeof v === 'string' ? { version: v } : {}),
        ...(m.marker ? { marker: m.marker } : {}),
        extras: extras.map(normalizePackageName),
      },
    ];
  });
}

/** Whether a package is the lock's own folder (`source = { virtual = "." }` or editable "."), and nothing else. */
function isProjectSource(source: Table | undefined): boolean {
  return own(source, 'virtual') === '.' || own(source, 'editable') === '.'
    ? Object.keys(source ?? {}).length === 1
    : false;
}

/** A package's file hashes (wheels, then the sdist), and the wheels' hex digests; bad hashes reported. */
function readHashes(t: Table | undefined, rawName: string, line: number, problem: Problem) {
  const hashes: string[] = [];
  const wheelHashes: string[] = [];
  const files = [...(Array.isArray(own(t, 'wheels')) ? (own(t, 'wheels') as unknown[]) : [])];
  const sdist = own(t, 'sdist');
  for (const [i, f] of [...files, ...(sdist === undefined ? [] : [sdist])].entries()) {
    const hash = own(table(f), 'hash');
    if (typeof hash !== 'string' || !HASH.test(hash)) {
      problem(
        line,
        `package ${quoted(rawName)} has a file whose hash ${quoted(String(hash))} is not sha256:<64 hex digits>`,
      );
      continue;
    }
    if (!hashes.includes(hash)) hashes.push(hash);
    if (i < files.length && !wheelHashes.includes(hash.slice(7))) wheelHashes.push(hash.slice(7));
  }
  return { hashes, wheelHashes };
}

/** `[package.metadata] requires-dist`: what the project itself asks for (names and specifiers). */
function readRequiresDist(t: Table | undefined): RawPackage['requiresDist'] {
  const rd = own(table(own(t, 'metadata')), 'requires-dist');
  if (!Array.isArray(rd)) return undefined;
  return rd.flatMap((r) => {
    const n = own(table(r), 'name');
    const s = own(table(r), 'specifier');
    return typeof n === 'string'
      ? [{ name: normalizePackageName(n), specifier: typeof s === 'string' ? s : '' }]
      : [];
  });
}

/** One `[[package]]`: checked (name, PEP 440 version, index source, hashes, edges), or undefined when refused. */
function readPackage(item: unknown, text: string, problem: Problem): RawPackage | undefined {
  const t = table(item);
  const rawName = own(t, 'name');
  if (typeof rawName !== 'string' || !NAME.test(rawName)) {
    problem(1, `a [[package]] has the name ${quoted(String(rawName))}, which is not a package name`);
    return undefined;
  }
  const line = packageLine(text, rawName);
  const ver = own(t, 'version');
  const source = table(own(t, 'source'));
  const root = isProjectSource(source);
  if (!root) {
    if (typeof ver !== 'string' || !VERSION.test(ver) || !validPep440(ver)) {
      problem(
        line,
        `package ${quoted(rawName)} has the version ${quoted(String(ver))}, which is not a PEP 440 version`,
      );
      return undefined;
    }
    const kinds = Object.keys(source ?? {});
    if (kinds.length !== 1 || typeof own(source, 'registry') !== 'string') {
      problem(
        line,
        `package ${quoted(rawName)} ${kinds.length ? `comes from a ${quoted(kinds.join(', '))} source` : 'has no source'}; only packages from an index are installed (bundle a wheel in wheels/ or publish it to an index)`,
      );
      return undefined;
    }
  }
  const optional = new Map<string, RawPackage['edges']>();
  for (const [extra, deps] of Object.entries(table(own(t, 'optional-dependencies')) ?? {}))
    optional.set(
      normalizePackageName(extra),
      readEdges(deps, line, `of ${quoted(`${rawName}[${extra}]`)}`, problem),
    );
  const requiresDist = readRequiresDist(t);
  return {
    name: normalizePackageName(rawName),
    version: typeof ver === 'string' ? ver : '',
    line,
    root,
    edges: readEdges(own(t, 'dependencies'), line, `of ${quoted(rawName)}`, problem),
    optional,
    ...readHashes(t, rawName, line, problem),
    ...(requiresDist ? { requiresDist } : {}),
  };
}

/** The lock's TOML, if it is small enough, parses, and is a lock version this hub reads. */
function parseLock(text: string): { ok: true; list: unknown[] } | { ok: false; refusal: LockRefusal } {
  if (text.length > MAX_UV_LOCK_BYTES)
    return {
      ok: false,
      refusal: { line: 1, message: `over ${MAX_UV_LOCK_BYTES} bytes, which the hub does not read` },
    };
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    const e = err as { line?: number; message?: string };
    const message = (String(e.message ?? err).split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    return { ok: false, refusal: { line: e.line ?? 1, message: `not valid TOML (${message})` } };
  }
  const version = own(doc, 'version');
  if (!LOCK_VERSIONS.includes(version as number))
    return {
      ok: false,
      refusal: {
        line: 1,
        message: `lock version ${quoted(String(version))} is not one this hub reads (${LOCK_VERSIONS.join(', ')})`,
      },
    };
  const list = own(doc, 'package');
  if (!Array.isArray(list)) return { ok: false, refusal: { line: 1, message: 'it lists no [[package]]' } };
  return { ok: true, list };
}

/** The project's package: the one named `projectName`, else the one whose source is the folder itself. */
function findRoot(packages: readonly RawPackage[], projectName?: string): RawPackage | LockRefusal {
  const wanted = projectName === undefined ? undefined : normalizePackageName(projectName);
  const roots = packages.filter((p) => (wanted === undefined ? p.root : p.name === wanted));
  if (roots.length !== 1) {
    return {
      line: 1,
      message:
        wanted === undefined
          ? 'it has no single project package (source = { virtual = "." })'
          : `it has no package for the project ${quoted(wanted)} (is it the lock of this pyproject.toml?)`,
    };
  }
  const root = roots[0]!;
  if (!root.root)
    return {
      line: root.line,
      message: `the project ${quoted(root.name)} is not the lock's own folder (source = { virtual = "." })`,
    };
  return root;
}

/**
 * Walks the dependency graph from the project: each package reached, with its marker as a set of
 * terms (an `or` of `and`s of the edge markers on the paths to it; `''` is "always"). Refused when an
 * edge names a package the lock does not hold exactly once, or a package is reached in too many ways.
 */
function reachableTerms(
  root: RawPackage,
  packages: readonly RawPackage[],
): Map<RawPackage, Map<string, Marker[]>> | LockRefusal {
  const byName = new Map<string, RawPackage[]>();
  for (const p of packages) byName.set(p.name, [...(byName.get(p.name) ?? []), p]);
  const target = (edge: RawPackage['edges'][number], from: RawPackage): RawPackage | string => {
    const all = (byName.get(edge.name) ?? []).filter((p) => !edge.version || p.version === edge.version);
    if (all.length === 1) return all[0]!;
    return `package ${quoted(from.name)} depends on ${quoted(edge.name)}${edge.version ? ` ${edge.version}` : ''}, which the lock ${all.length ? 'has several versions of' : 'does not list'}`;
  };
  const terms = new Map<RawPackage, Map<string, Marker[]>>();
  // Each queued visit: a package, the markers on the path to it, and the extras asked of it there.
  const queue: [RawPackage, Marker[], string[]][] = [[root, [], []]];
  terms.set(root, new Map([['', []]]));
  const seen = new Set<string>();
  while (queue.length > 0) {
    const [p, path, extras] = queue.shift()!;
    const edges = [...p.edges, ...extras.flatMap((x) => p.optional.get(x) ?? [])];
    for (const e of edges) {
      const to = target(e, p);
      if (typeof to === 'string') return { line: p.line, message: to };
      if (to.root) continue;
      const next = e.marker ? [...path, e.marker] : path;
      const keyed = new Map(next.map((m) => [markerText(m), m]));
      const term = [...keyed.keys()].sort();
      const known = terms.get(to) ?? new Map<string, Marker[]>();
      // A term that a known one already implies adds nothing (an "always" implies every term),
      // unless the edge asks for extras, whose dependencies are walked from here.
      const implied = [...known.keys()].some((k) => k === '' || k.split('\n').every((m) => keyed.has(m)));
      if (implied && e.extras.length === 0) continue;
      const visit = `${to.name} ${to.version}\n${term.join('\n')}\n[${e.extras.join(',')}]`;
      if (seen.has(visit)) continue;
      seen.add(visit);
      if (!implied) {
        if (known.size >= MAX_MARKER_TERMS)
          return { line: to.line, message: `package ${quoted(to.name)} is reached in too many ways` };
        known.set(
          term.join('\n'),
          term.map((k) => keyed.get(k)!),
        );
        terms.set(to, known);
      }
      queue.push([to, term.map((k) => keyed.get(k)!), e.extras]);
    }
  }
  return terms;
}

/** The packages the project installs, by name, each with the marker under which it is needed. */
function lockedPackages(terms: Map<RawPackage, Map<string, Marker[]>>, root: RawPackage): LockedPackage[] {
  const out: LockedPackage[] = [];
  for (const [p, t] of terms) {
    if (p === root) continue;
    const marker = t.has('') ? undefined : orOf([...t.values()].map(andOf));
    out.push({
      name: p.name,
      version: p.version,
      ...(marker ? { marker: markerText(marker) } : {}),
      hashes: p.hashes,
      wheelHashes: p.wheelHashes,
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const refused = (refusals: LockRefusal[]): UvLockRead => ({
  ok: false,
  refusals,
  reason: `line ${refusals[0]!.line}: ${refusals[0]!.message}`,
});

/**
 * Reads a uv.lock for the project `projectName` (its pyproject's [project].name; undefined: the one
 * package whose source is the project folder itself). Refused, with every reason, when it is not
 * TOML, over MAX_UV_LOCK_BYTES, of an unknown format version, or any package is not from a
 * registry, has a bad name, version or hash, or a dependency it names is not in the lock.
 */
export function readUvLock(text: string, projectName?: string): UvLockRead {
  const parsed = parseLock(text);
  if (!parsed.ok) return refused([parsed.refusal]);
  const refusals: LockRefusal[] = [];
  const problem: Problem = (line, message) => refusals.push({ line, message });
  const packages = parsed.list.flatMap((item) => readPackage(item, text, problem) ?? []);
  if (refusals.length > 0) return refused(refusals);
  const root = findRoot(packages, projectName);
  if (!('name' in root)) return refused([root]);
  const terms = reachableTerms(root, packages);
  if (!(terms instanceof Map)) return refused([terms]);
  const versions = new Map<string, string[]>();
  for (const p of packages) if (!p.root) versions.set(p.name, [...(versions.get(p.name) ?? []), p.version]);
  return {
    ok: true,
    root: root.name,
    rootDependencies: [...new Set(root.edges.map((e) => e.name))],
    ...(root.requiresDist ? { rootRequiresDist: root.requiresDist } : {}),
    versions,
    packages: lockedPackages(terms, root),
  };
}

/** `a and b`, flattened (the Marker type never nests an `and` directly in an `and`). */
function andOf(items: Marker[]): Marker {
  const flat = items.flatMap((m) => ('items' in m && m.op === 'and' ? m.items : [m]));
  return flat.length === 1 ? flat[0]! : { op: 'and', items: flat };
}

function orOf(items: Marker[]): Marker {
  const flat = items.flatMap((m) => ('items' in m && m.op === 'or' ? m.items : [m]));
  return flat.length === 1 ? flat[0]! : { op: 'or', items: flat };
}

/**
 * The requirements file an installer hands to `pip install --require-hashes --no-deps -r`: one
 * line per locked package, `name==version ; marker --hash=sha256:… …`. Every part was validated by
 * readUvLock (names, versions, hashes, canonical markers, whose strings the requirement parser
 * refuses when a word starts with "-"), so the file holds no option of its own.
 */
export function lockedRequirementsText(packages: readonly LockedPackage[]): string {
  return packages
    .map((p) => {
      const marker = p.marker ? ` ; ${p.marker}` : '';
      return `${p.name}==${p.version}${marker} ${p.hashes.map((h) => `--hash=${h}`).join(' ')}\n`;
    })
    .join('');
}

/**
 * Where a lock and its pyproject disagree: a pyproject dependency the root project of the lock
 * does not depend on, or whose locked version the pyproject's specifier does not admit. Each as a
 * sentence, with the pyproject line it is about.
 */
export function lockDisagreements(
  lock: Extract<UvLockRead, { ok: true }>,
  dependencies: readonly PyprojectDependency[],
): { line: number; message: string }[] {
  const out: { line: number; message: string }[] = [];
  const direct = new Set([...lock.rootDependencies, ...(lock.rootRequiresDist ?? []).map((r) => r.name)]);
  for (const d of dependencies) {
    const { name, specifier } = d.requirement;
    if (!direct.has(name)) {
      out.push({
        line: d.line,
        message: `${quoted(name)} is a dependency in pyproject.toml but not in uv.lock; run uv lock`,
      });
      continue;
    }
    const versions = lock.versions.get(name) ?? [];
    if (specifier && versions.length > 0 && !versions.some((v) => satisfies(v, specifier))) {
      out.push({
        line: d.line,
        message: `uv.lock pins ${quoted(name)} to ${versions.map(quoted).join(', ')}, which pyproject.toml's ${quoted(specifier)} does not admit; run uv lock`,
      });
    }
  }
  return out;
}

/** What is wrong with a uv entry's lock, as lint and pack report it (`file`: which of the two files). */
export interface LockProblem {
  code: 'lint.no-lock' | 'lint.unsafe-lock' | 'lint.stale-lock';
  file: 'pyproject' | 'lock';
  line: number;
  message: string;
}

/**
 * The lock problems of a pyproject that reads cleanly and its uv.lock (`undefined`: none beside
 * it): no lock for real dependencies (a warning), a lock install refuses, or one that disagrees
 * with the pyproject (errors: CoreService refuses both).
 */
export function uvLockProblems(
  pyproject: PyprojectDependencies,
  lockText: string | undefined,
): LockProblem[] {
  if (lockText === undefined) {
    const first = pyproject.dependencies[0];
    return first
      ? [
          {
            code: 'lint.no-lock',
            file: 'pyproject',
            line: first.line,
            message: `dependencies but no ${UV_LOCK_FILE} beside pyproject.toml: every install resolves them anew from the index; run uv lock and ship the lock for installs that are reproducible and hash-checked`,
          },
        ]
      : [];
  }
  const lock = readUvLock(lockText, pyproject.projectName);
  if (!lock.ok)
    return lock.refusals.map((r) => ({
      code: 'lint.unsafe-lock',
      file: 'lock',
      line: r.line,
      message: `${UV_LOCK_FILE}: ${r.message}; CoreService refuses to install from it`,
    }));
  return lockDisagreements(lock, pyproject.dependencies).map((d) => ({
    code: 'lint.stale-lock',
    file: 'pyproject',
    line: d.line,
    message: `${d.message}; CoreService refuses a lock that disagrees`,
  }));
}

export type LockedInstall =
  | { ok: true; packages: LockedPackage[]; requirementsText: string }
  | { ok: false; reason: string; details: string[] };

/**
 * What an installer reproduces from a uv entry's pyproject.toml and the uv.lock beside it: the
 * locked packages and the requirements file for them. Refused when either file is refused, or the
 * lock does not match the pyproject (a stale lock installs something else than the author declared).
 */
export function lockedInstall(pyprojectText: string, lockText: string): LockedInstall {
  const pyproject = pyprojectDependencies(pyprojectText);
  if (pyproject.refusals.length > 0) {
    const r = pyproject.refusals[0]!;
    return { ok: false, reason: `pyproject.toml line ${r.line}: ${r.message}`, details: [] };
  }
  const lock = readUvLock(lockText, pyproject.projectName);
  if (!lock.ok)
    return {
      ok: false,
      reason: `${UV_LOCK_FILE} ${lock.reason}`,
      details: lock.refusals.map((r) => `line ${r.line}: ${r.message}`),
    };
  const stale = lockDisagreements(lock, pyproject.dependencies);
  if (stale.length > 0)
    return {
      ok: false,
      reason: `${UV_LOCK_FILE} does not match pyproject.toml: ${stale[0]!.message}`,
      details: stale.map((s) => `pyproject.toml line ${s.line}: ${s.message}`),
    };
  return { ok: true, packages: lock.packages, requirementsText: lockedRequirementsText(lock.packages) };
}
