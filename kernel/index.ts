/**
 * The relay's public entry: createRelay with the core plugins, and the types a
 * plugin is written against.
 */
import { corePlugins } from '../plugins/index.js';

export { corePlugins };
import { createRelayWith, type Relay, type RelayOptions } from './relay.js';

/** A relay with the core plugins (or `options.plugins` instead). Port 0 picks an ephemeral port. */
export function createRelay(options: RelayOptions = {}): Relay {
  return createRelayWith(corePlugins, options);
}

export { createRelayWith, type Relay, type RelayOptions } from './relay.js';
export { DEFAULT_CONFIG, resolveConfig, type RateBucket, type RelayConfig } from './config.js';
export { uwsNative } from './uws.js';
export * from './types.js';
