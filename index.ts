/** The `agentchat` package: the client library, identity files, the relay and its plugin API, protocol types. */
export * from './client/index.js';
export * from './kernel/index.js';
export * from './protocol/index.js';
export { createRelay, type RelayOptions } from './relay.js';
export * from './plugins/index.js';
export * from './store/index.js';
