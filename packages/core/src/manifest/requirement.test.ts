import { spawnSync } from 'node:child_process';
import { skipLoudly } from '@magellon/hub-core/test-support';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MARKER_VARIABLES, parseRequirement } from './requirement';

const accepted = (s: string) => {
  const r = parseRequirement(s);
  if (!r.ok) throw new Error(`refused ${JSON.stringify(s)}: ${r.reason}`);
  return r;
};
const reason = (s: string) => {
  const r = parseRequirement(s);
  if (r.ok) throw new Error(`accepted ${JSON.stringify(s)} as ${r.text}`);
  return r.reason;
};

describe('parseRequirement accepts what real plugins depend on', () => {
  it.each([
    ['fastapi>=0.110', 'fastapi>=0.110'],
    ['numpy', 'numpy'],
    ['pydantic[email]>=2; python_version>="3.11"', 'pydantic[email]>=2; python_version >= "3.11"'],
    ['Foo.Bar_baz [X_y, a] (>=1.0 , <2)', 'foo-bar-baz[a,x-y]>=1.0,<2'],
    ['torch==2.1.*', 'torch==2.1.*'],
    ['scipy ~= 1.11', 'scipy~=1.11'],
    ['legacy===1.0-custom', 'legacy===1.0-custom'],
    [
      "uvloop; sys_platform != 'win32' and platform_python_implementation == 'CPython'",
      'uvloop; sys_platform != "win32" and platform_python_implementation == "CPython"',
    ],
    ['pywin32; os_name not in "posix java"', 'pywin32; os_name not in "posix java"'],
    [
      'a; (python_version < "3.9" or os_name == "nt") and extra == "gpu"',
      'a; (python_version < "3.9" or os_name == "nt") and extra == "gpu"',
    ],
  ])('%s', (input, text) => {
    expect(accepted(input).text).toBe(text);
  });
});

describe('parseRequirement refuses what would steer pip or uv, with a reason', () => {
  it.each([
    ['--index-url=http://evil.example/simple', /pip option/],
    ['-r /etc/passwd', /pip option/],
    ['-e .', /pip option/],
    ['  --target=/', /pip option/],
    ['foo @ https://evil.example/foo.whl', /direct reference/],
    ['foo[x]@file:///tmp/foo', /direct reference/],
    ['https://evil.example/foo.whl', /URL/],
    ['git+https://github.com/a/b', /URL/],
    ['file:///etc/x', /URL/],
    ['./vendor/foo', /path/],
    ['/abs/foo.whl', /path/],
    ['..\\foo', /path/],
    ['foo\n--index-url=http://evil', /line break/],
    ['foo\r', /line break/],
    ['foo\u0000', /control character/],
    ['foo\u202e', /non-ASCII/],
    ['   ', /empty/],
    ['foo # comment', /"#"/],
    ['foo; os_name == "nt" --index-url=x', /"-"/],
    ['foo; os_name == "a --index-url=x"', /start with "-"/],
    ['foo; os_name == "a#b"', /"#"/],
    ['foo; platform.machine == "x"', /not a marker variable/],
    ['foo; os_name == "a"; python_version > "3"', /";"/],
    ['foo; "a" == "b"', /one variable/],
    ['foo~=1', /PEP 440/],
    ['foo>=1.0,', /version operator/],
    ['foo bar', /"b"/],
    ['a-', /end with a letter or digit/],
    [`x${'y'.repeat(1000)}`, /longer than 1000/],
  ])('%j', (input, why) => {
    expect(reason(input)).toMatch(why);
  });
});

// Random requirements built from the grammar, written with random spacing and quoting.
const nameArb = fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,8}[A-Za-z0-9])?$/);
const releaseArb = fc
  .array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 4 })
  .map((p) => p.join('.'));
const clauseArb = fc.oneof(
  fc.tuple(fc.constantFrom('==', '!=', '<=', '>=', '<', '>'), releaseArb).map(([op, v]) => `${op}${v}`),
  fc.tuple(fc.constantFrom('==', '!='), releaseArb).map(([op, v]) => `${op}${v}.*`),
  fc.tuple(releaseArb, fc.integer({ min: 0, max: 9 })).map(([v, n]) => `~=${v}.${n}`),
  releaseArb.map((v) => `===${v}`),
);
const sp = fc.constantFrom('', ' ', '  ');
const markerStringArb = fc
  .stringMatching(/^[A-Za-z0-9._+*!~,:()<>=]([A-Za-z0-9 ._+*!~,:()<>=-]{0,10}[A-Za-z0-9._])?$/)
  .filter((s) => !/\s-/.test(s));
const comparisonArb = fc
  .tuple(
    fc.constantFrom(...MARKER_VARIABLES),
    fc.constantFrom('==', '!=', '<=', '>=', '<', '>', '~=', '===', 'in', 'not in'),
    markerStringArb,
    fc.constantFrom('"', "'"),
    fc.boolean(),
  )
  .map(([v, op, s, q, flip]) => (flip ? `${q}${s}${q} ${op} ${v}` : `${v} ${op} ${q}${s}${q}`));
