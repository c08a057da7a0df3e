// What a uv install entry's pyproject.toml hands to the installer: its [project].dependencies, each
// read strictly (./requirement.ts), and the [tool.uv] settings uv itself would read from the
// plugin's folder. Read with a real TOML parser; positions are found in the text only for what is
// reported.
import { parse as parseToml } from 'smol-toml';
import { escapeControl } from '../text/escape';
import { joinRelative } from './plugin-files';
import { parseRequirement, type Requirement } from './requirement';

/** A pyproject.toml larger than this is refused unread (real ones are a few KB). */
export const MAX_PYPROJECT_BYTES = 256 * 1024;

/** One accepted dependency. */
export interface PyprojectDependency {
  requirement: Requirement;
  /** Canonical one-line form, safe to pass to pip or uv as one argument. */
  text: string;
  /** 1-based line of its string in the file. */
  line: number;
}

/** Why a pyproject is refused, at a 1-based line. */
export interface PyprojectRefusal {
  /** `toml`: not TOML; `dependency`: a [project].dependencies string or the list itself; `uv`: [tool.uv] settings. */
  kind: 'toml' | 'dependency' | 'uv';
  line: number;
  column?: number;
  /** What is wrong, in a sentence; input quoted in it is escaped (see escapeControl) and shortened. */
  message: string;
}

export interface PyprojectDependencies {
  dependencies: PyprojectDependency[];
  refusals: PyprojectRefusal[];
  /**
   * `[tool.uv.sources]` paths that leave the plugin: harmless to the installer, which never reads
   * sources, but they will not exist after extraction (a warning for the author).
   */
  externalSources: string[];
  /** `[project].name`, when it is a string. */
  projectName?: string;
}

/** [tool.uv] and [tool.uv.pip] keys that point uv at other package locations. */
const UV_INDEX_KEYS = [
  'index',
  'index-url',
  'extra-index-url',
  'find-links',
  'default-index',
  'allow-insecure-host',
] as const;
/**
 * A [tool.uv.sources] entry with one of these fetches from a URL or a git repository. A named
 * `index` source is left alone: the index it names must be defined by the host, since
 * [[tool.uv.index]] in the plugin is refused.
 */
const UV_REMOTE_SOURCE_KEYS = ['url', 'git'] as const;

type Table = Record<string, unknown>;
/** Input shown in a message: one inert line, at most 100 characters. */
const quoted = (s: string) => `"${escapeControl(s.length > 100 ? `${s.slice(0, 100)}…` : s)}"`;

const table = (v: unknown): Table | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) ? (v as Table) : undefined;
const own = (t: Table | undefined, key: string): unknown => (t && Object.hasOwn(t, key) ? t[key] : undefined);

/**
 * Reads a pyproject.toml for a uv install: every `[project].dependencies` string parsed strictly
 * (options, URLs, paths, control characters and anything else that is not a plain PEP 508
 * requirement are refused), and `[tool.uv]` settings that would send uv to another index or
 * find-links, or URL and git sources, refused. `dir` is the pyproject's folder inside the plugin ('' for the
 * root), since uv reads source paths relative to it. Nothing else in the file is read.
 */
export function pyprojectDependencies(text: string, dir = ''): PyprojectDependencies {
  const out: PyprojectDependencies = { dependencies: [], refusals: [], externalSources: [] };
  if (text.length > MAX_PYPROJECT_BYTES) {
    out.refusals.push({
      kind: 'toml',
      line: 1,
      message: `over ${MAX_PYPROJECT_BYTES} bytes, which the hub does not read`,
    });
    return out;
  }
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    const e = err as { line?: number; column?: number; message?: string };
    const message = (String(e.message ?? err).split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    out.refusals.push({
      kind: 'toml',
      line: e.line ?? 1,
      column: e.column ?? 1,
      message: `not valid TOML (${message})`,
    });
    return out;
  }
  const where = new TomlPlaces(text);
  const name = own(table(own(doc, 'project')), 'name');
  if (typeof name === 'string') out.projectName = name;
  readDependencies(own(table(own(doc, 'project')), 'dependencies'), where, out);
  readUvSettings(table(own(table(own(doc, 'tool')), 'uv')), where, dir, out);
  return out;
}

