/**
 * Test support for hub-core and the workspaces that test against it: zip builders that can write any
 * hostile layout, the hostile-archive case tables, and the scan/hash/extract views of the zip reader
 * that only tests use. Imported as `@magellon/hub-core/test-support`; never from product code.
 */
export { baseCases } from './hostile-basic-cases';
export { layoutCases } from './hostile-layout-cases';
export { nameCases } from './hostile-name-cases';
export { extractZip, hashZip, scanZip } from './zip-readers';
export * from './zips';
