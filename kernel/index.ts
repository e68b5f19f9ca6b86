/**
 * The kernel's public face: its one constructor (plugins required), its config, and
 * the types a plugin is written against. The default plugin set and `createRelay`
 * live at the package root: the kernel depends on nothing above it.
 */
export { createRelayKernel, type KernelOptions, type Relay } from './relay.js';
export { DEFAULT_CONFIG, resolveConfig, type RateBucket, type RelayConfig } from './config.js';
export { LOG_LEVELS, type LogLevel, type LogSink } from './logger.js';
export { uwsNative } from './uws.js';
export * from './types.js';
