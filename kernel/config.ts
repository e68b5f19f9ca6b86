/**
 * The kernel's configuration: sockets, bounds, rates and timeouts of what the kernel
 * itself does. Every one has a default. A plugin's settings are its own options.
 */
import { DEFAULT_PORT } from '../protocol/names.js';

export interface RateBucket {
  /** Tokens a fresh connection has; the most it can send at once. */
  burst: number;
  /** Tokens refilled per second. */
  perSec: number;
}

export interface RelayConfig {
  /** Port to listen on; 0 picks an ephemeral port (see `relay.port`). */
  port: number;
  host: string;
  /** The relay's name: in WELCOME, CHALLENGE and the proof-of-possession string. */
  serverName: string;
  /** TLS through uWS SSLApp when both are set (file paths). */
  tls: { cert: string; key: string } | null;

  /** Largest accepted frame in bytes; larger ones get INVALID_MSG (far larger ones close the socket). */
  maxPayloadBytes: number;
  /** Longest MSG content, in characters. */
  maxContentChars: number;
  /** Largest MSG content once JSON-escaped, in UTF-8 bytes: 4,096 control characters relay as 24 KB. */
  maxContentBytes: number;
  maxChannels: number;
  maxChannelsPerAgent: number;
  maxSessions: number;

  /** MSG and proposal frames. */
  rateMsg: RateBucket;
  /** Every other frame. */
  rateOther: RateBucket;
  /** JOIN and LEAVE: each toggle makes a presence frame for every member (fakelag, as IRC servers do). */
  rateJoin: RateBucket;
  /** Channels with more members than this get their AGENT_JOINED/LEFT batched, one frame per kind per `presenceBatchMs`. */
  presenceBatchAbove: number;
  presenceBatchMs: number;
  /** Refused frames within `floodWindowMs` past which the client is closed (1008). */
  floodMaxRefusals: number;
  floodWindowMs: number;

  /** Bytes buffered for a socket past which it is a slow consumer and closed. */
  slowConsumerBytes: number;
  /** How often buffered bytes are checked for sockets fed by channel fan-out. */
  slowConsumerCheckMs: number;
  /**
   * Coalesced writes on busy channels: a channel that published within this many ms holds its next
   * frames and publishes them together at most this much later (one write per member instead of
   * one per frame). 0 (default): every frame is published at once.
   */
  coalesceMs: number;
  /** Seconds without traffic before a socket is closed; pings are sent automatically. */
  idleTimeoutSec: number;

  /** How long an async veto hook may take before it fails closed (UNAVAILABLE). */
  hookTimeoutMs: number;
  /** Frames held per session while one of its hooks or handlers is pending; past it, RATE_LIMITED. */
  maxHeldFrames: number;
  /** How long close() waits for the plugins' close hooks (flushing a store, say). */
  shutdownTimeoutMs: number;
}

export const DEFAULT_CONFIG: Readonly<RelayConfig> = Object.freeze({
  port: DEFAULT_PORT,
  host: '0.0.0.0',
  serverName: 'agentchat',
  tls: null,
  maxPayloadBytes: 64 * 1024,
  maxContentChars: 4096,
  maxContentBytes: 16 * 1024,
  maxChannels: 10_000,
  maxChannelsPerAgent: 100,
  maxSessions: 100_000,
  rateMsg: { burst: 10, perSec: 1 },
  rateOther: { burst: 100, perSec: 20 },
  rateJoin: { burst: 20, perSec: 1 },
  presenceBatchAbove: 100,
  presenceBatchMs: 100,
  floodMaxRefusals: 100,
  floodWindowMs: 10_000,
  slowConsumerBytes: 1024 * 1024,
  slowConsumerCheckMs: 100,
  coalesceMs: 0,
  idleTimeoutSec: 120,
  hookTimeoutMs: 2_000,
  maxHeldFrames: 64,
  shutdownTimeoutMs: 3_000,
});

/** Merge user options over the defaults (nested rate buckets merge field by field). */
export function resolveConfig(options: Partial<RelayConfig> = {}): RelayConfig {
  const config: RelayConfig = { ...DEFAULT_CONFIG, ...stripUndefined(options) };
  config.rateMsg = { ...DEFAULT_CONFIG.rateMsg, ...stripUndefined(options.rateMsg ?? {}) };
  config.rateOther = { ...DEFAULT_CONFIG.rateOther, ...stripUndefined(options.rateOther ?? {}) };
  config.rateJoin = { ...DEFAULT_CONFIG.rateJoin, ...stripUndefined(options.rateJoin ?? {}) };
  for (const [key, value] of Object.entries(config)) {
    if (typeof value === 'number' && !(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`config ${key} must be a non-negative number, got ${value}`);
    }
  }
  if (!Number.isInteger(config.port) || config.port > 65535) throw new RangeError(`port must be 0-65535, got ${config.port}`);
  return config;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
