/** The kernel's session record and the table of live sessions. */
import type { WebSocket } from 'uWebSockets.js';
import type { RelayConfig } from './config.js';
import { ChannelList } from './channel-list.js';
import type { Decoded } from './frame.js';
import type { TokenBuckets } from './rate-limit.js';
import type { Session, SessionTable } from './types.js';

/** What uWS keeps per socket: a pointer to our session. */
export interface SocketData {
  /** Set in `open`; undefined only before it. */
  session: SessionState | undefined;
  /** The peer's address, read at the upgrade (where the upgrade hooks saw it). */
  remoteAddress: string;
}

export interface FloodWindow {
  refusals: number;
  /** ms when the window started */
  since: number;
}

/**
 * Many thousands of these live at once: plain fields only, every one assigned in the
 * constructor so V8 keeps them all inside the object (no side property array).
 */
export class SessionState implements Session, TokenBuckets {
  readonly id: number;
  readonly ws: WebSocket<SocketData>;
  readonly remoteAddress: string;
  readonly connectedAt: number;
  agentId: string | null;
  name: string | null;
  readonly channels: ChannelList;
  open: boolean;
  /** Found to be a slow consumer: being closed, nothing more is queued for it. */
  slow: boolean;
  msgTokens: number;
  otherTokens: number;
  joinTokens: number;
  refilledAt: number;
  /** Refusals in the current flood window; made on the first refusal (most sessions never get one). */
  flood: FloodWindow | null;
  /**
   * Frames that arrived while an async hook or handler of this session is pending, in
   * order, decoded on arrival (so `held` observers and the handler share one parse);
   * null when nothing is pending (the common case: no array per session).
   */
  held: Decoded[] | null;
  /** In a cluster: this session's MSGs on their way through Redis, not yet acknowledged. */
  inCluster: number;

  constructor(id: number, ws: WebSocket<SocketData>, remoteAddress: string, connectedAt: number, config: RelayConfig) {
    this.id = id;
    this.ws = ws;
    this.remoteAddress = remoteAddress;
    this.connectedAt = connectedAt;
    this.agentId = null;
    this.name = null;
    this.channels = new ChannelList();
    this.open = true;
    this.slow = false;
    this.msgTokens = config.rateMsg.burst;
    this.otherTokens = config.rateOther.burst;
    this.joinTokens = config.rateJoin.burst;
    this.refilledAt = connectedAt;
    this.flood = null;
    this.held = null;
    this.inCluster = 0;
  }
}

/** Live sessions: identified ones by agent id, the others apart (one table entry per session). */
export class Sessions implements SessionTable {
  readonly unidentified = new Set<SessionState>();
  readonly byAgent = new Map<string, SessionState>();

  get size(): number {
    return this.unidentified.size + this.byAgent.size;
  }
  get identifiedCount(): number {
    return this.byAgent.size;
  }
  byAgentId(agentId: string): SessionState | undefined {
    return this.byAgent.get(agentId);
  }
  *values(): IterableIterator<SessionState> {
    yield* this.unidentified;
    yield* this.byAgent.values();
  }
}
