/**
 * Moderation on the wire (PROTOCOL.md § Moderation): the signed ADMIN frame an operator's
 * session sends, what the relay answers, and what an affected session is told.
 */
import { enums, nullable, optional, literal, refine, number, type, type Infer } from 'superstruct';
import { AgentId, Signature, text, Timestamp } from './schemas.js';

/** What an ADMIN frame may ask; `bans` lists the active bans and mutes. */
export const ADMIN_ACTIONS = ['kick', 'ban', 'unban', 'mute', 'unmute', 'bans'] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

/** Whom a rule names: an agent id, a key, or an address (an IP or a CIDR). */
export const TARGET_KINDS = ['agent', 'key', 'address'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** Bound on an operator's reason, in characters. */
export const MAX_REASON_CHARS = 512;

export const Admin = type({
  type: literal('ADMIN'),
  action: enums(ADMIN_ACTIONS),
  agent: optional(AgentId),
  /** An Ed25519 public key: SPKI PEM or base64, as IDENTIFY takes it; or the @id of a connected agent, for the key it proved. */
  key: optional(text(4096, 1)),
  /** An IPv4 or IPv6 address, or a CIDR (`203.0.113.0/24`, `2001:db8::/48`). */
  address: optional(text(64, 1)),
  /** When a ban or mute ends, ms since epoch; absent or null: never. */
  expires: optional(nullable(refine(number(), 'expires', (v) => (Number.isSafeInteger(v) && v > 0) || 'must be a time in ms since epoch'))),
  reason: optional(text(MAX_REASON_CHARS)),
  /** `bans` only: where the previous page ended. */
  cursor: optional(text(256)),
  /** The relay URL this session proved in VERIFY, normalized. */
  url: text(2048, 1),
  ts: Timestamp,
  sig: Signature,
});
export type AdminMessage = Infer<typeof Admin>;

/** A ban or a mute as the relay keeps and lists it. */
export interface ModerationRule {
  action: 'ban' | 'mute';
  kind: TargetKind;
  /** The agent id, the key's canonical SPKI PEM, or the CIDR (`203.0.113.7/32` for one address). */
  value: string;
  /** For a key: the agent id it maps to, so a listing can be read. */
  agent_id?: string;
  reason: string | null;
  /** ms since epoch, or null for never. */
  expires: number | null;
  /** The admin agent id that set it. */
  by: string;
  /** ms since epoch. */
  at: number;
}

interface Stamped { ts: number }

/** The answer to an ADMIN frame other than `bans`. */
export interface AdminOkFrame extends Stamped {
  type: 'ADMIN_OK';
  action: Exclude<AdminAction, 'bans'>;
  kind: TargetKind;
  value: string;
  /** For a key: the agent id it was named by, or maps to. */
  agent_id?: string;
  /** Sessions closed (kick, ban) or muted (mute) by this action. */
  sessions: number;
  expires: number | null;
  reason: string | null;
}
/** The answer to ADMIN `bans`: active rules in a stable order, paged like the other lists. */
export interface BansFrame extends Stamped { type: 'BANS'; list: ModerationRule[]; cursor?: string }
/** To a session an operator kicks, before the close (4002). */
export interface KickedFrame extends Stamped { type: 'KICKED'; reason: string | null }
/** To a session a new ban covers, before the close (4003). */
export interface BannedFrame extends Stamped { type: 'BANNED'; reason: string | null; expires: number | null }
/** To a session a mute covers: its MSGs are refused (ERROR MUTED) until UNMUTED. */
export interface MutedFrame extends Stamped { type: 'MUTED'; reason: string | null; expires: number | null }
/** The mute that covered this session was lifted or expired. */
export interface UnmutedFrame extends Stamped { type: 'UNMUTED' }
