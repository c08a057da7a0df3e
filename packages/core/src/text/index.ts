export * from './display-text';
export * from './escape';
export * from './fold';
export * from './remembered';
export * from './usage-error';
export * from './xml';
