/** Commands the bench sends a generator worker over IPC, and what comes back. */

export interface AgentSpec {
  /** Unique within the bench run; how later commands name this agent. */
  key: string;
  name: string;
  /** Persistent identity: the worker makes an Ed25519 key pair and answers CHALLENGE. */
  signed?: boolean;
  /** Join (or create, if first here) this channel right after WELCOME. */
  channel?: string;
  /** The channel was created by another agent already: JOIN, do not CREATE_CHANNEL. */
  channelExists?: boolean;
  /**
   * A raw-TCP client (generator/raw.ts) instead of `ws`: pre-built frames out, and while a run is
   * armed with `count`, frames in are counted by their headers (and with `timed`, their sender,
   * sequence and send time read from the content's digits: order and latency, still no JSON).
   */
  raw?: boolean;
}

export interface Sender {
  key: string;
  /** Channel or agent id. */
  to: string;
  /** Sender index written into the content; receivers check per-sender ordering with it. */
  idx: number;
}

export type Command =
  | { op: 'connect'; url: string; agents: AgentSpec[]; concurrency: number }
  | { op: 'join'; joins: Array<[key: string, channel: string]>; concurrency: number; existing?: boolean }
  /**
   * Start a run: per-run counters reset. `flow` (agent key prefixes) turns on progress events
   * every 10 ms: the least any of those agents has received from sender 0.
   */
  | { op: 'arm'; run: number; flow?: string[]; count?: boolean; timed?: boolean }
  | { op: 'count' }
  | { op: 'collect' }
  | { op: 'presign'; run: number; senders: Sender[]; perSender: number; size: number }
  | {
      op: 'publish';
      run: number;
      senders: Sender[];
      kind: 'B' | 'S';
      /** Messages per second per sender; 0 = as fast as credit allows (flow control). */
      ratePerSender: number;
      maxPerSender: number;
      durationMs: number;
      size: number;
      /** Flow control: messages allowed before the first credit. */
      window: number;
      /**
       * Fixed rate: 0 = evenly paced, one message at a time. T > 0 = every T ms the messages due
       * in that tick go back to back, as a timer-driven client sends (the relay may batch them).
       */
      tickMs: number;
      /** Raw senders: every message built with its sequence and send time (timed receivers), not one pre-built frame. */
      timed?: boolean;
    }
  | { op: 'credit'; allowed: number }
  /**
   * Signed MSGs at max, self-clocked: each sender keeps `window` of its presigned MSGs in flight
   * (its own echo from its one-member channel frees a slot) for durationMs or until they run out.
   */
  | { op: 'signedMax'; run: number; senders: Sender[]; window: number; durationMs: number }
  /**
   * DM ping-pong, one ping in flight per pair: ratePerPair > 0 sends ratePerPair × durationMs pings
   * on schedule; 0 sends the next ping as soon as the pong arrives, for durationMs (closed loop).
   */
  | { op: 'ping'; run: number; pairs: Array<{ key: string; peer: string; idx: number }>; ratePerPair: number; durationMs: number; size: number }
  /** Close the agents whose keys start with one of `prefixes` (all agents without). */
  | { op: 'close'; prefixes?: string[] }
  | { op: 'verifyCeiling'; ms: number };

export interface ConnectReply {
  ids: Record<string, string>;
  failed: number;
  firstError: string;
}

/** Cheap counters, polled while waiting for a run to drain. */
export interface Counts {
  run: number;
  received: number;
  /** Agents announced joining: one per AGENT_JOINED, or the length of a batched one's `agents`. */
  agentJoined: number;
  /** Batched AGENT_JOINED frames (a relay that batches presence on large channels). */
  presenceBatches: number;
  joined: number;
  echoes: number;
  pingsSeen: number;
  closes: number;
  errors: number;
}

export interface RunReport extends Counts {
  orderErrors: number;
  /** MSG frames that do not belong to this run (earlier runs, other traffic). */
  stray: number;
  /** History replayed after JOINED (`replay: true`): skipped, not counted. */
  replay: number;
  other: number;
  /** Latency (fan-out, chatter) or round trip (DM) histogram, µs, sparse. */
  hist: Array<[number, number]>;
  lastRecvNs: number;
  errorCodes: Record<string, number>;
  closeCodes: Record<string, number>;
  firstError: string;
  agents: number;
}

export interface PublishReply {
  sent: number[];
  total: number;
  /** Fixed rate: messages scheduled (0 under flow control). */
  expected: number;
  /** Fixed rate: messages per second scheduled over all senders here. */
  rate: number;
  firstNs: number;
  lastNs: number;
}

export interface PingReply {
  pings: number;
  /** Pings scheduled (pairs × rate × duration). */
  expected: number;
  pongs: number;
  firstNs: number;
  lastNs: number;
}

export interface CeilingReply {
  verifies: number;
  cpuS: number;
}

/** Worker → bench, unsolicited: the least any agent here has received from sender 0 this run. */
export interface ProgressEvent {
  ev: 'progress';
  run: number;
  min: number;
}

export interface Reply {
  reqId: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}
