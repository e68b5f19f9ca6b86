/**
 * createRelay: a relay with the core plugins, composed above the kernel. Options pick
 * which plugins run (drop core ones by name, add your own after them, or replace the
 * set) and give each plugin its options by name.
 */
import { createRelayKernel, type AnyPlugin, type KernelOptions, type Relay } from './kernel/index.js';
import { corePlugins, type CorePluginOptions } from './plugins/index.js';

export interface RelayOptions extends Omit<KernelOptions, 'plugins' | 'pluginOptions'> {
  /** The whole plugin list, in hook order, instead of the core plugins (then `without` and `extraPlugins` do not apply). */
  plugins?: readonly AnyPlugin[];
  /** Core plugins to leave out, by name (e.g. 'identity', to bring your own). */
  without?: readonly string[];
  /** Plugins run after the core ones. */
  extraPlugins?: readonly AnyPlugin[];
  /** Options per plugin name, for core plugins and your own alike. */
  pluginOptions?: CorePluginOptions & Readonly<Record<string, unknown>>;
  /** The Redis of a cluster, `redis://host:port` (`serve --redis`): relays on one Redis act as one relay. */
  redis?: string;
}

/** A relay with the core plugins (see RelayOptions). Port 0 picks a free port: read `relay.port` after `await relay.listen()`. */
export function createRelay(options: RelayOptions = {}): Relay {
  // `redis` is taken out of the kernel's options: the cluster is composed here, above the kernel.
  const { plugins, without = [], extraPlugins = [], redis: _redis, ...rest } = options;
  for (const name of without) {
    if (!corePlugins().some((p) => p.name === name)) {
      throw new Error(`there is no core plugin "${name}" to leave out; the core plugins are ${corePlugins().map((p) => p.name).join(', ')}`);
    }
  }
  const list = plugins ?? [...corePlugins().filter((p) => !without.includes(p.name)), ...extraPlugins];
  return createRelayKernel({ ...rest, plugins: list });
}
