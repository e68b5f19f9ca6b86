/** The core plugins, on by default, in the order their hooks run, and their options. */
import type { AnyPlugin } from '../kernel/types.js';
import { channels, type ChannelsOptions } from './channels/index.js';
import { cluster, clusterCounts, type ClusterOptions } from './cluster/index.js';
import { health, type HealthOptions } from './health/index.js';
import { history, type HistoryOptions } from './history/index.js';
import { identity, sessionKeys, type IdentityOptions, type SessionKey } from './identity/index.js';
import { limits, type LimitsOptions } from './limits/index.js';
import { listing } from './listing/index.js';
import { logging, type LoggingOptions } from './logging/index.js';
import { metrics, type MetricsOptions } from './metrics/index.js';
import { moderation, moderationCounts, type ModerationCounts, type ModerationOptions } from './moderation/index.js';
import { policy, type PolicyOptions } from './policy/index.js';
import { proposals, type ProposalsOptions } from './proposals/index.js';
import { web, type WebOptions, type WebStats } from './web/index.js';

export { channels, cluster, clusterCounts, health, history, identity, limits, listing, logging, metrics, moderation, moderationCounts, policy, proposals, sessionKeys, web };
export type { ChannelsOptions, ClusterOptions, HealthOptions, HistoryOptions, IdentityOptions, LimitsOptions, LoggingOptions, MetricsOptions, ModerationCounts, ModerationOptions, PolicyOptions, ProposalsOptions, SessionKey, WebOptions, WebStats };

/** Options of the core plugins, by plugin name (`createRelay({ pluginOptions })`, `serve --plugin-options`). */
export interface CorePluginOptions {
  limits?: LimitsOptions;
  logging?: LoggingOptions;
  identity?: IdentityOptions;
  cluster?: ClusterOptions;
  channels?: ChannelsOptions;
  history?: HistoryOptions;
  proposals?: ProposalsOptions;
  health?: HealthOptions;
  metrics?: MetricsOptions;
  moderation?: ModerationOptions;
  /** Not a core plugin: on with `serve --web` or `extraPlugins: [web()]`. */
  web?: WebOptions;
}

/** A fresh list of the core plugins (each call makes new instances). */
export function corePlugins(): AnyPlugin[] {
  return [limits(), logging(), identity(), moderation(), channels(), listing(), history(), proposals(), health(), metrics()];
}
