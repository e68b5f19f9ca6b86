/**
 * The client logic of AgentChatClient, written once for Node and browsers: the socket
 * and the signer come from a Platform (client/platform.ts), so this file imports
 * nothing platform-specific. One agent's connection to a relay, with the API agentchat 0.3.x
 * users know. Every request returns a promise of the relay's answer frame; it
 * rejects with an AgentChatError carrying the relay's code, or TIMEOUT /
 * DISCONNECTED / NOT_CONNECTED. No request waits forever.
 *
 * Server ERRORs: one that answers a pending request rejects that request, and that
 * rejection is its only report. One that answered no request is emitted as
 * `server_error`, and as `error` only while an `error` listener exists (never an
 * unhandled crash). Every ERROR is still seen by `frame` listeners.
 */
// A browser build maps node:events to client/browser/events.ts (scripts/build.mjs).
import { EventEmitter } from 'node:events';
import { CloseCode } from '../protocol/errors.js';
import type {
  AgentsFrame, ChallengeFrame, ChannelsFrame, ErrorFrame, InvitedFrame, JoinedFrame, LeftFrame,
  MsgFrame, PongFrame, ProposalFrame, ProposalsFrame, ProposalStepFrame, ServerFrame, WelcomeFrame, WhoisFrame,
} from '../protocol/messages.js';
import { asAgentId } from '../protocol/names.js';
import { authSigningString, msgSigningString } from '../protocol/signing.js';
import { normalizeRelayUrl } from '../protocol/urls.js';
import { AgentChatError } from './errors.js';
import type { ClientEvents, UnknownFrame } from './events.js';
import { PendingRequests, type AnyFrame, type PendingSpec } from './pending.js';
import type { Platform, SigningIdentity, Transport } from './platform.js';
import * as proposals from './proposals.js';
import { Reconnector, resolveReconnect, type ReconnectOptions } from './reconnect.js';

/** The options every platform's client takes; `I` is its identity type, `Extra` its socket options. */
export interface ClientCoreOptions<I extends SigningIdentity, Extra> {
  /** ws:// or wss:// URL of the relay. */
  server: string;
  /** Display name in IDENTIFY; defaults to the identity's name, else `agent-<ms>`. */
  name?: string;
  /** An identity (or where the platform loads one from): the agent gets its persistent id and signs. */
  identity?: string | I;
  /** Reconnect after a dropped connection, re-identify and re-join channels. */
  reconnect?: boolean | Partial<ReconnectOptions>;
  /** How long a request waits for its answer (default 10000 ms). */
  requestTimeoutMs?: number;
  /** How long connect() waits for the socket and WELCOME (default: requestTimeoutMs). */
  connectTimeoutMs?: number;
  /** The platform's own socket options (Node: passed to the `ws` WebSocket, e.g. TLS `ca`, `rejectUnauthorized`). */
  wsOptions?: Extra;
  /** Where to resume each channel from (msg_ids seen before, e.g. by an earlier run): older messages are not emitted again. */
  cursors?: Readonly<Record<string, number>>;
  /** Ask for a 16-hex agent id for the identity's key instead of the 0.3.x-compatible 8 (extension). */
  longId?: boolean;
}

/** What a request waits for: its answer frame type and how to recognize its own answer. */
export interface Expectation {
  answer: string;
  match?: (frame: AnyFrame) => boolean;
  /** For the timeout message, e.g. 'JOINED #foo'. */
  label: string;
  /** Request types whose ERROR rejects it (default: the request's own type). */
  refs?: readonly string[];
}

/** A client → server frame. */
export interface OutboundFrame {
  type: string;
  [field: string]: unknown;
}

/** A MSG as this client sends it. */
interface OutboundMsg extends OutboundFrame {
  type: 'MSG';
  to: string;
  content: string;
  ts?: number;
  sig?: string;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** How long disconnect() waits for the relay's close frame before dropping the socket. */
const CLOSE_GRACE_MS = 1_000;

/** AgentChatClient on any platform: Node's and the browser's classes only choose the Platform. */
export class ClientCore<I extends SigningIdentity, Extra> extends EventEmitter<ClientEvents> {
  readonly server: string;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  private readonly nameOption: string | undefined;
  private readonly identitySource: string | I | undefined;
  private readonly wsOptions: Extra | undefined;
  private readonly longId: boolean;
  private readonly reconnector: Reconnector;

  private loadedIdentity: I | null;
  private ws: Transport | null = null;
  private welcome: WelcomeFrame | null = null;
  private readonly joinedChannels = new Set<string>();
  /** Last msg_id seen per channel. */
  private readonly cursors: Map<string, number>;
  private readonly pending = new PendingRequests();
  private lastSocketError: Error | null = null;

