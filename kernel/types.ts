/**
 * The plugin API: what a hoster programs against. A plugin is `{ name, setup(relay) }`;
 * in `setup` it registers message types, hooks lifecycle points and keeps the relay
 * handle for later. Everything here is read-only from a plugin's side except
 * through the methods of `RelayApi`.
 */
import type { KeyObject } from 'node:crypto';
import type { Struct } from 'superstruct';
import type { ErrorCode, ErrorFrame, MsgFrame, ProposalReason } from '../protocol/index.js';
import type { RelayConfig } from './config.js';

/** A connected client, as plugins see it. The kernel owns and mutates it. */
export interface Session {
  /** Connection serial number, unique for the relay's lifetime. */
  readonly id: number;
  /** '@xxxxxxxx' once identified; null before WELCOME. */
  readonly agentId: string | null;
  /** The IDENTIFY name; null before WELCOME. */
  readonly name: string | null;
  /** The session's public key as canonical SPKI PEM, or null for an ephemeral agent. */
  readonly pubkey: string | null;
  /** `pubkey` parsed once at IDENTIFY, for any plugin that verifies this session's signatures. */
  readonly key: KeyObject | null;
  /** True when the session proved possession of `pubkey`. */
  readonly verified: boolean;
  /** Channels this session is a member of. */
  readonly channels: ReadonlySet<string>;
  /** Remote address as text (IPv4 or IPv6). */
  readonly remoteAddress: string;
  /** ms since epoch. */
  readonly connectedAt: number;
  /** False once the socket closed: sending to it is a no-op. */
  readonly open: boolean;
}

/** A channel, as plugins see it. */
export interface Channel {
  readonly name: string;
  /** Joining needs an invitation (enforced by the channels plugin, shown by listing). */
  readonly inviteOnly: boolean;
  /** Exists from start (#general, #agents); never deleted. */
  readonly builtin: boolean;
  /** Agent id of the creator, null for built-in channels. */
  readonly createdBy: string | null;
  readonly createdAt: number;
  /** Members by agent id. */
  readonly members: ReadonlyMap<string, Session>;
  /** ms since epoch when the last member left, null while it has members. */
  readonly emptySince: number | null;
}

/** What a session claims when it is admitted (sent WELCOME). */
export interface Identity {
  agentId: string;
  name: string;
  /** Canonical SPKI PEM, or null for an ephemeral agent. */
  pubkey: string | null;
  /** `pubkey` parsed (null exactly when pubkey is null). */
  key: KeyObject | null;
  verified: boolean;
}

/** A MSG as a client sent it, validated, before routing. */
export interface InboundMsg {
  readonly to: string;
  readonly content: string;
  /** The client's own ts (part of the signed bytes), if it sent one. */
  readonly ts?: number;
  readonly sig?: string;
}

/** Extra fields an ERROR may carry (PROTOCOL.md § Error codes). */
export interface ErrorExtras {
  reason?: ProposalReason;
  retry_after_ms?: number;
  ref?: string;
}

/** Marks RelayErrors across copies of this module (a plugin may import another copy of agentchat than the CLI bundles). */
const RELAY_ERROR = Symbol.for('agentchat.RelayError');

/**
 * A refusal: thrown (or returned) by a hook or handler, it becomes an ERROR to the
 * client and stops whatever was about to happen. Anything else thrown is a bug in
 * the plugin: the client gets a generic ERROR, the relay logs it and goes on.
 */
