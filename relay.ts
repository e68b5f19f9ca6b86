/**
 * createRelay: a relay with the core plugins, composed above the kernel. Options pick
 * which plugins run (drop core ones by name, add your own after them, or replace the
 * set) and give each plugin its options by name.
 */
import { createRelayKernel, type AnyPlugin, type KernelOptions, type Relay } from './kernel/index.js';
import { cluster, corePlugins, type CorePluginOptions } from './plugins/index.js';
import { redisStore } from './store/redis.js';

export interface RelayOptions extends Omit<KernelOptions, 'plugins' | 'pluginOptions'> {
  /** The whole plugin list, in hook order, instead of the core plugins (then `without` and `extraPlugins` do not apply). */
  plugins?: readonly AnyPlugin[];
  /** Core plugins to leave out, by name (e.g. 'identity', to bring your own). */
  without?: readonly string[];
  /** Plugins run after the core ones. */
  extraPlugins?: readonly AnyPlugin[];
  /** Options per plugin name, for core plugins and your own alike. */
  pluginOptions?: CorePluginOptions & Readonly<Record<string, unknown>>;
  /**
   * Join the cluster of relays on this Redis (redis://host:port): the cluster plugin runs
   * after identity, and the store is Redis unless `store` is given.
   */
  redis?: string;
}

/** A relay with the core plugins (see RelayOptions). Port 0 picks a free port: read `relay.port` after `await relay.listen()`. */
export function createRelay(options: RelayOptions = {}): Relay {
  const { plugins, without = [], extraPlugins = [], redis, ...rest } = options;
  for (const name of without) {
    if (!corePlugins().some((p) => p.name === name)) {
      throw new Error(`there is no core plugin "${name}" to leave out; the core plugins are ${corePlugins().map((p) => p.name).join(', ')}`);
    }
  }
  let list = plugins ?? [...corePlugins().filter((p) => !without.includes(p.name)), ...extraPlugins];
  if (redis !== undefined) {
    // Right after identity: the link must be in place before channels, history and proposals set up.
    const at = list.findIndex((p) => p.name === 'identity') + 1;
    // The shared history is bounded where it is written, to what the history plugin keeps.
    const keep = rest.pluginOptions?.history?.keep;
    list = [...list.slice(0, at), cluster({ url: redis, ...(keep === undefined ? {} : { historyKeep: Math.max(keep, rest.pluginOptions?.history?.size ?? 0) }) }), ...list.slice(at)];
    rest.store ??= redisStore({ url: redis });
  }
  return createRelayKernel({ ...rest, plugins: list });
}
