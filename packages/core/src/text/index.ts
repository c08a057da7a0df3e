export * from './escape';
