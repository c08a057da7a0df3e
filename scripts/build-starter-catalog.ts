// Rebuilds the starter catalog's entries and archives from examples/plugins: npm run starter-catalog
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildStarterCatalog } from '@magellon/hub-core/test-support';

const root = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'hub-starter-'));
try {
  const n = await buildStarterCatalog(join(root, 'examples', 'plugins'), join(root, 'catalog'), work);
  console.log(`wrote ${n} entries and archives under catalog/`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
