// Regenerates packages/core/schema/*.schema.json and docs/schemas/*.schema.json (CoreService's
// admin responses) from the zod schemas: npm run schemas
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderAdminPluginsSchema } from '../coreservice/src/plugin-list';
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

const docs = join(import.meta.dirname, '../docs/schemas');
mkdirSync(docs, { recursive: true });
writeFileSync(join(docs, 'admin-plugins.schema.json'), renderAdminPluginsSchema());
console.log('wrote docs/schemas/admin-plugins.schema.json');
