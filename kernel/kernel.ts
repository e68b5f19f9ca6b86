/**
 * The kernel: sockets, framing, validation, dispatch, rate limits, backpressure,
 * membership and routing. It knows nothing about keys, invites, proposals or
 * logs; plugins bring those through the API in types.ts.
 */
import type { Struct } from 'superstruct';
import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import { ErrorCode, type ErrorCode as ErrorCodeName } from '../protocol/errors.js';
import type { ErrorFrame, MsgFrame } from '../protocol/messages.js';
import { AGENT_ID, AGENT_NAME } from '../protocol/names.js';
import { NAME_STRUCTS } from '../protocol/schemas.js';
import { Channels, type ChannelState } from './channels.js';
import type { RelayConfig } from './config.js';
import { decodeFrame } from './frame.js';
import { HookRegistry, internalError } from './hooks.js';
import { take } from './rate-limit.js';
import { Sessions, SessionState, type SocketData } from './session.js';
import { SlowConsumerWatch } from './slow-consumers.js';
import {
  RelayError,
  type ErrorExtras,
  type HookMap,
  type HookName,
  type Identity,
  type InboundMsg,
  type Logger,
  type MessageTypeSpec,
  type RelayStats,
  type Session,
} from './types.js';

interface Registered {
  type: string;
  plugin: string;
  schema: Struct<unknown, unknown>;
  check: ((frame: Record<string, unknown>) => boolean) | undefined;
  handle: (session: Session, msg: unknown) => void;
  beforeIdentify: boolean;
  msgClass: boolean;
}

type OutFrame = { type: string; [field: string]: unknown };

/** uWS has already rejected text frames that are not valid UTF-8. */
const utf8 = new TextDecoder();

export class Kernel {
  readonly sessions = new Sessions();
  readonly channels: Channels;
  readonly hooks: HookRegistry;
  readonly stats = {
    connections: 0,
    messagesRouted: 0,
    rateLimited: 0,
    slowConsumers: 0,
    floodCloses: 0,
    pluginErrors: 0,
  } satisfies RelayStats;
  private readonly types = new Map<string, Registered>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private nextSessionId = 1;
  readonly slowConsumers: SlowConsumerWatch;
  /** Set when shutting down: sessions close without telling the others. */
  closing = false;
  app: TemplatedApp | null = null;

  constructor(
    readonly config: RelayConfig,
    readonly logger: Logger,
  ) {
    this.hooks = new HookRegistry((plugin, where, err) => this.pluginFailed(plugin, where, err));
    this.slowConsumers = new SlowConsumerWatch(config, (session) => this.slowConsumer(session));
    this.channels = new Channels(config.maxChannels, {
      created: (channel, by) => this.hooks.notify('channelCreated', channel, by),
      deleted: (channel) => this.hooks.notify('channelDeleted', channel),
    });
  }

