// The shape rules of the code itself (issue 20, docs/architecture.md): every path, name and ETag the
// hub's parts agree on is spelled in hub-core's layout module only, and no function outside tests
// is longer than 100 lines. Read from the TypeScript syntax tree of every tracked source file, so
// comments and prose never count and a new copy anywhere fails here, naming file and line.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

/** Tracked TypeScript sources that ship (no tests, test support, benchmarks or generated files). */
function productSources(): string[] {
  const listed = execFileSync('git', ['ls-files', '-z', '--', '*.ts', '*.mts'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return listed
    .split('\0')
    .filter((f) => f !== '')
    .filter((f) => !/(^|\/)(test|test-support|bench|templates|dist)\//.test(f) && !/\.test\.ts$/.test(f))
    .filter((f) => !f.startsWith('scripts/') && !f.startsWith('bench/') && !f.endsWith('.d.ts'));
}

/** Tracked test files and test helpers (what runs only under vitest). */
function testSources(): string[] {
  const listed = execFileSync('git', ['ls-files', '-z', '--', '*.ts'], { cwd: ROOT, encoding: 'utf8' });
  return listed
    .split('\0')
    .filter((f) => f !== '' && (/\.test\.ts$/.test(f) || /(^|\/)(test|test-support)\//.test(f)));
}

const WORKSPACES = ['packages/core', 'packages/cli', 'hub-api', 'functions', 'coreservice', 'site'];
const workspaceOf = (path: string) => WORKSPACES.find((w) => path === w || path.startsWith(`${w}/`)) ?? '.';

/**
 * Relative imports from a test into another workspace's sources (its `src/`, or the root's
 * scripts/ and bench/), which should go through that workspace's package entry points instead.
 * Test helpers of another workspace (`test/`, `test-support/`) and infra/ are shared on purpose.
 */
function crossWorkspaceImports(file: string): string[] {
  const sf = parse(file);
  const found: string[] = [];
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) && !ts.isExportDeclaration(st)) continue;
    const spec = st.moduleSpecifier;
    if (!spec || !ts.isStringLiteral(spec) || !spec.text.startsWith('.')) continue;
    const target = join(file, '..', spec.text);
    if (workspaceOf(target) === workspaceOf(file)) continue;
    if (/(^|\/)(test|test-support)(\/|$)/.test(target) || target.startsWith('infra/')) continue;
    found.push(`${at(sf, st)} ${spec.text}`);
  }
  return found;
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
}

function walk(node: ts.Node, visit: (n: ts.Node) => void): void {
  visit(node);
  ts.forEachChild(node, (c) => walk(c, visit));
}

const at = (sf: ts.SourceFile, n: ts.Node) =>
  `${sf.fileName}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;

/** Names the layout module owns: a string equal to one of these is a copy of it. */
const OWNED_NAMES = new Set([
  'manifest.yaml',
  'plugin.yaml',
  'owners.yaml',
  'maintainers.yaml',
  'signed-targets.json',
  'hub-bundle.json',
  'v1/index.json',
  '/v1/index.json',
  'v1/categories.json',
  'v1/openapi.json',
  'v1/plugins',
  'v1/categories',
  'assets',
  'assets/plugins',
  '/assets/plugins',
  'tuf/metadata',
  '.mpn',
]);

/** What a template piece around a substitution looks like when it builds a layout path or an ETag. */
// (`/plugins/${id}` alone is CoreService's and the site's URL space, not the catalog's.)
const BUILDS_PATH_BEFORE =
  /^plugins\/$|(?:^|\/)(?:assets\/plugins|v1\/plugins|v1\/categories|tuf\/metadata)\/$/;
const BUILDS_PATH_AFTER =
  /^(?:\.yaml|\.mpn|\.gz|\.br|\.(?:root|snapshot|targets|timestamp|hub)\.json|\/owners\.yaml|\/signed-targets\.json)$/;
/** An ETag quoted by hand: `"${sha256}"`, `"${etag}"`, or an encoding's `…-gzip"`. */
const QUOTED = /sha256|etag|digest/i;

/** The layout literals a file spells, as `file:line text`. */
function layoutCopies(file: string): string[] {
  const sf = parse(file);
  const found: string[] = [];
  walk(sf, (n) => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) {
      if (OWNED_NAMES.has(n.text)) found.push(`${at(sf, n)} ${JSON.stringify(n.text)}`);
    } else if (ts.isTemplateExpression(n)) {
      const pieces = [n.head.text, ...n.templateSpans.map((s) => s.literal.text)];
      pieces.forEach((piece, i) => {
        const before = i < pieces.length - 1 && BUILDS_PATH_BEFORE.test(piece);
        const after = i > 0 && BUILDS_PATH_AFTER.test(piece);
        const span = i > 0 ? n.templateSpans[i - 1]! : undefined;
        const etag =
          (span &&
            piece === '"' &&
            pieces[i - 1]!.endsWith('"') &&
            QUOTED.test(span.expression.getText(sf))) ||
          /-(?:gzip|br)"$/.test(piece);
        if (before || after || etag) found.push(`${at(sf, n)} ${JSON.stringify(n.getText(sf).slice(0, 80))}`);
      });
    } else if (
      ts.isCallExpression(n) &&
      /^crypto\.subtle\.digest$|\.digest$/.test(n.expression.getText(sf))
    ) {
      // A hash turned into an ETag by hand (base64url of a digest) outside the layout module.
      if (n.arguments.some((a) => ts.isStringLiteral(a) && a.text === 'base64url'))
        found.push(`${at(sf, n)} ${JSON.stringify(n.getText(sf).slice(0, 80))}`);
    }
  });
  return found;
}

/** Functions (declarations, methods, arrows, expressions) over `max` lines, as `file:line name (n lines)`. */
function longFunctions(file: string, max: number): string[] {
  const sf = parse(file);
  const found: string[] = [];
  walk(sf, (n) => {
    if (!ts.isFunctionLike(n) || !('body' in n) || !n.body) return;
    const first = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
    const last = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
    const lines = last - first + 1;
    if (lines <= max) return;
    const parent = n.parent;
    const name =
      (n as ts.FunctionDeclaration).name?.getText(sf) ??
      (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent))
        ? parent.name.getText(sf)
        : '(anonymous)');
    found.push(`${at(sf, n)} ${name} (${lines} lines)`);
  });
  return found;
}

describe('the shape of the code', () => {
  const files = productSources();

  it('reads a real tree (the checker itself finds what it looks for)', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(files).toContain('packages/core/src/layout.ts');
    // The layout module is where the names live: the checker must see them there.
    expect(layoutCopies('packages/core/src/layout.ts').length).toBeGreaterThan(5);
  });

  it('spells catalog, build and archive paths and ETags only in the layout module', () => {
    const copies = files.filter((f) => f !== 'packages/core/src/layout.ts').flatMap(layoutCopies);
    expect(copies, 'use the names and functions of packages/core/src/layout.ts instead').toEqual([]);
  });

  it('lets tests reach other workspaces through their package entry points only', () => {
    expect(testSources().flatMap(crossWorkspaceImports)).toEqual([]);
  });

  it('has no function over 100 lines outside tests', () => {
    expect(files.flatMap((f) => longFunctions(f, 100))).toEqual([]);
  });
});
