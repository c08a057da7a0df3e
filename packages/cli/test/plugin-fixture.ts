import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The files of a small but complete plugin source dir, plus clutter pack must leave out. */
export const FIXTURE_FILES: Record<string, string> = {
  'manifest.yaml': `manifest_version: "1"
# A test plugin; archive_id is rewritten by pack.
plugin_id: tiny-plugin
archive_id: 00000000-0000-7000-8000-000000000000
name: "Tiny plugin"
version: 0.3.0
requires_sdk: ">=2.0,<3.0"
author: "Hub tests"
license: MIT
description: A plugin small enough to read in one screen.
category: fft
install:
  - method: uv
    pyproject: pyproject.toml
  - method: docker
    dockerfile: Dockerfile
health_check:
  timeout_seconds: 10
ui: null
tags: [test]
`,
  'main.py': 'print("tiny")\n',
  'plugin/__init__.py': '',
  'plugin/compute.py': 'def compute(xs):\n    return sum(xs)\n',
  'schemas/input.json': '{"type": "object"}\n',
  'schemas/output.json': '{"type": "object"}\n',
  'pyproject.toml': '[project]\nname = "tiny-plugin"\nversion = "0.3.0"\n',
  Dockerfile: 'FROM scratch\n',
  // Clutter that must not reach the archive:
  '.env': 'SECRET=1\n',
  '.git/config': '[core]\n',
  '__pycache__/main.cpython-311.pyc': 'x',
  'plugin/__pycache__/compute.cpython-311.pyc': 'x',
  '.venv/bin/python': 'x',
  'node_modules/x/index.js': 'x',
  'plugin/old.pyc': 'x',
};

export const PACKED_FILES = [
  'Dockerfile',
  'main.py',
  'plugin/__init__.py',
  'plugin/compute.py',
  'pyproject.toml',
  'schemas/input.json',
  'schemas/output.json',
];

/** Writes the fixture plugin into `<fresh temp dir>/tiny-plugin` and returns that dir. */
export function writeFixturePlugin(parent = mkdtempSync(join(tmpdir(), 'hub-cli-'))): string {
  const dir = join(parent, 'tiny-plugin');
  for (const [path, text] of Object.entries(FIXTURE_FILES)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}
