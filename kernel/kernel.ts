/**
 * The kernel: its parts composed (dispatch, outbox, membership and routing, timers),
 * the socket lifecycle (upgrade, open, close) and the counters. It knows nothing
 * about keys, invites, proposals or logs; plugins bring those through types.ts.
 */
import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import { CloseCode, ErrorCode } from '../protocol/errors.js';
import type { Store } from '../store/types.js';
import { Channels } from './channels.js';
import type { RelayConfig } from './config.js';
import { Dispatcher } from './dispatch.js';
import { HookRegistry, isPromise, withTimeout } from './hooks.js';
import { Membership } from './membership.js';
import { Outbox } from './outbox.js';
import { Sessions, SessionState, type SocketData } from './session.js';
import { Timers } from './timers.js';
import { RelayError, type HttpAnswer, type HttpRoute, type Logger, type RelayStats, type Session, type SessionSlot, type UpgradeRequest } from './types.js';

/** Stack traces logged per flood window relay-wide; the rest are counted in one line. */
const PLUGIN_ERRORS_LOGGED_PER_WINDOW = 20;

export class Kernel {
  readonly sessions = new Sessions();
  readonly channels: Channels;
  readonly hooks: HookRegistry;
  readonly timers: Timers;
  readonly outbox: Outbox;
  readonly membership: Membership;
  readonly dispatch: Dispatcher;
  readonly stats = {
    connections: 0,
    messagesRouted: 0,
    rateLimited: 0,
    slowConsumers: 0,
    floodCloses: 0,
    pluginErrors: 0,
    hookTimeouts: 0,
    upgradesRefused: 0,
    messagesDelivered: 0,
    refusals: Object.create(null) as Record<string, number>,
  } satisfies RelayStats;
  readonly routes = new Map<string, { plugin: string; handler: HttpRoute }>();
  private readonly sharedValues = new Map<string, unknown>();

  shared<T>(name: string, create: () => T): T {
    if (!this.sharedValues.has(name)) this.sharedValues.set(name, create());
    return this.sharedValues.get(name) as T;
  }
  private readonly slots = new Map<string, WeakMap<Session, unknown>>();
  /** Plugin errors logged in the current window, relay-wide. */
  private errorLog = { since: 0, logged: 0, suppressed: 0 };
  private nextSessionId = 1;
  /** Set when shutting down: new sockets are refused, sessions close without telling the others. */
  private closing = false;

  constructor(
    readonly config: RelayConfig,
    readonly logger: Logger,
    readonly store: Store,
  ) {
    const pluginFailed = (plugin: string, where: string, err: unknown) => this.pluginFailed(plugin, where, err);
    this.hooks = new HookRegistry({
      timeoutMs: config.hookTimeoutMs,
      onFailure: pluginFailed,
      onTimeout: (plugin, point) => {
        this.stats.hookTimeouts++;
        this.logger.warn('hook_timeout', { plugin, point, timeout_ms: config.hookTimeoutMs });
      },
    });
    this.timers = new Timers(pluginFailed);
    this.outbox = new Outbox(config, this.hooks, this.stats);
    this.channels = new Channels(config.maxChannels, {
      created: (channel, by) => this.hooks.notify('channelCreated', channel, by),
      deleted: (channel) => this.hooks.notify('channelDeleted', channel),
    });
    this.membership = new Membership(config, this.sessions, this.channels, this.hooks, this.outbox, this.stats);
    this.dispatch = new Dispatcher(config, this.hooks, this.outbox, this.stats, pluginFailed);
  }

  pluginFailed(plugin: string, where: string, err: unknown): void {
    this.stats.pluginErrors++;
    // A client that can trigger a bug must not fill the disk: a few stack traces a window, then a count.
    const now = Date.now();
    if (now - this.errorLog.since > this.config.floodWindowMs) {
      if (this.errorLog.suppressed > 0) this.logger.error('plugin_errors_not_logged', { count: this.errorLog.suppressed, window_ms: this.config.floodWindowMs });
      this.errorLog = { since: now, logged: 0, suppressed: 0 };
    }
    if (this.errorLog.logged >= PLUGIN_ERRORS_LOGGED_PER_WINDOW) {
      this.errorLog.suppressed++;
      return;
    }
    this.errorLog.logged++;
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    this.logger.error('plugin_error', { plugin, where, error: error.length > 2000 ? error.slice(0, 2000) + '…' : error });
  }

