// A strict reader of PEP 508 dependency specifiers, for the strings a plugin's pyproject.toml hands
// to pip or uv. Only "a package from the index, maybe with extras, a version range and an
// environment marker" is accepted; everything else pip would also understand (options such as
// `--index-url=…` or `-e .`, `name @ URL` and path requirements, newlines, comments) is refused
// with a reason, so a dependency string can never steer the installer.
import { validRange } from '@renovatebot/pep440';

/** The environment marker variables of PEP 508 (the legacy dotted names are refused). */
export const MARKER_VARIABLES = [
  'python_version',
  'python_full_version',
  'os_name',
  'sys_platform',
  'platform_release',
  'platform_system',
  'platform_version',
  'platform_machine',
  'platform_python_implementation',
  'implementation_name',
  'implementation_version',
  'extra',
] as const;

export type MarkerVariable = (typeof MARKER_VARIABLES)[number];

/** PEP 440 comparison operators, longest first so `===` is not read as `==`. */
const VERSION_OPERATORS = ['===', '==', '!=', '<=', '>=', '~=', '<', '>'] as const;
const MARKER_OPERATORS = [...VERSION_OPERATORS, 'not in', 'in'] as const;
export type MarkerOperator = (typeof MARKER_OPERATORS)[number];

/** One side of a marker comparison. */
export type MarkerValue = { variable: MarkerVariable } | { string: string };

/** A parsed environment marker; `and`/`or` lists are flat (never an `and` directly inside an `and`). */
export type Marker =
  | { op: 'and' | 'or'; items: Marker[] }
  | { left: MarkerValue; op: MarkerOperator; right: MarkerValue };

/** One dependency from the index. */
export interface Requirement {
  /** The project name normalized per PEP 503: lowercase, each run of `-`, `_`, `.` as one `-`. */
  name: string;
  /** Extras, normalized like names, sorted, without repeats. */
  extras: string[];
  /** The PEP 440 specifier set, clauses in the order written, joined by `,`; '' for any version. */
  specifier: string;
  marker?: Marker;
}

export type RequirementResult =
  | {
      ok: true;
      requirement: Requirement;
      /** The canonical one-line form: `name[extra]>=1,<2; python_version >= "3.11"`. */
      text: string;
    }
  | { ok: false; reason: string };

/** Longer dependency strings are refused unread. */
export const MAX_REQUIREMENT_LENGTH = 1000;

/** Characters allowed inside a marker's quoted string: what real marker values use, nothing a shell, URL or pip option needs. */
const MARKER_STRING_CHAR = /^[A-Za-z0-9 ._+*!~,:()<>=-]$/;
const NAME_CHAR = /[A-Za-z0-9._-]/;
const ALNUM = /[A-Za-z0-9]/;
const VERSION_CHAR = /[A-Za-z0-9_.*+!-]/;

/** PEP 503 normalization, which is also how PEP 685 compares extras. */
export function normalizePackageName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * Parses one dependency string strictly (PEP 508 without URLs). Accepted strings come back parsed
 * and in canonical form; anything else comes back with a reason a plugin author can act on.
 */
export function parseRequirement(input: string): RequirementResult {
  if (typeof input !== 'string') return { ok: false, reason: 'is not a string' };
  if (input.length > MAX_REQUIREMENT_LENGTH) {
    return { ok: false, reason: `is longer than ${MAX_REQUIREMENT_LENGTH} characters` };
  }
  const bad = /\p{Cc}/u.exec(input);
  if (bad) {
    const what = bad[0] === '\n' || bad[0] === '\r' ? 'a line break' : 'a control character';
    return { ok: false, reason: `contains ${what}; a dependency is one line of plain text` };
  }
  if (/[^\x20-\x7e]/.test(input)) {
    return { ok: false, reason: 'contains a non-ASCII character; package names and versions are ASCII' };
  }
  const text = input.trim();
  if (text === '') return { ok: false, reason: 'is empty' };
  if (text.startsWith('-')) {
    return { ok: false, reason: 'is a pip option, not a requirement; options are never passed on' };
  }
  try {
    const requirement = new Reader(text).requirement();
    return { ok: true, requirement, text: requirementText(requirement) };
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    return { ok: false, reason: explain(text, err.message) };
  }
}