  constructor(options: ClientCoreOptions<I, Extra>, private readonly platform: Platform<I, Extra>) {
    super();
    if (typeof options?.server !== 'string' || !/^wss?:\/\//.test(options.server)) {
      throw new TypeError(`server must be a ws:// or wss:// URL, got ${String(options?.server)}`);
    }
    this.server = options.server;
    this.nameOption = options.name;
    this.identitySource = options.identity;
    this.loadedIdentity = typeof options.identity === 'object' ? options.identity : null;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.connectTimeoutMs = options.connectTimeoutMs ?? this.requestTimeoutMs;
    this.wsOptions = options.wsOptions;
    this.longId = options.longId === true;
    this.cursors = new Map(Object.entries(options.cursors ?? {}));
    this.reconnector = new Reconnector({
      open: () => this.open(),
      hasSocket: () => this.ws !== null,
      connected: () => this.connected,
      channels: this.joinedChannels,
      // From where each channel left off: nothing missed, nothing twice.
      join: (channel) => {
        const since = this.cursors.get(channel);
        return this.join(channel, since === undefined ? {} : { since });
      },
      emit: {
        reconnecting: (info) => this.emit('reconnecting', info),
        reconnect: (welcome) => this.emit('reconnect', welcome),
        rejoined: (channels) => this.emit('rejoined', channels),
        reconnect_failed: (info) => this.emit('reconnect_failed', info),
      },
    }, resolveReconnect(options.reconnect));
  }

  /** '@xxxxxxxx' while identified, else null. */
  get agentId(): string | null {
    return this.welcome?.agent_id ?? null;
  }

  /** Channels this agent is in (kept across a reconnect, which re-joins them). */
  get channels(): ReadonlySet<string> {
    return this.joinedChannels;
  }

  /** The loaded identity (after connect() when given as a path), or null for an ephemeral agent. */
  get identity(): I | null {
    return this.loadedIdentity;
  }

  /** Identified and the socket is open. */
  get connected(): boolean {
    return this.welcome !== null && this.ws?.isOpen === true;
  }

  /** The name sent in IDENTIFY. */
  get name(): string {
    return this.nameOption ?? this.loadedIdentity?.name ?? this.defaultName;
  }
  private readonly defaultName = `agent-${Date.now()}`;

  /** Open the socket and identify (answering CHALLENGE when an identity is loaded). */
  async connect(): Promise<WelcomeFrame> {
    if (this.ws !== null) throw new Error('connect() called while already connected or connecting');
    this.reconnector.start();
    if (this.loadedIdentity === null && typeof this.identitySource === 'string') {
      const load = this.platform.loadIdentity;
      if (load === undefined) throw new TypeError('identity must be an identity object here: this platform has no identity files to load');
      this.loadedIdentity = await load(this.identitySource);
    }
    return this.open();
  }

  /** Close the connection (no reconnect); resolves once the socket is closed. */
  disconnect(): Promise<void> {
    this.reconnector.stop();
    const ws = this.ws;
    if (ws === null) {
      this.joinedChannels.clear();
      return Promise.resolve();
    }
    const force = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    ws.close(1000);
    return ws.closed.then(() => clearTimeout(force));
  }

  /**
   * Join a channel. `since` replays exactly the messages after that msg_id (a HISTORY
   * frame then says whether retention had dropped some); `history: 0` replays none.
   */
  join(channel: string, options: { since?: number; history?: number } = {}): Promise<JoinedFrame> {
    return this.request({ type: 'JOIN', channel, ...options }, { answer: 'JOINED', match: (f) => f.channel === channel, label: `JOINED ${channel}` });
  }

  /** The msg_id of the last message seen on `channel`: where a reconnect resumes from. */
  cursor(channel: string): number | undefined {
    return this.cursors.get(channel);
  }

  leave(channel: string): Promise<LeftFrame> {
    return this.request({ type: 'LEAVE', channel }, { answer: 'LEFT', match: (f) => f.channel === channel, label: `LEFT ${channel}` });
  }

  /** Send to a channel or an agent; resolves with the relay's echo. Signed when an identity is loaded. */
  send(to: string, content: string): Promise<MsgFrame> {
    const frame: OutboundMsg = { type: 'MSG', to, content };
    if (this.loadedIdentity !== null) {
      frame.ts = Date.now();
      frame.sig = this.sign(msgSigningString(to, content, frame.ts));
    }
    const me = this.agentId;
    return this.request(frame, {
      answer: 'MSG',
      match: (f) => f.from === me && f.to === to && f.content === content && f.replay !== true,
      label: `MSG echo to ${to}`,
    });
  }

  /** Direct message; the leading '@' is optional. */
  dm(agentId: string, content: string): Promise<MsgFrame> {
    return this.send(asAgentId(agentId), content);
  }

