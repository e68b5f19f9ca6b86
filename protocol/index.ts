export * from './names.js';
export * from './errors.js';
export * from './signing.js';
export * from './schemas.js';
export * from './messages.js';
export * from './keys.js';
export * from './proposals.js';
export * from './urls.js';
