export * from './escape';
export * from './remembered';
