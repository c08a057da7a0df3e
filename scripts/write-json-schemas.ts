// Regenerates packages/core/schema/*.schema.json from the zod schemas: npm run schemas
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  PUBLISHED_SCHEMAS,
  type PublishedSchemaName,
  renderJsonSchema,
} from '../packages/core/src/schema/json-schema';

const dir = join(import.meta.dirname, '../packages/core/schema');
mkdirSync(dir, { recursive: true });
for (const name of Object.keys(PUBLISHED_SCHEMAS) as PublishedSchemaName[]) {
  writeFileSync(join(dir, name), renderJsonSchema(name));
  console.log(`wrote packages/core/schema/${name}`);
}