  listChannels(): Promise<ChannelsFrame> {
    return this.request({ type: 'LIST_CHANNELS' }, { answer: 'CHANNELS', label: 'CHANNELS' });
  }

  listAgents(channel: string): Promise<AgentsFrame> {
    return this.request({ type: 'LIST_AGENTS', channel }, { answer: 'AGENTS', match: (f) => f.channel === channel, label: `AGENTS ${channel}` });
  }

  /** Create a channel; the relay joins the creator at once, so this resolves with JOINED. */
  createChannel(channel: string, inviteOnly = false): Promise<JoinedFrame> {
    return this.request(
      { type: 'CREATE_CHANNEL', channel, invite_only: inviteOnly },
      { answer: 'JOINED', match: (f) => f.channel === channel, label: `JOINED ${channel} after CREATE_CHANNEL` },
    );
  }

  /** Invite an agent (need not be online) to a channel you are a member of; resolves with INVITED (extension). */
  invite(channel: string, agentId: string): Promise<InvitedFrame> {
    return this.request(
      { type: 'INVITE', channel, agent: agentId },
      { answer: 'INVITED', match: (f) => f.channel === channel && f.agent === agentId, label: `INVITED ${agentId} to ${channel}` },
    );
  }

  ping(): Promise<PongFrame> {
    return this.request({ type: 'PING' }, { answer: 'PONG', label: 'PONG' });
  }

  /** An agent's name and public key (extension), to verify its signatures yourself. */
  whois(agentId: string): Promise<WhoisFrame> {
    return this.request({ type: 'WHOIS', agent: agentId }, { answer: 'WHOIS', match: (f) => f.agent === agentId, label: `WHOIS ${agentId}` });
  }

  /** Propose work to a connected agent (signed; needs an identity); resolves with the echo carrying the proposal id. */
  propose(to: string, proposal: proposals.ProposalInput): Promise<ProposalFrame> {
    return proposals.propose(this, to, proposal);
  }

  accept(proposalId: string, paymentCode?: string): Promise<ProposalStepFrame> {
    return proposals.accept(this, proposalId, paymentCode);
  }

  reject(proposalId: string, reason?: string): Promise<ProposalStepFrame> {
    return proposals.reject(this, proposalId, reason);
  }

  complete(proposalId: string, proof?: string): Promise<ProposalStepFrame> {
    return proposals.complete(this, proposalId, proof);
  }

  dispute(proposalId: string, reason: string): Promise<ProposalStepFrame> {
    return proposals.dispute(this, proposalId, reason);
  }

  /** Your proposals (extension), newest first, e.g. what is pending for you after a reconnect. */
  listProposals(filter: proposals.ListProposalsFilter = {}): Promise<ProposalsFrame> {
    return proposals.listProposals(this, filter);
  }

  /** Sign the UTF-8 of `data` with the loaded identity (base64 Ed25519, as the relay verifies it); throws without one. */
  sign(data: string): string {
    const identity = this.loadedIdentity;
    if (identity === null) throw new AgentChatError('SIGNATURE_REQUIRED', 'no identity to sign with: connect with an identity (the identity option, or --identity)');
    return this.platform.sign(identity, data);
  }

  /**
   * Send any frame and wait for its answer: the extension point for message types
   * this class has no method for (plugins' own types).
   */
  request<T extends { type: string }>(frame: OutboundFrame, expect: Expectation): Promise<T> {
    if (!this.connected) {
      return Promise.reject(new AgentChatError('NOT_CONNECTED', `not connected to ${this.server}: cannot send ${frame.type}`));
    }
    const spec: PendingSpec = { ...expect, refs: expect.refs ?? [frame.type], timeoutMs: this.requestTimeoutMs };
    const answered = this.pending.add<AnyFrame>(spec);
    this.write(frame);
    return answered as Promise<T>;
  }

  /** Send a frame without waiting for anything. */
  write(frame: OutboundFrame): void {
    const ws = this.ws;
    if (ws === null || !ws.isOpen) {
      throw new AgentChatError('NOT_CONNECTED', `not connected to ${this.server}: cannot send ${frame.type}`);
    }
    ws.send(JSON.stringify(frame));
  }

