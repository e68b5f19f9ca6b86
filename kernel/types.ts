/**
 * The plugin API: what a hoster programs against. A plugin is
 * `{ name, setup(relay, options) }`; in `setup` it registers message types, hooks
 * lifecycle points, makes its per-session slots and keeps the relay handle for later.
 * Everything here is read-only from a plugin's side except through `RelayApi`.
 */
import type { Struct } from 'superstruct';
import type { AnyErrorCode, ErrorFrame, MsgFrame } from '../protocol/index.js';
import type { Store } from '../store/types.js';
import type { RelayConfig } from './config.js';

/** A connected client, as plugins see it. The kernel owns and mutates it. */
export interface Session {
  /** Connection serial number, unique for the relay's lifetime. */
  readonly id: number;
  /** '@xxxxxxxx' once identified; null before WELCOME. */
  readonly agentId: string | null;
  /** The IDENTIFY name; null before WELCOME. */
  readonly name: string | null;
  /** Channels this session is a member of. */
  readonly channels: ReadonlySet<string>;
  /** The client's address as text (IPv4 or IPv6): the peer's, or the one an upgrade hook set as `clientAddress` (a trusted proxy's X-Forwarded-For). */
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
  /** The msg_id of the last MSG routed to the channel (0: none yet). */
  readonly lastMsgId: number;
}

export interface ChannelCreateOptions {
  inviteOnly?: boolean;
  createdBy?: Session | null;
  builtin?: boolean;
  /** A channel brought back from the store: its creator and creation time as recorded. */
  restore?: { createdBy: string | null; createdAt: number };
}

/** What a JOIN asked for beyond the channel (extensions). */
export interface JoinOptions {
  /** Replay the messages after this msg_id that history still holds. */
  since?: number;
  /** Replay at most this many (0: none). */
  history?: number;
}

/** What a session is admitted as (sent WELCOME). */
export interface Identity {
  agentId: string;
  name: string;
  /** Extra WELCOME fields the admitting plugin adds (e.g. `verified`). */
  welcome?: Record<string, unknown>;
}

/** A MSG as a client sent it, validated, before routing. */
export interface InboundMsg {
  readonly to: string;
  readonly content: string;
  /** The client's own ts (part of the signed bytes), if it sent one. */
  readonly ts?: number;
  readonly sig?: string;
}

/** A validated client frame of any type, as the `frame` hook sees it. */
export type InboundFrame = Readonly<Record<string, unknown>> & { readonly type: string };

/** A client frame as the `held` hook sees it: the same shape, decoded but not yet validated (any field may be of any type). */
export type HeldFrame = InboundFrame;

/** The HTTP request of a WebSocket upgrade, before any session exists. */
export interface UpgradeRequest {
  /** The peer's address as text (IPv4 or IPv6): the TCP peer, possibly a proxy. */
  readonly remoteAddress: string;
  /**
   * The client's address, `remoteAddress` unless a hook set it (e.g. the limits plugin
   * from X-Forwarded-For of a trusted proxy). Later hooks see it; the session's
   * `remoteAddress` is this value.
   */
  clientAddress: string;
  /** Request headers, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /** Path and query, e.g. '/?token=x'. */
  readonly url: string;
}

