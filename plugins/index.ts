/** The core plugins, on by default, in the order their hooks run. */
import type { RelayConfig } from '../kernel/config.js';
import type { Plugin } from '../kernel/types.js';
import { channels } from './channels/index.js';
import { history } from './history/index.js';
import { identity } from './identity/index.js';
import { listing } from './listing/index.js';
import { logging } from './logging/index.js';
import { proposals } from './proposals/index.js';

export { channels, history, identity, listing, logging, proposals };

export function corePlugins(_config?: RelayConfig): Plugin[] {
  return [logging(), identity(), channels(), listing(), history(), proposals()];
}
