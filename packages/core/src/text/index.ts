export * from './display-text';
export * from './escape';
export * from './remembered';
export * from './xml';
