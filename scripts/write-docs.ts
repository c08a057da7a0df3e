// Regenerates the generated parts of docs/ from the domain library: npm run docs
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderFindingCodesDoc } from '../packages/core/src';

const file = join(import.meta.dirname, '..', 'docs', 'finding-codes.md');
writeFileSync(file, renderFindingCodesDoc());
console.log('wrote docs/finding-codes.md');