  pluginFailed(plugin: string, where: string, err: unknown): void {
    this.stats.pluginErrors++;
    this.logger.error('plugin_error', { plugin, where, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }

  // ---- registration ---------------------------------------------------------

  register<T>(type: string, spec: MessageTypeSpec<T>, plugin: string): void {
    if (this.types.has(type)) {
      throw new Error(`message type ${type} is already owned by plugin ${this.types.get(type)!.plugin}; ${plugin} cannot own it too`);
    }
    this.types.set(type, {
      type,
      plugin,
      schema: spec.schema as Struct<unknown, unknown>,
      check: spec.check,
      handle: spec.handle as (session: Session, msg: unknown) => void,
      beforeIdentify: spec.beforeIdentify === true,
      msgClass: spec.rateClass === 'msg',
    });
  }

  hook<K extends HookName>(point: K, fn: HookMap[K], plugin: string): void {
    this.hooks.add(point, fn, plugin);
  }

  every(ms: number, fn: () => void, plugin: string): void {
    const timer = setInterval(() => this.runTimer(fn, plugin), ms);
    timer.unref();
    this.timers.add(timer);
  }

  after(ms: number, fn: () => void, plugin: string): () => void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.runTimer(fn, plugin);
    }, ms);
    timer.unref();
    this.timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
  }

  /** A plugin's timer that throws is logged, never fatal. */
  private runTimer(fn: () => void, plugin: string): void {
    try {
      fn();
    } catch (err) {
      this.pluginFailed(plugin, 'timer', err);
    }
  }

  clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  // ---- socket lifecycle -----------------------------------------------------

  onOpen(ws: WebSocket<SocketData>): void {
    const now = Date.now();
    const address = Buffer.from(ws.getRemoteAddressAsText()).toString();
    const session = new SessionState(this.nextSessionId++, ws, address, now, this.config);
    ws.getUserData().session = session;
    this.sessions.unidentified.add(session);
    this.stats.connections++;
    if (this.closing) {
      ws.end(1001, 'relay shutting down');
      return;
    }
    if (this.sessions.size > this.config.maxSessions) {
      this.sendError(session, ErrorCode.LIMIT_EXCEEDED, `this relay is at its limit of ${this.config.maxSessions} sessions; try again later`);
      this.disconnect(session, 1013, 'too many sessions');
      return;
    }
    const refusal = this.hooks.refuse('connect', session);
    if (refusal) {
      this.sendError(session, refusal.code, refusal.message, refusal.extras);
      this.disconnect(session, 1008, refusal.code);
    }
  }

  onClose(ws: WebSocket<SocketData>, code: number): void {
    const session = ws.getUserData().session;
    if (!session || !session.open) return;
    session.open = false;
    for (const name of session.channels) {
      const channel = this.channels.get(name);
      if (channel) this.removeMember(session, channel, 'disconnect');
    }
    session.channels.clear();
    this.slowConsumers.membershipChanged(session);
    if (session.agentId !== null && this.sessions.byAgent.get(session.agentId) === session) {
      this.sessions.byAgent.delete(session.agentId);
    }
    this.sessions.unidentified.delete(session);
    this.hooks.notify('disconnect', session, code);
  }

  onMessage(ws: WebSocket<SocketData>, data: ArrayBuffer, isBinary: boolean): void {
    const session = ws.getUserData().session;
    if (session === undefined || !session.open) return;
    try {
      this.handleFrame(session, data, isBinary);
    } catch (err) {
      // Nothing a client sends may take the relay down: a bug here is logged and answered.
      this.pluginFailed('kernel', 'frame', err);
      const answer = internalError();
      this.refuse(session, answer.code, answer.message);
    }
  }

  private handleFrame(session: SessionState, data: ArrayBuffer, isBinary: boolean): void {
    if (isBinary) {
      this.refuse(session, ErrorCode.INVALID_MSG, 'binary frames are not accepted; send one JSON object per text frame');
      return;
    }
    if (data.byteLength > this.config.maxPayloadBytes) {
      this.refuse(session, ErrorCode.INVALID_MSG, `frame is ${data.byteLength} bytes; the limit is ${this.config.maxPayloadBytes}`);
      return;
    }
    const frame = decodeFrame(utf8.decode(data));
    if (typeof frame === 'string') {
      this.refuse(session, ErrorCode.INVALID_MSG, frame);
      return;
    }
    const type = frame.type;
    const spec = this.types.get(type);
    if (spec === undefined) {
      this.refuse(session, ErrorCode.INVALID_MSG, `unknown message type ${JSON.stringify(type.slice(0, 40))}`, { ref: type.slice(0, 40) });
      return;
    }
    if (session.agentId === null && !spec.beforeIdentify) {
      this.refuse(session, ErrorCode.AUTH_REQUIRED, `send IDENTIFY before ${type}`, { ref: type });
      return;
    }
    const now = Date.now();
    const wait = take(session, spec.msgClass, this.config.rateMsg, this.config.rateOther, now);
    if (wait > 0) {
      this.stats.rateLimited++;
      this.refuse(session, ErrorCode.RATE_LIMITED, `rate limit exceeded; retry after ${wait} ms`, { ref: type, retry_after_ms: wait });
      return;
    }
    if (spec.check === undefined || !spec.check(frame)) {
      const failure = validationFailure(spec.schema, frame);
      if (failure !== null) {
        this.refuse(session, failure.code, failure.message, { ref: type });
        return;
      }
    }
    try {
      spec.handle(session, frame);
    } catch (err) {
      if (err instanceof RelayError) {
        this.refuse(session, err.code, err.message, err.extras.ref === undefined ? { ...err.extras, ref: type } : err.extras);
      } else {
        this.pluginFailed(spec.plugin, type, err);
        const answer = internalError();
        this.refuse(session, answer.code, answer.message, { ref: type });
      }
    }
  }

  // ---- sending --------------------------------------------------------------

  /** Send serialized text; detects slow consumers on the way. */
  sendRaw(session: SessionState, text: string): boolean {
    if (!session.open) return false;
    const status = session.ws.send(text, false);
    // 1: written, 0: queued behind backpressure, 2: dropped past uWS's hard limit.
    if (status !== 1 && (status === 2 || this.slowConsumers.isSlow(session))) {
      this.slowConsumer(session);
      return status !== 2;
    }
    return true;
  }

  send(session: SessionState, frame: OutFrame): boolean {
    if (!session.open) return false;
    return this.sendRaw(session, JSON.stringify({ ...frame, ts: Date.now() }));
  }

  publish(channel: string, frame: OutFrame): void {
    const state = this.channels.get(channel);
    if (state !== undefined) this.publishText(state, JSON.stringify({ ...frame, ts: Date.now() }));
  }

  /** Every fan-out goes through here: one native publish, and the counted slow-consumer checks. */
  publishText(channel: ChannelState, text: string): void {
    if (this.app === null) return;
    this.app.publish(channel.name, text, false);
    this.slowConsumers.published(channel);
  }

  /** Send an ERROR (no flood accounting: for errors the relay raises on its own). */
  sendError(session: SessionState, code: ErrorCodeName, message: string, extras?: ErrorExtras): void {
    this.writeError(session, { type: 'ERROR', code, message, ...extras, ts: Date.now() }, false);
  }

  /** Every ERROR goes out here and is shown to the `refused` hooks; `direct` skips the slow-consumer check. */
  private writeError(session: SessionState, frame: ErrorFrame, direct: boolean): void {
    if (!session.open) return;
    const text = JSON.stringify(frame);
    if (direct) session.ws.send(text, false);
    else this.sendRaw(session, text);
    this.hooks.notify('refused', session, frame);
  }

  /** Answer a refused frame; a client that keeps getting refused is flooding and is closed. */
  refuse(session: SessionState, code: ErrorCodeName, message: string, extras?: ErrorExtras): void {
    this.sendError(session, code, message, extras);
    const now = Date.now();
    let flood = session.flood;
    if (flood === null || now - flood.since > this.config.floodWindowMs) session.flood = flood = { refusals: 0, since: now };
    if (++flood.refusals > this.config.floodMaxRefusals && session.open) {
      this.stats.floodCloses++;
      this.sendError(session, ErrorCode.RATE_LIMITED,
        `closing: more than ${this.config.floodMaxRefusals} refused frames in ${this.config.floodWindowMs / 1000} s; slow down and reconnect`);
      this.disconnect(session, 1008, 'flooding');
    }
  }

  /** Queue SLOW_CONSUMER behind what the client has not read yet, then close it. */
  slowConsumer(session: SessionState): void {
    if (!session.open || session.slow) return;
    session.slow = true;
    this.stats.slowConsumers++;
    const message = `closing: more than ${this.config.slowConsumerBytes} bytes were waiting for this client; read faster or join fewer channels`;
    // Written directly: sendRaw would find the same slow consumer again.
    this.writeError(session, { type: 'ERROR', code: ErrorCode.SLOW_CONSUMER, message, ts: Date.now() }, true);
    this.disconnect(session, 1008, 'slow consumer');
  }

  disconnect(session: SessionState, code: number, reason: string): void {
    if (!session.open) return;
    session.ws.end(code, reason);
    // uWS skips the close frame of a socket past its backpressure limit; then the socket must go at once.
    if (session.open) session.ws.close();
  }

  // ---- identity -------------------------------------------------------------

  admit(session: SessionState, identity: Identity): void {
    if (!session.open) return;
    if (session.agentId !== null) throw new RelayError(ErrorCode.INVALID_MSG, `already identified as ${session.agentId}`);
    if (!AGENT_ID.test(identity.agentId) || !AGENT_NAME.test(identity.name)) {
      throw new Error(`admit: invalid identity ${JSON.stringify({ agentId: identity.agentId, name: identity.name })}`);
    }
    if (this.sessions.byAgent.has(identity.agentId)) {
      throw new RelayError(ErrorCode.INVALID_MSG, `identity ${identity.agentId} is already connected in another session; close that one first`);
    }
    const refusal = this.hooks.refuse('identify', session, identity);
    if (refusal) throw refusal;
    session.agentId = identity.agentId;
    session.name = identity.name;
    session.pubkey = identity.pubkey;
    session.key = identity.key;
    session.verified = identity.verified;
    this.sessions.unidentified.delete(session);
    this.sessions.byAgent.set(identity.agentId, session);
    const welcome: OutFrame = { type: 'WELCOME', agent_id: identity.agentId, server: this.config.serverName, name: identity.name };
    if (identity.pubkey !== null) welcome.verified = identity.verified;
    this.send(session, welcome);
    this.hooks.notify('identified', session);
  }

  // ---- membership -----------------------------------------------------------

  join(session: SessionState, name: string): void {
    // A plugin may call this for a session that closed meanwhile (after a timer, say).
    if (!session.open) return;
    const channel = this.channels.get(name);
    if (channel === undefined) throw new RelayError(ErrorCode.CHANNEL_NOT_FOUND, `channel ${name} does not exist; LIST_CHANNELS shows the public ones`);
    const agentId = session.agentId!;
    if (session.channels.has(name)) {
      this.send(session, { type: 'JOINED', channel: name, agents: [...channel.members.keys()] });
      return;
    }
    if (session.channels.size >= this.config.maxChannelsPerAgent) {
      throw new RelayError(ErrorCode.LIMIT_EXCEEDED, `you are in ${session.channels.size} channels, the limit; LEAVE one first`);
    }
    const refusal = this.hooks.refuse('join', session, channel);
    if (refusal) throw refusal;
    // Told before subscribing, so the joiner is not among the receivers.
    this.publish(name, { type: 'AGENT_JOINED', channel: name, agent: agentId, name: session.name });
    channel.members.set(agentId, session);
    channel.emptySince = null;
    session.channels.add(name);
    this.slowConsumers.membershipChanged(session);
    session.ws.subscribe(name);
    this.send(session, { type: 'JOINED', channel: name, agents: [...channel.members.keys()] });
    this.hooks.notify('joined', session, channel);
  }

  leave(session: SessionState, name: string): void {
    if (!session.open) return;
    const channel = this.channels.get(name);
    if (channel === undefined) throw new RelayError(ErrorCode.CHANNEL_NOT_FOUND, `channel ${name} does not exist`);
    if (!session.channels.has(name)) throw new RelayError(ErrorCode.NOT_INVITED, `you are not a member of ${name}`);
    session.channels.delete(name);
    this.slowConsumers.membershipChanged(session);
    session.ws.unsubscribe(name);
    this.send(session, { type: 'LEFT', channel: name });
    this.removeMember(session, channel, 'leave');
  }

  private removeMember(session: SessionState, channel: ChannelState, cause: 'leave' | 'disconnect'): void {
    const agentId = session.agentId;
    if (agentId === null || channel.members.get(agentId) !== session) return;
    channel.members.delete(agentId);
    if (channel.members.size === 0) channel.emptySince = Date.now();
    else if (!this.closing) this.publish(channel.name, { type: 'AGENT_LEFT', channel: channel.name, agent: agentId, name: session.name });
    this.hooks.notify('leave', session, channel, cause);
  }

  // ---- routing --------------------------------------------------------------

  /** Route a validated MSG: channel fan-out through uWS pub/sub, DMs through the agent-id index. */
  route(session: SessionState, msg: InboundMsg): void {
    const to = msg.to;
    let target: SessionState | undefined;
    if (to.charCodeAt(0) === 35 /* # */) {
      if (!session.channels.has(to)) {
        if (this.channels.get(to) === undefined) throw new RelayError(ErrorCode.CHANNEL_NOT_FOUND, `channel ${to} does not exist`);
        throw new RelayError(ErrorCode.NOT_INVITED, `you are not a member of ${to}; JOIN it first`);
      }
    } else {
      target = this.sessions.byAgent.get(to);
      if (target === undefined) throw new RelayError(ErrorCode.AGENT_NOT_FOUND, `agent ${to} is not connected`);
    }
    const refusal = this.hooks.refuse('message', session, msg);
    if (refusal) throw refusal;
    const frame: MsgFrame =
      msg.sig === undefined
        ? { type: 'MSG', from: session.agentId!, to, content: msg.content, ts: Date.now() }
        : { type: 'MSG', from: session.agentId!, to, content: msg.content, ts: Date.now(), sig: msg.sig, sig_ts: msg.ts };
    const text = JSON.stringify(frame);
    if (target === undefined) {
      this.publishText(this.channels.get(to)!, text);
    } else {
      this.sendRaw(target, text);
      if (target !== session) this.sendRaw(session, text);
    }
    this.stats.messagesRouted++;
    this.hooks.notify('delivered', session, frame, text);
  }
}

/** The first schema failure, phrased for the client, or null when the frame is valid. */
function validationFailure(schema: Struct<unknown, unknown>, frame: unknown): { code: ErrorCodeName; message: string } | null {
  if (schema.is(frame)) return null;
  const [error] = schema.validate(frame);
  const failure = error?.failures()[0];
  if (!failure) return { code: ErrorCode.INVALID_MSG, message: 'frame does not match its schema' };
  const field = failure.path.join('.') || failure.key || 'frame';
  const code = NAME_STRUCTS.has(failure.type) ? ErrorCode.INVALID_NAME : ErrorCode.INVALID_MSG;
  if (failure.value === undefined) return { code: ErrorCode.INVALID_MSG, message: `missing field "${field}"` };
  // Our own structs phrase their message as a predicate ("must be ..."); superstruct's start with "Expected".
  const detail = failure.message.length > 200 ? failure.message.slice(0, 200) + '…' : failure.message;
  return { code, message: detail.startsWith('Expected') ? `invalid field "${field}": ${detail}` : `"${field}" ${detail}` };
}