export class RelayError extends Error {
  readonly code: ErrorCode;
  readonly extras: ErrorExtras;
  constructor(code: ErrorCode, message: string, extras: ErrorExtras = {}) {
    super(message);
    this.name = 'RelayError';
    this.code = code;
    this.extras = extras;
  }
  /** Recognizes RelayErrors from any copy of this class. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RELAY_ERROR] === true;
  }
}
Object.defineProperty(RelayError.prototype, RELAY_ERROR, { value: true });

/** A hook may refuse by throwing or returning a RelayError; anything else it returns is ignored. */
export type HookResult = RelayError | void | undefined;

/**
 * Lifecycle points, called in plugin registration order. The "before" points
 * (connect, identify, join, message) may refuse; the others observe. Hooks on the
 * per-frame path are synchronous: do async work after, never in between.
 */
export interface HookMap {
  /** A socket opened. Refusing sends the ERROR and closes the socket (1008). */
  connect: (session: Session) => HookResult;
  /** About to admit `identity` (before WELCOME). Refusing leaves the session unidentified. */
  identify: (session: Session, identity: Readonly<Identity>) => HookResult;
  /** Admitted: WELCOME was sent. */
  identified: (session: Session) => void;
  /** About to join `channel` (it exists; the session is not yet a member). */
  join: (session: Session, channel: Channel) => HookResult;
  /** Joined: JOINED was sent and the others were told. History replays go here. */
  joined: (session: Session, channel: Channel) => void;
  /** A MSG passed routing checks (target exists, sender may send) and is about to be delivered. */
  message: (session: Session, msg: InboundMsg) => HookResult;
  /** A MSG was delivered; `frame` is what receivers got, `serialized` its exact text. */
  delivered: (session: Session, frame: Readonly<MsgFrame>, serialized: string) => void;
  /** The session left `channel`, by LEAVE or by disconnecting. */
  leave: (session: Session, channel: Channel, cause: 'leave' | 'disconnect') => void;
  /** The socket closed (the session already left its channels). */
  disconnect: (session: Session, code: number) => void;
  /** An ERROR was sent to `session` (refusals, rate limits, slow consumers). */
  refused: (session: Session, error: Readonly<ErrorFrame>) => void;
  /** A channel was created (by a client or a plugin). */
  channelCreated: (channel: Channel, by: Session | null) => void;
  /** A channel was deleted: drop anything kept for it. */
  channelDeleted: (channel: Channel) => void;
  /** The relay is listening. */
  listen: (address: { host: string; port: number; tls: boolean; native: boolean }) => void;
  /** The relay is shutting down; release timers and state. */
  close: () => void;
}
export type HookName = keyof HookMap;

/** Which token bucket a message type draws from (PROTOCOL.md § Rate limits). */
export type RateClass = 'msg' | 'other';

/** A message type a plugin owns. */
export interface MessageTypeSpec<T> {
  /** Validated before `handle` runs; a failure is INVALID_MSG (or INVALID_NAME) naming the field. */
  schema: Struct<T, unknown>;
  /**
   * Optional fast predicate for hot message types: when it returns true the schema is
   * skipped. It must never accept a frame the schema refuses (it may refuse more: the
   * schema then decides).
   */
  check?: (frame: Record<string, unknown>) => boolean;
  /** Runs with the validated message. Throw a RelayError to refuse. */
  handle: (session: Session, msg: T) => void;
  /** Accepted before IDENTIFY completes (default false: AUTH_REQUIRED). */
  beforeIdentify?: boolean;
  /** Token bucket to draw from (default 'other'). */
  rateClass?: RateClass;
}

/** Structured logger: one JSON line per call (the logging plugin decides what is worth a line). */
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

/** Read-only lookups over live sessions. */
export interface SessionTable {
  /** Live sessions, identified or not. */
  readonly size: number;
  /** Identified sessions. */
  readonly identifiedCount: number;
  byAgentId(agentId: string): Session | undefined;
  values(): IterableIterator<Session>;
}

/** Channel lookups plus the operations plugins may perform. */
export interface ChannelTable {
  readonly size: number;
  get(name: string): Channel | undefined;
  values(): IterableIterator<Channel>;
  /** Create a channel; LIMIT_EXCEEDED past maxChannels, CHANNEL_EXISTS if taken. */
  create(name: string, options?: { inviteOnly?: boolean; createdBy?: Session | null; builtin?: boolean }): Channel;
  /** Delete an empty, non-builtin channel; returns false otherwise. */
  delete(name: string): boolean;
}

/** Counters the kernel keeps (for logs, tests and metrics plugins). */
export interface RelayStats {
  readonly connections: number;
  readonly messagesRouted: number;
  readonly rateLimited: number;
  readonly slowConsumers: number;
  readonly floodCloses: number;
  readonly pluginErrors: number;
}

/** The handle a plugin receives in `setup`. */
export interface RelayApi {
  readonly config: Readonly<RelayConfig>;
  readonly logger: Logger;
  readonly sessions: SessionTable;
  readonly channels: ChannelTable;
  readonly stats: RelayStats;
  /** Own a message type: schema-validated, rate-limited, auth-checked, then `spec.handle`. */
  handle<T>(type: string, spec: MessageTypeSpec<T>): void;
  /** Hook a lifecycle point. */
  hook<K extends HookName>(point: K, fn: HookMap[K]): void;
  /** Send a frame to one session; `ts` is added. False if the session is closed. */
  send(session: Session, frame: { type: string; [field: string]: unknown }): boolean;
  /** Send already-serialized text to one session. */
  sendRaw(session: Session, text: string): boolean;
  /** Send a frame to every member of a channel (native fan-out); `ts` is added. */
  publish(channel: string, frame: { type: string; [field: string]: unknown }): void;
  /** Send an ERROR to a session. */
  error(session: Session, code: ErrorCode, message: string, extras?: ErrorExtras): void;
  /** Admit a session under `identity`: runs identify hooks, indexes it, sends WELCOME. */
  admit(session: Session, identity: Identity): void;
  /** Make a session join a channel, exactly as a JOIN would (hooks included). */
  join(session: Session, channel: string): void;
  /** Make a session leave a channel, exactly as a LEAVE would. */
  leave(session: Session, channel: string): void;
  /** Close a session's socket with a WebSocket close code. */
  disconnect(session: Session, code: number, reason: string): void;
  /** A repeating timer the relay clears on close (unref'd: it never keeps the process up). */
  every(ms: number, fn: () => void): void;
  /** A one-shot timer the relay clears on close; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
}

/** A plugin: a name (for logs) and a setup function that wires it into the relay. */
export interface Plugin {
  name: string;
  setup(relay: RelayApi): void;
}
