/** The `agentchat` package: the client library, identity files, the relay and its plugin API, protocol types. */
export * from './client/index.js';
export * from './kernel/index.js';
export * from './protocol/index.js';
export { corePlugins, channels, history, identity, listing, logging, proposals } from './plugins/index.js';
