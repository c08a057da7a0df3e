import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PUBLISHED_SCHEMAS, type PublishedSchemaName, renderJsonSchema } from './json-schema';

describe('committed JSON Schemas', () => {
  for (const name of Object.keys(PUBLISHED_SCHEMAS) as PublishedSchemaName[]) {
    it(`${name} matches the zod schema (run \`npm run schemas\` after changing a schema)`, () => {
      const committed = readFileSync(join(import.meta.dirname, '../../schema', name), 'utf8');
      expect(committed).toBe(renderJsonSchema(name));
    });
  }

  it('forbids unknown fields in catalog entries but not in manifests', () => {
    const entry = JSON.parse(renderJsonSchema('catalog-entry.schema.json'));
    const manifest = JSON.parse(renderJsonSchema('archive-manifest.schema.json'));
    expect(entry.additionalProperties).toBe(false);
    expect(manifest.additionalProperties).not.toBe(false);
    expect(entry.required).toEqual(
      expect.arrayContaining(['plugin_id', 'version', 'archive', 'tier', 'published_at']),
    );
  });
});