  private open(): Promise<WelcomeFrame> {
    this.lastSocketError = null;
    const welcomed = this.pending.add<WelcomeFrame & AnyFrame>({
      refs: ['IDENTIFY', 'VERIFY'],
      answer: 'WELCOME',
      label: `WELCOME from ${this.server}`,
      timeoutMs: this.connectTimeoutMs,
    });
    const ws: Transport = this.platform.dial(this.server, {
      open: () => {
        const identity = this.loadedIdentity;
        this.write(identity === null ? { type: 'IDENTIFY', name: this.name }
          : { type: 'IDENTIFY', name: this.name, pubkey: identity.pubkey, ...(this.longId ? { long_id: true } : {}) });
      },
      text: (data) => this.receive(data),
      // The close that always follows reports it; kept for the connect() error message.
      error: (err) => {
        this.lastSocketError = err;
      },
      close: (code, reason) => this.onClose(ws, code, reason),
    }, { handshakeTimeoutMs: this.connectTimeoutMs, extra: this.wsOptions });
    this.ws = ws;
    return welcomed.catch((err: unknown) => {
      // Refused or timed out: a half-open, unidentified socket is of no use to anyone.
      if (this.ws === ws) ws.terminate();
      throw err;
    });
  }

  private receive(text: string): void {
    let frame: AnyFrame;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as AnyFrame).type !== 'string') return;
      frame = parsed as AnyFrame;
    } catch {
      return;
    }
    // A channel message already seen (a replay overlapping what arrived live) is dropped before anyone sees it.
    if (frame.type === 'MSG' && !this.advanceCursor(frame)) return;
    this.emit('frame', frame as ServerFrame | UnknownFrame);
    switch (frame.type) {
      case 'CHALLENGE':
        this.answerChallenge(frame as unknown as ChallengeFrame);
        break;
      case 'WELCOME':
        this.welcome = frame as unknown as WelcomeFrame;
        break;
      case 'JOINED':
        if (typeof frame.channel === 'string') this.joinedChannels.add(frame.channel);
        break;
      case 'LEFT':
        if (typeof frame.channel === 'string') this.joinedChannels.delete(frame.channel);
        break;
      case 'ERROR':
        this.onServerError(frame as unknown as ErrorFrame);
        return;
    }
    this.pending.answer(frame);
    this.emitFrameEvent(frame);
  }

  private emitFrameEvent(frame: AnyFrame): void {
    // Extension types have no typed event; they are still emitted under their lowercased name.
    const emit = EventEmitter.prototype.emit as (this: EventEmitter, event: string, ...args: unknown[]) => boolean;
    if (frame.type === 'MSG') {
      emit.call(this, 'message', frame);
    } else if (frame.type === 'WELCOME') {
      emit.call(this, 'welcome', frame);
      emit.call(this, 'connect', frame);
    } else if (frame.type !== 'ERROR') {
      emit.call(this, frame.type.toLowerCase(), frame);
    }
  }

  /** False for a channel message already seen (a replay overlapping what arrived live): it is dropped. */
  private advanceCursor(frame: AnyFrame): boolean {
    const to = frame.to;
    const id = frame.msg_id;
    if (typeof to !== 'string' || to.charCodeAt(0) !== 35 /* # */ || typeof id !== 'number') return true;
    const last = this.cursors.get(to);
    if (last !== undefined && id <= last) return false;
    this.cursors.set(to, id);
    return true;
  }

  private answerChallenge(frame: ChallengeFrame): void {
    const identity = this.loadedIdentity;
    // The relay challenges only a session that sent a pubkey, which only happens with an identity.
    if (identity === null) return;
    // The proof names the URL this client dialled, so a relay in the middle cannot reuse it elsewhere.
    const url = normalizeRelayUrl(this.server);
    this.write({ type: 'VERIFY', sig: this.platform.sign(identity, authSigningString(frame.server, frame.nonce, url)), url });
  }

  private onServerError(frame: ErrorFrame): void {
    // A refusal of a pending request is reported by that request's rejection, once.
    if (this.pending.fail(frame)) return;
    this.emit('server_error', frame);
    if (this.listenerCount('error') > 0) this.emit('error', frame);
  }

  private onClose(ws: Transport, code: number, reason: string): void {
    if (ws !== this.ws) return;
    const wasWelcomed = this.welcome !== null;
    this.ws = null;
    this.welcome = null;
    const cause = this.lastSocketError?.message ?? `closed with code ${code}${reason ? `: ${reason}` : ''}`;
    this.pending.rejectAll(new AgentChatError('DISCONNECTED', wasWelcomed ? `connection to ${this.server} lost: ${cause}` : `could not connect to ${this.server}: ${cause}`));
    // A newer session of this agent took over: reconnecting would only take it back, in a loop.
    // An operator's kick or ban means "go away": reconnecting at once would defy it.
    if (code === CloseCode.DISPLACED || code === CloseCode.KICKED || code === CloseCode.BANNED) this.reconnector.stop();
    if (this.reconnector.isStopped) this.joinedChannels.clear();
    this.emit('disconnect', { code, reason, willReconnect: this.reconnector.willRetry(wasWelcomed) });
    this.reconnector.afterClose(wasWelcomed);
  }
}
