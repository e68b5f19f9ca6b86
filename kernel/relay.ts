/**
 * The kernel's one constructor: wires a Kernel to a uWS app, registers the kernel's
 * own message types (JOIN, LEAVE, MSG, PING) and runs the plugins it is given. The
 * default plugin set is composed above the kernel (the package root's createRelay).
 */
import type { us_listen_socket } from 'uWebSockets.js';
import { Join, Leave, msgCheck, msgSchema, Ping } from '../protocol/schemas.js';
import { memoryStore } from '../store/memory.js';
import type { Store } from '../store/types.js';
import { resolveConfig, type RelayConfig } from './config.js';
import { Kernel } from './kernel.js';
import { fdLimit, sessionsWithin } from './fd-limit.js';
import { createLogger, stderrSink, type LogLevel, type LogSink } from './logger.js';
import type { SessionState, SocketData } from './session.js';
import type { AnyPlugin, RelayApi, Session } from './types.js';
import { listenOn, LISTEN_DEFAULT, LISTEN_EXCLUSIVE_PORT, uWS, uwsNative, UWS_FALLBACK_WARNING } from './uws.js';

export interface KernelOptions extends Partial<RelayConfig> {
  /** Plugins in order: their hooks run in this order. Names are unique. */
  plugins: readonly AnyPlugin[];
  /** Each plugin's options by plugin name, passed as `setup(relay, options)` (default `{}`). */
  pluginOptions?: Readonly<Record<string, unknown>>;
  /** Where JSON log lines go: default stderr; false silences them. */
  log?: LogSink | false;
  /** The least severe level logged (default info). */
  logLevel?: LogLevel;
  /** Durable state for the plugins (default: memory, nothing kept). close() flushes and closes it. */
  store?: Store;
  /**
   * Share the port with other relays (SO_REUSEPORT), as `serve --workers` does on purpose.
   * Off by default: a busy port is an error, never two relays that cannot see each other.
   */
  sharePort?: boolean;
}

export interface Relay {
  /** Set up every plugin (awaiting async setups), then listen; resolves once the port is bound. */
  listen(): Promise<void>;
  /** Stop accepting, close every session with 1001, await the close hooks (bounded). */
  close(): Promise<void>;
  /** The bound port (the real one when config.port was 0); 0 before listen(). */
  readonly port: number;
  readonly config: Readonly<RelayConfig>;
  /** Whether uWS runs natively (false: the slow JavaScript fallback). */
  readonly native: boolean;
  /** The API plugins get: for tests and embedding. */
  readonly api: RelayApi;
  /** The plugins, in order, as they were given. */
  readonly plugins: readonly AnyPlugin[];
}

