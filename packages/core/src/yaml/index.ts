export * from './locate';
export * from './parse-yaml';
export * from './pyyaml-schema';
export * from './schema-findings';
