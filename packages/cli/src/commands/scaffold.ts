import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARCHIVE_MANIFEST, archiveFileName, slug } from '@magellon/hub-core';
import { readManifest, TEMPLATE_PLACEHOLDERS } from '@magellon/hub-core/node';
import { green, red, safe, safeLines } from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import { BUNDLED } from '../version';
import type { Command } from './command';

/**
 * The plugin skeleton `hub scaffold` renders: packages/cli/templates/plugin, found from this
 * file in src/commands/; once bundled, the copy in dist/templates/ (links resolved) beside
 * this file's chunk at the top of dist/.
 */
export const TEMPLATE_DIR = fileURLToPath(
  new URL(BUNDLED ? './templates/plugin' : '../../templates/plugin', import.meta.url),
);

export interface ScaffoldValues {
  plugin_id: string;
  name: string;
  category: string;
  backend_id: string;
  package_name: string;
  author: string;
  /** The placeholder the author replaces (TEMPLATE_PLACEHOLDERS, which lint recognises). */
  description: string;
  year: string;
}

/** Replaces `{{key}}` placeholders; unknown placeholders are left as they are. */
export function renderTemplate(text: string, values: ScaffoldValues): string {
  return text.replace(/\{\{(\w+)\}\}/g, (m, key: string) =>
    key in values ? values[key as keyof ScaffoldValues] : m,
  );
}

/** Renders the template tree into `dest`, which must not exist; on failure nothing is left behind. */
export function scaffoldPlugin(dest: string, values: ScaffoldValues): string[] {
  const written: string[] = [];
  mkdirSync(dirname(dest), { recursive: true });
  mkdirSync(dest);
  try {
    const walk = (rel: string) => {
      for (const name of readdirSync(join(TEMPLATE_DIR, rel)).sort()) {
        const path = rel ? `${rel}/${name}` : name;
        const src = join(TEMPLATE_DIR, path);
        if (name === '__pycache__' || name.endsWith('.pyc')) continue;
        if (statSync(src).isDirectory()) {
          mkdirSync(join(dest, path));
          walk(path);
        } else {
          writeFileSync(join(dest, path), renderTemplate(readFileSync(src, 'utf8'), values), {
            mode: statSync(src).mode,
          });
          written.push(path);
        }
      }
    };
    walk('');
    return written;
  } catch (err) {
    rmSync(dest, { recursive: true, force: true });
    throw err;
  }
}

/** The Python distribution name: `magellon-<id>-plugin`, unless the id already reads like one. */
export function packageName(id: string): string {
  return /^magellon-.*plugin$/.test(id) ? id : `magellon-${id}-plugin`;
}

/** Free text goes into double-quoted YAML in the template; refuse what would break it. */
function checkFreeText(flag: string, value: string): string {
  if (/["\\\p{Cc}]/u.test(value))
    throw new UsageError(`${flag} cannot contain quotes, backslashes or control characters`);
  return value;
}

/** Quotes a path for a POSIX shell when it needs it. */
function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What to run next, one shell command a line, each right after the `cd` before it. */
export function nextSteps(dir: string, archive: string): string {
  const lines: Array<[string, string]> = [
    [`cd ${shellQuote(dir)}`, ''],
    ['python3 -m unittest discover -s tests -t .', "run the plugin's tests"],
    ['python3 main.py --port 8000', 'serve it (Ctrl-C stops); then: curl localhost:8000/health'],
    ['hub lint .', 'check it the way the hub will'],
    ['hub pack .', `write ../${archive}`],
  ];
  const width = Math.max(...lines.map(([cmd]) => cmd.length));
  return `next:\n${lines.map(([cmd, note]) => (note ? `  ${cmd.padEnd(width)}  # ${note}` : `  ${cmd}`)).join('\n')}`;
}

const title = (id: string) =>
  id
    .split(/[-_.]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join(' ');

export const scaffoldCommand: Command = {
  name: 'scaffold',
  help: `Usage: hub scaffold <plugin_id> --category <category> [options]

Creates <dir>/<plugin_id>/ with manifest.yaml, main.py, plugin/compute.py,
plugin/plugin.py, schemas/, pyproject.toml, Dockerfile and tests/ — a plugin that
runs as is (python3 main.py --port 8000) and passes its own tests
(python3 -m unittest discover -s tests -t .). Then edit plugin/compute.py,
run hub lint, and hub pack. It prints these steps, ready to paste, when done.

Options:
  --category <c>      the cryo-EM step it implements (lowercase slug, e.g. ctf)
  --name <text>       display name (default from the id)
  --backend-id <id>   backend id within the category (default: the plugin id)
  --author <text>     author (default "$USER", else a placeholder hub publish refuses)
  --dir <parent>      where to create it (default .)
  -h, --help          show this help

Exit codes: 0 created, 1 the folder already exists, 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('scaffold', args, {
      category: { type: 'string' },
      name: { type: 'string' },
      'backend-id': { type: 'string' },
      author: { type: 'string' },
      dir: { type: 'string' },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    if (positionals.length !== 1)
      throw new UsageError('hub scaffold takes one plugin id; see hub scaffold --help');
    const id = positionals[0]!;
    const category = values.category;
    if (!category) throw new UsageError('hub scaffold needs --category <category>, e.g. --category ctf');
    const backend = values['backend-id'] ?? id;
    for (const [what, value] of [
      ['plugin id', id],
      ['--category', category],
      ['--backend-id', backend],
    ] as const) {
      const check = slug(what).safeParse(value);
      if (!check.success) throw new UsageError(`${what} "${value}": ${check.error.issues[0]?.message}`);
    }
    const dest = resolve(values.dir ?? '.', id);
    if (existsSync(dest)) {
      console.error(
        red(`✖ ${relative(process.cwd(), dest) || dest} already exists; choose another id or --dir`),
      );
      return EXIT.failed;
    }
    const files = scaffoldPlugin(dest, {
      plugin_id: id,
      name: checkFreeText('--name', values.name ?? title(id)),
      category,
      backend_id: backend,
      package_name: packageName(id),
      author: checkFreeText('--author', values.author || process.env.USER || TEMPLATE_PLACEHOLDERS.author),
      description: TEMPLATE_PLACEHOLDERS.description,
      year: String(new Date().getFullYear()),
    });
    const rel = relative(process.cwd(), dest);
    const shown = rel.startsWith('..') || isAbsolute(rel) ? dest : rel;
    console.log(green(`✔ created ${safe(shown)}/ (${files.length} files)`));
    const manifest = readManifest(readFileSync(join(dest, ARCHIVE_MANIFEST), 'utf8'), ARCHIVE_MANIFEST);
    const version = manifest.ok ? manifest.manifest.version : undefined;
    console.log(safeLines(nextSteps(shown, archiveFileName(id, version ?? '<version>'))));
    return EXIT.ok;
  },
};