/** A plain HTTP request on the relay's port (anything but a WebSocket upgrade). */
export interface HttpRequest {
  readonly method: string;
  /** The path, without the query. */
  readonly path: string;
  readonly query: string;
  /** Request headers, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
}

/** What an HTTP route answers. */
export interface HttpAnswer {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

/** An HTTP route: answers at once or later (the relay waits, bounded by hookTimeoutMs). */
export type HttpRoute = (request: HttpRequest) => HttpAnswer | Promise<HttpAnswer>;

/** Extra fields an ERROR may carry (PROTOCOL.md § Error codes); plugins may add their own. */
export interface ErrorExtras {
  /** The specific cause (e.g. a ProposalReason). */
  reason?: string;
  retry_after_ms?: number;
  /** The offending request's type. */
  ref?: string;
  /** For an `upgrade` refusal: the HTTP status (default by code: 401, 429, 503 or 403). Never sent in frames. */
  status?: number;
  [field: string]: unknown;
}

/** Marks RelayErrors across copies of this module (a plugin may import another copy of agentchat than the CLI bundles). */
const RELAY_ERROR = Symbol.for('agentchat.RelayError');

/**
 * A refusal: thrown (or returned, or resolved) by a hook or handler, it becomes an
 * ERROR to the client and stops whatever was about to happen. Any code works, the
 * protocol's or a plugin's own (`new RelayError('BANNED_WORD', '…')`). Anything else
 * thrown is a bug in the plugin: the client gets a generic ERROR, the relay logs it.
 */
export class RelayError extends Error {
  readonly code: AnyErrorCode;
  readonly extras: ErrorExtras;
  constructor(code: AnyErrorCode, message: string, extras: ErrorExtras = {}) {
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

/** A veto point refuses by returning (or throwing) a RelayError; anything else lets the action go on. */
export type Verdict = RelayError | void | undefined;
/** A veto hook may decide now or later; a promise holds the session's later frames, in order, until it settles. */
export type VetoResult = Verdict | Promise<Verdict>;

/**
 * Lifecycle points, called in plugin registration order. Veto points (upgrade,
 * connect, identify, frame, join, message) may refuse, and may be async: a pending
 * one holds that session's later frames in order (bounded), under `hookTimeoutMs`,
 * failing closed. Observers never delay anything and their results are ignored.
 */
export interface HookMap {
  /** A WebSocket upgrade request. Refusing answers it with an HTTP status; no socket is opened. */
  upgrade: (request: UpgradeRequest) => VetoResult;
  /** A socket opened. Refusing sends the ERROR and closes the socket (1008). */
  connect: (session: Session) => VetoResult;
  /** About to admit `identity` (before WELCOME). Refusing leaves the session unidentified. */
  identify: (session: Session, identity: Readonly<Identity>) => VetoResult;
  /** Admitted: WELCOME was sent. */
  identified: (session: Session) => void;
  /** A validated client frame of any type, before its owner's handler (after auth and rate checks). */
  frame: (session: Session, type: string, frame: InboundFrame) => VetoResult;
  /**
   * A frame arrived while an earlier frame of the session is pending: it waits, in order, and is
   * handled later. `frame` is the JSON object it decoded to (the object its handler will get),
   * not yet rate-checked or validated: any field may be missing or of any type. Frames that are
   * not a JSON object with a string `type` are never shown. An observer may start work the
   * frame will need (identity starts checking its signature), never answer it or change it.
   */
  held: (session: Session, frame: HeldFrame) => void;
  /** About to join `channel` (it exists; the session is not yet a member). */
  join: (session: Session, channel: Channel, options: Readonly<JoinOptions>) => VetoResult;
  /** Joined: JOINED was sent and the others were told. History replays go here, as `options` asks. */
  joined: (session: Session, channel: Channel, options: Readonly<JoinOptions>) => void;
  /** A MSG passed routing checks (target exists, sender may send) and is about to be delivered. */
  message: (session: Session, msg: InboundMsg) => VetoResult;
  /** A MSG was delivered; `frame` is what receivers got, `serialized` its exact text. */
  delivered: (session: Session, frame: Readonly<MsgFrame>, serialized: string) => void;
  /** In a cluster: a channel MSG the cluster carried reached this relay's members (any relay's sender). */
  relayed: (channel: Channel, msgId: number, serialized: string) => void;
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
  /** The relay is listening (every plugin's setup finished). */
  listen: (address: { host: string; port: number; tls: boolean; native: boolean }) => void;
  /** The relay is shutting down: flush and release. Awaited (all of them) within `shutdownTimeoutMs`. */
  close: () => void | Promise<void>;
}
export type HookName = keyof HookMap;
/** The points whose hooks may refuse. */
export type VetoPoint = 'upgrade' | 'connect' | 'identify' | 'frame' | 'join' | 'message';

/** Which token bucket a message type draws from (PROTOCOL.md § Rate limits). */
export type RateClass = 'msg' | 'join' | 'other';

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
  /**
   * Runs with the validated message. Throw (or reject with) a RelayError to refuse.
   * Returning a promise holds the session's later frames until it settles.
   */
  handle: (session: Session, msg: T) => void | Promise<void>;
  /** Accepted before IDENTIFY completes (default false: AUTH_REQUIRED). */
  beforeIdentify?: boolean;
  /** Token bucket to draw from (default 'other'). */
  rateClass?: RateClass;
}

/** Structured logger: one JSON line per call (the logging plugin decides what is worth a line). */
export interface Logger {
  /** Written only at `--log-level debug`. */
  debug(event: string, fields?: Record<string, unknown>): void;
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
  create(name: string, options?: ChannelCreateOptions): Channel;
  /** After a restart: msg_ids of `name` go on after `lastMsgId` (never backwards). */
  resumeMessageIds(name: string, lastMsgId: number): void;
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
  /** Async hooks that did not settle within hookTimeoutMs (each failed closed). */
  readonly hookTimeouts: number;
  /** Upgrade requests an `upgrade` hook (or the session limit) refused. */
  readonly upgradesRefused: number;
  /** MSG frames written to receivers (a channel message to N members counts N, a DM counts its target and the echo). */
  readonly messagesDelivered: number;
  /** Refusals of abuse limits by reason (e.g. `conns_per_ip`, `max_sessions`): what a metrics plugin exports. */
  readonly refusals: Readonly<Record<string, number>>;
}

/**
 * A typed value per session, owned by the plugin that made it. Slots made with the
 * same `name` are one slot, so a plugin can publish a typed accessor for others
 * (e.g. identity's `sessionKeys`). A closed session's value goes with it.
 */
export interface SessionSlot<T> {
  get(session: Session): T | undefined;
  set(session: Session, value: T): void;
  delete(session: Session): void;
}

/**
 * What carries traffic to the other relays of a cluster. The cluster plugin installs one
 * (`relay.useCluster`); without one everything is local. The kernel asks it where "this
 * relay" is not the whole truth, and it hands traffic back through `deliverChannel`,
 * `deliverFrame` and `deliverDirect`.
 */
export interface ClusterLink {
  /**
   * Take a channel MSG for the whole cluster. `body` is the serialized MSG without a
   * msg_id; the link assigns the next msg_id of the channel and resolves with it once the
   * cluster took the message (the sender's acknowledgement), or rejects with a RelayError.
   * Every relay with members there, this one included, then gets the text with the msg_id
   * first (`{"msg_id":N,` + the rest of body) through `deliverChannel`.
   */
  publish(channel: Channel, body: string): Promise<number>;
  /** A frame for a channel's members on every relay (presence, a plugin's publish); `except`, the agent it is about, is not told. */
  publishFrame(channel: Channel, frame: { type: string; [field: string]: unknown }, except: string | null): void;
  /** Text for an agent connected to another relay: true once that relay took it, false when none holds the agent. */
  forward(agentId: string, text: string): Promise<boolean>;
  /** Agents in `channel` connected to other relays, as known while this relay has members there. */
  remoteMembers(channel: string): readonly string[];
  /** Every agent in `channel` cluster-wide, asked of the shared state. */
  members(channel: string): Promise<string[]>;
  /** Members per channel cluster-wide. */
  memberCounts(): Promise<Map<string, number>>;
  /** Whether an agent is connected to any relay of the cluster. */
  online(agentId: string): Promise<boolean>;
}

/** The handle a plugin receives in `setup`. */
export interface RelayApi {
  /** The kernel's settings (ports, bounds, rates). A plugin's own settings are its options. */
  readonly config: Readonly<RelayConfig>;
  readonly logger: Logger;
  readonly sessions: SessionTable;
  readonly channels: ChannelTable;
  readonly stats: RelayStats;
  /** Durable state (store/types.ts): each plugin keeps its own in `store.namespace(its name)`. */
  readonly store: Store;
  /** The names of the plugins this relay runs, in order. */
  readonly plugins: readonly string[];
  /** Own a message type: schema-validated, rate-limited, auth-checked, then `spec.handle`. */
  handle<T>(type: string, spec: MessageTypeSpec<T>): void;
  /** Hook a lifecycle point. */
  hook<K extends HookName>(point: K, fn: HookMap[K]): void;
  /** Answer GET (and HEAD) requests for `path` on the relay's own port, e.g. '/metrics'. One plugin per path. */
  route(path: string, handler: HttpRoute): void;
  /** How many frames of each type clients sent (validated or not), for metrics. */
  frameCounts(): Readonly<Record<string, number>>;
  /**
   * One value per relay under `name`, made by `create` the first time: state a plugin shares
   * with others by name (e.g. identity's signature counters, read by metrics).
   */
  shared<T>(name: string, create: () => T): T;
  /** A typed per-session slot (see SessionSlot); the same name gives the same slot. */
  sessionSlot<T>(name: string): SessionSlot<T>;
  /** Send a frame to one session; `ts` is added. False if the session is closed. */
  send(session: Session, frame: { type: string; [field: string]: unknown }): boolean;
  /** Send already-serialized text to one session. */
  sendRaw(session: Session, text: string): boolean;
  /** Send a frame to every member of a channel (native fan-out; in a cluster, on every relay); `ts` is added. */
  publish(channel: string, frame: { type: string; [field: string]: unknown }): void;
  /** Send an ERROR to a session. */
  error(session: Session, code: AnyErrorCode, message: string, extras?: ErrorExtras): void;
  /**
   * Admit a session under `identity`: runs identify hooks, indexes it, sends WELCOME.
   * Returns a promise when an identify hook went async; throws (or rejects with) the refusal.
   */
  admit(session: Session, identity: Identity): void | Promise<void>;
  /** Make a session join a channel, exactly as a JOIN would (hooks included); async like `admit`. */
  join(session: Session, channel: string, options?: JoinOptions): void | Promise<void>;
  /** Make a session leave a channel, exactly as a LEAVE would. */
  leave(session: Session, channel: string): void;
  /** Close a session's socket with a WebSocket close code. */
  disconnect(session: Session, code: number, reason: string): void;
  /** Count one refusal under `reason` in `stats.refusals` (limits a plugin enforces). */
  countRefusal(reason: string): void;
  /** The cluster link, when this relay is one of several (null: everything is local). */
  readonly cluster: ClusterLink | null;
  /** Install the cluster link (the cluster plugin does, in setup; at most one). */
  useCluster(link: ClusterLink): void;
  /** A channel message the cluster carried: fan it out to this relay's members (serialized once, by the link). */
  deliverChannel(channel: string, text: string, msgId: number): void;
  /** Any other frame for a channel's members here, as text; `except` (an agent id) is not told. */
  deliverFrame(channel: string, text: string, except: string | null): void;
  /** Text for an agent connected here; false when it is not. */
  deliverDirect(agentId: string, text: string): boolean;
  /**
   * Send a frame to an agent wherever it is connected: here, or through the cluster.
   * Resolves false when no relay holds it. `ts` is added.
   */
  sendTo(agentId: string, frame: { type: string; [field: string]: unknown }): Promise<boolean>;
  /** A repeating timer the relay clears on close (unref'd: it never keeps the process up). */
  every(ms: number, fn: () => void): void;
  /** A one-shot timer the relay clears on close; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
}

/**
 * A plugin. `setup` gets the relay and this plugin's options (from
 * `createRelay({ pluginOptions: { [name]: … } })` or `serve --plugin-options`); it may be
 * async, and `relay.listen()` awaits it. Names are unique; `dependencies` names plugins
 * that must come earlier in the list.
 */
export interface Plugin<Options = Record<string, unknown>> {
  name: string;
  dependencies?: readonly string[];
  setup(relay: RelayApi, options: Options): void | Promise<void>;
}

/** A plugin of any options type, as plugin lists hold them (the relay passes each its own options). */
export type AnyPlugin = Plugin<never>;