function readDependencies(value: unknown, where: TomlPlaces, out: PyprojectDependencies): void {
  if (value === undefined) return;
  const line = where.key('project', 'dependencies');
  if (!Array.isArray(value)) {
    out.refusals.push({
      kind: 'dependency',
      line,
      message: '[project].dependencies is not a list of strings',
    });
    return;
  }
  const lines = where.arrayStrings('project', 'dependencies', value.length);
  value.forEach((item, i) => {
    const at = lines?.[i] ?? line;
    if (typeof item !== 'string') {
      out.refusals.push({
        kind: 'dependency',
        line: at,
        message: `[project].dependencies[${i}] is not a string`,
      });
      return;
    }
    const read = parseRequirement(item);
    if (read.ok) out.dependencies.push({ requirement: read.requirement, text: read.text, line: at });
    else
      out.refusals.push({
        kind: 'dependency',
        line: at,
        message: `dependency ${quoted(item)} ${read.reason}`,
      });
  });
}

function readUvSettings(
  uv: Table | undefined,
  where: TomlPlaces,
  dir: string,
  out: PyprojectDependencies,
): void {
  if (!uv) return;
  for (const [section, settings] of [
    ['tool.uv', uv],
    ['tool.uv.pip', table(own(uv, 'pip'))],
  ] as const) {
    for (const key of UV_INDEX_KEYS) {
      if (own(settings, key) === undefined) continue;
      out.refusals.push({
        kind: 'uv',
        line: where.key(section, key),
        message: `[${section}] sets ${key}: a plugin's packages come from its wheels/ folder or the host's own index, never from one the archive names`,
      });
    }
  }
  const sources = table(own(uv, 'sources'));
  if (!sources) return;
  for (const name of Object.keys(sources)) {
    const value = sources[name];
    // A source is a table, or a list of tables with markers.
    for (const source of Array.isArray(value) ? value : [value]) {
      const t = table(source);
      const remote = UV_REMOTE_SOURCE_KEYS.find((k) => own(t, k) !== undefined);
      if (remote) {
        out.refusals.push({
          kind: 'uv',
          line: where.key('tool.uv.sources', name),
          message: `[tool.uv.sources] ${quoted(name)} is fetched from ${remote === 'git' ? 'a git repository' : 'a URL'}; bundle a wheel under wheels/ instead`,
        });
        continue;
      }
      const path = own(t, 'path');
      if (typeof path !== 'string') continue;
      const local = path.replace(/^file:\/\//, '');
      if (/^[/~]/.test(local) || /^[A-Za-z]:/.test(local) || joinRelative(dir, local) === undefined)
        out.externalSources.push(path);
    }
  }
}

export type InstallRequirements =
  | { ok: true; requirements: string[] }
  | { ok: false; refusals: PyprojectRefusal[]; reason: string };

/**
 * What an installer may pass to pip or uv from a uv entry's pyproject.toml: the canonical text of
 * each `[project].dependencies` requirement, one argument each, in order. Refused (with every
 * reason, and the first as `reason` with its line) when the file is not TOML, any dependency is not
 * a plain requirement from an index, or `[tool.uv]` names indexes, find-links, or URL or git sources.
 */
export function installRequirements(pyprojectText: string): InstallRequirements {
  const read = pyprojectDependencies(pyprojectText);
  if (read.refusals.length > 0) {
    const first = read.refusals[0]!;
    return { ok: false, refusals: read.refusals, reason: `line ${first.line}: ${first.message}` };
  }
  return { ok: true, requirements: read.dependencies.map((d) => d.text) };
}

/**
 * Lines of keys and array items in TOML text, found by a small scan rather than by the parser
 * (which gives no positions). Best effort: when the scan and the parsed value disagree, callers fall
 * back to a coarser line.
 */
class TomlPlaces {
  private readonly lines: string[];

  constructor(private readonly text: string) {
    this.lines = text.split('\n');
  }

  /** The 1-based line of `key` in table `section` (a `[section]` header, or a dotted key); else the header's, else 1. */
  key(section: string, key: string): number {
    return (
      this.keyOffset(section, key)?.line ??
      this.header(`${section}.${key}`, true) ??
      this.header(section) ??
      1
    );
  }

  /** The lines of the `count` strings of the array at `section.key`, when the scan finds exactly that many. */
  arrayStrings(section: string, key: string, count: number): number[] | undefined {
    const found = this.keyOffset(section, key);
    if (!found) return undefined;
    const lines = scanStringArray(this.text, found.valueStart, found.line);
    return lines && lines.length === count ? lines : undefined;
  }

  /** The line of the `[section]` header, or (unless `exact`) of its nearest enclosing table's. */
  private header(section: string, exact = false): number | undefined {
    const parts = section.split('.');
    for (let n = parts.length; n > (exact ? parts.length - 1 : 0); n--) {
      const name = parts.slice(0, n).join('.');
      const i = this.lines.findIndex((l) => headerName(l) === name);
      if (i >= 0) return i + 1;
    }
    return undefined;
  }

  /** `key =` inside `[section]`, or `rest.key =` inside an enclosing table (the root included). */
  private keyOffset(section: string, key: string): { line: number; valueStart: number } | undefined {
    const quoted = (k: string) => `(?:${escapeRegExp(k)}|"${escapeRegExp(k)}"|'${escapeRegExp(k)}')`;
    const dotted = (parts: string[]) => parts.map(quoted).join('\\s*\\.\\s*');
    let current = '';
    let offset = 0;
    for (const [i, l] of this.lines.entries()) {
      const start = offset;
      offset += l.length + 1;
      const h = headerName(l);
      if (h !== undefined) {
        current = h;
        continue;
      }
      let rest: string[];
      if (current === section) rest = [];
      else if (current === '' || section.startsWith(`${current}.`))
        rest = section.slice(current === '' ? 0 : current.length + 1).split('.');
      else continue;
      const m = new RegExp(`^\\s*${dotted([...rest, key])}\\s*=\\s*`).exec(l);
      if (m) return { line: i + 1, valueStart: start + m[0].length };
    }
    return undefined;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}

/** The table name of a `[name]` or `[[name]]` header line (spaces and quotes removed), else undefined. */
function headerName(line: string): string | undefined {
  const m = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/.exec(line);
  return m ? m[1]!.replace(/\s*\.\s*/g, '.').replace(/["']/g, '') : undefined;
}

/**
 * From the start of a TOML value, the 1-based line of each string in an array of strings (comments,
 * commas and newlines skipped; all four string forms understood). Undefined for anything else.
 */
function scanStringArray(text: string, from: number, firstLine: number): number[] | undefined {
  let i = from;
  let line = firstLine;
  if (text[i] !== '[') return undefined;
  i++;
  const lines: number[] = [];
  // Moves to `to`, counting the newlines passed.
  const advance = (to: number) => {
    for (; i < to && i < text.length; i++) if (text[i] === '\n') line++;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ',') advance(i + 1);
    else if (c === '#') advance(text.indexOf('\n', i) === -1 ? text.length : text.indexOf('\n', i));
    else if (c === ']') return lines;
    else if (c === '"' || c === "'") {
      lines.push(line);
      const triple = text.startsWith(c.repeat(3), i);
      const close = triple ? c.repeat(3) : c;
      let j = i + close.length;
      for (;;) {
        if (j >= text.length) return undefined;
        if (c === '"' && text[j] === '\\') j += 2;
        else if (text.startsWith(close, j)) break;
        else j++;
      }
      // A multi-line string may end with up to two extra quotes before its closing three.
      let end = j + close.length;
      while (triple && text[end] === c) end++;
      advance(end);
    } else return undefined;
  }
  return undefined;
}
