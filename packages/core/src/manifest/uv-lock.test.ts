import { describe, expect, it } from 'vitest';
import { lockedInstall, lockedRequirementsText, readUvLock } from './uv-lock';

const h = (c: string) => `sha256:${c.repeat(64)}`;
const PYPROJECT =
  '[project]\nname = "My_Plugin"\nversion = "1.0.0"\ndependencies = ["anyio>=4", "numpy; sys_platform == \'linux\'"]\n';

/** A lock as uv writes one: the root project, a dependency graph with markers and extras. */
const LOCK = `version = 1
revision = 2
requires-python = ">=3.11"

[[package]]
name = "anyio"
version = "4.4.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "idna" },
    { name = "typing-extensions", marker = "python_full_version < '3.13'" },
]
sdist = { url = "https://files.example/anyio-4.4.0.tar.gz", hash = "${h('a')}", size = 1 }
wheels = [
    { url = "https://files.example/anyio-4.4.0-py3-none-any.whl", hash = "${h('b')}", size = 1 },
]

[[package]]
name = "idna"
version = "3.7"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files.example/idna-3.7-py3-none-any.whl", hash = "${h('c')}", size = 1 }]

[[package]]
name = "my-plugin"
version = "1.0.0"
source = { virtual = "." }
dependencies = [
    { name = "anyio" },
    { name = "numpy", extra = ["fast"], marker = "sys_platform == 'linux'" },
]

[package.metadata]
requires-dist = [
    { name = "anyio", specifier = ">=4" },
    { name = "numpy", marker = "sys_platform == 'linux'" },
]

[[package]]
name = "numpy"
version = "2.0.0"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.example/numpy-2.0.0-cp311-x.whl", hash = "${h('d')}", size = 1 },
    { url = "https://files.example/numpy-2.0.0-cp312-x.whl", hash = "${h('e')}", size = 1 },
]

[package.optional-dependencies]
fast = [{ name = "typing-extensions" }]

[[package]]
name = "typing-extensions"
version = "4.12.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files.example/te.whl", hash = "${h('f')}", size = 1 }]

[[package]]
name = "unused"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files.example/unused.whl", hash = "${h('0')}", size = 1 }]
`;

describe('readUvLock', () => {
  it('walks the graph from the root project, carrying markers and extras, and leaves the rest out', () => {
    const read = readUvLock(LOCK, 'my_plugin');
    if (!read.ok) throw new Error(read.reason);
    expect(read.packages.map((p) => [p.name, p.version, p.marker])).toEqual([
      ['anyio', '4.4.0', undefined],
      ['idna', '3.7', undefined],
      ['numpy', '2.0.0', 'sys_platform == "linux"'],
      // Reached through anyio (a marker) and through numpy[fast] (another): either applies.
      ['typing-extensions', '4.12.0', 'python_full_version < "3.13" or sys_platform == "linux"'],
    ]);
    expect(read.packages[0]!.hashes).toEqual([h('b'), h('a')]);
    expect(read.packages[2]!.wheelHashes).toEqual(['d'.repeat(64), 'e'.repeat(64)]);
  });

  it('writes one pinned, hashed line per package', () => {
    const read = readUvLock(LOCK, 'my-plugin');
    if (!read.ok) throw new Error(read.reason);
    const text = lockedRequirementsText(read.packages);
    expect(text.split('\n')[2]).toBe(
      `numpy==2.0.0 ; sys_platform == "linux" --hash=${h('d')} --hash=${h('e')}`,
    );
  });

  it.each([
    [
      'a git source',
      'source = { registry = "https://pypi.org/simple" }\nwheels = [{ url = "https://files.example/idna-3.7-py3-none-any.whl"',
      'source = { git = "https://evil.example/x" }\nwheels = [{ url = "https://files.example/idna-3.7-py3-none-any.whl"',
      /"idna" comes from a "git" source/,
    ],
    [
      'a path source',
      'source = { registry = "https://pypi.org/simple" }\nwheels = [{ url = "https://files.example/idna-3.7-py3-none-any.whl"',
      'source = { path = "../x.whl" }\nwheels = [{ url = "https://files.example/idna-3.7-py3-none-any.whl"',
      /"idna" comes from a "path" source/,
    ],
    ['a short hash', h('c'), 'sha256:abc', /hash "sha256:abc" is not sha256/],
    ['a version that is an option', 'version = "3.7"', 'version = "--index-url=x"', /not a PEP 440 version/],
    [
      'a marker that smuggles an option',
      '{ name = "idna" }',
      '{ name = "idna", marker = "sys_platform == \' -r evil\'" }',
      /"idna" of "anyio" has the marker .* may not start with "-"/,
    ],
    [
      'a dependency the lock does not list',
      '{ name = "idna" }',
      '{ name = "idna" }, { name = "ghost" }',
      /"ghost", which the lock does not list/,
    ],
  ])('refuses %s', (_what, from, to, why) => {
    expect(LOCK.includes(from)).toBe(true);
    const read = readUvLock(LOCK.replace(from, to), 'my-plugin');
    expect(read.ok).toBe(false);
    if (!read.ok) expect(read.refusals.map((r) => r.message).join('\n')).toMatch(why);
  });

  it('refuses a lock that is not this project’s, or not TOML', () => {
    expect(readUvLock(LOCK, 'other')).toMatchObject({
      ok: false,
      reason: /no package for the project "other"/,
    });
    expect(readUvLock('version = [', 'x')).toMatchObject({ ok: false, reason: /not valid TOML/ });
  });
});

describe('lockedInstall: the lock checked against its pyproject', () => {
  it('accepts a lock that matches', () => {
    expect(lockedInstall(PYPROJECT, LOCK)).toMatchObject({ ok: true });
  });

  it('refuses a lock that lacks a dependency or pins a version the pyproject does not admit', () => {
    expect(lockedInstall(PYPROJECT.replace('"anyio>=4"', '"anyio>=4", "rich"'), LOCK)).toMatchObject({
      ok: false,
      reason: /"rich" is a dependency in pyproject.toml but not in uv.lock/,
    });
    expect(lockedInstall(PYPROJECT.replace('anyio>=4', 'anyio>=5'), LOCK)).toMatchObject({
      ok: false,
      reason: /pins "anyio" to "4.4.0", which pyproject.toml's ">=5" does not admit/,
    });
  });
});