  countRefusal(reason: string): void {
    this.stats.refusals[reason] = (this.stats.refusals[reason] ?? 0) + 1;
  }

  sessionSlot<T>(name: string): SessionSlot<T> {
    // One WeakMap per slot name, shared by every plugin that asks for it. An idle session holds a
    // value in one or two slots: a WeakMap entry (~32 B) costs less than an array of every slot
    // per session (~115 B, seen in a heap diff of 2,000 idle sessions), and dies with the session.
    let values = this.slots.get(name) as WeakMap<Session, T> | undefined;
    if (values === undefined) this.slots.set(name, (values = new WeakMap<Session, T>()));
    const map = values;
    return {
      get: (session) => map.get(session),
      set: (session, value) => void map.set(session, value),
      delete: (session) => void map.delete(session),
    };
  }

  // ---- HTTP on the relay's port --------------------------------------------------

  route(path: string, handler: HttpRoute, plugin: string): void {
    const owner = this.routes.get(path);
    if (owner) throw new Error(`HTTP path ${path} is already answered by plugin ${owner.plugin}; ${plugin} cannot answer it too`);
    this.routes.set(path, { plugin, handler });
  }

  /** A plain HTTP request: a plugin's route, or a hint that this is a WebSocket relay. */
  onHttp(res: HttpResponse, req: HttpRequest): void {
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const route = method === 'GET' || method === 'HEAD' ? this.routes.get(path) : undefined;
    if (route === undefined) {
      res.writeStatus('426 Upgrade Required').end('agentchat relay: connect with a WebSocket client\n');
      return;
    }
    const request = { method, path, query: req.getQuery() ?? '', headers: headersOf(req), remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString() };
    let answer: HttpAnswer | Promise<HttpAnswer>;
    try {
      answer = route.handler(request);
    } catch (err) {
      this.pluginFailed(route.plugin, `GET ${path}`, err);
      answer = { status: 500, body: 'internal error\n' };
    }
    if (!isPromise(answer)) {
      writeHttp(res, answer, method === 'HEAD');
      return;
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const late = (): HttpAnswer => ({ status: 503, body: `the relay's ${route.plugin} did not answer in time\n` });
    void withTimeout(answer, this.config.hookTimeoutMs, late).then((a) => a, (err: unknown) => {
      this.pluginFailed(route.plugin, `GET ${path}`, err);
      return { status: 500, body: 'internal error\n' };
    }).then((a) => {
      if (!aborted) res.cork(() => writeHttp(res, a, method === 'HEAD'));
    });
  }

  // ---- socket lifecycle -----------------------------------------------------

  /** The HTTP upgrade: `upgrade` hooks decide before any session exists. */
  onUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString();
    // Full: refused before any hook or socket, so a flood of upgrades costs one HTTP answer each.
    if (this.sessions.size >= this.config.maxSessions || this.closing) {
      this.refuseUpgrade(res, new RelayError(ErrorCode.UNAVAILABLE, this.closing ? 'relay shutting down'
        : `this relay is at its limit of ${this.config.maxSessions} sessions; try again later`, { reason: 'max_sessions' }));
      return;
    }
    if (!this.hooks.has('upgrade')) {
      res.upgrade<SocketData>({ session: undefined, remoteAddress }, key, protocol, extensions, context);
      return;
    }
    const query = req.getQuery();
    const request: UpgradeRequest = { remoteAddress, clientAddress: remoteAddress, headers: headersOf(req), url: req.getUrl() + (query ? `?${query}` : '') };
    const answer = (refusal: RelayError | null) => {
      if (refusal === null) res.upgrade<SocketData>({ session: undefined, remoteAddress: String(request.clientAddress) }, key, protocol, extensions, context);
      else this.refuseUpgrade(res, refusal);
    };
    const decision = this.hooks.refuse('upgrade', request);
    if (decision === null || decision instanceof RelayError) {
      answer(decision);
      return;
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    void decision.then((refusal) => {
      if (!aborted) res.cork(() => answer(this.closing ? new RelayError(ErrorCode.UNAVAILABLE, 'relay shutting down') : refusal));
    });
  }

  private refuseUpgrade(res: HttpResponse, refusal: RelayError): void {
    this.stats.upgradesRefused++;
    this.countRefusal(typeof refusal.extras.reason === 'string' ? refusal.extras.reason : refusal.code);
    const status = refusal.extras.status ?? httpStatusFor(refusal.code);
    res.writeStatus(`${status} ${HTTP_REASONS[status] ?? 'Refused'}`).writeHeader('content-type', 'text/plain; charset=utf-8');
    const retry = refusal.extras.retry_after_ms;
    if (typeof retry === 'number') res.writeHeader('retry-after', String(Math.max(1, Math.ceil(retry / 1000))));
    res.end(`${refusal.code}: ${refusal.message}\n`);
  }

  onOpen(ws: WebSocket<SocketData>): void {
    const now = Date.now();
    const data = ws.getUserData();
    const session = new SessionState(this.nextSessionId++, ws, data.remoteAddress, now, this.config);
    data.session = session;
    this.sessions.unidentified.add(session);
    this.stats.connections++;
    if (this.closing) {
      ws.end(CloseCode.GOING_AWAY, 'relay shutting down');
      return;
    }
    if (this.sessions.size > this.config.maxSessions) {
      this.outbox.sendError(session, ErrorCode.LIMIT_EXCEEDED, `this relay is at its limit of ${this.config.maxSessions} sessions; try again later`);
      this.outbox.disconnect(session, CloseCode.TRY_AGAIN_LATER, 'too many sessions');
      return;
    }
    const decision = this.hooks.refuse('connect', session);
    if (decision === null) return;
    if (decision instanceof RelayError) this.refuseConnect(session, decision);
    else this.dispatch.hold(session, decision.then((refusal) => refusal && this.refuseConnect(session, refusal)));
  }

  private refuseConnect(session: SessionState, refusal: RelayError): void {
    this.outbox.sendError(session, refusal.code, refusal.message, refusal.extras);
    this.outbox.disconnect(session, CloseCode.POLICY, refusal.code);
  }

  onMessage(ws: WebSocket<SocketData>, data: ArrayBuffer, isBinary: boolean): void {
    const session = ws.getUserData().session;
    if (session !== undefined && session.open) this.dispatch.onMessage(session, data, isBinary);
  }

  onClose(ws: WebSocket<SocketData>, code: number): void {
    const session = ws.getUserData().session;
    if (!session || !session.open) return;
    session.open = false;
    session.held = null;
    this.membership.dropSession(session);
    this.hooks.notify('disconnect', session, code);
  }

  /** Stop taking sockets and close every session (1001) without telling the others. */
  shutDown(): void {
    this.closing = true;
    this.membership.closing = true;
    this.membership.presence.stop();
    this.outbox.coalescer?.stop();
    for (const session of [...this.sessions.values()]) this.outbox.disconnect(session, CloseCode.GOING_AWAY, 'relay shutting down');
  }
}

/**
 * Request headers by lower-case name, copied (uWS's request is valid only during its
 * callback) into an object with no prototype, since the names are the client's.
 */
function headersOf(req: HttpRequest): Record<string, string> {
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  req.forEach((name, value) => {
    headers[name] = value;
  });
  return headers;
}

function writeHttp(res: HttpResponse, answer: HttpAnswer, head: boolean): void {
  res.writeStatus(`${answer.status} ${HTTP_REASONS[answer.status] ?? ''}`.trim());
  for (const [name, value] of Object.entries(answer.headers ?? {})) res.writeHeader(name, value);
  res.end(head ? '' : answer.body);
}

/** An upgrade refusal's default HTTP status, by code. */
function httpStatusFor(code: string): number {
  switch (code) {
    case ErrorCode.AUTH_REQUIRED:
    case ErrorCode.VERIFY_FAILED:
      return 401;
    case ErrorCode.RATE_LIMITED:
    case ErrorCode.LIMIT_EXCEEDED:
      return 429;
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.INTERNAL_ERROR:
      return 503;
    default:
      return 403;
  }
}

const HTTP_REASONS: Record<number, string> = {
  200: 'OK', 500: 'Internal Server Error',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable',
};