export function createRelayKernel(options: KernelOptions): Relay {
  const { plugins, pluginOptions = {}, log, logLevel, sharePort = false, store = memoryStore(), ...configOptions } = options;
  checkPlugins(plugins);
  const names = Object.freeze(plugins.map((p) => p.name));
  const config = resolveConfig(configOptions);
  const logger = createLogger(log === undefined ? stderrSink : log, logLevel);
  const files = fdLimit();
  if (config.maxSessions > sessionsWithin(files)) {
    // Past the descriptor limit accept() fails in a busy loop: refuse at the upgrade well before it.
    logger.warn('max_sessions_lowered', { max_sessions: sessionsWithin(files), asked: config.maxSessions, fd_limit: files, hint: 'raise `ulimit -n` for more sessions' });
    config.maxSessions = sessionsWithin(files);
  }
  const kernel = new Kernel(config, logger, store);
  registerKernelTypes(kernel);

  let listenSocket: us_listen_socket | null = null;
  let port = 0;
  let listening: Promise<void> | null = null;
  let closed: Promise<void> | null = null;

  const setUp = async () => {
    await store.open?.();
    for (const plugin of plugins) {
      try {
        await plugin.setup(pluginApi(kernel, plugin.name, names), (pluginOptions[plugin.name] ?? {}) as never);
      } catch (err) {
        kernel.timers.clear();
        await kernel.hooks.closeAll(config.shutdownTimeoutMs);
        throw new Error(`plugin "${plugin.name}" failed to set up: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    kernel.dispatch.ready();
  };

  const bind = () => {
    if (!uwsNative) {
      process.stderr.write(UWS_FALLBACK_WARNING + '\n');
      logger.warn('uws_fallback', { message: UWS_FALLBACK_WARNING });
    }
    let app;
    try {
      app = config.tls ? uWS.SSLApp({ cert_file_name: config.tls.cert, key_file_name: config.tls.key }) : uWS.App();
    } catch {
      throw new Error(`cannot start TLS with cert ${config.tls?.cert} and key ${config.tls?.key}: check that both files exist and hold a matching PEM certificate and key`);
    }
    kernel.outbox.app = app;
    app.ws<SocketData>('/*', {
      // Frames a little over our limit get an ERROR from the kernel; uWS drops the connection only far past it.
      maxPayloadLength: config.maxPayloadBytes + OVERSIZE_HEADROOM,
      // uWS's own limit sits past ours, so our checks can still queue SLOW_CONSUMER and a close frame.
      // Past it uWS closes the socket at once: never a skipped message on a socket left open.
      maxBackpressure: config.slowConsumerBytes * 2 + config.maxPayloadBytes,
      closeOnBackpressureLimit: 1,
      idleTimeout: idleTimeout(config.idleTimeoutSec),
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => kernel.onUpgrade(res, req, context),
      open: (ws) => kernel.onOpen(ws),
      message: (ws, data, isBinary) => kernel.onMessage(ws, data, isBinary),
      close: (ws, code) => kernel.onClose(ws, code),
    });
    // Plain HTTP: the plugins' routes (health, metrics, …), else a one-line hint instead of a hanging socket.
    app.any('/*', (res, req) => kernel.onHttp(res, req));
    // Unidentified sessions cannot be in channels: only identified ones are swept.
    kernel.timers.every(Math.max(10, config.slowConsumerCheckMs), () => kernel.outbox.slowConsumers.sweep(kernel.sessions.byAgent.values()), 'kernel');
    return new Promise<void>((resolve, reject) => {
      listenOn(app, config.host, config.port, sharePort ? LISTEN_DEFAULT : LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${config.host}:${config.port}: the port is in use or the address is not available; choose another --port`));
          return;
        }
        listenSocket = socket;
        port = uWS.us_socket_local_port(socket);
        kernel.hooks.notify('listen', { host: config.host, port, tls: config.tls !== null, native: uwsNative });
        resolve();
      });
    });
  };

  const relay: Relay = {
    get port() {
      return port;
    },
    config,
    native: uwsNative,
    api: pluginApi(kernel, 'embedder', names),
    plugins,

    listen() {
      listening ??= setUp().then(bind);
      return listening;
    },

    close() {
      closed ??= (async () => {
        if (listenSocket) uWS.us_listen_socket_close(listenSocket);
        listenSocket = null;
        kernel.shutDown();
        kernel.timers.clear();
        await kernel.hooks.closeAll(config.shutdownTimeoutMs);
        try {
          await store.close();
        } catch (err) {
          logger.error('store_close', { error: err instanceof Error ? err.message : String(err) });
        }
        // Let uWS flush the close frames before the caller tears the process down.
        await new Promise<void>((resolve) => setImmediate(resolve));
      })();
      return closed;
    },
  };
  return relay;
}

/** Unique names, and every dependency loaded earlier in the list. */
function checkPlugins(plugins: readonly AnyPlugin[]): void {
  if (!Array.isArray(plugins)) throw new TypeError('createRelayKernel needs `plugins`: an array of { name, setup(relay, options) }');
  const seen = new Set<string>();
  for (const plugin of plugins) {
    if (typeof plugin?.name !== 'string' || plugin.name === '' || typeof plugin.setup !== 'function') {
      throw new TypeError(`not a plugin: ${JSON.stringify(plugin?.name ?? plugin)}; a plugin is { name, setup(relay, options) }`);
    }
    if (seen.has(plugin.name)) throw new Error(`two plugins are named "${plugin.name}"; plugin names must be unique`);
    for (const needed of plugin.dependencies ?? []) {
      if (!seen.has(needed)) {
        const later = plugins.some((p) => p.name === needed);
        throw new Error(`plugin "${plugin.name}" needs plugin "${needed}" ${later ? 'to come before it in the list' : 'loaded before it, and it is not loaded'}`);
      }
    }
    seen.add(plugin.name);
  }
}