const { marker: markerArb } = fc.letrec<{ marker: string }>((tie) => ({
  marker: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    comparisonArb,
    fc
      .tuple(tie('marker'), fc.constantFrom('and', 'or'), tie('marker'))
      .map(([a, op, b]) => `${a} ${op} ${b}`),
    tie('marker').map((m) => `(${m})`),
  ),
}));
const requirementArb = fc
  .tuple(
    nameArb,
    fc.option(fc.array(nameArb, { maxLength: 3 })),
    fc.array(clauseArb, { maxLength: 3 }),
    fc.boolean(),
    fc.option(markerArb),
    sp,
    sp,
  )
  .map(([name, extras, clauses, paren, marker, s1, s2]) => {
    const ex = extras ? `${s1}[${extras.join(`,${s2}`)}]` : '';
    const spec =
      clauses.length === 0 ? '' : paren ? `${s1}(${clauses.join(`${s2},`)})` : `${s2}${clauses.join(',')}`;
    return `${name}${ex}${spec}${marker === null ? '' : `${s1};${s2}${marker}`}`;
  });

/** Every invariant an accepted string must keep, whatever it was. */
function checkAccepted(input: string): void {
  const r = parseRequirement(input);
  if (!r.ok) return;
  expect(input.trim().startsWith('-')).toBe(false);
  expect(input).not.toMatch(/[\p{Cc}@#]|:\/\//u);
  expect(r.text.startsWith('-')).toBe(false);
  expect(r.text).not.toMatch(/[\p{Cc}@#\\/]|:\/\//u);
  expect(r.text).not.toMatch(/\s-/);
  const again = parseRequirement(r.text);
  expect(again).toEqual(r);
}

describe('parseRequirement (properties)', () => {
  it('accepts every requirement the grammar makes, and its canonical text reads back the same', () => {
    fc.assert(
      fc.property(requirementArb, (input) => {
        accepted(input);
        checkAccepted(input);
      }),
      { numRuns: 2000 },
    );
  });

  it('never accepts an option, a URL, a line break or a control character, whatever the string', () => {
    const hostile = fc.constantFrom(
      '-',
      '--index-url=',
      '@',
      '://',
      '\n',
      '\r',
      '\u0000',
      '\u0085',
      '#',
      ';',
      ' ',
      '"',
      "'",
      '/',
      '\\',
      'file:',
      '\u202e',
      '\ud800',
    );
    const spliced = fc
      .tuple(requirementArb, fc.nat(), hostile)
      .map(([s, at, bad]) => s.slice(0, at % (s.length + 1)) + bad + s.slice(at % (s.length + 1)));
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme-ascii' }), spliced),
        checkAccepted,
      ),
      { numRuns: 3000 },
    );
  });
});

// What pip itself understands by a string must not change when the hub passes on its canonical form.
const PACKAGING_CHECK = `
import json, sys
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
envs = [
  dict(python_version=v, python_full_version=v + ".2", os_name=o, sys_platform=p, platform_release="6.1.0-13-amd64",
       platform_system=s, platform_version="#1 SMP", platform_machine=m, platform_python_implementation=i,
       implementation_name=i.lower(), implementation_version=v + ".2", extra=e)
  for v, o, p, s, m, i, e in [
    ("3.11", "posix", "linux", "Linux", "x86_64", "CPython", "gpu"),
    ("3.8", "nt", "win32", "Windows", "AMD64", "PyPy", "a"),
    ("3.13", "posix", "darwin", "Darwin", "arm64", "CPython", "1.0"),
    ("2.7", "java", "cygwin", "", "i386", "Jython", ""),
  ]
]
def view(r):
    ev = []
    for env in envs:
        try:
            ev.append(r.marker.evaluate(env) if r.marker else True)
        except Exception as e:
            ev.append(type(e).__name__)
    return [canonicalize_name(r.name), sorted({canonicalize_name(x) for x in r.extras}), sorted(str(s) for s in r.specifier), r.url, ev]
out = []
for original, canonical in json.load(sys.stdin):
    try:
        out.append(view(Requirement(original)) == view(Requirement(canonical)) or [original, canonical])
    except Exception as e:
        out.append([original, canonical, str(e)])
print(json.dumps(out))
`;

describe('the canonical text means to pip what the author wrote', () => {
  const python = spawnSync('python3', ['-c', 'import packaging.requirements'], { stdio: 'ignore' });
  if (python.status !== 0) skipLoudly('the packaging cross-check', 'python3 with packaging is not installed');
  it.skipIf(python.status !== 0)('packaging reads the original and the canonical form alike', () => {
    const pairs = fc.sample(requirementArb, { numRuns: 400, seed: 508 }).map((s) => [s, accepted(s).text]);
    const run = spawnSync('python3', ['-c', PACKAGING_CHECK], {
      input: JSON.stringify(pairs),
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    const results = JSON.parse(run.stdout) as unknown[];
    expect(results.filter((r) => r !== true)).toEqual([]);
    expect(results).toHaveLength(pairs.length);
  });
});