/** A more telling reason for the shapes pip accepts but the hub never passes on. */
function explain(text: string, detail: string): string {
  if (/^[A-Za-z0-9._-]+(\s*\[[^\]]*\])?\s*@/.test(text)) {
    return 'is a direct reference (name @ URL); dependencies must come from the index, or bundle a wheel under wheels/';
  }
  if (text.includes('://') || /^(git|hg|svn|bzr)\+/.test(text)) {
    return 'is a URL; dependencies must name a package from the index, or bundle a wheel under wheels/';
  }
  if (/^[./~\\]/.test(text) || /^[A-Za-z]:[\\/]/.test(text) || /^[^;]*[/\\]/.test(text)) {
    return 'is a path; dependencies must name a package from the index, or bundle a wheel under wheels/';
  }
  return `is not a PEP 508 requirement: ${detail}`;
}

class Refusal extends Error {}

/** Recursive descent over one trimmed dependency string. */
class Reader {
  private at = 0;

  constructor(private readonly s: string) {}

  requirement(): Requirement {
    const name = this.name('a package name');
    this.spaces();
    const extras = this.peek('[') ? this.extras() : [];
    this.spaces();
    if (this.peek('@')) throw this.refuse('"@" (a direct reference)');
    const specifier = this.specifier();
    this.spaces();
    let marker: Marker | undefined;
    if (this.peek(';')) {
      this.at++;
      marker = this.markerOr();
      this.spaces();
    }
    if (this.at < this.s.length) throw this.refuse(`"${this.s[this.at]}"`);
    const requirement: Requirement = { name: normalizePackageName(name), extras, specifier };
    if (marker) requirement.marker = marker;
    return requirement;
  }

  private refuse(what: string): Refusal {
    return new Refusal(`unexpected ${what} at column ${this.at + 1}`);
  }

  private peek(token: string): boolean {
    return this.s.startsWith(token, this.at);
  }

  private spaces(): number {
    const start = this.at;
    while (this.s[this.at] === ' ') this.at++;
    return this.at - start;
  }

  /** A PEP 508 name: letters and digits, with `.`, `_`, `-` inside. */
  private name(what: string): string {
    const start = this.at;
    if (!ALNUM.test(this.s[this.at] ?? '')) {
      throw this.at < this.s.length
        ? this.refuse(`"${this.s[this.at]}" where ${what} belongs`)
        : this.end(what);
    }
    while (NAME_CHAR.test(this.s[this.at] ?? '')) this.at++;
    const name = this.s.slice(start, this.at);
    if (!ALNUM.test(name[name.length - 1]!)) {
      throw new Refusal(`${what} "${name}" must end with a letter or digit`);
    }
    return name;
  }

  private end(what: string): Refusal {
    return new Refusal(`the text ends where ${what} belongs`);
  }

  private extras(): string[] {
    this.at++; // [
    const extras = new Set<string>();
    this.spaces();
    if (!this.peek(']')) {
      for (;;) {
        extras.add(normalizePackageName(this.name('an extra')));
        this.spaces();
        if (!this.peek(',')) break;
        this.at++;
        this.spaces();
      }
    }
    if (!this.peek(']'))
      throw this.at < this.s.length ? this.refuse(`"${this.s[this.at]}"`) : this.end('"]"');
    this.at++;
    return [...extras].sort();
  }

  /** Version clauses, bare or in parentheses; '' when there are none. */
  private specifier(): string {
    const paren = this.peek('(');
    if (paren) {
      this.at++;
      this.spaces();
    } else if (!VERSION_OPERATORS.some((op) => this.peek(op))) return '';
    const clauses: string[] = [this.clause()];
    for (;;) {
      const save = this.at;
      this.spaces();
      if (!this.peek(',')) {
        this.at = save;
        break;
      }
      this.at++;
      this.spaces();
      clauses.push(this.clause());
    }
    if (paren) {
      this.spaces();
      if (!this.peek(')'))
        throw this.at < this.s.length ? this.refuse(`"${this.s[this.at]}"`) : this.end('")"');
      this.at++;
    }
    return clauses.join(',');
  }

  private clause(): string {
    const op = VERSION_OPERATORS.find((o) => this.peek(o));
    if (!op)
      throw this.at < this.s.length ? this.refuse(`"${this.s[this.at]}"`) : this.end('a version operator');
    this.at += op.length;
    this.spaces();
    const start = this.at;
    while (VERSION_CHAR.test(this.s[this.at] ?? '')) this.at++;
    const version = this.s.slice(start, this.at);
    if (version === '')
      throw this.at < this.s.length ? this.refuse(`"${this.s[this.at]}"`) : this.end('a version');
    const valid = op === '===' ? /^[A-Za-z0-9_.+!-]+$/.test(version) : validRange(`${op}${version}`);
    if (!valid) throw new Refusal(`"${op}${version}" is not a PEP 440 version clause`);
    return `${op}${version}`;
  }

