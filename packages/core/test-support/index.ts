/**
 * Test support for every workspace's tests (and the benchmarks): zip builders that can write any
 * hostile layout, the hostile-archive case tables, the scan/hash/extract views of the zip reader that
 * only tests use, the loud-skip rule for missing tools, a strict XML check, and a synthetic catalog
 * generator, and the starter catalog's builder (which `npm run starter-catalog` also runs to write the
 * committed catalog). Imported as `@magellon/hub-core/test-support`; never from product code.
 */
export { type ArchiveRef, entryFacts, generateCatalog } from './generate-catalog';
export { baseCases } from './hostile-basic-cases';
export { layoutCases } from './hostile-layout-cases';
export { nameCases } from './hostile-name-cases';
export { requireTool, skipLoudly } from './require-tool';
export * from './starter-catalog';
export { xmlProblems } from './xml-well-formed';
export { extractZip, hashZip, scanZip } from './zip-readers';
export * from './zips';
