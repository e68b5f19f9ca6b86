/**
 * createRelay: wires the kernel to a uWS app, registers the kernel's own message
 * types (JOIN, LEAVE, MSG, PING) and sets up the plugins.
 */
import type { us_listen_socket } from 'uWebSockets.js';
import { CloseCode } from '../protocol/errors.js';
import { Join, Leave, msgCheck, msgSchema, Ping } from '../protocol/schemas.js';
import { resolveConfig, type RelayConfig } from './config.js';
import { Kernel } from './kernel.js';
import { createLogger, stderrSink, type LogSink } from './logger.js';
import type { SessionState, SocketData } from './session.js';
import type { Plugin, RelayApi, Session } from './types.js';
import { uWS, uwsNative, UWS_FALLBACK_WARNING } from './uws.js';

export interface RelayOptions extends Partial<RelayConfig> {
  /** Plugins in order. Default: the core plugins (see plugins/index.ts). */
  plugins?: Plugin[];
  /** Where JSON log lines go: default stderr; false silences them. */
  log?: LogSink | false;
}

export interface Relay {
  /** Start listening; resolves once the port is bound. */
  listen(): Promise<void>;
  /** Stop accepting, close every session with 1001, run close hooks. */
  close(): Promise<void>;
  /** The bound port (the real one when config.port was 0). */
  readonly port: number;
  readonly config: Readonly<RelayConfig>;
  /** Whether uWS runs natively (false: the slow JavaScript fallback). */
  readonly native: boolean;
  /** The API plugins get: for tests and embedding. */
  readonly api: RelayApi;
}

export function createRelayWith(defaultPlugins: (config: RelayConfig) => Plugin[], options: RelayOptions = {}): Relay {
  const { plugins, log, ...configOptions } = options;
  const config = resolveConfig(configOptions);
  const logger = createLogger(log === undefined ? stderrSink : log);
  const kernel = new Kernel(config, logger);

  registerKernelTypes(kernel);
  const pluginList = plugins ?? defaultPlugins(config);
  for (const plugin of pluginList) {
    plugin.setup(pluginApi(kernel, plugin.name));
  }

  let listenSocket: us_listen_socket | null = null;
  let port = 0;
  let closed: Promise<void> | null = null;

  const relay: Relay = {
    get port() {
      return port;
    },
    config,
    native: uwsNative,
    api: pluginApi(kernel, 'embedder'),

    listen() {
      if (!uwsNative) {
        process.stderr.write(UWS_FALLBACK_WARNING + '\n');
        logger.warn('uws_fallback', { message: UWS_FALLBACK_WARNING });
      }
      const app = config.tls ? uWS.SSLApp({ cert_file_name: config.tls.cert, key_file_name: config.tls.key }) : uWS.App();
      kernel.app = app;
      app.ws<SocketData>('/*', {
        // Frames a little over our limit get an ERROR from the kernel; uWS drops the connection only far past it.
        maxPayloadLength: config.maxPayloadBytes + OVERSIZE_HEADROOM,
        // uWS's own limit sits past ours, so our checks can still queue SLOW_CONSUMER and a close frame.
        // Past it uWS closes the socket at once: never a skipped message on a socket left open.
        maxBackpressure: config.slowConsumerBytes * 2 + config.maxPayloadBytes,
        closeOnBackpressureLimit: 1,
        idleTimeout: idleTimeout(config.idleTimeoutSec),
        sendPingsAutomatically: true,
        open: (ws) => kernel.onOpen(ws),
        message: (ws, data, isBinary) => kernel.onMessage(ws, data, isBinary),
        close: (ws, code) => kernel.onClose(ws, code),
      });
      // Plain HTTP requests get a one-line hint instead of a hanging socket.
      app.any('/*', (res) => {
        res.writeStatus('426 Upgrade Required').end('agentchat relay: connect with a WebSocket client\n');
      });
      // Unidentified sessions cannot be in channels: only identified ones are swept.
      kernel.every(Math.max(10, config.slowConsumerCheckMs), () => kernel.slowConsumers.sweep(kernel.sessions.byAgent.values()), 'kernel');
      return new Promise<void>((resolve, reject) => {
        app.listen(config.host, config.port, (socket) => {
          if (!socket) {
            reject(new Error(`cannot listen on ${config.host}:${config.port}: the address is in use or not available; choose another --port`));
            return;
          }
          listenSocket = socket;
          port = uWS.us_socket_local_port(socket);
          kernel.hooks.notify('listen', { host: config.host, port, tls: config.tls !== null, native: uwsNative });
          resolve();
        });
      });
    },

    close() {
      if (closed) return closed;
      closed = new Promise<void>((resolve) => {
        kernel.closing = true;
        if (listenSocket) uWS.us_listen_socket_close(listenSocket);
        listenSocket = null;
        for (const session of [...kernel.sessions.values()]) kernel.disconnect(session, CloseCode.GOING_AWAY, 'relay shutting down');
        kernel.clearTimers();
        kernel.hooks.notify('close');
        // Let uWS flush the close frames before the caller tears the process down.
        setImmediate(resolve);
      });
      return closed;
    },
  };
  return relay;
}

/** Bytes past maxPayloadBytes that uWS still reads, so the client gets an ERROR instead of a dropped socket. */
const OVERSIZE_HEADROOM = 1024 * 1024;

/** uWS wants 0 (off) or at least 8 seconds, in multiples of 4. */
function idleTimeout(seconds: number): number {
  if (seconds <= 0) return 0;
  return Math.max(8, Math.round(seconds / 4) * 4);
}

function registerKernelTypes(kernel: Kernel): void {
  kernel.register('JOIN', { schema: Join, handle: (s, m) => kernel.join(s as SessionState, m.channel) }, 'kernel');
  kernel.register('LEAVE', { schema: Leave, handle: (s, m) => kernel.leave(s as SessionState, m.channel) }, 'kernel');
  const max = kernel.config.maxContentChars;
  kernel.register('MSG', { schema: msgSchema(max), check: msgCheck(max), rateClass: 'msg', handle: (s, m) => kernel.route(s as SessionState, m) }, 'kernel');
  kernel.register('PING', { schema: Ping, beforeIdentify: true, handle: (s) => kernel.send(s as SessionState, { type: 'PONG' }) }, 'kernel');
}

/** The facade a plugin gets: the kernel's operations, attributed to the plugin for logs. */
function pluginApi(kernel: Kernel, plugin: string): RelayApi {
  const state = (s: Session) => s as SessionState;
  return {
    config: kernel.config,
    logger: kernel.logger,
    sessions: kernel.sessions,
    channels: kernel.channels,
    stats: kernel.stats,
    handle: (type, spec) => kernel.register(type, spec, plugin),
    hook: (point, fn) => kernel.hook(point, fn, plugin),
    send: (session, frame) => kernel.send(state(session), frame),
    sendRaw: (session, text) => kernel.sendRaw(state(session), text),
    publish: (channel, frame) => kernel.publish(channel, frame),
    error: (session, code, message, extras) => kernel.sendError(state(session), code, message, extras),
    admit: (session, identity) => kernel.admit(state(session), identity),
    join: (session, channel) => kernel.join(state(session), channel),
    leave: (session, channel) => kernel.leave(state(session), channel),
    disconnect: (session, code, reason) => kernel.disconnect(state(session), code, reason),
    every: (ms, fn) => kernel.every(ms, fn, plugin),
    after: (ms, fn) => kernel.after(ms, fn, plugin),
  };
}

