export * from './archive-rules';
export * from './model';
export * from './rules';
