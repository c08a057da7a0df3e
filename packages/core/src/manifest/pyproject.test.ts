import { describe, expect, it } from 'vitest';
import { installRequirements, pyprojectDependencies } from './pyproject';

const HEADER = '[project]\nname = "plugin"\nversion = "1.0.0"\n';

describe('pyprojectDependencies', () => {
  it('reads a real plugin’s dependencies, each at its line, in canonical form', () => {
    const text = `${HEADER}dependencies = [
  "fastapi>=0.110",   # the web server
  'numpy',
  """pydantic[email]>=2; python_version>="3.11"""",
]
`;
    const read = pyprojectDependencies(text);
    expect(read.refusals).toEqual([]);
    expect(read.dependencies.map((d) => [d.text, d.line])).toEqual([
      ['fastapi>=0.110', 5],
      ['numpy', 6],
      ['pydantic[email]>=2; python_version >= "3.11"', 7],
    ]);
  });

  it('refuses each unsafe dependency at its own line and keeps the rest', () => {
    const text = `${HEADER}dependencies = ["numpy",
  "--index-url=http://evil.example/simple",
  # a comment with "quotes", [brackets] and a comma,
  "evil @ https://evil.example/evil.whl", "-e .",
  "ok\\n--extra-index-url=http://evil.example",
]
`;
    const read = pyprojectDependencies(text);
    expect(read.dependencies.map((d) => d.text)).toEqual(['numpy']);
    expect(read.refusals.map((r) => [r.line, r.message])).toEqual([
      [5, expect.stringMatching(/^dependency "--index-url=http:\/\/evil.example\/simple" is a pip option/)],
      [7, expect.stringMatching(/direct reference/)],
      [7, expect.stringMatching(/^dependency "-e \." is a pip option/)],
      [
        8,
        expect.stringMatching(
          /^dependency "ok\\n--extra-index-url=http:\/\/evil.example" contains a line break/,
        ),
      ],
    ]);
  });

  it('finds the dependencies of a dotted key and falls back to the key’s line when the scan cannot tell', () => {
    expect(pyprojectDependencies('project.dependencies = ["a", "-r x"]\n').refusals[0]?.line).toBe(1);
    const nested = pyprojectDependencies(`${HEADER}dependencies = ["a", ["b"], "-e ."]\n`);
    expect(nested.refusals.map((r) => [r.line, r.message])).toEqual([
      [4, '[project].dependencies[1] is not a string'],
      [4, expect.stringMatching(/pip option/)],
    ]);
  });

  it('refuses a dependencies value that is not a list, and a file that is not TOML, with the parser’s line', () => {
    expect(pyprojectDependencies(`${HEADER}dependencies = "numpy"\n`).refusals).toEqual([
      { kind: 'dependency', line: 4, message: '[project].dependencies is not a list of strings' },
    ]);
    expect(pyprojectDependencies('[project]\nname = \n').refusals).toEqual([
      {
        kind: 'toml',
        line: 2,
        column: expect.any(Number),
        message: expect.stringMatching(/^not valid TOML/),
      },
    ]);
  });

  it('reads nothing but [project].dependencies: other lists of requirements are not its business', () => {
    const text = `${HEADER}dependencies = []
optional-dependencies = { dev = ["-e ."] }
[build-system]
requires = ["setuptools @ https://x.example/s.whl"]
[dependency-groups]
dev = ["--index-url=x"]
`;
    expect(pyprojectDependencies(text)).toEqual({
      dependencies: [],
      refusals: [],
      externalSources: [],
      projectName: 'plugin',
    });
  });

  it('refuses [tool.uv] and [tool.uv.pip] settings that name other package locations', () => {
    const text = `${HEADER}dependencies = ["numpy"]

[tool.uv]
index-url = "http://evil.example/simple"
find-links = ["http://evil.example/wheels"]

[[tool.uv.index]]
name = "mine"
url = "http://evil.example/simple"

[tool.uv.pip]
extra-index-url = ["http://evil.example/simple"]
`;
    expect(
      pyprojectDependencies(text).refusals.map((r) => [r.kind, r.line, r.message.split(':')[0]]),
    ).toEqual([
      ['uv', 10, '[tool.uv] sets index'],
      ['uv', 7, '[tool.uv] sets index-url'],
      ['uv', 8, '[tool.uv] sets find-links'],
      ['uv', 15, '[tool.uv.pip] sets extra-index-url'],
    ]);
  });

  it('refuses URL and git sources; named-index sources pass, path sources leaving the plugin are only reported', () => {
    const text = `${HEADER}dependencies = ["a", "b", "c", "sdk", "local"]
[tool.uv.sources]
a = { url = "https://evil.example/a.whl" }
b = [{ git = "https://evil.example/b.git", marker = "os_name == 'posix'" }]
c = { index = "mine" }
sdk = { path = "../../sdk" }
local = { path = "vendor/local" }
`;
    const read = pyprojectDependencies(text, 'py');
    expect(read.refusals.map((r) => [r.line, r.message])).toEqual([
      [6, expect.stringMatching(/^\[tool.uv.sources\] "a" is fetched from a URL/)],
      [7, expect.stringMatching(/"b" is fetched from a git repository/)],
    ]);
    expect(read.externalSources).toEqual(['../../sdk']);
  });

  it('judges keys named like Object.prototype members like any other key', () => {
    const text = `[project]\n"__proto__" = 1\nconstructor = 2\ndependencies = ["toString"]\n[tool.uv.sources]\n__proto__ = { url = "https://x.example" }\n`;
    const read = pyprojectDependencies(text);
    expect(read.dependencies.map((d) => d.text)).toEqual(['tostring']);
    expect(read.refusals.map((r) => r.message)).toEqual([
      expect.stringMatching(/^\[tool.uv.sources\] "__proto__" is fetched from a URL/),
    ]);
  });
});

describe('installRequirements: what CoreService hands to pip or uv', () => {
  it('gives one canonical argument per dependency', () => {
    expect(
      installRequirements(`${HEADER}dependencies = ["FastAPI >= 0.110", "numpy; sys_platform == 'linux'"]\n`),
    ).toEqual({ ok: true, requirements: ['fastapi>=0.110', 'numpy; sys_platform == "linux"'] });
    expect(installRequirements(HEADER)).toEqual({ ok: true, requirements: [] });
  });

  it('refuses the whole file when anything in it is unsafe, naming the first line', () => {
    const result = installRequirements(`${HEADER}dependencies = [\n  "numpy",\n  "--target=/",\n]\n`);
    expect(result).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^line 6: dependency "--target=\/"/),
    });
    expect(installRequirements('x = [\n')).toMatchObject({ ok: false, reason: /^line 2: not valid TOML/ });
  });
});