/** Bytes past maxPayloadBytes that uWS still reads, so the client gets an ERROR instead of a dropped socket. */
const OVERSIZE_HEADROOM = 1024 * 1024;

/** uWS wants 0 (off) or at least 8 seconds, in multiples of 4. */
function idleTimeout(seconds: number): number {
  if (seconds <= 0) return 0;
  return Math.max(8, Math.round(seconds / 4) * 4);
}

function registerKernelTypes(kernel: Kernel): void {
  const { membership, outbox, dispatch } = kernel;
  dispatch.register('JOIN', {
    schema: Join,
    rateClass: 'join',
    handle: (s, m) => membership.join(s as SessionState, m.channel, m.since === undefined && m.history === undefined ? undefined : { since: m.since, history: m.history }),
  }, 'kernel');
  dispatch.register('LEAVE', { schema: Leave, rateClass: 'join', handle: (s, m) => membership.leave(s as SessionState, m.channel) }, 'kernel');
  const { maxContentChars: max, maxContentBytes: bytes } = kernel.config;
  dispatch.register('MSG', { schema: msgSchema(max, bytes), check: msgCheck(max, bytes), rateClass: 'msg', handle: (s, m) => membership.route(s as SessionState, m) }, 'kernel');
  dispatch.register('PING', { schema: Ping, beforeIdentify: true, handle: (s) => void outbox.send(s as SessionState, { type: 'PONG' }) }, 'kernel');
}

/** The facade a plugin gets: the kernel's operations, attributed to the plugin for logs. */
function pluginApi(kernel: Kernel, plugin: string, plugins: readonly string[]): RelayApi {
  const state = (s: Session) => s as SessionState;
  const { membership, outbox } = kernel;
  return {
    config: kernel.config,
    logger: kernel.logger,
    sessions: kernel.sessions,
    channels: kernel.channels,
    stats: kernel.stats,
    store: kernel.store,
    plugins,
    handle: (type, spec) => kernel.dispatch.register(type, spec, plugin),
    route: (path, handler) => kernel.route(path, handler, plugin),
    shared: (name, create) => kernel.shared(name, create),
    frameCounts: () => kernel.dispatch.counts(),
    hook: (point, fn) => kernel.hooks.add(point, fn, plugin),
    sessionSlot: (name) => kernel.sessionSlot(name),
    send: (session, frame) => outbox.send(state(session), frame),
    sendRaw: (session, text) => outbox.sendRaw(state(session), text),
    publish: (channel, frame) => {
      const target = kernel.channels.get(channel);
      if (target === undefined) return;
      // In a cluster a plugin's frame reaches the channel's members on every relay, like a MSG.
      if (membership.cluster !== null) membership.cluster.publishFrame(target, frame, null);
      else membership.publish(target, frame);
    },
    error: (session, code, message, extras) => outbox.sendError(state(session), code, message, extras),
    countRefusal: (reason) => kernel.countRefusal(reason),
    admit: (session, identity) => membership.admit(state(session), identity),
    join: (session, channel, options) => membership.join(state(session), channel, options),
    leave: (session, channel) => membership.leave(state(session), channel),
    disconnect: (session, code, reason) => outbox.disconnect(state(session), code, reason),
    get cluster() {
      return membership.cluster;
    },
    useCluster: (link) => {
      if (membership.cluster !== null) throw new Error(`plugin "${plugin}" installs a cluster link, but the relay has one already`);
      membership.cluster = link;
    },
    deliverChannel: (channel, text, msgId) => membership.deliverChannel(channel, text, msgId),
    deliverFrame: (channel, text, except) => membership.deliverFrame(channel, text, except),
    deliverDirect: (agentId, text) => membership.deliverDirect(agentId, text),
    sendTo: async (agentId, frame) => {
      const here = kernel.sessions.byAgent.get(agentId);
      if (here !== undefined) return outbox.send(here, frame);
      if (membership.cluster === null) return false;
      return membership.cluster.forward(agentId, JSON.stringify({ ...frame, ts: Date.now() }));
    },
    every: (ms, fn) => kernel.timers.every(ms, fn, plugin),
    after: (ms, fn) => kernel.timers.after(ms, fn, plugin),
  };
}
