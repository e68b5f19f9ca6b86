/** The kernel's session record and the table of live sessions. */
import type { WebSocket } from 'uWebSockets.js';
import type { RelayConfig } from './config.js';
import { ChannelList } from './channel-list.js';
import type { TokenBuckets } from './rate-limit.js';
import type { Session, SessionTable } from './types.js';

/** What uWS keeps per socket: a pointer to our session. */
export interface SocketData {
  /** Set in `open`; undefined only before it. */
  session: SessionState | undefined;
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
  pubkey: string | null;
  verified: boolean;
  readonly channels: ChannelList;
  open: boolean;
  /** Found to be a slow consumer: being closed, nothing more is queued for it. */
  slow: boolean;
  msgTokens: number;
  msgLast: number;
  otherTokens: number;
  otherLast: number;
  /** Refused frames in the current flood window, and when that window started. */
  refusals: number;
  refusalWindowStart: number;

  constructor(id: number, ws: WebSocket<SocketData>, remoteAddress: string, connectedAt: number, config: RelayConfig) {
    this.id = id;
    this.ws = ws;
    this.remoteAddress = remoteAddress;
    this.connectedAt = connectedAt;
    this.agentId = null;
    this.name = null;
    this.pubkey = null;
    this.verified = false;
    this.channels = new ChannelList();
    this.open = true;
    this.slow = false;
    this.msgTokens = config.rateMsg.burst;
    this.msgLast = connectedAt;
    this.otherTokens = config.rateOther.burst;
    this.otherLast = connectedAt;
    this.refusals = 0;
    this.refusalWindowStart = connectedAt;
  }
}

export class Sessions implements SessionTable {
  readonly all = new Set<SessionState>();
  readonly byAgent = new Map<string, SessionState>();

  get size(): number {
    return this.all.size;
  }
  get identifiedCount(): number {
    return this.byAgent.size;
  }
  byAgentId(agentId: string): SessionState | undefined {
    return this.byAgent.get(agentId);
  }
  values(): IterableIterator<SessionState> {
    return this.all.values();
  }
}