  private markerOr(): Marker {
    return this.chain('or', () => this.markerAnd());
  }

  private markerAnd(): Marker {
    return this.chain('and', () => this.markerAtom());
  }

  /** `item (op item)*`, flattened so that re-reading the canonical text gives the same tree. */
  private chain(op: 'and' | 'or', item: () => Marker): Marker {
    const items: Marker[] = [];
    const add = (m: Marker) => {
      if ('items' in m && m.op === op) items.push(...m.items);
      else items.push(m);
    };
    add(item());
    for (;;) {
      const save = this.at;
      this.spaces();
      if (this.keyword(op)) add(item());
      else {
        this.at = save;
        break;
      }
    }
    return items.length === 1 ? items[0]! : { op, items };
  }

  /** Consumes `word` when it stands alone (followed by a space, a quote or a parenthesis). */
  private keyword(word: string): boolean {
    if (!this.peek(word)) return false;
    const next = this.s[this.at + word.length];
    if (next !== ' ' && next !== '(' && next !== '"' && next !== "'") return false;
    this.at += word.length;
    return true;
  }

  private markerAtom(): Marker {
    this.spaces();
    if (this.peek('(')) {
      this.at++;
      const inner = this.markerOr();
      this.spaces();
      if (!this.peek(')'))
        throw this.at < this.s.length ? this.refuse(`"${this.s[this.at]}"`) : this.end('")"');
      this.at++;
      return inner;
    }
    const left = this.markerValue();
    this.spaces();
    const op = this.markerOperator();
    this.spaces();
    const right = this.markerValue();
    if ('variable' in left === 'variable' in right) {
      throw new Refusal(
        `a marker compares one variable (${MARKER_VARIABLES.slice(0, 3).join(', ')}, …) with one quoted string`,
      );
    }
    return { left, op, right };
  }

  private markerOperator(): MarkerOperator {
    if (this.peek('not')) {
      const save = this.at;
      this.at += 3;
      if (this.spaces() > 0 && this.keyword('in')) return 'not in';
      this.at = save;
    }
    if (this.keyword('in')) return 'in';
    const op = VERSION_OPERATORS.find((o) => this.peek(o));
    if (!op)
      throw this.at < this.s.length ? this.refuse(`"${this.s[this.at]}"`) : this.end('a marker operator');
    this.at += op.length;
    return op;
  }

  private markerValue(): MarkerValue {
    const quote = this.s[this.at];
    if (quote === '"' || quote === "'") {
      const start = ++this.at;
      while (this.at < this.s.length && this.s[this.at] !== quote) {
        const c = this.s[this.at]!;
        if (!MARKER_STRING_CHAR.test(c)) throw new Refusal(`a marker string may not contain "${c}"`);
        this.at++;
      }
      if (this.at >= this.s.length) throw this.end(`the closing ${quote}`);
      const value = this.s.slice(start, this.at++);
      // A word starting with "-" could be read as an option by a tool that splits on spaces.
      if (/(^|\s)-/.test(value)) throw new Refusal('a word in a marker string may not start with "-"');
      return { string: value };
    }
    const start = this.at;
    while (/[a-z_]/.test(this.s[this.at] ?? '')) this.at++;
    const name = this.s.slice(start, this.at);
    if (name === '')
      throw this.at < this.s.length ? this.refuse(`"${this.s[this.at]}"`) : this.end('a marker');
    if (!(MARKER_VARIABLES as readonly string[]).includes(name) || this.s[this.at] === '.') {
      throw new Refusal(`"${name}" is not a marker variable (${MARKER_VARIABLES.join(', ')})`);
    }
    return { variable: name as MarkerVariable };
  }
}

/** The canonical text of a marker: double quotes, single spaces, parentheses only where needed. */
export function markerText(marker: Marker, inside?: 'and' | 'or'): string {
  if ('items' in marker) {
    const text = marker.items.map((m) => markerText(m, marker.op)).join(` ${marker.op} `);
    return inside === 'and' && marker.op === 'or' ? `(${text})` : text;
  }
  const side = (v: MarkerValue) => ('variable' in v ? v.variable : `"${v.string}"`);
  return `${side(marker.left)} ${marker.op} ${side(marker.right)}`;
}

/** The canonical one-line form of a requirement, which parseRequirement reads back to the same value. */
export function requirementText(r: Requirement): string {
  const extras = r.extras.length > 0 ? `[${r.extras.join(',')}]` : '';
  const marker = r.marker ? `; ${markerText(r.marker)}` : '';
  return `${r.name}${extras}${r.specifier}${marker}`;
}
