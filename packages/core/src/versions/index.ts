export * from './sdk-range';
export * from './semver';
