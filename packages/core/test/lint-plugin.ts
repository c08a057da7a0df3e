import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A clean manifest of a uv plugin named lint-me: no lint finding at all, on SDK 2.3.0. */
export const LINT_ME_MANIFEST = `manifest_version: "1"
plugin_id: lint-me
name: Lint me
version: 1.0.0
requires_sdk: ">=2.0,<3.0"
author: Lab
license: MIT
description: A plugin for lint tests.
category: ctf
install:
  - method: uv
    pyproject: pyproject.toml
health_check:
  timeout_seconds: 30
tags: [test]
`;

/**
 * Writes `<parent>/lint-me/`, a clean plugin dir, changed by `files` (`null` removes a file of the
 * baseline: manifest.yaml, pyproject.toml, schemas/input.json, schemas/output.json). Returns its path.
 */
export function writeLintMe(parent: string, files: Record<string, string | null> = {}): string {
  const dir = join(parent, 'lint-me');
  const all: Record<string, string | null> = {
    'manifest.yaml': LINT_ME_MANIFEST,
    'pyproject.toml': '[project]\nname = "lint-me"\n',
    'schemas/input.json': '{}',
    'schemas/output.json': '{}',
    ...files,
  };
  for (const [path, text] of Object.entries(all)) {
    if (text === null) continue;
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}
