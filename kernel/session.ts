/** The kernel's session record and the table of live sessions. */
import type { WebSocket } from 'uWebSockets.js';
import type { RelayConfig } from './config.js';
import { newBucket, type BucketState } from './rate-limit.js';
import type { Session, SessionTable } from './types.js';

/** What uWS keeps per socket: a pointer to our session. */
export interface SocketData {
  session: SessionState;
}

export class SessionState implements Session {
  agentId: string | null = null;
  name: string | null = null;
  pubkey: string | null = null;
  verified = false;
  readonly channels = new Set<string>();
  open = true;
  /** Found to be a slow consumer: being closed, nothing more is queued for it. */
  slow = false;
  readonly msgBucket: BucketState;
  readonly otherBucket: BucketState;
  /** Refused frames in the current flood window, and when that window started. */
  refusals = 0;
  refusalWindowStart: number;

  constructor(
    readonly id: number,
    readonly ws: WebSocket<SocketData>,
    readonly remoteAddress: string,
    readonly connectedAt: number,
    config: RelayConfig,
  ) {
    this.msgBucket = newBucket(config.rateMsg, connectedAt);
    this.otherBucket = newBucket(config.rateOther, connectedAt);
    this.refusalWindowStart = connectedAt;
  }

  /** For logs: the fields that identify a session. */
  describe(): { session: number; agent: string | null; name: string | null; ip: string } {
    return { session: this.id, agent: this.agentId, name: this.name, ip: this.remoteAddress };
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
